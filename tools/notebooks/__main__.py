"""``python -m tools.notebooks``: the command line of the notebook run (see
:mod:`tools.notebooks`)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..serve import serve
from . import __doc__ as _description
from .compare import compare_records, comparison_cell_problems, raw_markup_problems, recorded
from .execute import run_first_cell, run_notebook
from .kernel import install_guard, installed_kernel, kernel_environment
from .wheel import (
    check_install_cells,
    check_installed,
    installed_rpsbook,
    read_sums,
    rpsbook_origin,
    uninstall_rpsbook,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SITE = ROOT / "docs" / "_build" / "html"
DEFAULT_RESULTS = ROOT / "docs" / "auto_examples" / "_rpsbook_results"

Failures = dict[str, list[str]]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.notebooks", description=_description.split("\n\n")[0]
    )
    parser.add_argument(
        "site", nargs="?", type=Path, default=DEFAULT_SITE, help="the built site (docs)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help="folder of the docs build's records, one sub-folder per page",
    )
    parser.add_argument(
        "--install",
        action="store_true",
        help="uninstall rpsbook from this interpreter before each notebook, so that the "
        "notebook's first cell installs it from the served site (nox -s notebooks does this "
        "in a virtual environment of its own)",
    )
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--only", default="", help="run notebooks whose name contains this")
    parser.add_argument("--output", type=Path, help="write the executed notebooks here")
    parser.add_argument(
        "--data-dir", type=Path, help="development only: RPSBOOK_DATA_DIR for the kernels"
    )
    parser.add_argument(
        "--allow-checkout",
        action="store_true",
        help="development only: accept an rpsbook imported from this checkout",
    )
    return parser


def _static_problems(paths: Sequence[Path], sums: Mapping[str, str], failures: Failures) -> None:
    """What the notebooks' text already shows: how they install rpsbook, raw Sphinx markup."""
    for path in paths:
        text = path.read_text(encoding="utf-8")
        problems = check_install_cells(json.loads(text), sums) + raw_markup_problems(text)
        if problems:
            failures.setdefault(path.name, []).extend(problems)


def _kernel_environment(
    tmp: Path, args: argparse.Namespace, url: str, jupyter_path: str
) -> dict[str, str]:
    """The kernels' environment: a reader's, with the guard, the kernel spec and the site."""
    env = kernel_environment(
        os.environ,
        guard_dir=install_guard(tmp / "guard"),
        cache_dir=tmp / "cache",
        data_dir=args.data_dir,
    )
    return {**env, "JUPYTER_PATH": jupyter_path, "RPSBOOK_SITE_URL": url}


def _run_one(
    path: Path,
    args: argparse.Namespace,
    env: Mapping[str, str],
    tmp: Path,
    url: str,
    sums: Mapping[str, str],
) -> list[str]:
    """Execute one notebook (after uninstalling rpsbook with ``--install``); its problems."""
    if args.install:
        uninstall_rpsbook()
    workdir = tmp / "run" / path.stem
    workdir.mkdir(parents=True)
    outcome = run_notebook(
        path, env=env, workdir=workdir, timeout=args.timeout, output=args.output
    )
    page = recorded(args.results / path.stem)
    differences = compare_records(page, outcome.records)
    problems = outcome.errors + differences
    problems += comparison_cell_problems(outcome.last_cell, len(page), not differences)
    if args.install:
        if not outcome.first_cell_output.startswith("Installing rpsbook "):
            problems.append(
                f"the first cell did not install rpsbook: {outcome.first_cell_output!r}"
            )
        problems += check_installed(installed_rpsbook(env, tmp), url, sums)
    first = (
        f", first cell {outcome.first_cell_seconds:.2f} s"
        if outcome.first_cell_seconds is not None
        else ""
    )
    status = "FAILED" if problems else "ok"
    print(
        f"{status:6} {path.name}: {outcome.seconds:.1f} s{first}, "
        f"{len(outcome.records)} values checked against {len(page)} on the page",
        flush=True,
    )
    for warning in outcome.warnings:
        print(f"       warning: {warning.splitlines()[-1]}")
    return problems


def _first_cells_again(
    paths: Sequence[Path],
    args: argparse.Namespace,
    env: Mapping[str, str],
    tmp: Path,
    failures: Failures,
) -> None:
    """With the site's rpsbook installed, every first cell must leave it alone."""
    seconds = []
    for path in paths:
        again = run_first_cell(
            path, env=env, workdir=tmp / "again" / path.stem, timeout=args.timeout
        )
        if again.errors or again.first_cell_output:
            failures.setdefault(path.name, []).append(
                "with the right rpsbook installed, the first cell still did something: "
                f"{again.first_cell_output!r} {' '.join(again.errors)}"
            )
        if again.first_cell_seconds is not None:
            seconds.append(again.first_cell_seconds)
    if seconds:
        median = statistics.median(seconds)
        print(
            f"first cells with rpsbook installed: no-ops in {median:.3f} s (median; "
            f"{min(seconds):.3f}-{max(seconds):.3f} s) over {len(seconds)} notebooks"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the notebooks; 0 when every one passed every check, else 1."""
    parser = _parser()
    args = parser.parse_args(argv)
    notebooks = args.site / "notebooks"
    paths = sorted(p for p in notebooks.glob("*.ipynb") if args.only in p.name)
    if not paths:
        parser.error(f"no notebook in {notebooks}: run `nox -s docs` first")
    if not args.results.is_dir():
        parser.error(f"--results {args.results} is not a folder: run `nox -s docs` first")
    if args.install and sys.prefix == sys.base_prefix:
        parser.error("--install uninstalls rpsbook: run it in a virtual environment")
    sums = read_sums(args.site)
    failures: Failures = {}
    _static_problems(paths, sums, failures)

    with (
        tempfile.TemporaryDirectory(prefix="rpsbook-notebooks-") as folder,
        serve(args.site) as url,
        installed_kernel(Path(folder) / "jupyter") as jupyter_path,
    ):
        tmp = Path(folder)
        env = _kernel_environment(tmp, args, url, jupyter_path)
        print(f"site served at {url}")
        if not args.install:
            origin = rpsbook_origin(env, tmp)
            print(f"rpsbook imported from {origin}")
            if origin.is_relative_to(ROOT / "rpsbook") and not args.allow_checkout:
                raise SystemExit(
                    f"the kernels import rpsbook from this checkout ({origin}), not from an "
                    "installed wheel; run through `nox -s notebooks`"
                )
        total = time.perf_counter()
        for path in paths:
            problems = _run_one(path, args, env, tmp, url, sums)
            if problems:
                failures.setdefault(path.name, []).extend(problems)
        print(f"{len(paths)} notebooks in {time.perf_counter() - total:.1f} s")
        if args.install:
            _first_cells_again(paths, args, env, tmp, failures)
    for name, problems in failures.items():
        print(f"\n{name}:")
        for problem in problems:
            print("  " + problem.replace("\n", "\n    "))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
