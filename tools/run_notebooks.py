"""Execute every notebook of the built site the way a reader would.

``nox -s notebooks`` runs this, after ``nox -s docs``, with the interpreter of a fresh
virtual environment that has PyTorch, what the notebooks import besides rpsbook, nbclient
and ipykernel, but no rpsbook: what a hosted kernel such as Colab has. The built site
(``docs/_build/html``) is served on 127.0.0.1 and each ``notebooks/*.ipynb`` of it (the
fixed paths the "Open in Colab" links open) is executed top to bottom, one after another,
in a kernel of this interpreter:

* with ``--install``, rpsbook is uninstalled before each notebook, so that the notebook's own
  first cell installs it, from the served copy of the site (``RPSBOOK_SITE_URL`` points the
  cell there); the run checks that the cell said so, and that the installed rpsbook is the
  site's wheel with the SHA-256 of ``dist/SHA256SUMS``. Afterwards the first cell of every
  notebook runs once more, in a fresh kernel, where it must do nothing (its time is printed);
* every notebook's first cell must install rpsbook by URL with its hash, and no cell may ask
  a package index for a bare ``rpsbook``;
* its working directory is a new temporary folder, so the checkout cannot be imported;
* its environment has no ``RPSBOOK_*`` variable (the dataset comes from wherever
  ``rpsbook`` finds it for a reader: its own default) except ``RPSBOOK_DEVICE`` and
  ``RPSBOOK_SITE_URL``, and a fresh ``XDG_CACHE_HOME``;
* Python cannot open a network connection (a ``sitecustomize`` refuses every address but
  loopback), so a notebook that needs the network fails here.

The run fails when a cell raises, when a notebook's last cell is not "Your run vs this
page" or its output does not account for every value of the page
(:func:`comparison_cell_problems`), when a notebook's Markdown still shows a Sphinx role or
an internal label, when tqdm warns that it cannot draw widgets, or when a value the
notebook records through :func:`rpsbook.report.compare_with_book` differs from the value
the docs build recorded for the same page (``docs/auto_examples/_rpsbook_results``).

``--data-dir`` sets ``RPSBOOK_DATA_DIR`` in the kernels: for development only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))  # found as the script's folder, but not when imported

from check_site import serve  # noqa: E402 - the site served as check_site serves it

from rpsbook.notebook_markup import find_raw_markup  # noqa: E402 - the installed library
from rpsbook.report import COMPARISON_CELL, read_records  # noqa: E402

DEFAULT_SITE = ROOT / "docs" / "_build" / "html"
DEFAULT_RESULTS = ROOT / "docs" / "auto_examples" / "_rpsbook_results"
KERNEL_NAME = "rpsbook-notebooks"
KEPT_VARIABLES = frozenset({"RPSBOOK_DEVICE"})
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")  # the colours of IPython's tracebacks
# A pip command that names rpsbook without "@ <url>": what a package index would answer.
_BARE_INSTALL_RE = re.compile(r"pip\s+install\b[^\n]*\brpsbook\b(?![^\n]*@)[^\n]*")
_WHEEL_LINE_RE = re.compile(
    r"^RPSBOOK_WHEEL = '(?P<path>[^'#]+)#sha256=(?P<sha>[0-9a-f]{64})'$", re.M
)
# The first cell's last lines but one (docs/_ext/distribution.py): it runs the check that
# installs RPSBOOK_WHEEL from the site, through pip's hash check, where the kernel lacks it.
INSTALL_LINE = "_rpsbook_setup()"

NETWORK_GUARD = '''\
"""Installed by tools/run_notebooks.py: no connection leaves this machine."""
import ipaddress
import socket

_MESSAGE = "network access is disabled while tools/run_notebooks.py runs notebooks"


def _local(host):
    if host in ("", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address):
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        if not _local(address[0]):
            raise OSError(f"{_MESSAGE}: {address[0]}")


_connect, _connect_ex, _getaddrinfo = (
    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
)


def connect(self, address):
    _check(address)
    return _connect(self, address)


def connect_ex(self, address):
    _check(address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if isinstance(host, bytes):
        host = host.decode()
    if host is not None and not _local(host):
        raise socket.gaierror(socket.EAI_NONAME, f"{_MESSAGE}: {host}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = (
    connect, connect_ex, getaddrinfo
)
'''


@dataclass
class Outcome:
    """What executing one notebook gave."""

    name: str
    seconds: float = 0.0
    first_cell_seconds: float | None = None
    first_cell_output: str = ""
    errors: list[str] = field(default_factory=list)
    records: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # the last cell: whether it is the comparison cell, and what it printed
    last_cell: tuple[bool, str] = (False, "")


def compare_records(page: Sequence[Mapping[str, str]], notebook: Sequence[Mapping[str, str]]):
    """Differences between the values the page shows and those the notebook measured."""
    problems = []
    for index in range(max(len(page), len(notebook))):
        want = page[index] if index < len(page) else None
        got = notebook[index] if index < len(notebook) else None
        if want is None:
            problems.append(f"extra value {got['quantity']!r}: {got['ours']} (not on the page)")
        elif got is None:
            problems.append(f"missing value {want['quantity']!r} (page: {want['ours']})")
        elif (want["section"], want["quantity"]) != (got["section"], got["quantity"]):
            problems.append(
                f"value {index + 1} is {got['quantity']!r}, the page's is {want['quantity']!r}"
            )
        elif want["ours"] != got["ours"]:
            problems.append(f"{want['quantity']!r}: notebook {got['ours']}, page {want['ours']}")
    return problems


def read_sums(site: Path) -> dict[str, str]:
    """``{file name: sha256}`` from the site's ``dist/SHA256SUMS``."""
    path = site / "dist" / "SHA256SUMS"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: build the site with `nox -s docs` first")
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name] = digest
    return sums


def check_install_cells(notebook: Mapping, sums: Mapping[str, str]) -> list[str]:
    """Problems with how a notebook installs rpsbook (an empty list when there are none).

    The first code cell must install the site's wheel by URL with the SHA-256 the site
    lists for it; no cell may name ``rpsbook`` to ``pip install`` without an ``@ <url>``.
    """
    problems = []
    code = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    for number, source in enumerate(code, 1):
        for line in _BARE_INSTALL_RE.findall(source):
            problems.append(f"code cell {number} asks an index for a bare rpsbook: {line}")
    first = code[0] if code else ""
    wheel = _WHEEL_LINE_RE.search(first)
    if INSTALL_LINE not in (line.strip() for line in first.splitlines()) or wheel is None:
        problems.append("the first code cell does not install the site's wheel by URL and hash")
    elif sums.get(Path(wheel["path"]).name) != wheel["sha"]:
        problems.append(
            f"the first cell pins {wheel['path']} with sha256 {wheel['sha'][:12]}..., which is "
            "not the wheel of this site's dist/SHA256SUMS"
        )
    return problems


def installed_rpsbook(env: Mapping[str, str], cwd: Path) -> dict[str, object] | None:
    """Version, file and pip's ``direct_url.json`` of the rpsbook the kernels would import."""
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.metadata as m, json, rpsbook\n"
            "d = m.distribution('rpsbook')\n"
            "print(json.dumps({'version': d.version, 'file': rpsbook.__file__,"
            " 'direct_url': json.loads(d.read_text('direct_url.json') or 'null')}))",
        ],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(probe.stdout) if probe.returncode == 0 else None


def uninstall_rpsbook() -> None:
    """Remove rpsbook from this interpreter's environment (a no-op when it is absent)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "rpsbook"],
        check=True,
        capture_output=True,
    )


def check_installed(found: Mapping[str, object] | None, site_url: str, sums: Mapping[str, str]):
    """Problems with the rpsbook a first cell installed: it must be the site's wheel."""
    if found is None:
        return ["after the first cell, rpsbook is not importable"]
    direct = found.get("direct_url") or {}
    url = direct.get("url", "")
    name = url.rsplit("/", 1)[-1]
    problems = []
    if url != f"{site_url}dist/{name}" or name not in sums:
        problems.append(f"rpsbook was installed from {url or 'an index'}, not the site's wheel")
    elif direct.get("archive_info", {}).get("hash") != f"sha256={sums[name]}":
        problems.append(f"the installed wheel's hash is not the site's: {direct}")
    return problems


def comparison_cell_problems(last_cell: tuple[bool, str], n_values: int, same: bool) -> list[str]:
    """What is wrong with a notebook's executed last cell, "Your run vs this page".

    ``last_cell`` is (whether it is the cell ``notebook_links.add_comparison_cell`` wrote,
    its printed text); ``n_values`` the values the page recorded; ``same`` whether the
    notebook's values all equal the page's (then the cell must say so).
    """
    is_comparison, text = last_cell
    if not is_comparison:
        return ["the last cell is not 'Your run vs this page' (notebook_links did not add it)"]
    # the page's "Checked against the book" table may come first
    if "Your run vs this page" not in text.splitlines():
        return [f"the last cell printed {text[:60]!r}, not 'Your run vs this page'"]
    if n_values == 0:
        expected = "This page records no values to compare."
    elif same:
        expected = f"{n_values} of {n_values} values equal the page's."
    else:
        expected = f" of {n_values} values equal the page's;"
    if expected not in text:
        return [f"the last cell does not say {expected.strip()!r}: {text.splitlines()[-1]!r}"]
    return []


def kernel_environment(
    base: Mapping[str, str],
    *,
    guard_dir: Path,
    cache_dir: Path,
    data_dir: Path | None = None,
) -> dict[str, str]:
    """A reader's environment: no rpsbook settings, a fresh cache, no network."""
    env = {
        key: value
        for key, value in base.items()
        if not key.startswith("RPSBOOK_") or key in KEPT_VARIABLES
    }
    for key in ("PYTHONPATH", "MPLBACKEND", "JUPYTER_PATH"):
        env.pop(key, None)
    env["PYTHONPATH"] = str(guard_dir)
    env["XDG_CACHE_HOME"] = str(cache_dir)
    if data_dir is not None:
        env["RPSBOOK_DATA_DIR"] = str(data_dir)
    return env


def install_kernel(folder: Path) -> Path:
    """A kernel spec running this interpreter; returns the folder for ``JUPYTER_PATH``."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "rpsbook notebooks", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    return folder


def _first_code_cell(notebook):
    return next((cell for cell in notebook.cells if cell.cell_type == "code"), None)


def _stdout_text(cell) -> str:
    return "".join(
        output.get("text", "")
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    )


def _stderr_text(notebook) -> list[str]:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                texts.append(output.get("text", ""))
    return texts


def run_notebook(
    path: Path, *, env: Mapping[str, str], workdir: Path, timeout: int, output: Path | None
) -> Outcome:
    """Execute one notebook in ``workdir``; read what it recorded into ``$RPSBOOK_RESULTS_DIR``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    outcome = Outcome(path.name)
    notebook = nbformat.read(path, as_version=4)
    results = workdir / "_recorded"
    env = {**env, "RPSBOOK_RESULTS_DIR": str(results)}
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(workdir)}},
        record_timing=True,
    )
    start = time.perf_counter()
    try:
        client.execute(env=env)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        outcome.errors.append(_ANSI_RE.sub("", str(err)).strip())
    finally:
        outcome.seconds = time.perf_counter() - start
        if output is not None:
            output.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, output / path.name)
    first = _first_code_cell(notebook)
    if first is not None:
        outcome.first_cell_seconds = _cell_seconds(first)
        outcome.first_cell_output = _stdout_text(first)
    for text in _stderr_text(notebook):
        if "Warning" in text:
            outcome.warnings.append(text.strip())
            if "TqdmWarning" in text:
                outcome.errors.append(f"tqdm cannot draw its widgets: {text.strip()}")
    outcome.errors += shown_twice(notebook)
    outcome.records = read_records(results) if results.is_dir() else []
    if notebook.cells:
        last = notebook.cells[-1]
        printed = "".join(
            o.get("text", "") for o in last.get("outputs", []) if o.get("name") == "stdout"
        )
        outcome.last_cell = (COMPARISON_CELL in last.get("metadata", {}), printed)
    return outcome


def shown_twice(notebook) -> list[str]:
    """Cells whose value is an image: Jupyter shows it, then the inline backend shows the
    same figure again (each rendered once more, and the page prints ``<Figure ...>``)."""
    problems = []
    for number, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "execute_result" and "image/png" in output.get(
                "data", {}
            ):
                last_line = (cell.get("source", "").strip().splitlines() or [""])[-1]
                problems.append(
                    f"cell {number} ends with an expression whose value is a figure "
                    f"({last_line!r}): Jupyter shows it twice"
                )
    return problems


def _cell_seconds(cell) -> float | None:
    """How long the kernel took to run a cell, from nbclient's timing metadata."""
    from datetime import datetime

    timing = cell.get("metadata", {}).get("execution", {})
    if "shell.execute_reply" not in timing or "iopub.execute_input" not in timing:
        return None
    started = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
    ended = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    return (ended - started).total_seconds()


def run_first_cell(path: Path, *, env: Mapping[str, str], workdir: Path, timeout: int) -> Outcome:
    """Execute only the first code cell of a notebook, in a fresh kernel."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    first = _first_code_cell(notebook)
    notebook.cells = [first] if first is not None else []
    workdir.mkdir(parents=True, exist_ok=True)
    single = workdir / path.name
    nbformat.write(notebook, single)
    return run_notebook(single, env=env, workdir=workdir, timeout=timeout, output=None)


def rpsbook_origin(env: Mapping[str, str], cwd: Path) -> Path:
    """Where the kernels import rpsbook from; raises if they cannot import it."""
    probe = subprocess.run(
        [sys.executable, "-c", "import rpsbook; print(rpsbook.__file__)"],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        raise SystemExit(
            f"rpsbook is not importable by {sys.executable}: {probe.stderr.strip()}\n"
            "Install the wheel first (nox -s notebooks does), e.g. "
            "pip install 'dist/rpsbook-*.whl[notebooks]' nbclient ipykernel"
        )
    return Path(probe.stdout.strip()).resolve()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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

    failures: dict[str, list[str]] = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        problems = check_install_cells(json.loads(text), sums)
        raw = find_raw_markup(text)
        if raw:
            shown = ", ".join(sorted(set(raw))[:5])
            problems.append(f"{len(raw)} raw Sphinx roles/labels in Markdown: {shown}")
        if problems:
            failures.setdefault(path.name, []).extend(problems)

    with tempfile.TemporaryDirectory(prefix="rpsbook-notebooks-") as tmp, serve(args.site) as url:
        tmp = Path(tmp)
        guard = tmp / "guard"
        guard.mkdir()
        (guard / "sitecustomize.py").write_text(NETWORK_GUARD, encoding="utf-8")
        jupyter_path = install_kernel(tmp / "jupyter")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            filter(None, [str(jupyter_path), os.environ.get("JUPYTER_PATH")])
        )
        env = kernel_environment(
            os.environ, guard_dir=guard, cache_dir=tmp / "cache", data_dir=args.data_dir
        )
        env["JUPYTER_PATH"] = os.environ["JUPYTER_PATH"]
        env["RPSBOOK_SITE_URL"] = url
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
            if args.install:
                uninstall_rpsbook()
            workdir = tmp / "run" / path.stem
            workdir.mkdir(parents=True)
            outcome = run_notebook(
                path, env=env, workdir=workdir, timeout=args.timeout, output=args.output
            )
            page = read_records(args.results / path.stem)
            differences = compare_records(page, outcome.records)
            problems = outcome.errors + differences
            problems += comparison_cell_problems(outcome.last_cell, len(page), not differences)
            if args.install:
                if not outcome.first_cell_output.startswith("Installing rpsbook "):
                    problems.append(
                        f"the first cell did not install rpsbook: {outcome.first_cell_output!r}"
                    )
                found = installed_rpsbook(env, tmp)
                problems += check_installed(found, url, sums)
            if problems:
                failures.setdefault(path.name, []).extend(problems)
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
        total = time.perf_counter() - total
        print(f"{len(paths)} notebooks in {total:.1f} s")
        if args.install:
            # rpsbook is now the site's build: every first cell must leave it alone
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
    for name, problems in failures.items():
        print(f"\n{name}:")
        for problem in problems:
            print("  " + problem.replace("\n", "\n    "))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
