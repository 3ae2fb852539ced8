"""What the site check found: failures by page, and what is only reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
