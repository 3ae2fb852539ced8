"""The headless Chromium the site is checked in, and the page scripts run in it (``js/``)."""

from __future__ import annotations

import functools
from pathlib import Path

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
PAGE_TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1400, "height": 900}
PHONE_WIDTH = 390
THEMES = ("light", "dark")
_SCRIPTS = Path(__file__).resolve().parent / "js"


@functools.cache
def script(name: str) -> str:
    """The function expression in ``js/<name>.js``, for Playwright's ``page.evaluate``."""
    return (_SCRIPTS / f"{name}.js").read_text(encoding="utf-8")


def wait_for_math(page) -> list[str]:
    """Wait (15 s at most) for MathJax to typeset the page; the TeX of formulas it left raw."""
    return page.evaluate(script("raw_tex"), 15_000)
