"""Which pages are checked, and what every one of them must do in the browser: load its
images, typeset its formulas, keep its console clean and ask no other host."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from .browser import PAGE_TIMEOUT_MS, script, wait_for_math
from .gallery import check_gallery_page
from .report import Report

SEARCH_TERM = "dropout"

# The API pages of names re-exported by rpsbook/__init__.py that the gallery uses; each must
# carry its "Gallery pages using ..." section (Sphinx-Gallery records the name as written).
PUBLIC_API_PAGES = {
    "rpsbook.StepByStep": "generated/rpsbook.training.StepByStep.html",
    "rpsbook.CNN2": "generated/rpsbook.models.CNN2.html",
    "rpsbook.load_rps": "generated/rpsbook.data.load_rps.html",
    "rpsbook.find_data": "generated/rpsbook.data.find_data.html",
    "rpsbook.lr_range_test": "generated/rpsbook.training.lr_range_test.html",
    "rpsbook.make_lr_fn": "generated/rpsbook.training.make_lr_fn.html",
}


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


def check_page(page, base: str, path: str, report: Report, external: list[str]) -> list[str]:
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
    notebooks = []
    try:
        response = page.goto(base + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        if response is None or response.status != 200:
            report.fail(path, f"page answered {response.status if response else 'nothing'}")
            return []
        for image in page.evaluate(script("images"), 10_000):
            if image["width"] <= 0:
                report.fail(path, f"image {image['src']} did not load (naturalWidth 0)")
        raw = wait_for_math(page)
        if raw:
            report.fail(path, f"{len(raw)} formula(s) shown as raw TeX, e.g. {raw[0][:60]}")
        for href in page.eval_on_selector_all(
            "a[href^='mailto:']", "els => els.map(a => a.getAttribute('href'))"
        ):
            report.fail(path, f"e-mail link {href}")
        if path in PUBLIC_API_PAGES.values() and not page.query_selector(".sphx-glr-thumbnails"):
            report.fail(path, "no 'Gallery pages using' section (backreferences)")
        if path.startswith("auto_examples/plot_"):
            notebooks = check_gallery_page(page, base, path, report)
    finally:
        page.remove_listener("console", on_console)
    for error in errors:
        report.fail(path, f"console error: {error}")
    for url in dict.fromkeys(external):
        report.fail(path, f"requested another host: {url}")
    return notebooks


def check_search(page, base: str, report: Report) -> None:
    """The search page finds :data:`SEARCH_TERM`."""
    path = f"search.html?q={SEARCH_TERM}"
    try:
        page.goto(base + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_function(
            "() => document.querySelectorAll('#search-results li').length > 0",
            timeout=PAGE_TIMEOUT_MS,
        )
    except Exception as err:  # Playwright's TimeoutError and navigation errors alike
        report.fail(path, f"no search results for {SEARCH_TERM!r} ({type(err).__name__})")
