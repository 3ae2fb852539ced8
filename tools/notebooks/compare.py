"""A notebook's values against its page's: what the docs build recorded, what the notebook
recorded, and the notebook's last cell, "Your run vs this page"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from rpsbook.notebook_markup import find_raw_markup
from rpsbook.report import COMPARISON_CELL, read_records


def recorded(folder: Path) -> list[dict[str, str]]:
    """The ``compare_with_book`` records in ``folder`` (none when it does not exist)."""
    return read_records(folder) if folder.is_dir() else []


def last_cell(notebook) -> tuple[bool, str]:
    """Whether the notebook's last cell is the comparison cell, and what it printed."""
    if not notebook.cells:
        return (False, "")
    last = notebook.cells[-1]
    printed = "".join(
        o.get("text", "") for o in last.get("outputs", []) if o.get("name") == "stdout"
    )
    return (COMPARISON_CELL in last.get("metadata", {}), printed)


def raw_markup_problems(notebook_text: str) -> list[str]:
    """The Sphinx roles and internal labels left in a notebook's Markdown, as one problem."""
    raw = find_raw_markup(notebook_text)
    if not raw:
        return []
    shown = ", ".join(sorted(set(raw))[:5])
    return [f"{len(raw)} raw Sphinx roles/labels in Markdown: {shown}"]


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
