"""``.. rpsbook-execution-times::``: the gallery's table of execution times as this very build
wrote it (Sphinx-Gallery's ``write_computation_times``), without the scripts and styles that
Sphinx-Gallery loads from CDNs for it; its own page loses them too (:func:`strip_cdn_source`).
"""

from __future__ import annotations

import re

from docutils import nodes
from docutils.statemachine import StringList
from galleries import galleries
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from upstream import EXECUTION_TIMES_DOC, execution_times_file

# The table's page loads jQuery, DataTables and Bootstrap from CDNs in a ``.. raw:: html``
# block; the table reads as well without sorting by click.
_CDN_BLOCK = re.compile(r"^( *)\.\. raw:: html\n(?:\1 +.*\n|\n)*", re.MULTILINE)


def strip_cdn_assets(text: str) -> str:
    """``text`` without its ``.. raw:: html`` blocks that reference another host."""
    return _CDN_BLOCK.sub(lambda m: "" if "://" in m.group(0) else m.group(0), text)


def strip_cdn_source(app: Sphinx, docname: str, source: list[str]) -> None:
    """``source-read`` handler: the pages of execution times load nothing from CDNs."""
    if docname.rsplit("/", 1)[-1] == EXECUTION_TIMES_DOC:
        source[0] = strip_cdn_assets(source[0])


class ExecutionTimesDirective(SphinxDirective):
    """The gallery's table of execution times, as this build wrote it."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        path = execution_times_file(
            galleries(self.env.srcdir, self.config.sphinx_gallery_conf)[0][1]
        )
        self.env.note_dependency(str(path))
        if not path.is_file():
            note = nodes.note()
            note += nodes.paragraph(text="This build did not execute the gallery.")
            return [note]
        text = strip_cdn_assets(path.read_text(encoding="utf-8"))
        # drop the page's label and title: the table follows its title's underline
        body = re.split(r"^=+\n", text, maxsplit=1, flags=re.MULTILINE)[-1]
        container = nodes.container(classes=["rpsbook-execution-times"])
        self.state.nested_parse(StringList(body.splitlines(), str(path)), 0, container)
        return [container]
