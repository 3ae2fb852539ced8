"""The features docs/_ext/rpsbook_sphinx.py wires: provenance, concordance, variation table,
nav toggles, empty code blocks."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from docs_ext import ext_modules

from rpsbook.report import read_figure_records

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("sphinx")


@pytest.fixture(scope="module")
def ext():
    names = ("book_map", "concordance", "empty_code_blocks", "provenance", "upstream")
    with ext_modules(*names, "variation") as modules:
        yield modules


GALLERY_RST = """\
.. rst-class:: sphx-glr-example-title

.. _sphx_glr_auto_examples_plot_05_model_training.py:


Model training
==============

Time to train.

Accuracy
--------
"""


def test_provenance_goes_above_the_footer_after_the_lesson(ext):
    footer = ".. _sphx_glr_download_auto_examples_plot_05_model_training.py:\n\n.. only:: html\n"
    text = ext.provenance.add_provenance(GALLERY_RST + "\n" + footer, "Computed by this build.")
    assert text.endswith(
        "Accuracy\n--------\n\n.. rst-class:: rpsbook-provenance\n\nComputed by this build.\n\n"
        + footer
    )
    with pytest.raises(ValueError, match="no Sphinx-Gallery footer"):
        ext.provenance.add_provenance(GALLERY_RST, "x")


def test_dataset_digest_of_a_folder_is_paths_and_bytes(ext, tmp_path):
    for name, data in (("rps/rock/b.png", b"B"), ("rps/paper/a.png", b"A"), ("notes.txt", b"t")):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    expected = hashlib.sha256(b"rps/paper/a.png\0A" + b"rps/rock/b.png\0B").hexdigest()
    source = SimpleNamespace(kind="folder", path=tmp_path)
    assert ext.provenance.dataset_digest(source) == expected
    embedded = tmp_path / "rps28.npz"
    embedded.with_suffix(".sha256").write_text("abc123  rps28.npz\n")
    assert (
        ext.provenance.dataset_digest(SimpleNamespace(kind="embedded", path=embedded)) == "abc123"
    )


def test_figure_records_are_read_in_order_and_bad_lines_name_the_file(tmp_path):
    assert read_figure_records(tmp_path) == []
    lines = [
        {"figure": "6.10", "alt": "Losses.", "verdict": "same"},
        {"figure": None, "alt": "Ours.", "verdict": "same"},
    ]
    path = tmp_path / "figures.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert read_figure_records(tmp_path) == lines
    lines[0]["panels"] = 2  # recorded since the concordance checks layouts
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert read_figure_records(tmp_path) == lines
    path.write_text('{"figure": "6.1"}\n')
    with pytest.raises(ValueError, match=r"figures.ndjson:1: not a book_figure record"):
        read_figure_records(tmp_path)


def test_book_sections_name_existing_gallery_scripts(ext):
    scripts = {p.stem for p in (ROOT / "gallery").glob("plot_*.py")}
    assert {stem for _, stem, _ in ext.book_map.BOOK_SECTIONS} <= scripts
    assert ext.book_map.BOOK_FIGURES[0] == "6.1" and ext.book_map.BOOK_FIGURES[-1] == "6.31"
    assert len(ext.book_map.BOOK_FIGURES) == 31


def test_book_sections_headings_are_on_a_gallery_page(ext):
    """The build looks a heading up on every page; one found nowhere fails it. "Adaptive vs
    Cycling" is the cyclical page's section (issue 31)."""
    texts = {p.stem: p.read_text(encoding="utf-8") for p in (ROOT / "gallery").glob("plot_*.py")}
    for _, _, heading in ext.book_map.BOOK_SECTIONS:
        underline = rf"^# {re.escape(heading)}\n# [-~=^]{{{len(heading)},}}$" if heading else None
        assert heading is None or any(re.search(underline, t, re.M) for t in texts.values()), (
            heading
        )
    stem, heading = next(
        (s, h) for b, s, h in ext.book_map.BOOK_SECTIONS if b == "Adaptive vs Cycling"
    )
    assert stem == "plot_10_cyclical_schedulers"
    assert re.search(rf"^# {re.escape(heading)}\n# ~+$", texts[stem], re.M)


def test_a_merged_layout_cannot_be_called_the_same(ext):
    """Figure 6.19 has a panel per optimizer in the book: one panel needs a 'differs' verdict."""
    merged = {"figure": "6.19", "alt": "Losses.", "verdict": "same", "panels": 1}
    assert "has 1 panel(s), the book's has 2" in ext.book_map.layout_warning("plot_07", merged)
    assert (
        ext.book_map.layout_warning("plot_07", merged | {"verdict": "differs: one panel"}) is None
    )
    assert ext.book_map.layout_warning("plot_07", merged | {"panels": 2}) is None
    old = {k: v for k, v in merged.items() if k != "panels"}  # a record from before panels
    assert ext.book_map.layout_warning("plot_07", old) is None
    assert ext.book_map.layout_warning("plot_04", merged | {"figure": "6.10"}) is None
    assert set(ext.book_map.BOOK_PANELS) <= set(ext.book_map.BOOK_FIGURES)


def _config(threads, kernels, capability, final_correct, final_loss):
    def run(correct, loss, suggestion=None):
        extra = {} if suggestion is None else {"suggestion": suggestion}
        return {"correct": correct, "total": 372, "train_loss": 0.1, "val_loss": loss, **extra}

    return {
        "threads": threads,
        "kernels": kernels,
        "capability": capability,
        "runs": {
            "adam 3e-4": run(324, 0.25759835),
            "adam 0.005": run(318, 0.5, 0.0279),
            "final": run(final_correct, final_loss, 0.0512),
        },
    }


def test_variation_rows_and_spread(ext):
    record = {
        "configs": [
            _config(2, "avx512", "AVX512", 336, 0.3),
            _config(1, "avx512", "AVX512", 347, 0.25),
        ]
    }
    record["configs"].append(_config(2, "auto", "AVX512", 336, 0.3))
    # torch's own choice first, then by kernels, threads
    assert ext.variation.variation_rows(record) == [
        ["2", "auto (AVX512)", "324/372, 0.2576", "318/372, 0.5000", "336/372, 0.3000",
         "2.79e-02 / 5.12e-02"],
        ["1", "avx512 (AVX512)", "324/372, 0.2576", "318/372, 0.5000", "347/372, 0.2500",
         "2.79e-02 / 5.12e-02"],
        ["2", "avx512 (AVX512)", "324/372, 0.2576", "318/372, 0.5000", "336/372, 0.3000",
         "2.79e-02 / 5.12e-02"],
    ]  # fmt: skip
    spread = ext.variation.variation_spread(record)
    assert spread == [
        "CNN2(5, p=0.3), Adam 3e-4 (Model training): 324 of 372 correct in every "
        "configuration; validation loss 0.2576.",
        "the same model, Adam 0.005 (Learning rates): 318 of 372 correct in every "
        "configuration; validation loss 0.5000.",
        "CNN2(5, p=0.5), SGD + CyclicLR (Putting it all together): 336 to 347 of 372 correct "
        "(2 different counts); validation loss 0.2500 to 0.3000.",
    ]


def test_toc_toggles_get_the_name_of_their_page(ext):
    html = (
        '<li class="toctree-l1 has-children"><a class="reference internal" href="x.html">'
        '<code>rpsbook.data</code> &amp; co</a><details open="open"><summary><span '
        'class="toctree-toggle" role="presentation"></span></summary><ul><li>'
        '<a class="reference internal" href="y.html">y</a></li></ul></details></li>'
    )
    labelled = ext.upstream.label_toc_toggles(html)
    assert '<summary aria-label="Pages under rpsbook.data &amp; co">' in labelled
    assert labelled.replace(' aria-label="Pages under rpsbook.data &amp; co"', "") == html
    assert ext.upstream.label_toc_toggles(labelled) == labelled  # a named summary is left alone
    current = (
        '<li class="toctree-l1 current active has-children"><a aria-current="page" '
        'class="current reference internal" href="#">rpsbook.data</a><details open="open">'
        "<summary><span></span></summary></details></li>"
    )
    assert '<summary aria-label="Pages under rpsbook.data">' in ext.upstream.label_toc_toggles(
        current
    )


def test_committed_variation_results_render(ext):
    record = json.loads((ROOT / "benchmarks" / "variation.json").read_text())
    measured = {(c["threads"], c["kernels"]) for c in record["configs"]}
    assert {(1, "auto"), (2, "auto"), (4, "auto")} <= measured
    rows = ext.variation.variation_rows(record)
    assert len(rows) == len(record["configs"])
    for config in record["configs"]:
        for key in ("adam 3e-4", "adam 0.005", "final"):
            run = config["runs"][key]
            assert 0 <= run["correct"] <= run["total"] == 372
    assert len(ext.variation.variation_spread(record)) == 3


def test_the_concordance_finds_the_figure_anchors_the_scraper_writes(ext):
    from docutils import nodes
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser
    from docutils.utils import new_document

    document = new_document("page", get_default_settings(Parser))
    span = '<span id="plot-05-model-training-figure-6-10"></span>'
    document += [nodes.raw("", span, format="html"), nodes.raw("", "<br/>", format="html")]
    assert ext.concordance._raw_ids(document) == {"plot-05-model-training-figure-6-10"}


def test_an_all_hidden_cell_leaves_no_empty_code_block(ext):
    """A cell whose code is all in ignore blocks: its output stays, its empty block goes."""
    rst = (
        "Some prose.\n\n"
        ".. code-block:: Python\n   :dedent: 1\n\n\n"
        ".. rst-class:: sphx-glr-script-out\n\n .. code-block:: none\n\n    42\n\n"
        ".. code-block:: Python\n   :dedent: 1\n\n    print(42)\n\n"
        "More prose.\n"
    )
    out = ext.empty_code_blocks.drop_empty_code_blocks(rst)
    assert out == rst.replace(".. code-block:: Python\n   :dedent: 1\n\n\n", "", 1)
    assert "    print(42)" in out
    assert "sphx-glr-script-out" in out


REREAD_CONF = """\
import sys
sys.path.insert(0, {ext!r})
import rereads
from docutils import nodes
from sphinx.util.docutils import SphinxDirective


class Live(SphinxDirective):
    def run(self):
        rereads.note_reread(self.env)
        return [nodes.paragraph(text="live")]


def _read(app, docname, source):
    with open({log!r}, "a") as log:
        log.write(docname + "\\n")


def setup(app):
    app.add_domain(rereads.RereadDomain)
    app.connect("env-get-outdated", rereads.outdated)
    app.add_directive("live", Live)
    app.connect("source-read", _read)
"""


@pytest.mark.parametrize("jobs", [1, 2])
def test_pages_that_show_the_gallery_records_are_read_on_every_build(tmp_path, jobs):
    """The page with the directive is read again by every build, the others once; with -j 2
    the parallel readers' notes are merged."""
    from docs_ext import EXT
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    src, log = tmp_path / "src", tmp_path / "read.log"
    src.mkdir()
    (src / "conf.py").write_text(REREAD_CONF.format(ext=str(EXT), log=str(log)))
    # six pages or more: Sphinx reads them in parallel with -j 2
    still = [f"still{n}" for n in range(6)]
    pages = {"index": ".. toctree::\n\n   live\n   " + "\n   ".join(still) + "\n"}
    pages |= {"live": ".. live::\n"} | dict.fromkeys(still, "Nothing recorded.\n")
    for name, body in pages.items():
        (src / f"{name}.rst").write_text(f"{name.title()}\n{'=' * len(name)}\n\n{body}")
    try:
        for _ in range(2):
            with docutils_namespace():
                app = Sphinx(
                    src,
                    src,
                    tmp_path / "html",
                    tmp_path / "doctrees",
                    "html",
                    status=None,
                    warning=None,
                    parallel=jobs,
                )
                app.build()
    finally:
        sys.modules.pop("rereads", None)
    reads = log.read_text().splitlines()
    assert sorted(reads[:8]) == sorted(pages)
    assert reads[8:] == ["live"]
