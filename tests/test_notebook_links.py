"""docs/_ext/notebook_links.py, link_markup.py, notebook_cells.py: Sphinx references in the
downloads become links, and the notebooks get their first, answer and last cells."""

from __future__ import annotations

import ast
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest
from docs_ext import ext_modules

from rpsbook.notebook_markup import find_raw_markup
from rpsbook.report import COMPARISON_CELL

ROOT = Path(__file__).resolve().parent.parent
SITE = "https://example.org/book/"
LR = f"{SITE}generated/lr.html#rpsbook.lr_finder.lr_range_test"
P05 = f"{SITE}auto_examples/plot_05.html#sphx-glr-auto-examples-plot-05"


@pytest.fixture(scope="module")
def links():
    with ext_modules("first_cell", "link_markup", "notebook_cells", "notebook_links") as modules:
        yield modules


@pytest.fixture
def targets(links):
    target = links.link_markup.Target
    api = SITE + "generated/"
    return links.link_markup.Targets(
        py={
            "rpsbook.lr_finder.lr_range_test": {
                "function": target(api + "lr.html#rpsbook.lr_finder.lr_range_test")
            },
            "rpsbook.trainer.StepByStep": {
                "class": target(api + "trainer.html#rpsbook.trainer.StepByStep")
            },
            "rpsbook.trainer.StepByStep.train": {
                "method": target(api + "trainer.html#rpsbook.trainer.StepByStep.train")
            },
            "rpsbook.data": {"module": target(api + "data.html#module-rpsbook.data")},
            "torch.nn.Dropout": {"class": target("https://pytorch.org/nn.Dropout.html")},
        },
        labels={
            "sphx_glr_auto_examples_plot_05_model_training.py": target(
                SITE + "auto_examples/plot_05.html#sphx-glr-auto-examples-plot-05",
                "Model training",
            ),
        },
        docs={
            "install": target(SITE + "install.html", "Install"),
            "auto_examples/plot_05": target(SITE + "auto_examples/plot_05.html", "Model training"),
        },
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            ":func:`~rpsbook.lr_finder.lr_range_test` restores",
            f"[`lr_range_test()`]({LR}) restores",
        ),
        (
            "the :class:`rpsbook.trainer.StepByStep`.",
            f"the [`rpsbook.trainer.StepByStep`]({SITE}generated/trainer.html"
            "#rpsbook.trainer.StepByStep).",
        ),
        (
            "(:py:meth:`its loop <rpsbook.trainer.StepByStep.train>`)",
            f"([`its loop`]({SITE}generated/trainer.html#rpsbook.trainer.StepByStep.train))",
        ),
        (
            ":meth:`~rpsbook.trainer.StepByStep.train`",
            f"[`train()`]({SITE}generated/trainer.html#rpsbook.trainer.StepByStep.train)",
        ),
        (
            ":mod:`rpsbook.data`",
            f"[`rpsbook.data`]({SITE}generated/data.html#module-rpsbook.data)",
        ),
        (":class:`torch.nn.Dropout`", "[`torch.nn.Dropout`](https://pytorch.org/nn.Dropout.html)"),
        # a role spread over two lines, as reST allows
        (
            ":func:`the range\ntest <rpsbook.lr_finder.lr_range_test>`",
            f"[`the range test`]({LR})",
        ),
        # nothing resolves these: their text stays, as code
        (":func:`torch.nn.functional.conv2d`", "`torch.nn.functional.conv2d()`"),
        (":func:`!rpsbook.lr_finder.lr_range_test`", "`rpsbook.lr_finder.lr_range_test()`"),
        (":term:`epoch`", "`epoch`"),
        # what Sphinx-Gallery leaves of :ref:`label` and :ref:`title <label>`
        (
            "see `sphx_glr_auto_examples_plot_05_model_training.py`.",
            f"see [Model training]({P05}).",
        ),
        (
            "`the training page <sphx_glr_auto_examples_plot_05_model_training.py>`",
            f"[the training page]({P05})",
        ),
        (
            ":ref:`sphx_glr_auto_examples_plot_05_model_training.py`",
            f"[Model training]({P05})",
        ),
        ("`sphx_glr_auto_examples_plot_99_gone.py`", "`sphx_glr_auto_examples_plot_99_gone.py`"),
        (":ref:`no-such-label`", "`no-such-label`"),
        # :doc: is relative to the page's folder unless it starts with /
        (":doc:`../install`", f"[Install]({SITE}install.html)"),
        (":doc:`how to install </install>`", f"[how to install]({SITE}install.html)"),
        (":doc:`plot_05`", f"[Model training]({SITE}auto_examples/plot_05.html)"),
        # left alone: math, ordinary code spans, inline literals, links
        (":math:`\\alpha_t`, $\\beta$", ":math:`\\alpha_t`, $\\beta$"),
        ("set `lr` and ``:func:`x```", "set `lr` and ``:func:`x```"),
        ("[`f()`](https://x.org/f)", "[`f()`](https://x.org/f)"),
    ],
)
def test_convert_markdown(links, targets, text, expected):
    converted = links.link_markup.convert_markdown(text, targets, "auto_examples/plot_01")
    assert converted == expected
    assert (
        links.link_markup.convert_markdown(converted, targets, "auto_examples/plot_01")
        == converted
    )


def test_code_blocks_are_untouched(links, targets):
    text = (
        "Call :mod:`rpsbook.data` like this::\n\n"
        "    :func:`rpsbook.lr_finder.lr_range_test`\n"
        "    `sphx_glr_auto_examples_plot_05_model_training.py`\n\n"
        "```python\n:class:`rpsbook.trainer.StepByStep`\n```\n"
        "Then :class:`~torch.nn.Dropout`.\n"
    )
    assert links.link_markup.convert_markdown(text, targets) == (
        f"Call [`rpsbook.data`]({SITE}generated/data.html#module-rpsbook.data) like this::\n\n"
        "    :func:`rpsbook.lr_finder.lr_range_test`\n"
        "    `sphx_glr_auto_examples_plot_05_model_training.py`\n\n"
        "```python\n:class:`rpsbook.trainer.StepByStep`\n```\n"
        "Then [`Dropout`](https://pytorch.org/nn.Dropout.html).\n"
    )


def test_convert_rest_gives_plain_names(links, targets):
    text = (
        ":func:`~rpsbook.lr_finder.lr_range_test` (see\n"
        ":ref:`sphx_glr_auto_examples_plot_05_model_training.py` and :doc:`/install`),"
        " :func:`unknown.thing` and :math:`x^2`."
    )
    assert links.link_markup.convert_rest(text, targets) == (
        "``lr_range_test()`` (see\nModel training and Install), ``unknown.thing()`` and "
        ":math:`x^2`."
    )


SCRIPT = '''\
"""
Title
=====

Uses :class:`~rpsbook.trainer.StepByStep`.
"""

import torch

note = ":func:`rpsbook.lr_finder.lr_range_test` stays in code"  # :mod:`rpsbook.data`

# %%
# Both :func:`the range
# test <rpsbook.lr_finder.lr_range_test>` and
#
# :ref:`sphx_glr_auto_examples_plot_05_model_training.py`::
#
#     :func:`literal`
print(note)
'''


def test_convert_script_changes_docstring_and_comments_only(links, targets):
    converted = links.link_markup.convert_script(SCRIPT, targets, "auto_examples/plot_01")
    assert converted == (
        '"""\nTitle\n=====\n\nUses ``StepByStep``.\n"""\n\nimport torch\n\n'
        'note = ":func:`rpsbook.lr_finder.lr_range_test` stays in code"  # :mod:`rpsbook.data`\n\n'
        "# %%\n# Both ``the range test`` and\n#\n# Model training::\n#\n#     :func:`literal`\n"
        "print(note)\n"
    )
    compile(converted, "converted.py", "exec")
    assert links.link_markup.convert_script(converted, targets) == converted


def _notebook(*cells):
    return json.dumps(
        {
            "cells": [
                {"cell_type": kind, "metadata": {}, "source": [source]}
                | ({"outputs": [], "execution_count": None} if kind == "code" else {})
                for kind, source in cells
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 0,
        }
    )


def test_convert_notebook_and_find_raw_markup(links, targets):
    raw = _notebook(
        ("code", "x = ':func:`rpsbook.data`'"),
        (
            "markdown",
            "Read :mod:`rpsbook.data` and\n`sphx_glr_auto_examples_plot_05_model_training.py`",
        ),
        ("markdown", "$\\alpha$ and\n```\n:func:`kept`\n```"),
    )
    assert find_raw_markup(raw) == [
        ":mod:`",
        "sphx_glr_auto_examples_plot_05_model_training",
    ]
    converted = json.loads(links.notebook_cells.convert_notebook(raw, targets))
    assert converted["cells"][0]["source"] == ["x = ':func:`rpsbook.data`'"]
    assert "".join(converted["cells"][1]["source"]) == (
        f"Read [`rpsbook.data`]({SITE}generated/data.html#module-rpsbook.data) and\n"
        f"[Model training]({P05})"
    )
    assert converted["cells"][2] == json.loads(raw)["cells"][2]
    assert find_raw_markup(json.dumps(converted)) == []


def test_convert_downloads_rewrites_files_and_zips(links, targets, tmp_path):
    notebook = _notebook(("markdown", "See :mod:`rpsbook.data`."))
    script = '"""\nT\n=\n\n:mod:`rpsbook.data`\n"""\n'
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "plot_05.ipynb").write_text(notebook)
    (tmp_path / "a" / "plot_05.py").write_text(script)
    with zipfile.ZipFile(tmp_path / "all.zip", "w") as archive:
        archive.writestr("plot_05.ipynb", notebook)
        archive.writestr("plot_05.py", script)
        archive.writestr("README.txt", ":mod:`rpsbook.data`")
    docs = {"plot_05": "auto_examples/plot_05"}

    assert links.notebook_links.convert_downloads(tmp_path, targets, docs.get) == 4
    linked = f"[`rpsbook.data`]({SITE}generated/data.html#module-rpsbook.data)"
    converted = json.loads((tmp_path / "a" / "plot_05.ipynb").read_text())
    assert converted["cells"][0]["source"] == [f"See {linked}."]
    assert (tmp_path / "a" / "plot_05.py").read_text() == '"""\nT\n=\n\n``rpsbook.data``\n"""\n'
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        assert archive.read("plot_05.py").decode() == '"""\nT\n=\n\n``rpsbook.data``\n"""\n'
        assert json.loads(archive.read("plot_05.ipynb"))["cells"][0]["source"] == [
            f"See {linked}."
        ]
        assert archive.read("README.txt").decode() == ":mod:`rpsbook.data`"
    assert (
        links.notebook_links.convert_downloads(tmp_path, targets, docs.get) == 0
    )  # already converted


def test_converted_downloads_get_the_umasks_mode(links, targets, tmp_path):
    path = tmp_path / "a" / "plot_05.ipynb"
    path.parent.mkdir()
    path.write_text(_notebook(("markdown", "See :mod:`rpsbook.data`.")))
    umask = os.umask(0o022)
    try:
        assert links.notebook_links.convert_downloads(tmp_path, targets, {}.get) == 1
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by the web server, not 0600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_targets_from_a_real_sphinx_build(tmp_path):
    """The extension resolves this build's objects, labels and documents after the build, and
    other projects' objects through intersphinx."""
    sphinx_app = pytest.importorskip("sphinx.application")
    src = tmp_path / "src"
    (src / "pages").mkdir(parents=True)
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'docs' / '_ext')!r})\n"
        "extensions = ['notebook_links', 'sphinx.ext.intersphinx']\n"
        "rpsbook_site_url = 'https://example.org/book'\n"
        "intersphinx_mapping = {'python': ('https://docs.python.org/3/', "
        f"{str(ROOT / 'docs' / '_inv' / 'python.inv')!r})}}\n"
    )
    (src / "index.rst").write_text(
        "Home\n====\n\n.. toctree::\n\n   pages/demo\n\n"
        ".. py:module:: demo\n\n.. py:function:: step(x)\n\n   One step.\n"
    )
    notebook = _notebook(
        ("markdown", "Call :func:`~demo.step`, read `the demo <demo-label>` and :doc:`/index`."),
        ("markdown", "A :class:`pathlib.Path`, not a :class:`pathlib.Nowhere`."),
    )
    (src / "pages" / "demo.ipynb").write_text(notebook)
    (src / "pages" / "demo.rst").write_text(
        ".. _demo-label:\n\nDemo page\n=========\n\n:download:`demo.ipynb`\n"
    )
    out = tmp_path / "html"
    from sphinx.util.docutils import docutils_namespace

    with docutils_namespace():  # the build's directives and roles end with it
        app = sphinx_app.Sphinx(
            str(src),
            str(src),
            str(out),
            str(tmp_path / "doctrees"),
            "html",
            status=None,
            warning=None,
        )
        app.build()
    assert app.statuscode == 0
    (download,) = (out / "_downloads").rglob("demo.ipynb")
    cell = json.loads(download.read_text())["cells"][0]
    assert "".join(cell["source"]) == (
        "Call [`step()`](https://example.org/book/index.html#demo.step), read "
        "[the demo](https://example.org/book/pages/demo.html#demo-label) and "
        "[Home](https://example.org/book/index.html)."
    )
    # another project's object: what intersphinx answers the missing-reference event with
    cell = json.loads(download.read_text())["cells"][1]
    assert "".join(cell["source"]) == (
        "A [`pathlib.Path`](https://docs.python.org/3/library/pathlib.html#pathlib.Path), "
        "not a `pathlib.Nowhere`."
    )


def test_comparison_cell_is_last_once_and_embeds_the_page(links):
    page = {
        "environment": {"torch": "2.14.1", "threads": 2},
        "values": [{"section": "S", "quantity": "accuracy 'p=0.3'", "ours": "336/372"}],
    }
    notebook = {
        "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": []}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    once = links.notebook_cells.add_comparison_cell(json.dumps(notebook), page)
    twice = links.notebook_cells.add_comparison_cell(once, page)
    assert once == twice  # an earlier build's cell is replaced, not repeated
    cells = json.loads(twice)["cells"]
    assert [c["source"] for c in cells[:-1]] == ["x = 1"]
    last = cells[-1]
    assert last["metadata"] == {COMPARISON_CELL: True}
    tree = ast.parse(last["source"])
    (assign,) = [node for node in tree.body if isinstance(node, ast.Assign)]
    assert ast.literal_eval(assign.value) == page
    assert last["source"].endswith("print(compare_with_page(PAGE))")


def test_first_cell_of_an_earlier_build_is_replaced(links):
    old = links.first_cell.FIRST_CELL_MARK + "0.0.1.\nRPSBOOK_WHEEL = 'dist/old.whl#sha256=00'\n"
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# Title"},
            {"cell_type": "code", "metadata": {}, "source": old.splitlines(True), "outputs": []},
            {"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": []},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    new = links.first_cell.FIRST_CELL_MARK + "0.2.0.\nRPSBOOK_WHEEL = 'dist/new.whl#sha256=ff'\n"
    new += f"RPSBOOK_NOTEBOOK = 'notebooks/{links.first_cell.PAGE_MARK}.ipynb'\n"
    targets = links.link_markup.Targets(first_cell=new)
    converted = links.notebook_cells.convert_notebook(
        json.dumps(notebook), targets, stem="plot_05_x"
    )
    cells = json.loads(converted)["cells"]
    named = new.replace(links.first_cell.PAGE_MARK, "plot_05_x")  # the cell names its own notebook
    assert named.endswith("RPSBOOK_NOTEBOOK = 'notebooks/plot_05_x.ipynb'\n")
    assert ["".join(c["source"]) for c in cells] == ["# Title", named, "x = 1"]
    # a first cell that is not rpsbook's (a reader's own notebook) stays as it is
    notebook["cells"][1]["source"] = "import torch"
    cells = json.loads(links.notebook_cells.convert_notebook(json.dumps(notebook), targets))[
        "cells"
    ]
    assert "".join(cells[1]["source"]) == "import torch"


CHECKED_SCRIPT = """\
x = 1
# sphinx_gallery_start_ignore
book_figure(fig, "6.1", "alt")
# sphinx_gallery_end_ignore

# %%
# Checked against the book
# ------------------------

# sphinx_gallery_start_ignore
checked_against_book(
    SECTION,
    [("x", x, "1")],
)
# sphinx_gallery_end_ignore
"""


def test_the_hidden_checked_block_travels_into_the_last_cell(links):
    checks = links.notebook_cells.checked_block(CHECKED_SCRIPT)
    assert checks == 'checked_against_book(\n    SECTION,\n    [("x", x, "1")],\n)\n'
    assert links.notebook_cells.checked_block("x = 1\n") is None
    page = {"environment": {"torch": "2.14.1"}, "values": [], "checks": checks}
    source = links.notebook_cells.comparison_cell_source(page)
    ast.parse(source)
    assert source.index(checks) < source.index("compare_with_page(PAGE)")


def test_empty_code_cells_are_dropped_from_notebooks(links):
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# Checked"},
            {"cell_type": "code", "metadata": {}, "source": ["\n"], "outputs": []},
            {"cell_type": "code", "metadata": {}, "source": "print(1)", "outputs": []},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    out = json.loads(
        links.notebook_cells.convert_notebook(json.dumps(notebook), links.link_markup.Targets())
    )
    assert [c["source"] for c in out["cells"]] == ["# Checked", "print(1)"]


def test_each_solution_follows_an_answer_cell_and_a_spoiler_warning(links, targets):
    """As Sphinx-Gallery writes a page with two exercises: each solution's Markdown opens
    with the marker; the reader meets the task, a cell to answer in, then the warning."""
    text = _notebook(
        ("markdown", "### Square it\n\nPredict ``x**2``.\n"),
        ("markdown", ".. rpsbook-solution::\n\nSquaring:\n\n"),
        ("code", "print(x**2)"),
        ("markdown", "It prints 9.\n\n### Cube it\n\nCube ``x``.\n"),
        ("markdown", ".. rpsbook-solution::\n\n"),
        ("code", "print(x**3)"),
    )
    cells = json.loads(links.notebook_cells.convert_notebook(text, targets))["cells"]
    kinds = [cell["cell_type"] for cell in cells]
    assert kinds == ["markdown", "code", "markdown", "code"] + ["markdown", "code"] * 2
    sources = ["".join(cell["source"]) for cell in cells]
    assert sources[1] == sources[5] == "# Your answer here\n"
    assert cells[1]["outputs"] == [] and cells[1]["execution_count"] is None
    assert isinstance(cells[2]["source"], list)  # as the notebook wrote it
    assert sources[2] == (
        "**Solution (spoiler)**: try the exercise in the cell above first.\n\nSquaring:\n\n"
    )
    assert sources[6] == links.notebook_cells.SOLUTION_HEADING
    assert not any("rpsbook-solution" in source for source in sources)
    # converting a converted notebook changes nothing (a build may meet it again)
    again = links.notebook_cells.convert_notebook(
        links.notebook_cells.convert_notebook(text, targets), targets
    )
    assert json.loads(again)["cells"] == cells


def test_a_notebook_without_exercises_keeps_its_cells(links, targets):
    text = _notebook(("markdown", "Text mentioning rpsbook-solution.\n"), ("code", "x = 1"))
    cells = json.loads(links.notebook_cells.convert_notebook(text, targets))["cells"]
    assert [cell["cell_type"] for cell in cells] == ["markdown", "code"]
