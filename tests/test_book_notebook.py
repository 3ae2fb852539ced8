"""The book's own Chapter06.ipynb runs on rpsbook, every cell, with only its imports switched.

The notebook is not part of rpsbook: the test reads it from a clone of the book's repository
named by ``$RPSBOOK_BOOK_REPO`` and skips without one. ``nox -s book -- PATH`` runs the same
check (:mod:`rpsbook.book.runner`) and prints its report.
"""

from __future__ import annotations

import os

import pytest

from rpsbook.book import runner

BOOK = os.environ.get(runner.BOOK_REPO_ENV)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.realdata,
    pytest.mark.skipif(
        not BOOK,
        reason=f"{runner.BOOK_REPO_ENV} is not set: the book's notebook is not part of rpsbook; "
        "clone https://github.com/dvgodoy/PyTorchStepByStep and point it there",
    ),
]


def test_every_cell_runs_and_the_stored_outputs_match(real_data_dir):
    pytest.importorskip("nbclient")
    pytest.importorskip("torch_lr_finder")  # the notebook imports it in one cell
    nbformat = pytest.importorskip("nbformat")
    stored = nbformat.read(runner.find_notebook(BOOK), as_version=4)
    n_code = sum(cell.cell_type == "code" for cell in stored.cells)

    report = runner.run(BOOK, real_data_dir)
    print(report)  # the report of nox -s book (shown with pytest -s)

    assert report.failed == [], str(report)
    assert report.code_cells == n_code
    assert {book for book, _ in report.switched} == set(runner.MAPPING)
    assert [c.name for c in report.comparisons] == [check.name for check in runner.CHECKS]
    assert [c.name for c in report.comparisons if not c.ok] == [], str(report)
