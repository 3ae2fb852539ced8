"""How much the chapter's headline numbers move with the CPU's thread count and kernels.

``python -m benchmarks.variation`` runs the chapter's three trainings and its two range
tests once per configuration, each configuration in a new Python process (torch reads its
thread count and its CPU kernels once, at start-up), and writes
``benchmarks/variation.json``; the site's Results page renders that file as its
variation table. A configuration is a thread count (``torch.set_num_threads``) and a set
of CPU kernels:

``auto``
    Nothing set: torch and oneDNN pick the best kernels the CPU has, as on a reader's
    machine (``torch.backends.cpu.get_cpu_capability()`` names torch's choice).
``default``, ``avx2``, ``avx512``
    ``ATEN_CPU_CAPABILITY`` (torch's own vectorized kernels: ``default`` is the plain,
    unvectorized build of them) together with oneDNN's ``ONEDNN_MAX_CPU_ISA`` (the
    convolutions), so ``avx2`` stands for a CPU without AVX-512.

The runs, as the gallery pages make them (seed 13 before each model is built):

``adam 3e-4``
    ``CNN2(5, p=0.3)``, Adam lr 3e-4, 10 epochs ("Model training").
``adam 0.005``
    The same model after the range test to 0.1 (100 steps; its suggestion is recorded),
    then Adam lr 0.005 for 10 epochs ("Learning rates").
``final``
    ``CNN2(5, p=0.5)``, SGD + Nesterov, the range test to 0.2 (suggestion recorded), then
    ``CyclicLR`` (1e-3 to 0.01, triangular2) for 10 epochs ("Putting it all together").

Each run records the validation set's correct count and the last epoch's training and
validation losses. ``--threads`` and ``--kernels`` choose the configurations; kernels the
CPU lacks are skipped (and said so). One configuration takes about 30 s with 2 threads on
2 idle cores. On a busy machine, ``OMP_WAIT_POLICY=PASSIVE`` keeps OpenMP's threads from
spinning while they wait for each other (the numbers do not change: the work is split
across threads the same way); the policy is recorded. ``--resume`` adds configurations to
an existing file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rpsbook._utils import write_atomically

from . import child
from .cpu import cpu_flags, cpu_model

RESULTS = Path(__file__).resolve().parent / "variation.json"
THREADS = (1, 2, 4)
KERNELS = ("auto", "default", "avx2", "avx512")
# ATEN_CPU_CAPABILITY value -> oneDNN's ISA cap for the same CPU
_ONEDNN_ISA = {"default": "SSE41", "avx2": "AVX2", "avx512": "AVX512_CORE"}
# /proc/cpuinfo flag a kernel set needs
_CPU_FLAG = {"auto": None, "default": None, "avx2": "avx2", "avx512": "avx512f"}
RUNS = ("adam 3e-4", "adam 0.005", "final")


def measure_here() -> dict[str, Any]:
    """The headline numbers in this process (thread count and kernels already set)."""
    import torch
    from torch import nn, optim
    from torch.optim.lr_scheduler import CyclicLR

    from rpsbook.data import load_rps
    from rpsbook.models import CNN2
    from rpsbook.training import StepByStep

    rps = load_rps(progress=False)

    def trainer(p: float, optimizer_fn) -> StepByStep:
        torch.manual_seed(13)
        model = CNN2(n_filters=5, p=p)
        sbs = StepByStep(model, nn.CrossEntropyLoss(), optimizer_fn(model), device="cpu")
        sbs.set_loaders(rps.train_loader, rps.val_loader)
        return sbs

    def outcome(sbs: StepByStep) -> dict[str, Any]:
        counts = StepByStep.loader_apply(rps.val_loader, sbs.correct)
        hits, total = (int(v) for v in counts.sum(dim=0).tolist())
        return {
            "correct": hits,
            "total": total,
            "train_loss": sbs.losses[-1],
            "val_loss": sbs.val_losses[-1],
        }

    runs: dict[str, Any] = {}
    sbs = trainer(0.3, lambda m: optim.Adam(m.parameters(), lr=3e-4))
    sbs.train(10, progress=False)
    runs["adam 3e-4"] = outcome(sbs)

    sbs = trainer(0.3, lambda m: optim.Adam(m.parameters(), lr=3e-4))
    test = sbs.lr_range_test(end_lr=0.1, num_iter=100, progress=False)
    sbs.set_optimizer(optim.Adam(sbs.model.parameters(), lr=0.005))
    sbs.train(10, progress=False)
    runs["adam 0.005"] = {**outcome(sbs), "suggestion": test.suggestion}

    sgd = lambda m, lr: optim.SGD(m.parameters(), lr=lr, momentum=0.9, nesterov=True)  # noqa: E731
    sbs = trainer(0.5, lambda m: sgd(m, 1e-3))
    test = sbs.lr_range_test(end_lr=0.2, num_iter=100, progress=False)
    optimizer = sgd(sbs.model, 0.01)
    sbs.set_optimizer(optimizer)
    n_batches = len(rps.train_loader)
    sbs.set_lr_scheduler(
        CyclicLR(optimizer, 1e-3, 0.01, step_size_up=n_batches, mode="triangular2")
    )
    sbs.train(10, progress=False)
    runs["final"] = {**outcome(sbs), "suggestion": test.suggestion}
    return {
        "threads": torch.get_num_threads(),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "runs": runs,
    }


def run_config(threads: int, kernels: str) -> dict[str, Any]:
    """Measure one configuration in a new process; ``kernels="auto"`` sets nothing."""
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY",)}
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    env.update({"OMP_NUM_THREADS": str(threads), "RPSBOOK_PROGRESS": "0"})
    if kernels != "auto":
        env["ATEN_CPU_CAPABILITY"] = kernels
        env["ONEDNN_MAX_CPU_ISA"] = _ONEDNN_ISA[kernels]
    try:
        result, wall = child.run(["benchmarks.variation", "--worker", str(threads)], env)
    except RuntimeError as err:
        raise RuntimeError(f"kernels={kernels}: {err}") from err
    result["kernels"] = kernels
    result["seconds"] = round(wall, 1)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.variation", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--threads", type=int, nargs="+", default=list(THREADS))
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=KERNELS)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the configurations already in --output (same torch) and add the others",
    )
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        import torch

        torch.set_num_threads(args.worker)
        print(json.dumps(measure_here()))
        return 0

    import torch

    flags = cpu_flags()
    record = {
        "torch": torch.__version__,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "auto_capability": torch.backends.cpu.get_cpu_capability(),
        "date": time.strftime("%Y-%m-%d"),
        "wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "configs": [],
    }
    if args.resume and args.output.is_file():
        kept = json.loads(args.output.read_text(encoding="utf-8"))
        if kept["torch"] == record["torch"]:
            record["configs"] = kept["configs"]
    done = {(c["threads"], c["kernels"]) for c in record["configs"]}
    for kernels in args.kernels:
        if _CPU_FLAG[kernels] and _CPU_FLAG[kernels] not in flags:
            print(f"skipped kernels={kernels}: this CPU lacks {_CPU_FLAG[kernels]}")
    configs = [
        (threads, kernels)
        for threads in args.threads
        for kernels in args.kernels
        if (not _CPU_FLAG[kernels] or _CPU_FLAG[kernels] in flags)
        and (threads, kernels) not in done
    ]
    for threads, kernels in configs:
        result = run_config(threads, kernels)
        record["configs"].append(result)
        # written after every configuration: a long run stopped halfway keeps what it measured
        data = (json.dumps(record, indent=1) + "\n").encode()
        write_atomically(args.output, lambda file, data=data: file.write(data), "results file")
        final = result["runs"]["final"]
        print(
            f"threads={threads} kernels={kernels} ({result['capability']}): final "
            f"{final['correct']}/{final['total']}, {result['seconds']} s",
            flush=True,
        )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
