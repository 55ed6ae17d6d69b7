"""`python -m codeloop.cli`: the same commands as the `codeloop` script."""

from codeloop.cli import main

raise SystemExit(main())
