"""Collapsed worked solutions on the gallery pages.

In a gallery script an exercise is a subsection (its title, then the task) and its worked
solution follows in the same subsection, behind a text block that opens with the marker
directive::

    # %%
    # .. rpsbook-solution::
    #
    # Optional prose before the solution's code.

    print("the solution's code, executed by the build")

    # %%
    # What its output shows.

On the HTML page everything from the marker to the end of the subsection (prose, the code
blocks Sphinx-Gallery writes, their printed output and figures) is collapsed in an HTML
``<details>`` element; other builders show it as it is. The downloaded notebook gets an
empty cell to answer in before each solution (``notebook_cells.mark_solutions``).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from upstream import FOOTER_CLASSES

logger = logging.getLogger(__name__)

#: The marker's name, as written in a gallery script.
DIRECTIVE = "rpsbook-solution"
#: The label of the closed solution.
SUMMARY = "Solution"


class solution_marker(nodes.Element):
    """Where a solution starts; replaced by :class:`solution` when the page is read."""


class solution(nodes.General, nodes.Element):
    """A worked solution, collapsed in HTML."""


class SolutionDirective(SphinxDirective):
    """``.. rpsbook-solution::``: the rest of the enclosing section is a solution."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        marker = solution_marker()
        self.set_source_info(marker)
        return [marker]


def _ends_solution(node: nodes.Node) -> bool:
    # Sphinx-Gallery's footer (running time, downloads) follows the page's last block.
    classes = node.get("classes", []) if isinstance(node, nodes.Element) else []
    return isinstance(node, (nodes.section, solution_marker)) or any(
        c.startswith(FOOTER_CLASSES) for c in classes
    )


def collapse_solutions(doctree: nodes.document) -> int:
    """Move what follows each marker, up to the end of its section, into a :class:`solution`.

    Returns the number of solutions made; a marker with nothing after it is reported (a
    warning, an error under ``-W``) and removed.
    """
    made = 0
    for marker in list(doctree.findall(solution_marker)):
        parent = marker.parent
        index = parent.index(marker)
        body = []
        for node in parent.children[index + 1 :]:
            if _ends_solution(node):
                break
            body.append(node)
        if not body:
            logger.warning(
                f"'.. {DIRECTIVE}::' has nothing after it in its section; put the "
                "solution's code and prose after the marker",
                location=marker,
            )
            parent.remove(marker)
            continue
        for node in body:
            parent.remove(node)
        wrapper = solution("", *body)
        wrapper.source, wrapper.line = marker.source, marker.line
        parent.replace(marker, wrapper)
        made += 1
    return made


def _doctree_read(app: Sphinx, doctree: nodes.document) -> None:
    collapse_solutions(doctree)


def visit_solution_html(self: Any, node: solution) -> None:
    self.body.append(
        f'<details class="rpsbook-solution">\n<summary>{self.encode(SUMMARY)}</summary>\n'
    )


def depart_solution_html(self: Any, node: solution) -> None:
    self.body.append("</details>\n")


def _shown(self: Any, node: solution) -> None:
    """Other builders show the solution's content as it is."""


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive(DIRECTIVE, SolutionDirective)
    app.add_node(
        solution,
        html=(visit_solution_html, depart_solution_html),
        latex=(_shown, _shown),
        text=(_shown, _shown),
        man=(_shown, _shown),
        texinfo=(_shown, _shown),
    )
    app.connect("doctree-read", _doctree_read)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
