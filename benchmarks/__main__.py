"""``python -m benchmarks``: measure, then write ``results.json`` and ``results.rst``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from rpsbook.data import find_data, load_rps, load_split

from . import chapter, child, lrtest, pipelines, probes, report
from .timing import Stats, interleaved, per_repeat_ratio

PACKAGE_DIR = Path(__file__).resolve().parent
DOCS_DIR = PACKAGE_DIR.parent / "docs"

#: (key, numerator, denominator, target as (comparison, bound) or None, meaning)
EPOCH_RATIOS = [
    ("naive/preloaded", "naive", "preloaded", (">=", 3.0), "speed-up of (b) over (a)"),
    ("preloaded/floor", "preloaded", "floor", ("<=", 1.2), "(b) relative to the compute floor"),
    ("naive/floor", "naive", "floor", None, "speed-up of (c) over (a): the ceiling"),
    ("preloaded/trainer floor", "preloaded", "trainer floor", None, "cost of the DataLoader"),
    ("trainer floor/floor", "trainer floor", "floor", None, "cost of the trainer's bookkeeping"),
    ("batched/floor", "batched", "floor", None, "prototype (d) relative to (c)"),
    ("naive/batched", "naive", "batched", None, "speed-up of (d) over (a)"),
]


def _log(message: str) -> None:
    print(f"[benchmarks] {message}", file=sys.stderr, flush=True)


def _summary(times: dict[str, list[float]]) -> dict[str, Any]:
    return {name: Stats.of(values).as_dict() for name, values in times.items()}


def _ratio(times: dict[str, list[float]], numerator: str, denominator: str) -> dict[str, Any]:
    """Per-repeat ratio statistics, plus ``best``: the ratio of the fastest runs.

    Other processes only ever add time, so the fastest run of each variant is the least
    disturbed one; ``best`` is the usual noise-robust companion of the median.
    """
    stats = Stats.of(per_repeat_ratio(times, numerator, denominator)).as_dict()
    return {**stats, "best": min(times[numerator]) / min(times[denominator])}


def _epoch_table(rps_root: str, device: torch.device, repeats: int, naive, cache_dir: Path):
    preloaded = load_rps(rps_root, device=device, cache_dir=cache_dir, progress=False)
    dataset = preloaded.train_dataset
    variants = {
        "naive": pipelines.trainer_epoch(naive.train_loader, device),
        "preloaded": pipelines.trainer_epoch(preloaded.train_loader, device),
        "floor": pipelines.floor_epoch(dataset.images, dataset.targets, device),
        "trainer floor": pipelines.trainer_floor_epoch(dataset.images, dataset.targets, device),
        "batched": pipelines.trainer_epoch(pipelines.batched_loader(dataset), device),
        "naive data": pipelines.drain(naive.train_loader),
        "preloaded data": pipelines.drain(preloaded.train_loader),
        "batched data": pipelines.drain(pipelines.batched_loader(dataset)),
    }
    times = interleaved(variants, repeats, sync=pipelines.synchronizer(device))
    ratios = {}
    for key, numerator, denominator, target, meaning in EPOCH_RATIOS:
        ratios[key] = {
            **_ratio(times, numerator, denominator),
            "target": target,
            "meaning": meaning,
        }
    return preloaded, {
        "device": str(device),
        "batches": len(preloaded.train_loader),
        "images": len(dataset),
        "times": _summary(times),
        "ratios": ratios,
    }


def _scaling(rps_root, device, factors, repeats, naive, preloaded) -> dict[str, Any]:
    """Epoch times at every size, all sizes and variants interleaved in each repeat."""
    variants: dict[str, Any] = {}
    images: dict[str, int] = {}
    for factor in factors:
        tensors = pipelines.repeated_tensors(preloaded.train_dataset, factor)
        folder = pipelines.repeated_folder(rps_root, naive.normalizer, factor)
        images[str(factor)] = len(tensors)
        loaders = {
            "naive": DataLoader(folder, batch_size=pipelines.BATCH_SIZE, shuffle=True),
            "preloaded": DataLoader(tensors, batch_size=pipelines.BATCH_SIZE, shuffle=True),
            "batched": pipelines.batched_loader(tensors),
        }
        variants[f"naive {factor}x"] = pipelines.trainer_epoch(loaders["naive"], device)
        variants[f"preloaded {factor}x"] = pipelines.trainer_epoch(loaders["preloaded"], device)
        variants[f"floor {factor}x"] = pipelines.floor_epoch(
            tensors.images, tensors.targets, device
        )
        variants[f"batched {factor}x"] = pipelines.trainer_epoch(loaders["batched"], device)
    # Warming the smallest size warms the code paths; the larger ones would only cost time.
    for name, run in variants.items():
        if name.endswith(f" {factors[0]}x"):
            run()
    times = interleaved(variants, repeats, warmup=False, sync=pipelines.synchronizer(device))
    names = ["naive", "preloaded", "floor", "batched"]
    return {
        "device": str(device),
        "factors": list(factors),
        "images": images,
        "times": {
            name: {str(f): Stats.of(times[f"{name} {f}x"]).as_dict() for f in factors}
            for name in names
        },
        "growth": {
            name: {str(f): _ratio(times, f"{name} {f}x", f"{name} {factors[0]}x") for f in factors}
            for name in names
        },
    }


def _lr_test(loader, device, repeats, num_iter) -> dict[str, Any]:
    variants, iterations = lrtest.lr_variants(loader, device, num_iter)
    times = interleaved(variants, repeats, sync=pipelines.synchronizer(device))
    # Compare time per optimizer step, in case torch-lr-finder stopped early (divergence).
    steps = {name: iterations[name][-len(times[name]) :] for name in times}
    per_step = {
        name: [t / n for t, n in zip(times[name], steps[name], strict=True)] for name in times
    }
    ratio = _ratio(per_step, "rpsbook", "torch-lr-finder")
    return {
        "device": str(device),
        "num_iter": num_iter,
        "end_lr": lrtest.END_LR,
        "steps": {name: values[-1] for name, values in steps.items()},
        "times": _summary(times),
        "ratio": {**ratio, "target": ("<=", 1.0), "meaning": "rpsbook / torch-lr-finder"},
    }


def _targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    entries = [
        (f"epoch {device}: {key}", ratio)
        for device, table in results.get("epoch", {}).items()
        for key, ratio in table["ratios"].items()
    ]
    if "lr_range_test" in results:
        entries.append(
            ("LR range test: rpsbook/torch-lr-finder", results["lr_range_test"]["ratio"])
        )
    if "chapter" in results:
        entries += [(f"chapter: {k}", r) for k, r in results["chapter"]["ratios"].items()]
    for name, ratio in entries:
        if ratio["target"] is None:
            continue
        comparison, bound = ratio["target"]
        value = ratio["median"]
        met = value >= bound if comparison == ">=" else value <= bound
        found.append(
            {
                "name": name,
                "meaning": ratio["meaning"],
                "median": value,
                "min": ratio["min"],
                "max": ratio["max"],
                "best": ratio["best"],
                "target": f"{comparison} {bound:g}",
                "met": bool(met),
            }
        )
    return found


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats (5)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a fast check of the whole command: scaling at 1x and 2x only, a 10-step LR "
        "test, one child process per probe; --repeats still sets the main tables",
    )
    parser.add_argument(
        "--data-dir",
        help="folder holding rps/ and rps-test-set/ "
        "(default: $RPSBOOK_DATA_DIR, then rpsbook's cache)",
    )
    parser.add_argument("--out", type=Path, default=PACKAGE_DIR, help="where results.* go")
    parser.add_argument(
        "--device",
        action="append",
        help="device to time the epoch table on, repeatable (default: cpu, and cuda when "
        "available); the other sections run on the first one",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1: the model is too small to gain from more, and on a "
        "busy machine more threads wait for each other)",
    )
    parser.add_argument(
        "--only",
        choices=["core", "chapter"],
        help="run one part: core (epoch, LR test, cache, scaling, imports) or chapter (time "
        "to section: the book's notebook vs the pages' notebooks; the docs build and its "
        "incremental rebuilds; minutes per repeat); "
        "the other part's last results are kept from --out/results.json",
    )
    parser.add_argument(
        "--book-repo",
        help="chapter: a clone (or git directory) of the book's repository, holding "
        f"{chapter.NOTEBOOK} (default: ${chapter.BOOK_REPO_ENV}; without it the notebook "
        "is skipped)",
    )
    parser.add_argument(
        "--pages",
        default=chapter.ALL_PAGES,
        help="chapter: regular expression selecting gallery/plot_*.py pages (default: all)",
    )
    parser.add_argument(
        "--chapter-threads",
        type=int,
        help="chapter: OMP_NUM_THREADS of every kernel and build (default: torch's, one per "
        "core; 1 on a machine shared with other work)",
    )
    parser.add_argument(
        "--jobs", default="auto", help="chapter: -j of the docs builds (auto, as nox)"
    )
    parser.add_argument("--docs-dir", type=Path, default=DOCS_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, default=PACKAGE_DIR.parent, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every benchmark and write the results; returns the exit status."""
    args = _parse(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    devices = [torch.device(d) for d in (args.device or ["cpu"])]
    if not args.device and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    root = str(find_data(args.data_dir, progress=False))
    repeats = args.repeats
    previous = _previous(args.out / "results.json") if args.only else {}
    results: dict[str, Any] = {
        **previous,
        "schema": 1,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(
            ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
        ),
        "quick": args.quick,
        "repeats": repeats,
        "machine": probes.machine(devices, args.threads),
        "dataset": {**previous.get("dataset", {}), "root": root},
    }
    results["dataset"]["batch_size"] = pipelines.BATCH_SIZE
    command = results["command"]
    with tempfile.TemporaryDirectory(prefix="rpsbook-bench-") as scratch:
        cache_dir = Path(scratch)
        if args.only != "chapter":
            _core(args, results, root, devices, cache_dir)
            results["sections"] = {**results.get("sections", {}), "core": command}
        if args.only != "core":
            for split in ("train", "val"):  # the pages read a warm cache, as a reader's do
                load_split(root, split, cache_dir=cache_dir, progress=False)
            _log("chapter: the book's notebook, the pages' notebooks, docs builds")
            results["chapter"] = chapter.measure(
                args.project,
                Path(root),
                cache_dir,
                args.repeats if args.quick else min(args.repeats, 3),
                book_repo=args.book_repo,
                pattern=args.pages,
                jobs=args.jobs,
                threads=args.chapter_threads,
                ratio=_ratio,
                summary=_summary,
                log=_log,
            )
            results["chapter"]["command"] = command
            _log(f"chapter: {results['chapter']['notebook']}")
            results["sections"] = {**results.get("sections", {}), "chapter": command}
    results["targets"] = _targets(results)
    results["machine"]["load_average_end"] = (
        list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    )
    results["wall_time_s"] = time.perf_counter() - started
    written = report.write(results, args.out)
    _log(f"wrote {', '.join(str(p) for p in written)} in {results['wall_time_s']:.0f} s")
    for target in results["targets"]:
        verdict = "met" if target["met"] else "MISSED"
        _log(f"{target['name']}: {target['median']:.2f} (target {target['target']}): {verdict}")
    return 0


def _previous(path: Path) -> dict[str, Any]:
    """The results of an earlier run, whose other part ``--only`` keeps."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) and found.get("schema") == 1 else {}


def _core(args, results, root, devices, cache_dir) -> None:
    """The epoch, decode-cache, LR-test, scaling, import and gallery-report sections."""
    primary = devices[0]
    repeats = args.repeats
    probe_repeats = 1 if args.quick else min(repeats, 3)
    _log("decode cache: cold and warm, in new processes")
    cache = probes.decode_cache_times(root, probe_repeats, args.threads, keep=cache_dir)
    results["decode_cache"] = {
        "times": _summary(cache),
        "ratio": _ratio(cache, "cold", "warm"),
    }
    naive = load_rps(root, preload=False, progress=False)
    results["epoch"] = {}
    preloaded = None
    for device in devices:
        _log(f"training epochs on {device}: {repeats} interleaved repeats")
        loaded, table = _epoch_table(root, device, repeats, naive, cache_dir)
        results["epoch"][str(device)] = table
        if device == primary:
            preloaded = loaded
    assert preloaded is not None
    results["dataset"]["train_images"] = len(preloaded.train_dataset)
    results["dataset"]["train_batches"] = len(preloaded.train_loader)
    _log(f"LR range test on {primary}")
    results["lr_range_test"] = _lr_test(
        preloaded.train_loader, primary, repeats, 10 if args.quick else 100
    )
    factors = (1, 2) if args.quick else (1, 2, 4)
    _log(f"scaling: training set x{', x'.join(map(str, factors))} on {primary}")
    results["scaling"] = _scaling(
        root, primary, factors, 1 if args.quick else min(repeats, 2), naive, preloaded
    )
    _log("import times, in new processes")
    imports, processes = probes.import_times(1 if args.quick else repeats)
    torch_median = Stats.of(imports["torch"]).median
    results["imports"] = {
        "statements": child.IMPORTS,
        "times": _summary(imports),
        "process": _summary(processes),
        "minus_torch": {
            label: Stats.of(values).median - torch_median for label, values in imports.items()
        },
    }
    results["gallery"] = probes.gallery_times(args.docs_dir)


if __name__ == "__main__":
    raise SystemExit(main())
