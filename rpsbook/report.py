"""Put a number measured by rpsbook next to the number printed in the book.

Gallery pages call :func:`compare_with_book` and print the line it returns. When the
environment variable ``RPSBOOK_RESULTS_DIR`` names a folder (the documentation build sets
it for every gallery script), the comparison is also appended to
``$RPSBOOK_RESULTS_DIR/<section-slug>.jsonl`` as one JSON object per line::

    {"section": "Data preparation", "quantity": "normalizer mean",
     "ours": "[0.8489, 0.8198, 0.8098]", "book": "[0.8502, 0.8215, 0.8116]"}

The site's Results page is generated from those files.
"""

from __future__ import annotations

import json
import math
import os
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

RESULTS_DIR_ENV = "RPSBOOK_RESULTS_DIR"
# Characters of a printed comparison line: what an output block of the site shows
# without wrapping, and what a notebook or terminal shows too.
LINE_WIDTH = 88

__all__ = [
    "LINE_WIDTH",
    "RESULTS_DIR_ENV",
    "compare_with_book",
    "format_comparison",
    "format_value",
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
    When ``$RPSBOOK_RESULTS_DIR`` is set, the record is appended to
    ``$RPSBOOK_RESULTS_DIR/<section_slug(section)>.jsonl`` (the folder is created) with a
    single ``write`` of one line, so a reader never sees half a record.
    """
    slug = section_slug(section)  # checked even when nothing is recorded
    ours_text = format_value(ours, digits)
    results_dir = os.environ.get(RESULTS_DIR_ENV)
    if results_dir:
        record = {"section": section, "quantity": quantity, "ours": ours_text, "book": book}
        path = Path(results_dir) / f"{slug}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with path.open("a", encoding="utf-8") as file:
            file.write(line)
    return format_comparison(quantity, ours_text, book)


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
