"""Accessibility: axe-core's WCAG 2.0/2.1 A and AA rules on a page, in one theme.

axe-core (npm ``axe-core``, :data:`AXE_VERSION`) is installed with npm into ``.nox/axe`` on
first use, and again when the pin moves. Every serious or critical violation fails, except
those in :data:`AXE_ALLOWED`, each with its reason and the theme's upstream issue.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .browser import PAGE_TIMEOUT_MS, THEMES, script, wait_for_math
from .report import Report

ROOT = Path(__file__).resolve().parents[2]
# The current 4.x release (`npm view axe-core version`); newer releases add rules (4.14 made
# label-content-name-mismatch a WCAG 2.1 A rule): move the pin forward when axe releases.
AXE_VERSION = "4.14.1"
AXE_DIR = ROOT / ".nox" / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 AA: the A and AA rules of WCAG 2.0 and those 2.1 added.
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
FAILING_IMPACTS = frozenset({"serious", "critical"})


@dataclass(frozen=True)
class Allowed:
    """An axe violation the theme alone can fix: ``rule`` on elements matching ``target``."""

    rule: str
    target: str  # a regular expression searched in the element's CSS selector
    reason: str


#: Serious or critical violations that only pydata-sphinx-theme can fix (see each reason).
AXE_ALLOWED: tuple[Allowed, ...] = ()


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


def check_axe(page, base: str, path: str, theme: str, axe: Path, report: Report) -> None:
    """Run axe-core on one page in one theme; record counts and failures."""
    where = f"{path} [{theme}]"
    response = page.goto(base + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
    if response is None or response.status != 200:
        report.fail(where, f"page answered {response.status if response else 'nothing'}")
        return
    wait_for_math(page)  # formulas typeset: axe sees what a reader gets
    shown = page.evaluate("() => document.documentElement.dataset.theme || ''")
    if shown and shown != theme:
        report.fail(where, f"the page shows the {shown} theme, not the {theme} one")
    page.add_script_tag(path=str(axe))
    failing: dict[str, list[str]] = {}
    for found in page.evaluate(script("axe_run"), list(AXE_TAGS)):
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


def summary(report: Report) -> list[str]:
    """The violations counted per theme and rule, as printed lines (none without an axe pass)."""
    if not report.axe_pages:
        return []
    lines = [f"axe-core {AXE_VERSION} ({', '.join(AXE_TAGS)}): {report.axe_pages} page views"]
    for theme in THEMES:
        found = {k: v for k, v in report.axe.items() if k[0] == theme}
        serious = sum(v for k, v in found.items() if k[1] in FAILING_IMPACTS)
        allowed_count = sum(v for k, v in report.axe_allowed.items() if k[0] == theme)
        lines.append(
            f"  {theme}: {serious} serious/critical element(s), "
            f"{sum(found.values()) - serious} minor/moderate, {allowed_count} allowed"
        )
        for (_, impact, rule), count in sorted(found.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {rule} ({impact}): {count}")
    return lines
