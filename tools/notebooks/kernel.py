"""The kernels the notebooks run in: this interpreter, with a reader's environment and no
network."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from . import network_guard

KERNEL_NAME = "rpsbook-notebooks"
KEPT_VARIABLES = frozenset({"RPSBOOK_DEVICE"})


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


def install_guard(folder: Path) -> Path:
    """:mod:`~tools.notebooks.network_guard` as ``folder/sitecustomize.py``; returns ``folder``,
    which the kernels' ``PYTHONPATH`` names."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(network_guard.__file__, folder / "sitecustomize.py")
    return folder


@contextmanager
def installed_kernel(folder: Path) -> Iterator[str]:
    """A kernel spec running this interpreter, written into ``folder`` and found through this
    process's ``JUPYTER_PATH`` (where nbclient looks) until the block ends, when the old value
    is put back; yields the new ``JUPYTER_PATH``."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "rpsbook notebooks", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), old]))
    try:
        yield os.environ["JUPYTER_PATH"]
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old
