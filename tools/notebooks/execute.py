"""Executing a notebook in a kernel, and what the run left in it: errors, warnings, timings,
records, figures shown twice."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .compare import last_cell, recorded
from .kernel import KERNEL_NAME

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")  # the colours of IPython's tracebacks


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


def cell_seconds(cell) -> float | None:
    """How long the kernel took to run a cell, from nbclient's timing metadata."""
    timing = cell.get("metadata", {}).get("execution", {})
    if "shell.execute_reply" not in timing or "iopub.execute_input" not in timing:
        return None
    started = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
    ended = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    return (ended - started).total_seconds()


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
        outcome.first_cell_seconds = cell_seconds(first)
        outcome.first_cell_output = _stdout_text(first)
    for text in _stderr_text(notebook):
        if "Warning" in text:
            outcome.warnings.append(text.strip())
            if "TqdmWarning" in text:
                outcome.errors.append(f"tqdm cannot draw its widgets: {text.strip()}")
    outcome.errors += shown_twice(notebook)
    outcome.records = recorded(results)
    outcome.last_cell = last_cell(notebook)
    return outcome


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
