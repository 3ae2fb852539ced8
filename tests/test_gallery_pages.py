"""What every gallery page keeps to: the lesson in front, the site's machinery hidden.

Read statically (nothing is executed): the code a reader sees is each script with
Sphinx-Gallery's ignore blocks removed, as on the page and in the downloads.
"""

from __future__ import annotations

import builtins
import re
import symtable
from pathlib import Path

import pytest
from docs_ext import ext_modules

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "gallery").glob("plot_*.py"))
IGNORE_BLOCK = re.compile(
    r"^[ \t]*# sphinx_gallery_start_ignore.*?^[ \t]*# sphinx_gallery_end_ignore[^\n]*\n?",
    re.MULTILINE | re.DOTALL,
)
# What a reader must not meet in a page's visible code: the site's instrumentation.
MACHINERY = re.compile(r"\b(book_figure|compare_with_book|checked_against_book|perf_counter)\(")


@pytest.fixture(scope="module")
def links():
    with ext_modules("notebook_cells") as ext:
        yield ext.notebook_cells


def visible(script: str) -> str:
    return IGNORE_BLOCK.sub("", script)


def module_symbols(code: str, name: str) -> symtable.SymbolTable:
    return symtable.symtable(code, name, "exec")


# A page's exercises (docs/_ext/exercises.py) are practice, not a detour: its section, from
# this heading to the next one of its level, is counted apart from the lesson.
EXERCISES = re.compile(r"^# Exercises\n# -+\n.*?(?=^# %%\n# \S[^\n]*\n# -+\n|\Z)", re.M | re.S)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_a_page_has_one_argument(page):
    script = visible(page.read_text(encoding="utf-8"))  # what the reader meets
    exercises = "".join(m[0] for m in EXERCISES.finditer(script))
    lines = script.count("\n") - exercises.count("\n")
    assert lines <= 350, f"{page.name} has {lines} lines; move its detours to Notes or the errata"
    assert exercises.count("\n") <= 100, f"{page.name}: over 100 lines of exercises"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_the_site_machinery_is_out_of_sight(page):
    shown = visible(page.read_text(encoding="utf-8"))
    found = sorted({m[1] for m in MACHINERY.finditer(shown)})
    assert not found, f"{page.name} shows {found} to its readers; put them in an ignore block"
    assert "import time" not in shown, f"{page.name} times itself; timings belong to benchmarks"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_the_checked_block_runs_in_the_downloaded_notebook(page, links):
    """The notebook's last cell runs the hidden block after the visible code: every name the
    block reads must be bound by the visible code or by the block itself."""
    script = page.read_text(encoding="utf-8")
    block = links.checked_block(script)
    if block is None:
        assert "Checked against the book" not in script, f"{page.name}: heading without block"
        return
    assert re.search(r"^# Checked against the book\n# -+\n", script, re.MULTILINE)
    after = script[script.index("checked_against_book(") :]
    assert re.search(r"^# %%\n#", after, re.MULTILINE), (
        f"{page.name}: a text block must follow the hidden block, or Sphinx-Gallery drops it"
    )
    bound = {
        s.get_name()
        for table in (module_symbols(visible(script), page.name), module_symbols(block, "block"))
        for s in table.get_symbols()
        if s.is_assigned() or s.is_imported() or s.is_namespace()
    }
    read = {
        s.get_name() for s in module_symbols(block, "block").get_symbols() if s.is_referenced()
    }
    missing = sorted(read - bound - set(dir(builtins)))
    assert not missing, f"{page.name}: the notebook's last cell would not find {missing}"
