"""Every check of the site, in one headless Chromium with every other host blocked."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ..serve import serve
from .axe import check_axe
from .browser import CHROMIUM, CHROMIUM_ARGS, THEMES, VIEWPORT
from .links import check_concordance
from .notebooks import check_notebooks, pick_notebook
from .pages import all_pages, check_page, check_search, pages_to_check
from .report import Report
from .screenshots import take_screenshots


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
                notebooks += check_page(page, base, path, report, external)
                report.checked.append(path)
            if search:
                check_search(page, base, report)
            if (build_dir / "concordance.html").is_file():
                check_concordance(base, report)
            if axe is not None:
                for theme in THEMES:
                    themed = browser.new_context(viewport=VIEWPORT, color_scheme=theme)
                    themed.route("**/*", keep_local)
                    try:
                        axe_page = themed.new_page()
                        for path in all_pages(build_dir):
                            external.clear()
                            check_axe(axe_page, base, path, theme, axe, report)
                    finally:
                        themed.close()
            if screenshot_dir is not None:
                take_screenshots(page, base, pages, screenshot_dir, report)
        finally:
            browser.close()
        chosen = pick_notebook(notebooks, notebook) if execute else None
        if execute and notebooks and chosen is None:
            report.fail(f"notebook {notebook}", "no gallery notebook matches --notebook")
        check_notebooks(notebooks, report, execute=chosen)
    if require_figure_labels:
        for where, figures in report.unlabelled.items():
            for figure in figures:
                report.fail(where, f"figure without a book_figure label: {figure}")
    return report
