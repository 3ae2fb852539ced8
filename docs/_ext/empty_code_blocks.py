"""A gallery cell whose code is all in ignore blocks: Sphinx-Gallery still writes its
``code-block`` directive, empty, which docutils rejects; the gallery pages lose them."""

from __future__ import annotations

import re

from galleries import gallery_dirs
from sphinx.application import Sphinx

_EMPTY_CODE_BLOCK_RE = re.compile(
    r"^\.\. code-block:: [Pp]ython\n(?:   :[\w-]+:[^\n]*\n)*\s*\n(?=\S)", re.MULTILINE
)


def drop_empty_code_blocks(rst: str) -> str:
    """``rst`` without the code-block directives that have no code (hidden cells)."""
    return _EMPTY_CODE_BLOCK_RE.sub("", rst)


def drop_from_gallery_pages(app: Sphinx, docname: str, source: list[str]) -> None:
    """``source-read`` handler for the pages of every gallery."""
    if docname.split("/", 1)[0] in gallery_dirs(app.config.sphinx_gallery_conf):
        source[0] = drop_empty_code_blocks(source[0])
