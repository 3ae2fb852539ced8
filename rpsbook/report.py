"""Put a number measured by rpsbook next to the number printed in the book.

Gallery pages call :func:`compare_with_book` and print the line it returns. When the
environment variable ``RPSBOOK_RESULTS_DIR`` names a folder (the documentation build sets
it for every gallery script), the comparison is also appended to
``$RPSBOOK_RESULTS_DIR/<section-slug>.jsonl`` as one JSON object per line::

    {"section": "Data preparation", "quantity": "normalizer mean",
     "ours": "[0.8489, 0.8198, 0.8098]", "book": "[0.8502, 0.8215, 0.8116]"}

The site's Results page is generated from those files. Every comparison is also kept in
memory for the process's lifetime (:func:`recorded`), so that the last cell of a
downloaded notebook can set the reader's values next to the page's
(:func:`compare_with_page`), with the run's :func:`environment`.
"""

from __future__ import annotations

import json
import math
import os
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RESULTS_DIR_ENV = "RPSBOOK_RESULTS_DIR"
# Characters of a printed comparison line: what an output block of the site shows
# without wrapping, and what a notebook or terminal shows too.
LINE_WIDTH = 88
# Where book_figure records the figures a page draws, beside the comparisons' files.
FIGURES_FILE = "figures.ndjson"  # not *.jsonl: those are the comparisons
_BOOK_FIGURE_RE = re.compile(r"6\.([1-9]|[12][0-9]|3[01])")
# The labels book_figure gives: "Figure 6.21 in the book: ..." or "Not in the book: ...".
#: The Results page's table of how much the headline numbers move (threads, kernels, device).
VARIATION_URL = "https://rpsbook.github.io/rpsbook/results.html#numbers-variation"
# Every compare_with_book record of this process, oldest first.
_RECORDED: list[dict[str, str]] = []
_LABEL_RE = re.compile(r"(Figure 6\.([1-9]|[12][0-9]|3[01]) in the book|Not in the book): \S")

#: Metadata key of a downloaded notebook's last cell, which calls :func:`compare_with_page`
#: (the docs build writes that cell; ``python -m tools.notebooks`` looks for it).
COMPARISON_CELL = "rpsbook_your_run_vs_this_page"

__all__ = [
    "COMPARISON_CELL",
    "FIGURES_FILE",
    "LINE_WIDTH",
    "RESULTS_DIR_ENV",
    "VARIATION_URL",
    "book_figure",
    "book_figure_label",
    "checked_against_book",
    "compare_with_book",
    "compare_with_page",
    "describe_environment",
    "environment",
    "format_comparison",
    "format_value",
    "read_figure_records",
    "read_records",
    "recorded",
    "section_slug",
]


def section_slug(section: str) -> str:
    """File-name-safe slug of a section title: ``"6.1 Data: prep"`` -> ``"6-1-data-prep"``.

    Raises
    ------
    ValueError
        If ``section`` has no letter or digit to build a slug from.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", section.lower()).strip("-")
    if not slug:
        raise ValueError(
            f"section={section!r} has no letters or digits; pass the title of the "
            "chapter section, e.g. section='Data preparation'"
        )
    return slug


def format_value(value: object, digits: int = 4) -> str:
    """Readable text for a measured value.

    Strings are kept as they are, floats get ``digits`` significant digits, and
    tensors or arrays (anything with ``tolist()``) become nested lists of those.

    Parameters
    ----------
    value : object
        A string, a number, a sequence of numbers, or a tensor/array of any shape.
    digits : int
        Significant digits of each float.
    """
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()  # tensors and arrays; a 0-d one becomes a Python scalar
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else str(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(format_value(item, digits) for item in value) + "]"
    return str(value)


def compare_with_book(
    quantity: str, ours: object, book: str, *, section: str, digits: int = 4
) -> str:
    """Format one comparison with the book, and record it for the Results page.

    Parameters
    ----------
    quantity : str
        What was measured, e.g. ``"validation accuracy (p=0.3)"``.
    ours : object
        The value rpsbook measured: a string, a number, or a tensor/array of any shape
        (formatted by :func:`format_value`).
    book : str
        The value as the book (or its notebook) reports it, verbatim.
    section : str
        The chapter section the number belongs to, e.g. ``"Data preparation"``; it
        groups the rows of the Results page.
    digits : int
        Significant digits for floats in ``ours``.

    Returns
    -------
    str
        ``"<quantity>: <ours> | book: <book>"`` when that fits in :data:`LINE_WIDTH`
        characters; otherwise the quantity on its own line, then ``rpsbook:`` and
        ``book:`` on one line each, long values wrapped under themselves::

            validation accuracy, CNN2(5, p=0.5), SGD + Nesterov + CyclicLR
              rpsbook: 336/372 (90.3%)
              book:    336/372 = 90.3% (book) / 341/372 = 91.7% (notebook on this
                       28x28 copy)

    Notes
    -----
    The record is kept in memory (:func:`recorded`). When ``$RPSBOOK_RESULTS_DIR`` is set,
    it is also appended to ``$RPSBOOK_RESULTS_DIR/<section_slug(section)>.jsonl`` (the
    folder is created) with a single ``write`` of one line, so a reader never sees half a record.
    """
    slug = section_slug(section)  # checked even when nothing is recorded
    ours_text = format_value(ours, digits)
    record = {"section": section, "quantity": quantity, "ours": ours_text, "book": book}
    _RECORDED.append(dict(record))
    _append_record(f"{slug}.jsonl", record)
    return format_comparison(quantity, ours_text, book)


def checked_against_book(
    section: str, rows: Sequence[tuple[str, object, str]], *, digits: int = 4
) -> None:
    """Print a page's "Checked against the book" block and record every row.

    A gallery page calls it once, at its end, inside a Sphinx-Gallery ignore block: the
    page shows the printed table, and the downloaded notebook's last cell runs the same
    call before it sets the reader's values next to the page's
    (``docs/_ext/notebook_links.py``).

    Parameters
    ----------
    section : str
        The chapter section, as for :func:`compare_with_book`.
    rows : sequence of ``(quantity, ours, book)``
        What was measured, rpsbook's value and the book's (or its notebook's) text.
    digits : int
        Significant digits for floats.

    Raises
    ------
    ValueError
        When ``rows`` is empty or a row is not a ``(quantity, ours, book)`` triple.
    """
    if not rows:
        raise ValueError("rows is empty; pass one (quantity, ours, book) triple per value")
    for row in rows:
        if not (isinstance(row, tuple) and len(row) == 3):
            raise ValueError(f"row {row!r} is not a (quantity, ours, book) triple")
    for quantity, ours, book in rows:
        print(compare_with_book(quantity, ours, book, section=section, digits=digits))


def _append_record(name: str, record: dict[str, object]) -> None:
    """Append one JSON line to ``$RPSBOOK_RESULTS_DIR/<name>`` when the variable is set."""
    results_dir = os.environ.get(RESULTS_DIR_ENV)
    if not results_dir:
        return
    path = Path(results_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with path.open("a", encoding="utf-8") as file:
        file.write(line)  # one write: a reader never sees half a record


def book_figure(fig: Figure, number: str | None, alt: str, *, verdict: str = "same") -> None:
    """Say which of the book's figures ``fig`` reproduces and what it shows.

    The figure's label (``fig.set_label``) becomes
    ``"Figure 6.21 in the book: <alt>"``, or ``"Not in the book: <alt>"`` for a figure of
    the site's own; the docs build uses it as the image's alt text. When
    ``$RPSBOOK_RESULTS_DIR`` is set, ``{"figure", "alt", "verdict", "panels"}`` is also
    appended to its ``FIGURES_FILE``, from which the concordance page is generated;
    ``panels`` counts the Axes that draw something, colorbars left out, so the concordance
    can tell a merged layout claimed as "same".

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, fully drawn.
    number : str or None
        The book's figure number, ``"6.1"`` to ``"6.31"``; None for the site's own figures.
    alt : str
        One sentence saying what the figure shows, for a reader who cannot see it.
    verdict : str
        ``"same"``, or ``"differs: <why>"`` when the figure departs from the book's.

    It returns nothing, on purpose: a page calls it as the last line of a cell, and a
    Figure returned there would be the cell's value, which Jupyter shows a second time
    (rendered twice) and Sphinx-Gallery prints as ``<Figure size ... with N Axes>``.

    Raises
    ------
    ValueError
        For a number outside 6.1-6.31, an empty ``alt``, or a verdict that is neither
        ``"same"`` nor starts with ``"differs: "``.
    """
    if number is not None and not _BOOK_FIGURE_RE.fullmatch(number):
        raise ValueError(
            f"number={number!r} is not one of the chapter's figures; pass '6.1' to '6.31', "
            "or None for a figure of the site's own"
        )
    if not alt.strip():
        raise ValueError("alt is empty; pass one sentence saying what the figure shows")
    if verdict != "same" and not verdict.startswith("differs: "):
        raise ValueError(
            f"verdict={verdict!r}; pass 'same' or 'differs: <why the figure departs from "
            "the book>'"
        )
    alt = alt.strip()
    fig.set_label(f"Figure {number} in the book: {alt}" if number else f"Not in the book: {alt}")
    panels = sum(1 for ax in fig.axes if ax.has_data() and ax.get_label() != "<colorbar>")
    record = {"figure": number, "alt": alt, "verdict": verdict, "panels": panels}
    _append_record(FIGURES_FILE, record)


def book_figure_label(fig: Figure) -> str | None:
    """The label :func:`book_figure` gave ``fig``, or None when it was not called on it."""
    label = fig.get_label()
    return label if _LABEL_RE.match(label) else None


def recorded() -> list[dict[str, str]]:
    """Copies of this process's :func:`compare_with_book` records, oldest first.

    Each is ``{"section", "quantity", "ours", "book"}`` with the values as printed.
    """
    return [dict(record) for record in _RECORDED]


def _read_lines(
    path: Path, keys: tuple[str, ...], what: str, optional: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The JSON objects of ``path``, one a line, cut down to ``keys`` (required) and
    ``optional`` (where present); a line that is not such a record raises ValueError."""
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
            records.append({key: record[key] for key in (*keys, *optional) if key in record})
            if not set(keys) <= records[-1].keys():
                raise KeyError(sorted(set(keys) - records[-1].keys()))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(
                f"{path}:{number}: not a {what} record ({err}); delete the file and rebuild "
                "to re-run its gallery script"
            ) from err
    return records


def read_records(folder: Path) -> list[dict[str, str]]:
    """The :func:`compare_with_book` records of one script's run: ``folder/*.jsonl``, file by
    file in name order, line by line, as ``{"section", "quantity", "ours", "book"}`` strings.

    The docs build reads them for the Results page and the notebooks' last cell,
    ``python -m tools.notebooks`` to compare a notebook's run with its page.
    """
    keys = ("section", "quantity", "ours", "book")
    return [
        {key: str(value) for key, value in record.items()}
        for path in sorted(folder.glob("*.jsonl"))
        for record in _read_lines(path, keys, "compare_with_book")
    ]


def read_figure_records(folder: Path) -> list[dict[str, Any]]:
    """The :func:`book_figure` records in ``folder/FIGURES_FILE``, in order (none when the
    file is absent): ``{"figure", "alt", "verdict"}``, and ``"panels"`` where recorded."""
    path = folder / FIGURES_FILE
    if not path.is_file():
        return []
    # records written before the panels were counted have none
    records = _read_lines(path, ("figure", "alt", "verdict"), "book_figure", ("panels",))
    for number, record in enumerate(records, 1):
        if "panels" in record:
            try:
                record["panels"] = int(record["panels"])
            except (TypeError, ValueError) as err:
                raise ValueError(f"{path}:{number}: not a book_figure record ({err})") from err
    return records


def environment() -> dict[str, Any]:
    """What a run's numbers depend on besides the data.

    ``{"rpsbook": "0.1.0+bfe95aab20975", "torch": "2.14.1", "torchvision": "0.29.1",
    "device": "cpu", "threads": 2, "cpu_kernels": "AVX512"}``: the versions (rpsbook's as
    the imported package reports it: the site's wheels carry their build in its local part,
    ``+b...``; a checkout says ``0.1.0``), the device rpsbook trains on by default
    (``$RPSBOOK_DEVICE``, else cuda > mps > cpu), torch's intra-op thread count and the CPU
    kernels torch chose (``ATEN_CPU_CAPABILITY`` overrides them). torchvision's version is
    its installed distribution's, read without importing it: a notebook's last cell would
    otherwise spend ~1 s importing torchvision (and ``torch._dynamo``) on pages that never
    use it.
    """
    import torch

    import rpsbook
    from rpsbook._utils import default_device, installed_version

    return {
        "rpsbook": rpsbook.__version__,
        "torch": torch.__version__,
        "torchvision": installed_version("torchvision"),
        "device": str(default_device()),
        "threads": torch.get_num_threads(),
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
    }


def describe_environment(env: Mapping[str, Any]) -> str:
    """One line for an :func:`environment` dict, e.g. ``rpsbook 0.1.0+bfe95aab20975, torch
    2.14.1, torchvision 0.29.1, cpu, 2 threads, AVX512 kernels`` (rpsbook's version where
    the dict has it)."""
    rpsbook = f"rpsbook {env['rpsbook']}, " if "rpsbook" in env else ""
    return (
        f"{rpsbook}torch {env['torch']}, torchvision {env['torchvision']}, {env['device']}, "
        f"{env['threads']} threads, {env['cpu_kernels']} kernels"
    )


def compare_with_page(
    page: Mapping[str, Any],
    *,
    yours: Sequence[Mapping[str, str]] | None = None,
    table_url: str = VARIATION_URL,
) -> str:
    """The reader's values next to the page's: the text of a notebook's last cell.

    Parameters
    ----------
    page : mapping
        ``{"environment": <environment() of the docs build>, "values": [{"section",
        "quantity", "ours"}, ...]}``: what the page recorded with
        :func:`compare_with_book`, in order.
    yours : sequence of mappings, optional
        The reader's records; by default :func:`recorded` (this kernel's). When a value was
        recorded more than once (a cell run again), the last one counts.
    table_url : str
        Where the table of how much the numbers move lives.

    Returns
    -------
    str
        The two environments (rpsbook's build first, and a line saying so when it is not the
        page's), one line per value (``same``, or both values), and a summary that points
        to ``table_url`` when a value differs or was not measured.
    """
    mine = {
        (r["section"], r["quantity"]): r["ours"] for r in (recorded() if yours is None else yours)
    }
    values = list(page["values"])
    run = environment()
    lines = [
        "Your run vs this page",
        f"  your run:  {describe_environment(run)}",
        f"  this page: {describe_environment(page['environment'])}",
    ]
    built = page["environment"].get("rpsbook")
    if built is not None and run["rpsbook"] != built:
        lines += textwrap.wrap(
            f"Your rpsbook {run['rpsbook']} is not the build this page ran, {built}: the "
            "notebook's first cell installs that one.",
            LINE_WIDTH,
            break_long_words=False,
            break_on_hyphens=False,
        )
    same = missing = 0
    for value in values:
        ours = mine.get((value["section"], value["quantity"]))
        if ours == value["ours"]:
            same += 1
            lines.append(f"same      {value['quantity']}: {ours}")
            continue
        missing += ours is None
        lines.append(f"DIFFERS   {value['quantity']}")
        lines.append(
            f"  your run:  {'not measured (run every cell above)' if ours is None else ours}"
        )
        lines.append(f"  this page: {value['ours']}")
    if not values:
        lines.append("This page records no values to compare.")
        return "\n".join(lines)
    differ = len(values) - same - missing
    summary = f"{same} of {len(values)} values equal the page's"
    if same == len(values):
        lines.append(summary + ".")
        return "\n".join(lines)
    summary += f"; {differ} differ" + (f", {missing} not measured" if missing else "")
    lines.append(summary + ".")
    lines += textwrap.wrap(
        "Counts and losses depend on torch's version, its thread count, the CPU kernels "
        f"and the device; how much they move: {table_url}",
        LINE_WIDTH,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return "\n".join(lines)


def format_comparison(quantity: str, ours: str, book: str, width: int = LINE_WIDTH) -> str:
    """The text :func:`compare_with_book` prints for already formatted values."""
    line = f"{quantity}: {ours} | book: {book}"
    if len(line) <= width:
        return line
    lines = [quantity]
    for label, value in (("rpsbook: ", ours), ("book:    ", book)):
        lines += textwrap.wrap(
            value,
            width,
            initial_indent="  " + label,
            subsequent_indent=" " * (2 + len(label)),
            break_on_hyphens=False,
            break_long_words=False,
        )
    return "\n".join(lines)
