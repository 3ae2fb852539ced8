"""The docs build's extension modules for the tests, imported as Sphinx imports them:
``docs/conf.py`` puts ``docs/_ext`` on ``sys.path`` (Sphinx's documented way for a project's
own extensions), and they import each other by name."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

EXT = Path(__file__).resolve().parent.parent / "docs" / "_ext"


@contextmanager
def ext_modules(*names: str) -> Iterator[SimpleNamespace]:
    """``names`` imported from ``docs/_ext`` for the ``with`` block, as attributes of one
    namespace; then ``docs/_ext`` and every module loaded from it are gone again."""
    sys.path.insert(0, str(EXT))
    try:
        yield SimpleNamespace(**{name: importlib.import_module(name) for name in names})
    finally:
        sys.path.remove(str(EXT))
        for name, module in list(sys.modules.items()):
            if Path(getattr(module, "__file__", None) or "/").parent == EXT:
                del sys.modules[name]
