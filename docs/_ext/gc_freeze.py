"""The build's long-lived objects, frozen out of the garbage collector's walks
(``sg_hooks.freeze_survivors`` says why): what ``conf.py`` imported (torch and the rest),
what the gallery run left, and the environment once every page is read."""

from __future__ import annotations

from typing import Any

from sg_hooks import freeze_survivors
from sphinx.application import Sphinx


def freeze(app: Sphinx, *_: Any) -> None:
    """Handler for ``config-inited``, ``builder-inited`` (after the gallery ran) and
    ``env-updated``."""
    freeze_survivors()
