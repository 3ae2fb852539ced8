"""The rpsbook this interpreter imports: its file, version and pip's ``direct_url.json``.

:mod:`tools.notebooks.wheel` runs this file with the kernels' interpreter, environment and
working folder (``python -P probe.py``), so it sees what a notebook would import; it prints
:func:`describe` as one JSON line.
"""

from __future__ import annotations

import importlib.metadata
import json
from typing import Any


def describe() -> dict[str, Any]:
    """``file``, ``version`` and ``direct_url`` of the importable rpsbook; the version and the
    URL are None where rpsbook has no installed metadata."""
    import rpsbook

    try:
        distribution = importlib.metadata.distribution("rpsbook")
    except importlib.metadata.PackageNotFoundError:
        return {"file": rpsbook.__file__, "version": None, "direct_url": None}
    direct_url = json.loads(distribution.read_text("direct_url.json") or "null")
    return {"file": rpsbook.__file__, "version": distribution.version, "direct_url": direct_url}


if __name__ == "__main__":
    print(json.dumps(describe()))
