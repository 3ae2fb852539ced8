"""Full-page screenshots of the site, at the desktop width and as a phone shows it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .browser import PAGE_TIMEOUT_MS, PHONE_WIDTH, VIEWPORT, wait_for_math
from .report import Report


def take_screenshots(page, base: str, pages: Sequence[str], folder: Path, report: Report) -> None:
    """Every gallery page and the landing page at 1400 px, the landing page at 390 px, and
    the top of the first gallery page at 390 px in the dark theme, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    gallery = [p for p in pages if p.startswith("auto_examples/plot_")]
    shots = [(p, VIEWPORT["width"], Path(p).stem) for p in ["index.html", *gallery]]
    shots.append(("index.html", PHONE_WIDTH, f"index-{PHONE_WIDTH}"))
    # a reader on a phone, in the dark theme: the first gallery page, top only
    dark = [(p, PHONE_WIDTH, f"{Path(p).stem}-{PHONE_WIDTH}-dark") for p in gallery[:1]]
    for path, width, name in shots + dark:
        page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
        page.emulate_media(color_scheme="dark" if name.endswith("-dark") else "light")
        page.goto(base + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        wait_for_math(page)  # formulas typeset before the shot
        target = folder / f"{name}.png"
        page.screenshot(path=str(target), full_page=not name.endswith("-dark"))
        report.screenshots.append(target)
