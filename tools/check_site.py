"""Check the built site in a real browser: images, console, math, layout, downloads, notebooks.

Run after ``nox -s docs`` (``nox -s site`` runs this script)::

    python tools/check_site.py [--build-dir docs/_build/html] [--no-execute] [--no-search]

The site is served from ``--build-dir`` on 127.0.0.1 and opened in the system's headless
Chromium (``/usr/bin/chromium``) through Playwright, at 1400 px wide; Playwright's own
browser downloads are never used. Checked pages: the landing page, every gallery page
(``auto_examples/plot_*.html``), the API pages (``api.html``, ``generated/*.html``), and the
Results and Performance pages. On each page:

- every ``<img>`` must have loaded (``naturalWidth > 0``);
- the console stays free of errors and uncaught exceptions;
- no request goes to another host (they are blocked, and each one is a failure: the site
  must work offline, MathJax included);
- every formula is typeset: no ``.math`` element is left as raw TeX once MathJax is done;
- no ``mailto:`` link (shape notation such as ``3@28x28`` is not an address).

Each gallery page must offer its ``.py`` and ``.ipynb`` downloads, served with status 200;
no block of printed output may be wider than its box (code blocks that are only reported)
or show an object's default repr (``<... object at 0x...>``);
every figure must offer a 2x image in its ``srcset``, served with status 200. The API pages
of the names users import from ``rpsbook`` (:data:`PUBLIC_API_PAGES`) must list the gallery
pages using them. Every notebook must pass ``nbformat.validate``, and one (``--notebook``) is
executed top to bottom with nbclient in a ``python3`` kernel of this interpreter
(``RPSBOOK_DATA_DIR`` is passed through). The search page must find "dropout". Full-page
screenshots are saved to ``--screenshots``: every gallery page at 1400 px, the landing
page at 1400 px and at 390 px (``index-390.png``), and the top of the first gallery page
at 390 px in the dark theme (``plot_01_...-390-dark.png``).

Accessibility: every HTML page the build wrote (:func:`all_pages`) is opened in the light and
in the dark theme (the browser's ``prefers-color-scheme``, which the theme's default "auto" mode
follows) and checked with axe-core (npm ``axe-core``, :data:`AXE_VERSION`, installed with
npm into ``.nox/axe`` on first use, and again when the pin moves) against the WCAG 2.0/2.1 A
and AA rules (:data:`AXE_TAGS`). Every serious or critical violation fails, except those in
:data:`AXE_ALLOWED`, each with its reason and the theme's upstream issue. The counts per
theme and rule are printed (``--no-axe`` skips this pass).

Every gallery page must end with its provenance line (``.rpsbook-provenance``: versions,
device, threads, the dataset's SHA-256, the commit). Every link of the concordance page
(``concordance.html``) must lead to a page of the site and to an element with its anchor.
A gallery figure whose alt text is not a :func:`rpsbook.report.book_figure` label ("Figure
6.N in the book: ..." / "Not in the book: ...") is reported; with
``--require-figure-labels`` it fails.

Exit status: 0 when every check passed, 1 when one failed (each failure is printed with its
page and the image or link at fault), 2 when the site or the browser is missing.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SEARCH_TERM = "dropout"
# Fast notebooks first: pages without training loops.
NOTEBOOK_PREFERENCE = ("convolution", "dropout")
PAGE_TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1400, "height": 900}
PHONE_WIDTH = 390
# The current 4.x release (`npm view axe-core version`); newer releases add rules (4.14 made
# label-content-name-mismatch a WCAG 2.1 A rule): move the pin forward when axe releases.
AXE_VERSION = "4.14.1"
AXE_DIR = ROOT / ".nox" / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 AA: the A and AA rules of WCAG 2.0 and those 2.1 added.
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
FAILING_IMPACTS = frozenset({"serious", "critical"})
THEMES = ("light", "dark")
# The alt text rpsbook.report.book_figure gives a figure (its label).
_FIGURE_LABEL_RE = re.compile(
    r"^(Figure 6\.([1-9]|[12][0-9]|3[01]) in the book|Not in the book): "
)


@dataclass(frozen=True)
class Allowed:
    """An axe violation the theme alone can fix: ``rule`` on elements matching ``target``."""

    rule: str
    target: str  # a regular expression searched in the element's CSS selector
    reason: str


#: Serious or critical violations that only pydata-sphinx-theme can fix (see each reason).
AXE_ALLOWED: tuple[Allowed, ...] = ()

# The API pages of names re-exported by rpsbook/__init__.py that the gallery uses; each must
# carry its "Gallery pages using ..." section (Sphinx-Gallery records the name as written).
PUBLIC_API_PAGES = {
    "rpsbook.StepByStep": "generated/rpsbook.trainer.StepByStep.html",
    "rpsbook.CNN2": "generated/rpsbook.models.CNN2.html",
    "rpsbook.load_rps": "generated/rpsbook.data.load_rps.html",
    "rpsbook.find_data": "generated/rpsbook.data.find_data.html",
    "rpsbook.lr_range_test": "generated/rpsbook.lr_finder.lr_range_test.html",
    "rpsbook.make_lr_fn": "generated/rpsbook.lr_finder.make_lr_fn.html",
}

# Waits for every image (lazy ones included) to finish loading or fail, then reports them.
_IMAGES_JS = """
async (timeoutMs) => {
  const images = Array.from(document.images);
  for (const img of images) { if (img.loading === "lazy") img.loading = "eager"; }
  const settled = images.map((img) => img.complete ? null : new Promise((done) => {
    img.addEventListener("load", done, { once: true });
    img.addEventListener("error", done, { once: true });
  }));
  await Promise.race([
    Promise.all(settled), new Promise((done) => setTimeout(done, timeoutMs)),
  ]);
  return images.map((img) => ({
    src: img.getAttribute("src") || img.currentSrc, width: img.naturalWidth,
  }));
}
"""

# Waits for MathJax (when the page loads it) to finish typesetting, then returns the TeX of
# every formula left untypeset.
_RAW_TEX_JS = """
async (timeoutMs) => {
  const ready = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
  if (ready) {
    await Promise.race([ready, new Promise((done) => setTimeout(done, timeoutMs))]);
  }
  return Array.from(document.querySelectorAll(".math"))
    .filter((el) => !el.querySelector("mjx-container"))
    .map((el) => el.textContent.trim());
}
"""

# Blocks whose content is wider than their box; each as [kind, overflow in px, first line].
_OVERFLOW_JS = """
() => {
  const kinds = {output: "div.sphx-glr-script-out pre", code: "div.highlight-Python pre"};
  const found = [];
  for (const [kind, selector] of Object.entries(kinds)) {
    for (const el of document.querySelectorAll(selector)) {
      if (el.scrollWidth > el.clientWidth + 1) {
        found.push([kind, el.scrollWidth - el.clientWidth, el.textContent.split("\\n")[0]]);
      }
    }
  }
  return found;
}
"""

# Printed outputs holding an object's default repr (``<... object at 0x7f...>``): a block
# whose last line is a call like ``ax.legend()`` prints what it returns.
_DEFAULT_REPR_JS = """
() => Array.from(document.querySelectorAll("div.sphx-glr-script-out pre"))
  .flatMap((el) => el.textContent.match(/<[^<>\\n]* object at 0x[0-9a-f]+>/g) || [])
"""

# Every gallery figure (not thumbnails): its src and srcset.
_FIGURES_JS = """
() => Array.from(document.querySelectorAll("img.sphx-glr-single-img, img.sphx-glr-multi-img"))
  .map((img) => ({src: img.getAttribute("src"), srcset: img.getAttribute("srcset") || ""}))
"""


# axe-core's WCAG A/AA violations: one entry per element, with its own impact.
_AXE_RUN_JS = """
async (tags) => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
  });
  return result.violations.flatMap((rule) => rule.nodes.map((node) => ({
    rule: rule.id, impact: node.impact || rule.impact, help: rule.help,
    target: node.target.map(String).join(" "),
  })));
}
"""

# Every gallery figure's alt text.
_FIGURE_ALTS_JS = """
() => Array.from(document.querySelectorAll("img.sphx-glr-single-img, img.sphx-glr-multi-img"))
  .map((img) => [img.getAttribute("src"), img.getAttribute("alt") || ""])
"""


def hidpi_candidate(srcset: str) -> str | None:
    """The URL of a ``srcset`` candidate for screens of 2 or more device pixels per px."""
    for candidate in srcset.split(","):
        url, _, descriptor = candidate.strip().partition(" ")
        descriptor = descriptor.strip()
        if descriptor.endswith("x"):
            try:
                if float(descriptor[:-1]) >= 2:
                    return url
            except ValueError:
                continue
    return None


@dataclass
class Report:
    """What the check found; ``failures`` maps a page (or "notebook ...") to its problems."""

    checked: list[str] = field(default_factory=list)
    failures: dict[str, list[str]] = field(default_factory=dict)
    external: set[str] = field(default_factory=set)
    screenshots: list[Path] = field(default_factory=list)
    executed: str | None = None
    # page -> code blocks wider than their box (reported, not failures)
    wide_code: dict[str, list[str]] = field(default_factory=dict)
    # (theme, impact, rule) -> elements with that violation, over all pages; allowed ones apart
    axe: dict[tuple[str, str, str], int] = field(default_factory=dict)
    axe_allowed: dict[tuple[str, str, str], int] = field(default_factory=dict)
    axe_pages: int = 0
    # page -> figures whose alt text is no book_figure label
    unlabelled: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, where: str, problem: str) -> None:
        self.failures.setdefault(where, []).append(problem)

    @property
    def ok(self) -> bool:
        return not self.failures


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # The browser drops connections it no longer needs (a page left while its images
        # load): not a problem of the site, and no traceback for the log.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def pages_to_check(build_dir: Path) -> list[str]:
    """Site-relative paths of the pages to open, landing page first, gallery next."""

    def found(pattern: str) -> list[str]:
        return sorted(p.relative_to(build_dir).as_posix() for p in build_dir.glob(pattern))

    candidates = [
        ["index.html"],
        found("auto_examples/plot_*.html"),
        ["api.html", "results.html", "performance.html"],
        found("generated/*.html"),
    ]
    return [page for group in candidates for page in group if (build_dir / page).is_file()]


def all_pages(build_dir: Path) -> list[str]:
    """Site-relative paths of every HTML page the build wrote, in any folder (``_modules``
    holds the highlighted sources, ``_static`` what extensions ship): a reader opens them all.
    A file without an ``<html`` element is no page (the theme ships Jinja macros as
    ``_static/webpack-macros.html``)."""
    return sorted(
        p.relative_to(build_dir).as_posix()
        for p in build_dir.rglob("*.html")
        if "<html" in p.read_text(encoding="utf-8", errors="replace").lower()
    )


def installed_axe_version(path: Path) -> str | None:
    """The version in the ``package.json`` beside ``axe.min.js``; ``None`` without one."""
    try:
        return json.loads((path.parent / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_axe(path: Path = AXE_JS) -> Path:
    """``axe.min.js``, installed with npm (pinned :data:`AXE_VERSION`) when missing or when its
    ``package.json`` names another version (the pin moved); a bare file is used as it is."""
    installed = installed_axe_version(path)
    if path.is_file() and installed in (AXE_VERSION, None):
        return path
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(
            f"no axe-core at {path} and no npm to install it: install Node.js and npm "
            f"(Debian/Ubuntu: `apt-get install npm`), or run `npm install --prefix {AXE_DIR} "
            f"axe-core@{AXE_VERSION}` where npm exists, or pass --no-axe"
        )
    prefix = path.parents[2]
    prefix.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(prefix), "--no-save", "--no-package-lock",
               "--no-audit", "--no-fund", f"axe-core@{AXE_VERSION}"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not path.is_file() or installed_axe_version(path) != AXE_VERSION:
        raise FileNotFoundError(
            f"`{' '.join(command)}` did not install {path} version {AXE_VERSION}:\n"
            f"{done.stderr.strip()}"
        )
    return path


def allowed(rule: str, target: str, allow_list: Sequence[Allowed] = AXE_ALLOWED) -> bool:
    """Whether a violation of ``rule`` on the element ``target`` is in the allow-list."""
    return any(a.rule == rule and re.search(a.target, target) for a in allow_list)


def _check_axe(page, base: str, path: str, theme: str, axe: Path, report: Report) -> None:
    """Run axe-core on one page in one theme; record counts and failures."""
    where = f"{path} [{theme}]"
    response = page.goto(base + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
    if response is None or response.status != 200:
        report.fail(where, f"page answered {response.status if response else 'nothing'}")
        return
    page.evaluate(_RAW_TEX_JS, 15_000)  # formulas typeset: axe sees what a reader gets
    shown = page.evaluate("() => document.documentElement.dataset.theme || ''")
    if shown and shown != theme:
        report.fail(where, f"the page shows the {shown} theme, not the {theme} one")
    page.add_script_tag(path=str(axe))
    failing: dict[str, list[str]] = {}
    for found in page.evaluate(_AXE_RUN_JS, list(AXE_TAGS)):
        key = (theme, found["impact"] or "unknown", found["rule"])
        if allowed(found["rule"], found["target"]):
            report.axe_allowed[key] = report.axe_allowed.get(key, 0) + 1
            continue
        report.axe[key] = report.axe.get(key, 0) + 1
        if found["impact"] in FAILING_IMPACTS:
            failing.setdefault(f"{found['rule']} ({found['impact']}): {found['help']}", []).append(
                found["target"]
            )
    for problem, targets in failing.items():
        more = f" and {len(targets) - 3} more" if len(targets) > 3 else ""
        report.fail(where, f"axe {problem}: {', '.join(targets[:3])}{more}")
    report.axe_pages += 1


def _check_concordance(base: str, report: Report) -> None:
    """Every link of the concordance page leads to a page and an element of the site."""
    from html.parser import HTMLParser

    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.hrefs: list[str] = []
            self.ids: set[str] = set()

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if values.get("id"):
                self.ids.add(values["id"])
            if tag == "a" and values.get("href"):
                self.hrefs.append(values["href"])

    def parse(url: str) -> Links | None:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                text = response.read().decode("utf-8")
        except urllib.error.HTTPError:
            return None
        parser = Links()
        parser.feed(text)
        return parser

    page_url = base + "concordance.html"
    concordance = parse(page_url)
    if concordance is None:
        report.fail("concordance.html", "no concordance page")
        return
    targets = [h for h in concordance.hrefs if "auto_examples/" in h]  # the gallery's
    if not targets:
        report.fail("concordance.html", "links to no gallery page")
    pages: dict[str, Links | None] = {}
    for href in dict.fromkeys(targets):
        url = urljoin(page_url, href)
        document, _, anchor = url.partition("#")
        if document not in pages:
            pages[document] = parse(document)
        if pages[document] is None:
            report.fail("concordance.html", f"link {href}: no such page")
        elif anchor and anchor not in pages[document].ids:
            report.fail("concordance.html", f"link {href}: no element with id {anchor!r}")


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _check_page(page, base: str, path: str, report: Report, external: list[str]) -> list[str]:
    """Open one page; record its failures; return the URLs of its notebook downloads.

    ``external`` collects the requests to other hosts that the browser context blocked.
    """
    errors: list[str] = []
    external.clear()

    def on_console(message) -> None:
        if message.type == "error" and urlsplit(message.location.get("url", "")).netloc in (
            "",
            urlsplit(base).netloc,
        ):
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"uncaught exception: {exc}"))
    try:
        response = page.goto(base + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        if response is None or response.status != 200:
            report.fail(path, f"page answered {response.status if response else 'nothing'}")
            return []
        for image in page.evaluate(_IMAGES_JS, 10_000):
            if image["width"] <= 0:
                report.fail(path, f"image {image['src']} did not load (naturalWidth 0)")
        raw = page.evaluate(_RAW_TEX_JS, 15_000)
        if raw:
            report.fail(path, f"{len(raw)} formula(s) shown as raw TeX, e.g. {raw[0][:60]}")
        for href in page.eval_on_selector_all(
            "a[href^='mailto:']", "els => els.map(a => a.getAttribute('href'))"
        ):
            report.fail(path, f"e-mail link {href}")
        if path in PUBLIC_API_PAGES.values() and not page.query_selector(".sphx-glr-thumbnails"):
            report.fail(path, "no 'Gallery pages using' section (backreferences)")
        notebooks = []
        if path.startswith("auto_examples/plot_"):
            provenance = page.eval_on_selector_all(
                ".rpsbook-provenance", "els => els.map(e => e.textContent)"
            )
            if not any("SHA-256" in text and "torch" in text for text in provenance):
                report.fail(path, "no provenance line (.rpsbook-provenance) at the end")
            for src, alt in page.evaluate(_FIGURE_ALTS_JS):
                if not _FIGURE_LABEL_RE.match(alt):
                    report.unlabelled.setdefault(path, []).append(f"{src}: alt {alt!r}")
            for kind, width, line in page.evaluate(_OVERFLOW_JS):
                if kind == "output":
                    report.fail(path, f"output wider than its box by {width} px: {line[:60]}")
                else:
                    report.wide_code.setdefault(path, []).append(f"+{width} px: {line[:60]}")
            for leaked in page.evaluate(_DEFAULT_REPR_JS):
                report.fail(path, f"output shows a default repr {leaked}: end the block otherwise")
            for figure in page.evaluate(_FIGURES_JS):
                hidpi = hidpi_candidate(figure["srcset"])
                if hidpi is None:
                    report.fail(path, f"figure {figure['src']} has no 2x image in its srcset")
                elif (status := _status(urljoin(base + path, hidpi))) != 200:
                    report.fail(path, f"2x image {hidpi} answered {status}")
            for kind, suffix in (("python", ".py"), ("jupyter", ".ipynb")):
                links = page.eval_on_selector_all(
                    f".sphx-glr-download-{kind} a[href]", "els => els.map(a => a.href)"
                )
                links = [link for link in links if urlsplit(link).path.endswith(suffix)]
                if not links:
                    report.fail(path, f"no {suffix} download link")
                for link in links:
                    if (status := _status(link)) != 200:
                        report.fail(path, f"download {link} answered {status}")
                    elif suffix == ".ipynb":
                        notebooks.append(link)
    finally:
        page.remove_listener("console", on_console)
    for error in errors:
        report.fail(path, f"console error: {error}")
    for url in dict.fromkeys(external):
        report.fail(path, f"requested another host: {url}")
    return notebooks


def _check_search(page, base: str, report: Report) -> None:
    path = f"search.html?q={SEARCH_TERM}"
    try:
        page.goto(base + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_function(
            "() => document.querySelectorAll('#search-results li').length > 0",
            timeout=PAGE_TIMEOUT_MS,
        )
    except Exception as err:  # Playwright's TimeoutError and navigation errors alike
        report.fail(path, f"no search results for {SEARCH_TERM!r} ({type(err).__name__})")


def check_notebooks(urls: Sequence[str], report: Report, *, execute: str | None) -> None:
    """Validate every notebook; execute the one whose URL contains ``execute``."""
    import nbformat
    from nbclient import NotebookClient

    for url in urls:
        name = urlsplit(url).path.rsplit("/", 1)[-1]
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode("utf-8")
        try:
            notebook = nbformat.reads(text, as_version=4)
            nbformat.validate(notebook)
        except Exception as err:  # nbformat raises ValidationError, JSON errors, ...
            report.fail(f"notebook {name}", f"invalid: {err}")
            continue
        if execute is None or execute not in name:
            continue
        execute = None  # one is enough
        with tempfile.TemporaryDirectory() as workdir:
            client = NotebookClient(
                notebook,
                timeout=900,
                kernel_name="python3",
                resources={"metadata": {"path": workdir}},
            )
            # The kernel imports this environment's rpsbook, which the first cell keeps
            # instead of installing the site's build (nox -s notebooks checks that install).
            env = {**os.environ, "RPSBOOK_PROGRESS": "0", "RPSBOOK_KEEP_INSTALLED": "1"}
            try:
                client.execute(env=env)
            except Exception as err:  # CellExecutionError carries the cell's traceback
                report.fail(f"notebook {name}", f"execution failed: {err}")
            report.executed = name


def _pick_notebook(urls: Sequence[str], wanted: str | None) -> str | None:
    names = [urlsplit(u).path.rsplit("/", 1)[-1] for u in urls]
    for key in (wanted,) if wanted else NOTEBOOK_PREFERENCE:
        for name in names:
            if key in name:
                return name
    return names[0] if names and not wanted else None


def check_site(
    build_dir: Path,
    *,
    search: bool = True,
    execute: bool = True,
    notebook: str | None = None,
    screenshot_dir: Path | None = None,
    chromium: Path = CHROMIUM,
    axe: Path | None = None,
    require_figure_labels: bool = False,
) -> Report:
    """Run every check on the site in ``build_dir`` and return what was found.

    ``axe``: the ``axe.min.js`` to run on every page in both themes (None: no axe pass).
    """
    from playwright.sync_api import sync_playwright

    report = Report()
    pages = pages_to_check(build_dir)
    notebooks: list[str] = []
    with serve(build_dir) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport=VIEWPORT)
            external: list[str] = []

            def keep_local(route) -> None:
                if urlsplit(route.request.url).netloc == urlsplit(base).netloc:
                    route.continue_()
                else:
                    report.external.add(route.request.url)
                    external.append(route.request.url)
                    route.abort()

            context.route("**/*", keep_local)
            page = context.new_page()
            for path in pages:
                notebooks += _check_page(page, base, path, report, external)
                report.checked.append(path)
            if search:
                _check_search(page, base, report)
            if (build_dir / "concordance.html").is_file():
                _check_concordance(base, report)
            if axe is not None:
                for theme in THEMES:
                    themed = browser.new_context(viewport=VIEWPORT, color_scheme=theme)
                    themed.route("**/*", keep_local)
                    try:
                        axe_page = themed.new_page()
                        for path in all_pages(build_dir):
                            external.clear()
                            _check_axe(axe_page, base, path, theme, axe, report)
                    finally:
                        themed.close()
            if screenshot_dir is not None:
                screenshot_dir.mkdir(parents=True, exist_ok=True)
                gallery = [p for p in pages if p.startswith("auto_examples/plot_")]
                shots = [(p, VIEWPORT["width"], Path(p).stem) for p in ["index.html", *gallery]]
                shots.append(("index.html", PHONE_WIDTH, f"index-{PHONE_WIDTH}"))
                # a reader on a phone, in the dark theme: the first gallery page, top only
                dark = [
                    (p, PHONE_WIDTH, f"{Path(p).stem}-{PHONE_WIDTH}-dark") for p in gallery[:1]
                ]
                for path, width, name in shots + dark:
                    page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
                    page.emulate_media(color_scheme="dark" if name.endswith("-dark") else "light")
                    page.goto(base + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
                    page.evaluate(_RAW_TEX_JS, 15_000)  # formulas typeset before the shot
                    target = screenshot_dir / f"{name}.png"
                    page.screenshot(path=str(target), full_page=not name.endswith("-dark"))
                    report.screenshots.append(target)
        finally:
            browser.close()
        chosen = _pick_notebook(notebooks, notebook) if execute else None
        if execute and notebooks and chosen is None:
            report.fail(f"notebook {notebook}", "no gallery notebook matches --notebook")
        check_notebooks(notebooks, report, execute=chosen)
    if require_figure_labels:
        for where, figures in report.unlabelled.items():
            for figure in figures:
                report.fail(where, f"figure without a book_figure label: {figure}")
    return report


def _print_axe(report: Report) -> None:
    if not report.axe_pages:
        return
    print(f"axe-core {AXE_VERSION} ({', '.join(AXE_TAGS)}): {report.axe_pages} page views")
    for theme in THEMES:
        found = {k: v for k, v in report.axe.items() if k[0] == theme}
        serious = sum(v for k, v in found.items() if k[1] in FAILING_IMPACTS)
        allowed_count = sum(v for k, v in report.axe_allowed.items() if k[0] == theme)
        print(
            f"  {theme}: {serious} serious/critical element(s), "
            f"{sum(found.values()) - serious} minor/moderate, {allowed_count} allowed"
        )
        for (_, impact, rule), count in sorted(found.items(), key=lambda kv: -kv[1]):
            print(f"    {rule} ({impact}): {count}")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "docs" / "_build" / "html")
    parser.add_argument(
        "--screenshots",
        type=Path,
        default=None,
        help="where to save the screenshots (default: <build-dir>/../screenshots)",
    )
    parser.add_argument("--no-execute", action="store_true", help="validate notebooks only")
    parser.add_argument("--no-search", action="store_true", help="skip the search page check")
    parser.add_argument(
        "--notebook",
        default=None,
        help="execute the gallery notebook whose file name contains this text "
        f"(default: the first matching one of {', '.join(NOTEBOOK_PREFERENCE)})",
    )
    parser.add_argument("--chromium", type=Path, default=CHROMIUM)
    parser.add_argument("--no-axe", action="store_true", help="skip the accessibility pass")
    parser.add_argument("--axe", type=Path, default=AXE_JS, help="axe-core's axe.min.js")
    parser.add_argument(
        "--require-figure-labels",
        action="store_true",
        help="fail on gallery figures whose alt text is no book_figure label",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    build_dir = args.build_dir.resolve()
    if not (build_dir / "index.html").is_file():
        print(f"error: no site in {build_dir}: build it first with `nox -s docs`", file=sys.stderr)
        return 2
    if not args.chromium.is_file():
        print(
            f"error: no Chromium at {args.chromium}: install it (Debian/Ubuntu: "
            "`apt-get install chromium`) or pass --chromium",
            file=sys.stderr,
        )
        return 2
    axe = None
    if not args.no_axe:
        try:
            axe = ensure_axe(args.axe)
        except FileNotFoundError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    report = check_site(
        build_dir,
        search=not args.no_search,
        execute=not args.no_execute,
        notebook=args.notebook,
        screenshot_dir=args.screenshots or build_dir.parent / "screenshots",
        chromium=args.chromium,
        axe=axe,
        require_figure_labels=args.require_figure_labels,
    )
    print(f"checked {len(report.checked)} pages in {build_dir}")
    _print_axe(report)
    if report.unlabelled:
        count = sum(map(len, report.unlabelled.values()))
        print(
            f"{count} gallery figure(s) on {len(report.unlabelled)} page(s) "
            "without a book_figure label:"
        )
        for where, figures in report.unlabelled.items():
            print(f"  {where}: {len(figures)}, e.g. {figures[0][:100]}")
    if report.executed:
        print(f"executed notebook {report.executed}")
    for shot in report.screenshots:
        print(f"screenshot {shot}")
    if report.external:
        print(f"blocked {len(report.external)} request(s) to other hosts")
    if report.wide_code:
        print(f"code wider than its block (not failures) on {len(report.wide_code)} page(s):")
        for where, blocks in report.wide_code.items():
            for block in blocks:
                print(f"  {where}: {block}")
    if report.ok:
        print("site check passed")
        return 0
    print(f"site check FAILED on {len(report.failures)} page(s):")
    for where, problems in report.failures.items():
        for problem in problems:
            print(f"  {where}: {problem}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
