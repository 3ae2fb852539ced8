"""Public names of a package that are defined in its submodules."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any


def rehome(package: str, namespace: dict[str, Any], names: Iterable[str]) -> None:
    """Give each public function and class in ``names`` the ``package`` as its module.

    Users import them from the package and the API pages document them there (e.g.
    ``rpsbook.data.load_rps``), as before it was split into submodules; pickles name the
    package too, which re-exports them.
    """
    for name in names:
        obj = namespace[name]
        if isinstance(obj, type) or callable(obj):
            obj.__module__ = package
            # a decorated function's source and docs are read from the function it wraps
            inspect.unwrap(obj).__module__ = package
