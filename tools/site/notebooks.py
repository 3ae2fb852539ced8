"""The gallery's notebooks as the site serves them: every one valid, one executed."""

from __future__ import annotations

import os
import tempfile
import urllib.request
from collections.abc import Sequence
from urllib.parse import urlsplit

from .report import Report

# Fast notebooks first: pages without training loops.
NOTEBOOK_PREFERENCE = ("convolution", "dropout")


def _name(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


def pick_notebook(urls: Sequence[str], wanted: str | None) -> str | None:
    """The name of the notebook to execute: the first containing ``wanted``, else the first of
    :data:`NOTEBOOK_PREFERENCE` found, else the first; None when ``wanted`` matches none."""
    names = [_name(u) for u in urls]
    for key in (wanted,) if wanted else NOTEBOOK_PREFERENCE:
        for name in names:
            if key in name:
                return name
    return names[0] if names and not wanted else None


def check_notebooks(urls: Sequence[str], report: Report, *, execute: str | None) -> None:
    """Validate every notebook; execute the one whose URL contains ``execute``."""
    import nbformat
    from nbclient import NotebookClient

    for url in urls:
        name = _name(url)
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode("utf-8")
        try:
            notebook = nbformat.reads(text, as_version=4)
            nbformat.validate(notebook)
        except Exception as err:  # nbformat raises ValidationError, JSON errors, ...
            report.fail(f"notebook {name}", f"invalid: {err}")
            continue
        if execute is None or execute not in name:
            continue
        execute = None  # one is enough
        with tempfile.TemporaryDirectory() as workdir:
            client = NotebookClient(
                notebook,
                timeout=900,
                kernel_name="python3",
                resources={"metadata": {"path": workdir}},
            )
            # The kernel imports this environment's rpsbook, which the first cell keeps
            # instead of installing the site's build (nox -s notebooks checks that install).
            env = {**os.environ, "RPSBOOK_PROGRESS": "0", "RPSBOOK_KEEP_INSTALLED": "1"}
            try:
                client.execute(env=env)
            except Exception as err:  # CellExecutionError carries the cell's traceback
                report.fail(f"notebook {name}", f"execution failed: {err}")
            report.executed = name
