"""tools.site (``python -m tools.site``) against a tiny fake site, in the system's headless
Chromium, and the site's own fix for what axe-core found in the theme."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tools.site import axe as site_axe
from tools.site.__main__ import main as site_check
from tools.site.gallery import hidpi_candidate
from tools.site.pages import all_pages

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")


def _needs_chromium() -> None:
    if not CHROMIUM.is_file():
        pytest.skip("needs the system Chromium at /usr/bin/chromium (apt-get install chromium)")


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


def _page(body: str, head: str = "") -> str:
    head = "<meta charset='utf-8'><title>page</title>" + head
    return f"<!DOCTYPE html><html lang='en'><head>{head}</head><body>{body}</body></html>"


PROVENANCE = (
    "<p class='rpsbook-provenance'>Computed by this site's build with torch 2.14.1, "
    "torchvision 0.29.1, cpu, 2 threads, AVX512 kernels; data: the 28x28 copy, "
    "SHA-256 <code>9b1b</code>; commit <code>abc</code>.</p>"
)


@pytest.fixture(scope="module")
def axe():
    _needs_chromium()
    try:
        return site_axe.ensure_axe()
    except FileNotFoundError as err:
        pytest.skip(str(err))


@pytest.fixture
def site(tmp_path):
    _needs_chromium()
    pytest.importorskip("playwright.sync_api")
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
            PROVENANCE + "<img src='../_images/figure.png' alt='f'>"
            "<div class='sphx-glr-download sphx-glr-download-jupyter'>"
            "<a href='../_downloads/plot_x.ipynb'>nb</a></div>"
            "<div class='sphx-glr-download sphx-glr-download-python'>"
            "<a href='../_downloads/plot_x.py'>py</a></div>"
        )
    )
    return html


def test_fake_site_passes_and_notebook_runs(site, axe, tmp_path, capsys):
    shots = tmp_path / "shots"
    status = site_check(
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
    axe_line = f"axe-core {site_axe.AXE_VERSION} (wcag2a, wcag2aa, wcag21a, wcag21aa)"
    assert f"{axe_line}: 4 page views" in out
    assert "  light: 0 serious/critical element(s), 0 minor/moderate, 0 allowed" in out
    assert "  dark: 0 serious/critical element(s), 0 minor/moderate, 0 allowed" in out
    assert sorted(p.name for p in shots.iterdir()) == [
        "index-390.png",
        "index.png",
        "plot_x-390-dark.png",
        "plot_x.png",
    ]
    assert (shots / "index.png").read_bytes().startswith(b"\x89PNG")
    assert struct.unpack(">I", (shots / "index-390.png").read_bytes()[16:20]) == (390,)


def test_each_failure_names_its_page_and_culprit(site, tmp_path, capsys):
    (site / "_images" / "figure.png").unlink()
    (site / "_downloads" / "plot_x.py").unlink()
    (site / "_downloads" / "plot_x.ipynb").write_text('{"cells": "not a list"}')
    (site / "index.html").write_text(_page("<script>console.error('boom')</script>"))
    argv = ["--build-dir", str(site), "--no-search", "--no-execute", "--no-axe"]
    status = site_check([*argv, "--screenshots", str(tmp_path / "shots")])
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


def test_missing_site_exits_2(tmp_path, capsys):
    assert site_check(["--build-dir", str(tmp_path)]) == 2
    assert "build it first with `nox -s docs`" in capsys.readouterr().err


def _failures(site, capsys, *options: str) -> list[str]:
    """Run the check without search, notebooks or axe (unless ``options`` say); the failures."""
    argv = ["--build-dir", str(site), "--no-search", "--no-execute", *options]
    status = site_check(argv if "--axe" in options else [*argv, "--no-axe"])
    out = capsys.readouterr().out
    if status == 0:
        return []
    assert status == 1, out
    return [line.strip() for line in out.split("FAILED", 1)[1].splitlines()[1:]]


def test_request_to_another_host_fails(site, capsys):
    (site / "index.html").write_text(_page("<script src='https://cdn.example.org/x.js'></script>"))
    assert _failures(site, capsys) == [
        "index.html: requested another host: https://cdn.example.org/x.js"
    ]


def test_raw_tex_fails_and_the_vendored_mathjax_typesets(site, capsys):
    shutil.copytree(ROOT / "docs" / "_static" / "mathjax", site / "_static" / "mathjax")
    formula = "<span class='math notranslate nohighlight'>\\(\\sqrt{x^2}\\)</span>"
    mathjax = "<script defer src='_static/mathjax/tex-chtml-full.js'></script>"
    (site / "index.html").write_text(_page(formula + mathjax))
    assert _failures(site, capsys) == []
    (site / "index.html").write_text(_page(formula))
    assert _failures(site, capsys) == [
        "index.html: 1 formula(s) shown as raw TeX, e.g. \\(\\sqrt{x^2}\\)"
    ]


def test_mailto_link_fails(site, capsys):
    (site / "index.html").write_text(_page("<p><a href='mailto:3@28x28'>3@28x28</a></p>"))
    assert _failures(site, capsys) == ["index.html: e-mail link mailto:3@28x28"]


def test_wide_output_fails_and_wide_code_is_reported(site, capsys):
    line = "x" * 300
    page = site / "auto_examples" / "plot_x.html"
    blocks = (
        f"<div class='highlight-Python'><pre style='width:200px'>{line}</pre></div>"
        f"<div class='sphx-glr-script-out'><pre style='width:200px'>{line}</pre></div>"
    )
    page.write_text(page.read_text().replace("<body>", "<body>" + blocks))
    status = site_check(["--build-dir", str(site), "--no-search", "--no-execute", "--no-axe"])
    out = capsys.readouterr().out
    assert status == 1
    assert "code wider than its block (not failures) on 1 page(s):" in out
    failures = [line.strip() for line in out.split("FAILED", 1)[1].splitlines()[1:]]
    assert len(failures) == 1
    assert failures[0].startswith("auto_examples/plot_x.html: output wider than its box by ")
    assert failures[0].endswith(" px: " + "x" * 60)


def test_default_repr_in_output_fails(site, capsys):
    page = site / "auto_examples" / "plot_x.html"
    output = (
        "<div class='sphx-glr-script-out'><pre>loss 0.25\n"
        "&lt;matplotlib.legend.Legend object at 0x7f4fe4c5fb90&gt;</pre></div>"
        "<div class='sphx-glr-script-out'><pre>Linear(in_features=2, out_features=1)</pre></div>"
    )
    page.write_text(page.read_text().replace("<body>", "<body>" + output))
    assert _failures(site, capsys) == [
        "auto_examples/plot_x.html: output shows a default repr "
        "<matplotlib.legend.Legend object at 0x7f4fe4c5fb90>: end the block otherwise"
    ]


def test_public_api_page_without_backreferences_fails(site, capsys):
    (site / "generated").mkdir()
    (site / "generated" / "rpsbook.training.StepByStep.html").write_text(_page("<h1>x</h1>"))
    (site / "generated" / "rpsbook.models.CNN2.html").write_text(
        _page("<div class='sphx-glr-thumbnails'></div>")
    )
    assert _failures(site, capsys) == [
        "generated/rpsbook.training.StepByStep.html: no 'Gallery pages using' section "
        "(backreferences)"
    ]


def test_figure_without_2x_image_fails(site, capsys):
    (site / "_images" / "figure_2_00x.png").write_bytes(_png(8, 6))
    figures = (
        "<img class='sphx-glr-single-img' src='../_images/figure.png' "
        "srcset='../_images/figure.png, ../_images/figure_2_00x.png 2.00x'>"
    )
    page = site / "auto_examples" / "plot_x.html"
    page.write_text(page.read_text().replace("<body>", "<body>" + figures))
    assert _failures(site, capsys) == []
    (site / "_images" / "figure_2_00x.png").unlink()
    page.write_text(
        page.read_text().replace(
            "<body>", "<body><img class='sphx-glr-multi-img' src='../_images/figure.png'>"
        )
    )
    assert _failures(site, capsys) == [
        "auto_examples/plot_x.html: figure ../_images/figure.png has no 2x image in its srcset",
        "auto_examples/plot_x.html: 2x image ../_images/figure_2_00x.png answered 404",
    ]


def test_hidpi_candidate():
    assert hidpi_candidate("a.png, b_2_00x.png 2.00x") == "b_2_00x.png"
    assert hidpi_candidate("a.png, b.png 1.5x, c.png 3x") == "c.png"
    assert hidpi_candidate("a.png 400w, b.png") is None
    assert hidpi_candidate("") is None


def test_axe_fails_on_serious_violations_per_theme(site, axe, capsys):
    # a button without a name in both themes; text too faint only in the dark one
    dark = "<style>@media (prefers-color-scheme: dark) {p {color: #333; background: #222}}</style>"
    body = "<main><p>Some text.</p><button></button></main>"
    (site / "index.html").write_text(_page(body, head=dark))
    failures = _failures(site, capsys, "--axe", str(axe))
    button = "axe button-name (critical): Buttons must have discernible text: button"
    contrast = "axe color-contrast (serious): Elements must meet minimum color contrast ratio"
    assert failures == [
        f"index.html [light]: {button}",
        f"index.html [dark]: {button}",
        f"index.html [dark]: {contrast} thresholds: p",
    ]


def test_axe_allow_list():
    rules = [site_axe.Allowed("button-name", r"\.theme-switch", "upstream issue #1")]
    assert site_axe.allowed("button-name", "button.theme-switch-button", rules)
    assert not site_axe.allowed("button-name", "button.search", rules)
    assert not site_axe.allowed("link-name", "button.theme-switch-button", rules)
    for entry in site_axe.AXE_ALLOWED:
        assert entry.reason and "pydata-sphinx-theme" in entry.reason


def test_every_html_page_the_build_wrote_is_checked_by_axe(tmp_path):
    pages = [
        "index.html",
        "auto_examples/plot_x.html",
        "_modules/rpsbook/data.html",  # highlighted sources: left out before
        "_static/extension/page.html",
        "generated/rpsbook.models.CNN2.html",
    ]
    for page in pages:
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / page).write_text("<!DOCTYPE html><html lang='en'></html>")
    # the theme's Jinja macros, shipped as a static file: not a page
    (tmp_path / "_static" / "webpack-macros.html").write_text("{% macro head() %}{% endmacro %}")
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "figure.png").write_bytes(b"")
    assert all_pages(tmp_path) == sorted(pages)


def _fake_axe(folder: Path, version: str) -> Path:
    (folder / "node_modules" / "axe-core").mkdir(parents=True, exist_ok=True)
    (folder / "node_modules" / "axe-core" / "package.json").write_text(
        json.dumps({"name": "axe-core", "version": version})
    )
    axe_js = folder / "node_modules" / "axe-core" / "axe.min.js"
    axe_js.write_text(f"/* axe {version} */")
    return axe_js


def test_ensure_axe_installs_the_pin_over_another_version(tmp_path, monkeypatch):
    """An install of the previous pin is replaced, not used under the new version's name."""
    axe_js = _fake_axe(tmp_path, "4.11.0")
    commands = []

    def npm(command, **kwargs):
        commands.append(command)
        _fake_axe(tmp_path, command[-1].removeprefix("axe-core@"))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/npm")
    monkeypatch.setattr(subprocess, "run", npm)
    assert site_axe.ensure_axe(axe_js) == axe_js
    assert commands[0][-1] == f"axe-core@{site_axe.AXE_VERSION}"
    assert site_axe.installed_axe_version(axe_js) == site_axe.AXE_VERSION
    assert site_axe.ensure_axe(axe_js) == axe_js and len(commands) == 1  # current: kept


def test_the_search_button_s_name_holds_its_visible_text(tmp_path):
    """WCAG 2.5.3 (label in name), axe-core's label-content-name-mismatch: pydata-sphinx-theme's
    search button is labelled "Search" but shows "Search Ctrl+K". docs/_templates drops the
    label, so the name is the visible text; the theme's markup is otherwise kept."""
    pytest.importorskip("pydata_sphinx_theme")
    (tmp_path / "src").mkdir()
    conf = 'html_theme = "pydata_sphinx_theme"\ntemplates_path = [{!r}]\n'
    (tmp_path / "src" / "conf.py").write_text(conf.format(str(ROOT / "docs" / "_templates")))
    (tmp_path / "src" / "index.rst").write_text("Page\n====\n\nText.\n")
    build = [sys.executable, "-m", "sphinx", "-q", "-b", "html", "src", "html"]
    done = subprocess.run(build, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "html" / "index.html").read_text()
    buttons = re.findall(r"<button[^>]*search-button__button[^>]*>.*?</button>", page, re.S)
    assert len(buttons) == 2  # the navbar's and the one shown on phones
    for button in buttons:
        visible = " ".join(re.sub(r"<[^>]+>", " ", button.split(">", 1)[1]).split())
        assert visible == "Search Ctrl + K"
        assert "aria-label" not in button and "aria-labelledby" not in button
        assert 'class="btn search-button-field search-button__button pst-js-only"' in button


def test_ensure_axe_names_the_fix_without_npm(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    missing = tmp_path / "node_modules" / "axe-core" / "axe.min.js"
    with pytest.raises(FileNotFoundError, match=r"no axe-core at .* and no npm"):
        site_axe.ensure_axe(missing)


def test_gallery_page_without_provenance_fails(site, capsys):
    page = site / "auto_examples" / "plot_x.html"
    page.write_text(page.read_text().replace(PROVENANCE, ""))
    assert _failures(site, capsys) == [
        "auto_examples/plot_x.html: no provenance line (.rpsbook-provenance) at the end"
    ]


def test_figures_without_book_figure_label_are_reported_or_fail(site, capsys):
    figures = (
        "<img class='sphx-glr-single-img' src='../_images/figure.png' alt='Adam lr=3e-4' "
        "srcset='../_images/figure.png, ../_images/figure.png 2.00x'>"
        "<img class='sphx-glr-single-img' src='../_images/figure.png' "
        "alt='Figure 6.10 in the book: Losses per epoch.' "
        "srcset='../_images/figure.png, ../_images/figure.png 2.00x'>"
    )
    page = site / "auto_examples" / "plot_x.html"
    page.write_text(page.read_text().replace("<body>", "<body>" + figures))
    argv = ["--build-dir", str(site), "--no-search", "--no-execute", "--no-axe"]
    assert site_check(argv) == 0
    out = capsys.readouterr().out
    assert "1 gallery figure(s) on 1 page(s) without a book_figure label:" in out
    assert site_check([*argv, "--require-figure-labels"]) == 1
    assert capsys.readouterr().out.splitlines()[-1].strip() == (
        "auto_examples/plot_x.html: figure without a book_figure label: "
        "../_images/figure.png: alt 'Adam lr=3e-4'"
    )


def test_concordance_links_must_resolve(site, capsys):
    page = site / "auto_examples" / "plot_x.html"
    page.write_text(
        page.read_text().replace(
            "<body>", "<body><img id='fig-6-1' alt='x' src='../_images/figure.png'>"
        )
    )
    links = (
        "<a href='#'>top</a><table class='rpsbook-concordance'>"
        "<tr><td><a href='auto_examples/plot_x.html#fig-6-1'>6.1</a></td></tr>"
        "<tr><td><a href='auto_examples/plot_x.html'>6.2</a></td></tr>"
        "<tr><td><a href='auto_examples/plot_x.html#fig-6-3'>6.3</a></td></tr>"
        "<tr><td><a href='auto_examples/plot_y.html'>6.4</a></td></tr></table>"
    )
    (site / "concordance.html").write_text(_page(links))
    assert _failures(site, capsys) == [
        "concordance.html: link auto_examples/plot_x.html#fig-6-3: no element with id 'fig-6-3'",
        "concordance.html: link auto_examples/plot_y.html: no such page",
    ]
