"""What only a new Python process shows, measured in one: ``python -m benchmarks.child``.

``import LABEL`` runs the statement :data:`IMPORTS` holds under ``LABEL`` (what ``timeit`` does
with a statement); ``load-splits ROOT CACHE_DIR THREADS`` loads both splits with
``rpsbook.data.load_split``. Each prints ``{"seconds": ...}`` as its last line: the time of that
work alone, without the interpreter's start and exit. This module imports nothing but the
standard library before its clock starts.

:func:`run` is the parent's side: it starts ``python -m <module> ...`` from the repository root
and reads the JSON line the child printed last (:func:`timed` runs any benchmarked command).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: What each import probe runs (label -> statement). The last two are what every training
#: page pays before its first line of work: any optimizer's constructor (its
#: ``add_param_group``) and torchvision's ``ops`` import ``torch._dynamo``, and the pages plot.
IMPORTS: dict[str, str] = {
    "torch": "import torch",
    "rpsbook": "import rpsbook",
    "rpsbook API": "from rpsbook import CNN2, StepByStep, load_rps",
    "optimizer": "import torch; torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)",
    "page floor": (
        "import torch, matplotlib.pyplot; from rpsbook import StepByStep, load_rps; "
        "torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)"
    ),
}


def timed(command: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> tuple[str, float]:
    """Run ``command`` in ``cwd``: what it printed, and its wall time. A failure raises
    ``RuntimeError`` with the command, its exit status and the end of its error output."""
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"benchmark process `{' '.join(command)}` failed (exit {done.returncode}):\n"
            f"{done.stderr[-3000:]}"
        )
    return done.stdout, wall


def run(argv: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[dict[str, Any], float]:
    """Run ``python -m argv...`` from the repository root: the JSON object it printed as its
    last line, and the whole process's wall time (interpreter start and exit included)."""
    env = {**(os.environ if env is None else env), "RPSBOOK_PROGRESS": "0"}
    printed, wall = timed([sys.executable, "-m", *argv], cwd=ROOT, env=env)
    return json.loads(printed.strip().splitlines()[-1]), wall


def time_import(label: str) -> float:
    """Seconds the statement ``IMPORTS[label]`` takes in this (new) process."""
    code = compile(IMPORTS[label], label, "exec")
    start = time.perf_counter()
    exec(code, {})
    return time.perf_counter() - start


def time_load_splits(root: str, cache_dir: str, threads: int) -> float:
    """Seconds ``load_split`` takes for both splits, torch already imported with ``threads``."""
    import torch

    torch.set_num_threads(threads)
    from rpsbook.data import load_split

    start = time.perf_counter()
    for split in ("train", "val"):
        load_split(root, split, cache_dir=cache_dir, progress=False)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.child", description=__doc__.split("\n\n")[0]
    )
    probes = parser.add_subparsers(dest="probe", required=True)
    probes.add_parser("import").add_argument("label", choices=list(IMPORTS))
    load = probes.add_parser("load-splits")
    load.add_argument("root")
    load.add_argument("cache_dir")
    load.add_argument("threads", type=int)
    args = parser.parse_args(argv)
    if args.probe == "import":
        seconds = time_import(args.label)
    else:
        seconds = time_load_splits(args.root, args.cache_dir, args.threads)
    print(json.dumps({"seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
