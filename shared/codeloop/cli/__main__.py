"""`python -m codeloop.cli`: the same commands as the `codeloop` script."""

from codeloop.cli import main

if __name__ == "__main__":  # importing the module (e.g. walking the package) runs nothing
    raise SystemExit(main())
