"""``python -m rpsbook.data``: see :func:`rpsbook.data.cli.main`."""

from .cli import main

raise SystemExit(main())
