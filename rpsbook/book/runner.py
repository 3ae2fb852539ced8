"""The book's ``Chapter06.ipynb`` on rpsbook: its import lines switched, every cell run, its
outputs compared with the ones the notebook stores.

The notebook stays in the book's repository: :func:`run` reads it from there, replaces the
lines of :data:`MAPPING` (nothing else), runs every cell in a new kernel in a temporary
folder that holds only the two data folders (linked, not copied), and compares the outputs
that depend neither on the CPU nor on random draws with the stored ones (:data:`CHECKS`).

``python -m rpsbook.book PATH`` (or ``nox -s book -- PATH``) prints the report; it needs
``nbformat``, ``nbclient`` and ``ipykernel``, and ``torch-lr-finder`` for one cell of the
notebook.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BOOK_REPO_ENV",
    "CHECKS",
    "MAPPING",
    "NOTEBOOK",
    "Check",
    "Comparison",
    "Report",
    "main",
    "run",
    "switch_imports",
]

BOOK_REPO_ENV = "RPSBOOK_BOOK_REPO"
NOTEBOOK = "Chapter06.ipynb"

_NOT_NEEDED = "# {}: Colab/Binder setup, not needed with rpsbook"
#: The book's line -> the line that replaces it, one for one; every other line runs as is.
MAPPING: dict[str, str] = {
    # gone from IPython 9; the same names live in IPython.display
    "from IPython.core.display import display, HTML": "from IPython.display import display, HTML",
    "from config import *": _NOT_NEEDED.format("from config import *"),
    "config_chapter6()": _NOT_NEEDED.format("config_chapter6()"),
    "from plots.chapter6 import *": "from rpsbook.book.chapter6 import *",
    "from stepbystep.v2 import StepByStep": "from rpsbook import StepByStep",
    "from stepbystep.v3 import StepByStep": "from rpsbook import StepByStep",
    "from data_generation.rps import download_rps": "from rpsbook import download_rps",
    "%run -i data_generation/simple_linear_regression.py": (
        "# the points of data_generation/simple_linear_regression.py: see the next line"
    ),
    "%run -i data_preparation/v2.py": "from rpsbook.book.regression import *",
}
# A line that still reaches for the book's companion code after the switch.
_BOOK_CODE = re.compile(
    r"^\s*(from|import)\s+(plots|stepbystep|data_generation|data_preparation|config)\b"
    r"|^\s*%run\b"
)
_DATA_FOLDERS = ("rps", "rps-test-set")


def switch_imports(source: str) -> tuple[str, list[tuple[str, str]]]:
    """``source`` (one cell) with the lines of :data:`MAPPING` replaced; and the switches.

    Raises ``ValueError`` naming a line that imports the book's code but is not mapped.
    """
    lines, switched = [], []
    for line in source.split("\n"):
        key = line.strip()
        if key in MAPPING:
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(indent + MAPPING[key])
            switched.append((key, MAPPING[key]))
        elif _BOOK_CODE.search(line):
            raise ValueError(
                f"the line {line!r} uses the book's companion code and has no rpsbook "
                "counterpart in rpsbook.book.runner.MAPPING: add one."
            )
        else:
            lines.append(line)
    return "\n".join(lines), switched


# ------------------------------------------------------------------------------ outputs


def _text(cell: Any) -> str:
    """What a code cell printed and returned, as text (figures left out)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") == "execute_result":
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts).strip()


def _literal(text: str) -> Any:
    """A printed Python value, with ``tensor(...)``, ``torch.Size(...)`` and NumPy 2's
    ``np.float64(...)`` read as the values they wrap."""
    text = re.sub(r"torch\.Size\((\[[^\]]*\])\)", r"\1", text)
    text = re.sub(r"(tensor|np\.\w+)\(([^()]*)\)", r"\2", text)
    return ast.literal_eval(text)


def _same_text(stored: str, got: str) -> bool:
    return stored == got


def _same_value(stored: str, got: str) -> bool:
    """The same printed value (NumPy 1 and 2 print scalars differently)."""
    return _literal(stored) == _literal(got)


def _same_state(stored: str, got: str) -> bool:
    """An optimizer's printed ``state_dict()``: the state exactly as printed (4 digits), and
    every hyper-parameter both torch versions print (newer ones print more keys)."""
    old, new = _literal(stored), _literal(got)
    groups = zip(old["param_groups"], new["param_groups"], strict=True)
    return old["state"] == new["state"] and all(
        a[key] == b[key] for a, b in groups for key in a.keys() & b.keys()
    )


def _column(index: int) -> Callable[[str, str], bool]:
    """Tensors of ``[correct, total]`` rows: only column ``index`` is compared."""

    def same(stored: str, got: str) -> bool:
        def column(text: str) -> list[Any]:
            values = [_literal(part) for part in re.findall(r"tensor\([^()]*\)", text)]
            return [row[index] for value in values for row in _rows(value)]

        return column(stored) == column(got)

    return same


def _rows(value: Any) -> list[Any]:
    return value if isinstance(value[0], list) else [value]


def _close(rel: float) -> Callable[[str, str], bool]:
    def same(stored: str, got: str) -> bool:
        old, new = _literal(stored), _literal(got)
        return len(old) == len(new) and all(
            abs(a - b) <= rel * abs(a) for a, b in zip(old, new, strict=True)
        )

    return same


@dataclass(frozen=True)
class Check:
    """One stored output to compare: the cell whose source starts with ``cell``."""

    name: str
    cell: str
    same: Callable[[str, str], bool] = _same_text


#: Measured across CPUs (benchmarks/variation.json): an Intel Xeon reproduces the stored
#: Adam EWMAs to 15 digits, an AMD EPYC to 6 (-0.006161476466002255 vs -0.006161451964757599).
EWMA_REL = 1e-5

#: The outputs compared: neither the CPU nor a random draw moves them.
CHECKS: tuple[Check, ...] = (
    Check("image shape and class index", "temp_dataset[0][0].shape, temp_dataset[0][1]"),
    Check("three-channel regions shape", "regions = np.array("),
    Check("three-channel filter shape", "three_channel_filter = np.array("),
    Check("convolution result and shape", "result = F.conv2d("),
    Check("spaced points", "spaced_points = torch.linspace"),
    Check("dropout in eval mode", "dropping_model.eval()"),
    Check("sum in eval mode", "F.linear(output_eval"),
    Check("class totals, validation", "StepByStep.loader_apply(val_loader, sbs_cnn2.correct)",
          _column(1)),
    Check("class totals, no dropout", "print(\n    StepByStep.loader_apply(train_loader, "
          "sbs_cnn2_nodrop.correct)", _column(1)),
    Check("class totals, dropout", "print(\n    StepByStep.loader_apply(train_loader, "
          "sbs_cnn2.correct)", _column(1)),
    Check("conv1 weight shape", "model_cnn2.conv1.weight.shape"),
    Check("conv2 weight shape", "model_cnn2.conv2.weight.shape"),
    Check("make_lr_fn factors", "lr_fn(np.arange(num_iter + 1))"),
    Check("make_lr_fn learning rates", "start_lr * lr_fn(np.arange(num_iter + 1))"),
    Check("LambdaLR after one step", "dummy_scheduler.get_last_lr()[0]", _same_value),
    Check("EWMA average age", "alpha = 1/3; T = 93", _same_value),
    Check("Adam state (regression)", "optimizer.state_dict()", _same_state),
    Check("Adam EWMAs by hand", "calc_ewma(gradients, 19)[-1]", _close(EWMA_REL)),
    Check("SGD + Momentum state (regression)", "results['SGD + Momentum']['state']",
          _same_state),
    Check("StepLR sequence", "for epoch in range(4):"),
    Check("class totals, final model", "print(StepByStep.loader_apply(train_loader, "
          "sbs_cnn3.correct)", _column(1)),
)  # fmt: skip


@dataclass
class Comparison:
    """One :class:`Check` on one run."""

    name: str
    stored: str
    got: str
    ok: bool


@dataclass
class Report:
    """What :func:`run` found."""

    notebook: Path
    code_cells: int
    failed: list[tuple[int, str]]  # (code cell number from 1, the error's last line)
    switched: list[tuple[str, str]]
    comparisons: list[Comparison]
    seconds: float
    printed: dict[str, tuple[str, str]] = field(default_factory=dict)  # not compared

    @property
    def ok(self) -> bool:
        return not self.failed and all(c.ok for c in self.comparisons)

    def __str__(self) -> str:
        ran = self.code_cells - len(self.failed)
        lines = [
            f"{self.notebook}: {ran} of {self.code_cells} code cells ran "
            f"({self.seconds:.0f} s), {len(self.switched)} lines switched",
        ]
        lines += [f"  failed: code cell {n}: {error}" for n, error in self.failed]
        for c in self.comparisons:
            mark = "same" if c.ok else "DIFFERENT"
            lines.append(f"  {mark:9} {c.name}: {_one_line(c.got)}")
            if not c.ok:
                lines.append(f"            stored: {_one_line(c.stored)}")
        for name, (stored, got) in self.printed.items():
            lines.append(f"  {'printed':9} {name}: {_one_line(got)} (stored {_one_line(stored)})")
        return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())


#: Outputs reported, not compared: they move with the data copy, the CPU or random draws.
PRINTED = {
    "normalizer": "normalizer = StepByStep.make_normalizer(temp_loader)\nnormalizer",
    "dropout model, validation": "StepByStep.loader_apply(val_loader, sbs_cnn2.correct)",
    "final model": "print(StepByStep.loader_apply(train_loader, sbs_cnn3.correct)",
}


def _find(cells: list[Any], start: str) -> int:
    found = [i for i, cell in enumerate(cells) if cell.source.lstrip().startswith(start)]
    if len(found) != 1:
        raise ValueError(f"{len(found)} code cells start with {start!r}; expected one")
    return found[0]


def compare(stored: list[Any], executed: list[Any]) -> list[Comparison]:
    """:data:`CHECKS` on two lists of code cells (the stored notebook's, the run's)."""
    comparisons = []
    for check in CHECKS:
        index = _find(stored, check.cell)
        old, new = _text(stored[index]), _text(executed[index])
        try:
            ok = check.same(old, new)
        except (ValueError, SyntaxError, KeyError, TypeError, IndexError):
            ok = False  # the run printed something of another shape
        comparisons.append(Comparison(check.name, old, new, ok))
    return comparisons


# ------------------------------------------------------------------------------ running


def find_notebook(path: str | os.PathLike[str] | None = None) -> Path:
    """``Chapter06.ipynb`` in ``path`` (a clone of the book's repository, or the file),
    else in ``$RPSBOOK_BOOK_REPO``."""
    value = path or os.environ.get(BOOK_REPO_ENV)
    if not value:
        raise FileNotFoundError(
            f"no book repository given: pass its folder or set {BOOK_REPO_ENV} to a clone "
            "of https://github.com/dvgodoy/PyTorchStepByStep"
        )
    candidate = Path(value).expanduser()
    notebook = candidate if candidate.suffix == ".ipynb" else candidate / NOTEBOOK
    if not notebook.is_file():
        raise FileNotFoundError(
            f"{notebook} does not exist: pass a clone of the book's repository"
        )
    return notebook


def _data_root(data_dir: str | os.PathLike[str] | None) -> Path:
    from ..data import find_data

    root = find_data(data_dir, download=False)
    missing = [f for f in _DATA_FOLDERS if not (root / f).is_dir()]
    if missing:
        raise FileNotFoundError(f"{root} holds no {', '.join(missing)}: pass the data folder")
    return root


def run(
    book: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    timeout: int = 1800,
    output: str | os.PathLike[str] | None = None,
) -> Report:
    """Switch, run and compare ``Chapter06.ipynb`` (see the module's docstring).

    ``book`` is the book's repository (else ``$RPSBOOK_BOOK_REPO``); ``data_dir`` holds
    ``rps/`` and ``rps-test-set/`` (else rpsbook's usual search, :func:`rpsbook.data.find_data`).
    ``timeout`` bounds each cell; ``output`` saves the executed notebook.
    """
    import nbclient
    import nbformat

    path = find_notebook(book)
    root = _data_root(data_dir)
    notebook = nbformat.read(path, as_version=4)
    stored = [cell for cell in notebook.cells if cell.cell_type == "code"]
    switched_notebook = nbformat.from_dict(notebook)
    switched: list[tuple[str, str]] = []
    for cell in switched_notebook.cells:
        if cell.cell_type == "code":
            cell.source, done = switch_imports(cell.source)
            switched += done
            cell.outputs, cell.execution_count = [], None
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
        "RPSBOOK_PROGRESS": os.environ.get("RPSBOOK_PROGRESS", "0"),
    }
    env.pop("MPLBACKEND", None)  # figures render inline, as for a reader
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rpsbook-book-") as folder:
        for name in _DATA_FOLDERS:
            Path(folder, name).symlink_to(root / name, target_is_directory=True)
        client = nbclient.NotebookClient(
            switched_notebook,
            timeout=timeout,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": folder}},
        )
        client.execute(env=env)
    seconds = time.perf_counter() - start
    if output is not None:
        nbformat.write(switched_notebook, output)
    executed = [cell for cell in switched_notebook.cells if cell.cell_type == "code"]
    failed = [
        (n, f"{o.get('ename')}: {o.get('evalue')}")
        for n, cell in enumerate(executed, 1)
        for o in cell.outputs
        if o.get("output_type") == "error"
    ]
    printed = {
        name: (_text(stored[i]), _text(executed[i]))
        for name, start_of in PRINTED.items()
        for i in [_find(stored, start_of)]
    }
    return Report(
        path, len(executed), failed, switched, compare(stored, executed), seconds, printed
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m rpsbook.book [BOOK_REPO] [--data-dir DIR] [--output FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m rpsbook.book",
        description="Run the book's Chapter06.ipynb on rpsbook, its imports switched, and "
        "compare its outputs with the stored ones.",
    )
    parser.add_argument("book", nargs="?", help=f"the book's repository (else ${BOOK_REPO_ENV})")
    parser.add_argument("--data-dir", help="the folder holding rps/ and rps-test-set/")
    parser.add_argument("--output", help="save the executed notebook there")
    parser.add_argument(
        "--switch-only",
        metavar="FILE",
        help="only write the notebook with its imports switched to FILE, to open in Jupyter",
    )
    args = parser.parse_args(argv)
    if args.switch_only:
        import nbformat

        notebook = nbformat.read(find_notebook(args.book), as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.source, _ = switch_imports(cell.source)
        nbformat.write(notebook, args.switch_only)
        print(f"wrote {args.switch_only}")
        return 0
    report = run(args.book, args.data_dir, output=args.output)
    print(report)
    return 0 if report.ok else 1
