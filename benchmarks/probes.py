"""Measurements that need a fresh process, the docs build, or the machine itself."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import platform
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torchvision

from . import child
from .child import IMPORTS
from .cpu import cpu_model

__all__ = ["decode_cache_times", "gallery_times", "import_times", "machine"]


def decode_cache_times(
    root: str, repeats: int, threads: int, keep: Path
) -> dict[str, list[float]]:
    """``load_split`` of both splits in a new process: cold (empty cache dir) then warm.

    Each repeat builds the cache in a new empty folder (``cold``), then reads it back in
    another new process (``warm``). Only the ``load_split`` calls are timed, not the
    interpreter start or the imports. The PNG files themselves are in the OS file cache after
    the first repeat, as they are for anyone who has looked at the dataset once.

    ``keep`` receives the last cache folder's contents, for the in-process benchmarks.
    """
    times: dict[str, list[float]] = {"cold": [], "warm": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="rpsbook-bench-cache-") as cache_dir:
            probe = ["benchmarks.child", "load-splits", str(root), cache_dir, str(threads)]
            times["cold"].append(child.run(probe)[0]["seconds"])
            times["warm"].append(child.run(probe)[0]["seconds"])
            for item in Path(cache_dir).iterdir():
                os.replace(item, keep / item.name)
    return times


def import_times(repeats: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each statement of :data:`.child.IMPORTS` in a new interpreter: the seconds the statement
    took, and the whole process's wall time (start and exit included: after
    ``torch._dynamo`` the interpreter's final garbage collections take about a second).

    The probes are interleaved repeat by repeat, like the in-process variants.
    """
    times: dict[str, list[float]] = {label: [] for label in IMPORTS}
    walls: dict[str, list[float]] = {label: [] for label in IMPORTS}
    labels = list(IMPORTS)
    for repeat in range(repeats):
        shift = repeat % len(labels)
        for label in labels[shift:] + labels[:shift]:
            printed, wall = child.run(["benchmarks.child", "import", label])
            times[label].append(printed["seconds"])
            walls[label].append(wall)
    return times, walls


_TOTAL = re.compile(r"\*\*(\d+):(\d+(?:\.\d+)?)\*\* total execution time for (\d+) files?")
_ROW = re.compile(r"^\s*\* - .*\(``(?P<name>[^`]+)``\)\s*$")
_TIME = re.compile(r"^\s*- (\d+):(\d+(?:\.\d+)?)\s*$")


def gallery_times(docs_dir: Path) -> dict[str, Any]:
    """Per-example execution times of the last docs build, from sphinx-gallery's report.

    Sphinx-Gallery writes ``<docs>/sg_execution_times.rst`` (all galleries) and
    ``<gallery_dir>/sg_execution_times.rst`` after each build, one row per example with its
    last measured run time (a cached example keeps the time of the run that produced it).

    Returns
    -------
    dict
        ``source`` (the file read, or None), ``modified`` (its modification time, ISO 8601,
        or None; sphinx-gallery rewrites it only when a time changed), ``examples``
        (``{script: seconds}``), ``total_s`` and ``status`` (a sentence).
    """
    candidates = [
        docs_dir / "sg_execution_times.rst",
        docs_dir / "auto_examples" / "sg_execution_times.rst",
    ]
    source = next((path for path in candidates if path.is_file()), None)
    empty = {"source": None, "modified": None, "examples": {}, "total_s": None}
    if source is None:
        return {
            **empty,
            "status": f"no docs build found (no sg_execution_times.rst in {docs_dir})",
        }
    lines = source.read_text(encoding="utf-8").splitlines()
    examples: dict[str, float] = {}
    for line, following in itertools.pairwise(lines):
        row, cell = _ROW.match(line), _TIME.match(following)
        if row and cell:
            examples[row["name"]] = 60 * int(cell[1]) + float(cell[2])
    modified = dt.datetime.fromtimestamp(source.stat().st_mtime, tz=dt.UTC).isoformat(
        timespec="seconds"
    )
    if not examples:
        return {
            **empty,
            "source": str(source),
            "modified": modified,
            "status": "the last docs build executed no gallery example",
        }
    total = _TOTAL.search("\n".join(lines))
    total_s = 60 * int(total[1]) + float(total[2]) if total else sum(examples.values())
    return {
        "source": str(source),
        "modified": modified,
        "examples": examples,
        "total_s": total_s,
        "status": f"{len(examples)} examples, report last changed {modified}",
    }


def machine(devices: Sequence[torch.device], threads: int) -> dict[str, Any]:
    """What the numbers were measured on."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    names = {}
    for device in devices:
        if device.type == "cuda":
            names[str(device)] = torch.cuda.get_device_name(device)
        elif device.type == "cpu":
            names[str(device)] = cpu_model()
        else:
            names[str(device)] = device.type
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "torch_threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda,
        "devices": names,
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
