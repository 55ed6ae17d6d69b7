"""`python -m codeloop.cli`: the same commands as the `codeloop` script."""

if __name__ == "__main__":
    from codeloop.cli import main

    raise SystemExit(main())
