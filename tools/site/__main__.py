"""``python -m tools.site``: the command line of the site check (see :mod:`tools.site`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __doc__ as _description
from .axe import AXE_JS, ensure_axe, summary
from .browser import CHROMIUM
from .check import check_site
from .notebooks import NOTEBOOK_PREFERENCE
from .report import Report

ROOT = Path(__file__).resolve().parents[2]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.site", description=_description.split("\n\n")[0]
    )
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


def _print_report(report: Report, build_dir: Path) -> None:
    print(f"checked {len(report.checked)} pages in {build_dir}")
    for line in summary(report):
        print(line)
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
        return
    print(f"site check FAILED on {len(report.failures)} page(s):")
    for where, problems in report.failures.items():
        for problem in problems:
            print(f"  {where}: {problem}")


def main(argv: Sequence[str] | None = None) -> int:
    """Check the site; 0 when every check passed, 1 when one failed, 2 when a tool is missing."""
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
    _print_report(report, build_dir)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
