"""docutils tables for the directives that render records (results, concordance, variation)."""

from __future__ import annotations

from docutils import nodes


def cell(*children: nodes.Node | str) -> nodes.entry:
    """A table cell holding one paragraph of ``children`` (strings become text)."""
    paragraph = nodes.paragraph()
    paragraph += [nodes.Text(c) if isinstance(c, str) else c for c in children]
    return nodes.entry("", paragraph)


def table(
    header: list[str],
    rows: list[list[str | nodes.entry]],
    widths: list[int],
    classes: tuple[str, ...] = ("rpsbook-results",),
) -> nodes.table:
    """A table with ``header`` and ``rows`` (cells as text or :func:`cell`)."""

    def row(cells: list[str | nodes.entry]) -> nodes.row:
        return nodes.row("", *(c if isinstance(c, nodes.entry) else cell(c) for c in cells))

    group = nodes.tgroup(cols=len(header))
    group += [nodes.colspec(colwidth=w) for w in widths]
    group += nodes.thead("", row(header))
    group += nodes.tbody("", *(row(r) for r in rows))
    return nodes.table("", group, classes=list(classes))
