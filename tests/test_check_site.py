"""tools/check_site.py against a tiny fake site, in the system's headless Chromium."""

from __future__ import annotations

import importlib.util
import shutil
import struct
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason="needs the system Chromium at /usr/bin/chromium (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def check_site():
    pytest.importorskip("playwright.sync_api")
    spec = importlib.util.spec_from_file_location("check_site", ROOT / "tools" / "check_site.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def _png(width: int, height: int) -> bytes:
    """A valid grey RGB PNG, written by hand so the test needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x80" * (3 * width) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _page(body: str) -> str:
    head = "<meta charset='utf-8'><title>page</title>"
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"


@pytest.fixture
def site(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    html = tmp_path / "html"
    (html / "_images").mkdir(parents=True)
    (html / "_downloads").mkdir()
    (html / "auto_examples").mkdir()
    (html / "_images" / "figure.png").write_bytes(_png(4, 3))
    (html / "index.html").write_text(_page("<img src='_images/figure.png' alt='f'>"))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 6 * 7\nprint(x)")])
    nbformat.write(notebook, html / "_downloads" / "plot_x.ipynb")
    (html / "_downloads" / "plot_x.py").write_text("print(42)\n")
    (html / "auto_examples" / "plot_x.html").write_text(
        _page(
            "<img src='../_images/figure.png' alt='f'>"
            "<div class='sphx-glr-download sphx-glr-download-jupyter'>"
            "<a href='../_downloads/plot_x.ipynb'>nb</a></div>"
            "<div class='sphx-glr-download sphx-glr-download-python'>"
            "<a href='../_downloads/plot_x.py'>py</a></div>"
        )
    )
    return html


def test_fake_site_passes_and_notebook_runs(check_site, site, tmp_path, capsys):
    shots = tmp_path / "shots"
    status = check_site.main(
        [
            "--build-dir",
            str(site),
            "--no-search",
            "--notebook",
            "plot_x",
            "--screenshots",
            str(shots),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "checked 2 pages" in out
    assert "executed notebook plot_x.ipynb" in out
    assert sorted(p.name for p in shots.iterdir()) == ["index-390.png", "index.png", "plot_x.png"]
    assert (shots / "index.png").read_bytes().startswith(b"\x89PNG")
    assert struct.unpack(">I", (shots / "index-390.png").read_bytes()[16:20]) == (390,)


def test_each_failure_names_its_page_and_culprit(check_site, site, tmp_path, capsys):
    (site / "_images" / "figure.png").unlink()
    (site / "_downloads" / "plot_x.py").unlink()
    (site / "_downloads" / "plot_x.ipynb").write_text('{"cells": "not a list"}')
    (site / "index.html").write_text(_page("<script>console.error('boom')</script>"))
    argv = ["--build-dir", str(site), "--no-search", "--no-execute"]
    status = check_site.main([*argv, "--screenshots", str(tmp_path / "shots")])
    out = capsys.readouterr().out
    assert status == 1
    failures = [line.strip() for line in out.split("FAILED", 1)[1].splitlines()[1:]]
    assert failures[0] == "index.html: console error: boom"
    assert failures[1] == (
        "auto_examples/plot_x.html: image ../_images/figure.png did not load (naturalWidth 0)"
    )
    assert failures[2].startswith("auto_examples/plot_x.html: download http://127.0.0.1:")
    assert failures[2].endswith("/_downloads/plot_x.py answered 404")
    # the browser reports the missing image too
    assert failures[3].startswith("auto_examples/plot_x.html: console error: Failed to load")
    assert failures[4].startswith("notebook plot_x.ipynb: invalid:")
    assert len(failures) == 5


def test_missing_site_exits_2(check_site, tmp_path, capsys):
    assert check_site.main(["--build-dir", str(tmp_path)]) == 2
    assert "build it first with `nox -s docs`" in capsys.readouterr().err


def _failures(check_site, site, capsys) -> list[str]:
    """Run the check without search or notebooks; the failure lines it printed."""
    status = check_site.main(["--build-dir", str(site), "--no-search", "--no-execute"])
    out = capsys.readouterr().out
    if status == 0:
        return []
    assert status == 1, out
    return [line.strip() for line in out.split("FAILED", 1)[1].splitlines()[1:]]


def test_request_to_another_host_fails(check_site, site, capsys):
    (site / "index.html").write_text(_page("<script src='https://cdn.example.org/x.js'></script>"))
    assert _failures(check_site, site, capsys) == [
        "index.html: requested another host: https://cdn.example.org/x.js"
    ]


def test_raw_tex_fails_and_the_vendored_mathjax_typesets(check_site, site, capsys):
    shutil.copytree(ROOT / "docs" / "_static" / "mathjax", site / "_static" / "mathjax")
    formula = "<span class='math notranslate nohighlight'>\\(\\sqrt{x^2}\\)</span>"
    mathjax = "<script defer src='_static/mathjax/tex-chtml-full.js'></script>"
    (site / "index.html").write_text(_page(formula + mathjax))
    assert _failures(check_site, site, capsys) == []
    (site / "index.html").write_text(_page(formula))
    assert _failures(check_site, site, capsys) == [
        "index.html: 1 formula(s) shown as raw TeX, e.g. \\(\\sqrt{x^2}\\)"
    ]


def test_mailto_link_fails(check_site, site, capsys):
    (site / "index.html").write_text(_page("<p><a href='mailto:3@28x28'>3@28x28</a></p>"))
    assert _failures(check_site, site, capsys) == ["index.html: e-mail link mailto:3@28x28"]


def test_wide_output_fails_and_wide_code_is_reported(check_site, site, capsys):
    line = "x" * 300
    page = site / "auto_examples" / "plot_x.html"
    blocks = (
        f"<div class='highlight-Python'><pre style='width:200px'>{line}</pre></div>"
        f"<div class='sphx-glr-script-out'><pre style='width:200px'>{line}</pre></div>"
    )
    page.write_text(page.read_text().replace("<body>", "<body>" + blocks))
    status = check_site.main(["--build-dir", str(site), "--no-search", "--no-execute"])
    out = capsys.readouterr().out
    assert status == 1
    assert "code wider than its block (not failures) on 1 page(s):" in out
    failures = [line.strip() for line in out.split("FAILED", 1)[1].splitlines()[1:]]
    assert len(failures) == 1
    assert failures[0].startswith("auto_examples/plot_x.html: output wider than its box by ")
    assert failures[0].endswith(" px: " + "x" * 60)


def test_default_repr_in_output_fails(check_site, site, capsys):
    page = site / "auto_examples" / "plot_x.html"
    output = (
        "<div class='sphx-glr-script-out'><pre>loss 0.25\n"
        "&lt;matplotlib.legend.Legend object at 0x7f4fe4c5fb90&gt;</pre></div>"
        "<div class='sphx-glr-script-out'><pre>Linear(in_features=2, out_features=1)</pre></div>"
    )
    page.write_text(page.read_text().replace("<body>", "<body>" + output))
    assert _failures(check_site, site, capsys) == [
        "auto_examples/plot_x.html: output shows a default repr "
        "<matplotlib.legend.Legend object at 0x7f4fe4c5fb90>: end the block otherwise"
    ]


def test_public_api_page_without_backreferences_fails(check_site, site, capsys):
    (site / "generated").mkdir()
    (site / "generated" / "rpsbook.trainer.StepByStep.html").write_text(_page("<h1>x</h1>"))
    (site / "generated" / "rpsbook.models.CNN2.html").write_text(
        _page("<div class='sphx-glr-thumbnails'></div>")
    )
    assert _failures(check_site, site, capsys) == [
        "generated/rpsbook.trainer.StepByStep.html: no 'Gallery pages using' section "
        "(backreferences)"
    ]


def test_figure_without_2x_image_fails(check_site, site, capsys):
    (site / "_images" / "figure_2_00x.png").write_bytes(_png(8, 6))
    figures = (
        "<img class='sphx-glr-single-img' src='../_images/figure.png' "
        "srcset='../_images/figure.png, ../_images/figure_2_00x.png 2.00x'>"
    )
    page = site / "auto_examples" / "plot_x.html"
    page.write_text(page.read_text().replace("<body>", "<body>" + figures))
    assert _failures(check_site, site, capsys) == []
    (site / "_images" / "figure_2_00x.png").unlink()
    page.write_text(
        page.read_text().replace(
            "<body>", "<body><img class='sphx-glr-multi-img' src='../_images/figure.png'>"
        )
    )
    assert _failures(check_site, site, capsys) == [
        "auto_examples/plot_x.html: figure ../_images/figure.png has no 2x image in its srcset",
        "auto_examples/plot_x.html: 2x image ../_images/figure_2_00x.png answered 404",
    ]


def test_hidpi_candidate(check_site):
    assert check_site.hidpi_candidate("a.png, b_2_00x.png 2.00x") == "b_2_00x.png"
    assert check_site.hidpi_candidate("a.png, b.png 1.5x, c.png 3x") == "c.png"
    assert check_site.hidpi_candidate("a.png 400w, b.png") is None
    assert check_site.hidpi_candidate("") is None
