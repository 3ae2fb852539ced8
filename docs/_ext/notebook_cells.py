"""The cells of a downloaded notebook that the docs build writes or changes.

- The first code cell (:mod:`first_cell` writes it) is this build's, also in the
  notebook of a page the execution cache did not run again (:func:`convert_notebook`).
- Before each worked solution of an exercise an empty cell to answer in, and a spoiler
  warning in place of the solution's marker (:func:`mark_solutions`).
- A last code cell, "Your run vs this page" (:func:`add_comparison_cell`): the values the page
  recorded with :func:`rpsbook.report.compare_with_book` and the build's environment,
  embedded, and a call to :func:`rpsbook.report.compare_with_page` that prints the reader's
  values next to them.
"""

from __future__ import annotations

import json
import re
import textwrap

from exercises import DIRECTIVE
from first_cell import FIRST_CELL_MARK, PAGE_MARK
from link_markup import Targets, convert_markdown

from rpsbook.report import COMPARISON_CELL

#: The first line of a gallery text block that opens a worked solution.
SOLUTION_MARK = f".. {DIRECTIVE}::"
#: What a solution's Markdown begins with in a notebook, in place of the marker.
SOLUTION_HEADING = "**Solution (spoiler)**: try the exercise in the cell above first.\n"
#: The empty code cell put before each solution, for the reader's own answer.
ANSWER_CELL = "# Your answer here\n"


def mark_solutions(cells: list[dict]) -> list[dict]:
    """``cells`` with an answer cell before each solution and the marker replaced by a
    spoiler warning, so a reader working top to bottom meets the task before its answer."""
    marked = []
    for cell in cells:
        source = cell.get("source", "")
        joined = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "markdown" and joined.lstrip().startswith(SOLUTION_MARK):
            answer = {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": ANSWER_CELL,
            }
            marked.append(answer)
            prose = joined.lstrip()[len(SOLUTION_MARK) :].lstrip("\n")
            text = SOLUTION_HEADING + ("\n" + prose if prose.strip() else "")
            cell = {**cell, "source": text.splitlines(True) if isinstance(source, list) else text}
        marked.append(cell)
    return marked


def convert_notebook(
    text: str, targets: Targets, current_doc: str | None = None, stem: str | None = None
) -> str:
    """A notebook (JSON text) with its Markdown cells converted.

    Empty code cells (all their code hidden) are dropped. Code cells are untouched but the
    first, which becomes ``targets.first_cell`` (naming the notebook ``stem`` as its page)
    when it is an rpsbook first cell: a page the execution cache did not re-run keeps the
    notebook of an earlier build, whose cell may pin an earlier wheel.
    """
    notebook = json.loads(text)
    # a code cell whose code was all in ignore blocks arrives empty
    notebook["cells"] = [
        cell
        for cell in notebook.get("cells", [])
        if cell.get("cell_type") != "code" or "".join(cell.get("source", "")).strip()
    ]
    notebook["cells"] = mark_solutions(notebook["cells"])
    code = [cell for cell in notebook["cells"] if cell.get("cell_type") == "code"]
    if targets.first_cell is not None and code:
        source = code[0]["source"]
        joined = "".join(source) if isinstance(source, list) else source
        if joined.startswith(FIRST_CELL_MARK):
            first = targets.first_cell.replace(PAGE_MARK, stem or PAGE_MARK)
            code[0]["source"] = first.splitlines(True) if isinstance(source, list) else first
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell["source"]
        joined = "".join(source) if isinstance(source, list) else source
        converted = convert_markdown(joined, targets, current_doc)
        if converted != joined:
            cell["source"] = (
                converted.splitlines(keepends=True) if isinstance(source, list) else converted
            )
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


#: The hidden code of a page's "Checked against the book" block (see :func:`checked_block`).
_IGNORE_BLOCK_RE = re.compile(
    r"^[ \t]*# sphinx_gallery_start_ignore[^\n]*\n(?P<code>.*?)^[ \t]*# sphinx_gallery_end_ignore",
    re.MULTILINE | re.DOTALL,
)


def checked_block(script: str) -> str | None:
    """The code of the ignore block that calls ``checked_against_book`` in a gallery script.

    Sphinx-Gallery removes ignore blocks from the downloads, so the notebook's last cell
    carries this code: the reader's run records its own values before they are compared.
    """
    for match in _IGNORE_BLOCK_RE.finditer(script):
        if "checked_against_book(" in match["code"]:
            return textwrap.dedent(match["code"]).strip() + "\n"
    return None


def comparison_cell_source(page: dict) -> str:
    """The code of a notebook's last cell, with ``page`` embedded as a Python literal.

    ``page["checks"]`` (optional) is the page's "Checked against the book" code, run first.
    """
    # one value a line; JSON's strings and numbers are Python literals too
    values = "".join(f"        {json.dumps(v, ensure_ascii=False)},\n" for v in page["values"])
    checks = page.get("checks")
    first = f"# First, this run next to the book (the page's last table):\n{checks}\n"
    return (
        "# Your run vs this page: the numbers this notebook printed next to the ones the\n"
        "# page shows, with the torch version, threads and device of both runs.\n"
        + (first if checks else "")
        + "from rpsbook.report import compare_with_page\n"
        "\n"
        "PAGE = {\n"
        f'    "environment": {json.dumps(page["environment"], ensure_ascii=False)},\n'
        f'    "values": [\n{values}    ],\n'
        "}\n"
        "print(compare_with_page(PAGE))"
    )


def add_comparison_cell(text: str, page: dict) -> str:
    """A notebook (JSON text) ending with the comparison cell for ``page``.

    ``page`` is ``{"environment": {...}, "values": [{"section", "quantity", "ours"}]}``. A
    comparison cell already there (an earlier build's) is replaced, so the result does not
    depend on how often this runs.
    """
    notebook = json.loads(text)
    cells = [c for c in notebook.get("cells", []) if COMPARISON_CELL not in c.get("metadata", {})]
    cells.append(
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {COMPARISON_CELL: True},
            "outputs": [],
            "source": comparison_cell_source(page),
        }
    )
    notebook["cells"] = cells
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
