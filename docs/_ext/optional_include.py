"""``.. optional-include:: path``: includes a reST file when it exists and renders the
directive's content when it does not (the benchmark table is written by ``nox -s bench``,
which a docs build does not run)."""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx.directives.other import Include


class OptionalInclude(Include):
    """``.. include::`` that renders its content instead when the file is missing."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        _, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        if Path(path).is_file():
            return super().run()
        # A missing dependency makes Sphinx re-read this page on every build, so the
        # file shows up as soon as it exists.
        self.env.note_dependency(path)
        container = nodes.container()
        self.state.nested_parse(self.content, self.content_offset, container)
        return container.children
