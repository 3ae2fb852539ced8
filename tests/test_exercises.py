"""docs/_ext/exercises.py: a worked solution is collapsed in an HTML ``<details>`` block."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")

ROOT = Path(__file__).resolve().parent.parent

# The reST Sphinx-Gallery writes for a page with two exercises (abridged): each code block
# is a ``code-block:: Python`` followed by its output, a ``code-block:: none`` in an
# ``sphx-glr-script-out`` block; the page ends with the timing line.
PAGE = """\
Page
====

Exercises
---------

.. _ex-square:

Square it
~~~~~~~~~

Predict ``x**2``.

.. rpsbook-solution::

Squaring:

.. code-block:: Python

    print(3**2)

.. rst-class:: sphx-glr-script-out

 .. code-block:: none

    9

It prints 9.

Cube it
~~~~~~~

Cube ``x``.

.. rpsbook-solution::

.. code-block:: Python

    print(3**3)

.. rst-class:: sphx-glr-script-out

 .. code-block:: none

    27

Notes
-----

The end.

.. rst-class:: sphx-glr-timing

   **Total running time of the script:** (0 minutes 0.1 seconds)
"""


def build(tmp_path: Path, page: str, builder: str = "html") -> tuple[Path, str]:
    """Build a one-page project with the extension; return the output folder and warnings."""
    from io import StringIO

    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'docs' / '_ext')!r})\n"
        "extensions = ['exercises']\n"
    )
    (src / "index.rst").write_text(page)
    warnings = StringIO()
    out = tmp_path / builder
    try:
        # each build registers its nodes and directives afresh, as sphinx-build does
        with docutils_namespace():
            app = Sphinx(
                src, src, out, tmp_path / "doctrees", builder, status=None, warning=warnings
            )
            app.build()
    finally:
        for name in ("exercises", "upstream"):  # the extension and the adapter it imports
            sys.modules.pop(name, None)
    return out, warnings.getvalue()


def test_each_solution_is_collapsed_with_its_code_output_and_prose(tmp_path):
    out, warnings = build(tmp_path, PAGE)
    assert not warnings
    html = (out / "index.html").read_text()
    solutions = re.findall(r'<details class="rpsbook-solution">(.*?)</details>', html, re.S)
    assert len(solutions) == 2
    first, second = solutions
    assert first.startswith("\n<summary>Solution</summary>\n<p>Squaring:</p>")
    assert "highlight-Python" in first and "sphx-glr-script-out" in first
    assert first.rstrip().endswith("<p>It prints 9.</p>")
    assert "27" in second and "sphx-glr-script-out" in second
    # the tasks, the next exercise, Notes and the timing line stay outside
    outside = re.sub(r"<details.*?</details>", "", html, flags=re.S)
    for text in ("Predict", "Cube <code", "Notes", "The end.", "sphx-glr-timing"):
        assert text in outside
    assert "Square it" not in first + second and "Notes" not in second
    assert 'id="ex-square"' in html  # the exercise's label, for the index page


def test_other_builders_show_the_solution(tmp_path):
    out, warnings = build(tmp_path, PAGE, builder="text")
    assert not warnings
    text = (out / "index.txt").read_text()
    assert "Squaring:" in text and "print(3**3)" in text and "27" in text


def test_a_marker_with_nothing_after_it_is_reported(tmp_path):
    page = "Page\n====\n\nTask.\n\n.. rpsbook-solution::\n\nNext\n----\n\nText.\n"
    out, warnings = build(tmp_path, page)
    assert "'.. rpsbook-solution::' has nothing after it in its section" in warnings
    assert "index.rst" in warnings  # where
    assert "<details" not in (out / "index.html").read_text()
