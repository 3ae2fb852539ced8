"""tools/check_site.py against a tiny fake site, in the system's headless Chromium."""

from __future__ import annotations

import importlib.util
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
    assert sorted(p.name for p in shots.iterdir()) == ["index.png", "plot_x.png"]
    assert (shots / "index.png").read_bytes().startswith(b"\x89PNG")


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
