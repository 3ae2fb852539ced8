"""``.. rpsbook-concordance::``: the book's sections and figures 6.1-6.31 next to the gallery
page and anchor that reproduce them.

The sections are found by their headings on the gallery pages (:data:`book_map.BOOK_SECTIONS`);
the figures from the records :func:`rpsbook.report.book_figure` wrote during the gallery run,
and the anchors ``sg_hooks.hidpi_scraper`` put before their images. The tables are made once
every page has been read (``doctree-resolved``).
"""

from __future__ import annotations

import re
from typing import Any

from book_map import BOOK_FIGURES, BOOK_SECTIONS, layout_warning
from docutils import nodes
from galleries import galleries, gallery_dirs, results_root
from rereads import note_reread
from sg_hooks import figure_target
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from tables import cell, table

from rpsbook.report import FIGURES_FILE, read_figure_records

logger = logging.getLogger(__name__)

# docutils' smart quotes turn the headings' ' and " into typographic ones
_PLAIN_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_RAW_ID = re.compile(r'\bid="([^"]+)"')


class concordance_placeholder(nodes.General, nodes.Element):
    """Where the concordance tables go once every page has been read."""


class ConcordanceDirective(SphinxDirective):
    """The book's sections and figures -> gallery pages (filled in at doctree-resolved)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        note_reread(self.env)  # the records change with every gallery run
        root = results_root(self.env.srcdir, self.config.sphinx_gallery_conf)
        for folder in sorted(root.glob("*/")) if root.is_dir() else []:
            self.env.note_dependency(str(folder / FIGURES_FILE))
        return [concordance_placeholder()]


def _section_ids(doctree: nodes.document) -> dict[str, str]:
    """Every section's title (with plain quotes) -> its HTML id."""
    return {
        section[0].astext().translate(_PLAIN_QUOTES): section["ids"][0]
        for section in doctree.findall(nodes.section)
        if section["ids"] and isinstance(section[0], nodes.title)
    }


def _raw_ids(doctree: nodes.document) -> set[str]:
    """The ids of the HTML elements a page's raw HTML holds (the figures' anchors)."""
    return {i for raw in doctree.findall(nodes.raw) for i in _RAW_ID.findall(raw.astext())}


def _link(app: Sphinx, fromdoc: str, todoc: str, anchor: str, text: str) -> nodes.Node:
    uri = app.builder.get_relative_uri(fromdoc, todoc) + (f"#{anchor}" if anchor else "")
    return nodes.reference("", text, internal=True, refuri=uri)


def fill_concordance(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """``doctree-resolved`` handler: the placeholders of ``docname`` become the tables."""
    placeholders = list(doctree.findall(concordance_placeholder))
    if not placeholders:
        return
    env = app.env
    conf = app.config.sphinx_gallery_conf
    gallery = gallery_dirs(conf)[0]
    examples = galleries(env.srcdir, conf)[0][0]
    titles: dict[str, str] = {}

    def page(stem: str) -> str | None:
        doc = f"{gallery}/{stem}"
        if doc not in env.found_docs or not (examples / f"{stem}.py").is_file():
            return None
        titles.setdefault(stem, env.titles[doc].astext() if doc in env.titles else stem)
        return doc

    # heading -> [(script, anchor)] over every gallery page; the figures' anchors by page
    headings: dict[str, list[tuple[str, str]]] = {}
    anchors: dict[str, set[str]] = {}
    for script in sorted(examples.glob("plot_*.py")):
        doc = page(script.stem)
        if doc is None:
            continue
        page_tree = env.get_doctree(doc)
        for text, anchor in _section_ids(page_tree).items():
            headings.setdefault(text, []).append((script.stem, anchor))
        anchors[script.stem] = _raw_ids(page_tree)
    section_rows = []
    for book_section, stem, heading in BOOK_SECTIONS:
        if heading is None:
            place = (stem, "") if page(stem) else None
        else:  # on the page named first, else wherever the heading moved
            places = headings.get(heading, [])
            place = next((p for p in places if p[0] == stem), places[0] if places else None)
        if place is None:
            logger.warning(
                f"concordance: no gallery page {stem} or heading {heading!r} for the book's "
                f"{book_section!r}; update BOOK_SECTIONS in docs/_ext/book_map.py"
            )
            continue
        where = titles[place[0]] + (f": {heading}" if heading else "")
        link = _link(app, docname, page(place[0]), place[1], where)
        section_rows.append([cell(book_section), cell(link)])

    root = results_root(env.srcdir, conf)
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    own: list[tuple[str, dict[str, Any]]] = []
    for folder in sorted(root.glob("*/")) if root.is_dir() else []:
        if page(folder.name) is None:
            continue  # the script was deleted or renamed; its records are stale
        for record in read_figure_records(folder):
            if record["figure"] is None:
                own.append((folder.name, record))
            else:
                found.setdefault(record["figure"], []).append((folder.name, record))
    figure_rows = []
    for number in BOOK_FIGURES:
        places = found.get(number, [])
        if not places:
            figure_rows.append([cell(number), cell("not labelled on any page yet"), cell("")])
            continue
        for stem, record in places:
            anchor = figure_target(stem, number)
            if anchor not in anchors.get(stem, ()):
                logger.warning(f"concordance: no image target for Figure {number} on {stem}")
                anchor = ""
            if warning := layout_warning(stem, record):
                logger.warning(warning)
            verdict = record["verdict"].replace("differs: ", "Differs: ", 1)
            figure_rows.append(
                [
                    cell(number),
                    cell(_link(app, docname, page(stem), anchor, titles[stem])),
                    cell(
                        record["alt"]
                        + " "
                        + ("Same as the book's." if verdict == "same" else verdict)
                    ),
                ]
            )
    covered = sum(1 for n in BOOK_FIGURES if n in found)
    classes = ("rpsbook-results", "rpsbook-concordance")
    output: list[nodes.Node] = [
        nodes.rubric(text="The book's sections"),
        table(["Book section", "Gallery page and section"], section_rows, [35, 65], classes),
        nodes.rubric(text=f"The book's figures ({covered} of {len(BOOK_FIGURES)} labelled)"),
        table(
            ["Figure", "Gallery page", "What it shows; verdict"],
            figure_rows,
            [12, 33, 55],
            classes,
        ),
    ]
    if own:
        rows = [
            [cell(_link(app, docname, page(stem), "", titles[stem])), cell(record["alt"])]
            for stem, record in own
        ]
        output += [
            nodes.rubric(text=f"Figures of the site's own ({len(own)})"),
            table(["Gallery page", "What it shows"], rows, [30, 70], classes),
        ]
    for placeholder in placeholders:
        placeholder.replace_self([node.deepcopy() for node in output])
