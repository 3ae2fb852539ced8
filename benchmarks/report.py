"""Write the benchmark results as ``results.json`` and as a reST fragment, ``results.rst``.

The fragment is included by ``docs/performance.rst`` under its "Benchmarks" section, so it
has no title of its own; its subsections are underlined with ``~``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rpsbook._utils import write_atomically

__all__ = ["render_rst", "write"]

EPOCH_LABELS = {
    "naive": "(a) naive: ``load_rps(preload=False)``, PNGs decoded every epoch",
    "preloaded": "(b) preloaded: ``load_rps()`` loader",
    "floor": "(c) compute floor: slices of in-memory tensors, no DataLoader",
    "trainer floor": "(c') ``StepByStep`` over the same slices, no DataLoader",
    "batched": "(d) prototype: one gather per batch (``__getitems__``)",
    "naive data": "(a) data path only (no training)",
    "preloaded data": "(b) data path only",
    "batched data": "(d) data path only",
}


def _seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def _time_cell(stats: dict[str, Any]) -> str:
    return f"{_seconds(stats['median'])} ({_seconds(stats['min'])} – {_seconds(stats['max'])})"


def _ratio_cell(stats: dict[str, Any]) -> str:
    return f"{stats['median']:.2f}x ({stats['min']:.2f} – {stats['max']:.2f})"


def _best_cell(stats: dict[str, Any]) -> str:
    return f"{stats['best']:.2f}x"


def _cell(text: str) -> str:
    # A cell starting with "(a)" would be parsed as an enumerated list.
    return "\\" + text if text.startswith("(") else text


def _table(caption: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = [f".. list-table:: {caption}", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {_cell(row[0])}")
        lines += [f"     - {_cell(cell)}" for cell in row[1:]]
    return [*lines, ""]


def _heading(text: str) -> list[str]:
    return [text, "~" * len(text), ""]


CHAPTER_LABELS = {
    "notebook": "the book's ``Chapter06.ipynb`` in a new Jupyter kernel, every cell",
    "pages": "every gallery page's notebook, each in a new kernel, one after another",
    "docs": "``nox -s docs`` from a fresh copy (every page executed)",
    "docs: gallery scripts": "of which the gallery scripts ran (Sphinx-Gallery's times)",
    "docs prose edit": "``nox -s docs`` again after a prose edit of one page",
    "docs library edit": "``nox -s docs`` again after a change to ``rpsbook/``",
}


def _chapter(results: dict[str, Any]) -> list[str]:
    """Time to section and the build (from ``benchmarks.chapter``), if it was run."""
    table = results.get("chapter")
    if table is None:
        return []
    lines = _heading("Time to section, and the site build")
    lines += [
        f"Measured by ``{table['command']}``: {table['notebook']}. Everything is timed side "
        "by side, interleaved, and every run starts new processes (kernels, Sphinx), so "
        "imports and kernel starts are counted. *Time to section*: how long a reader waits "
        "to see a section, that is rpsbook's page for it as the downloaded notebook in a new "
        "kernel, against the book's notebook in a new kernel from its first cell to the last "
        "cell of that section (it is linear: each section needs the ones before). The docs "
        f"builds run Sphinx with ``-j {table['jobs']}`` and skip intersphinx downloads; "
        + (
            f"every kernel and build ran with ``OMP_NUM_THREADS={table['threads']}``; "
            if table.get("threads")
            else ""
        )
        + f"the prose edit adds a text block to ``{table.get('edit_page', '?')}``. See "
        "``benchmarks/chapter.py`` for the exact setup.",
        "",
    ]
    rows = [
        [
            heading,
            ", ".join(f"``{name}``" for name in section["pages"]),
            _time_cell(section["ours"]),
            _time_cell(section["book"]),
            _ratio_cell(section["ratio"]),
            _best_cell(section["ratio"]),
        ]
        for heading, section in table.get("sections", {}).items()
    ]
    if rows:
        lines += _table(
            "Time to section (the book's section headings)",
            ["Section", "rpsbook page", "rpsbook", "Book", "Ratio", "Fastest"],
            rows,
        )
    rows = [
        [CHAPTER_LABELS.get(name, name), _time_cell(stats)]
        for name, stats in table["times"].items()
    ]
    lines += _table("Whole runs and builds", ["Run", "Time"], rows)
    rows = [
        [key, ratio["meaning"], _ratio_cell(ratio), _best_cell(ratio)]
        for key, ratio in table["ratios"].items()
    ]
    lines += _table(
        "The chapter's ratios", ["Ratio", "Meaning", "Median (range)", "Fastest"], rows
    )
    return lines


def render_rst(results: dict[str, Any]) -> str:
    """The reST fragment for ``docs/performance.rst`` (no title; ``~`` subsections)."""
    machine = results["machine"]
    devices = ", ".join(f"{name}: {label}" for name, label in machine["devices"].items())
    load = machine.get("load_average_start")
    lines = [
        f"Measured {results['created']} by ``{results['command']}`` in "
        f"{results['wall_time_s']:.0f} s"
        + (" (quick mode: fewer steps and probes)." if results["quick"] else "."),
        f"Machine: {machine['cpu']}, {machine['usable_cores']} usable cores "
        f"({machine['torch_threads']} torch thread), {machine['platform']}, "
        f"Python {machine['python']}, torch {machine['torch']}, "
        f"torchvision {machine['torchvision']}; devices: {devices}."
        + (f" Load average at the start: {load[0]:.1f}." if load else ""),
        "",
        "Every table reports the median over interleaved repeats and, in parentheses, the "
        "range (min – max). Ratios are computed within each repeat, between variants timed "
        "side by side, which cancels most of the machine's drift; *fastest* is the ratio of "
        "the fastest run of each side (other processes only ever add time). Verdicts use the "
        "median.",
        "",
    ]

    lines += _heading("Targets")
    rows = [
        [
            target["name"],
            target["meaning"],
            f"{target['median']:.2f}x ({target['min']:.2f} – {target['max']:.2f})",
            _best_cell(target),
            target["target"],
            "met" if target["met"] else "**missed**",
        ]
        for target in results["targets"]
    ]
    lines += _table(
        "Ratios against their targets",
        ["Ratio", "Meaning", "Median (range)", "Fastest", "Target", "Verdict"],
        rows,
    )

    lines += _chapter(results)
    dataset = results["dataset"]
    for device, table in results.get("epoch", {}).items():
        lines += _heading(f"Training epoch on {device}")
        lines += [
            f"``CNN2(5, p=0.3)``, Adam (lr 3e-4), batches of {dataset['batch_size']}: one "
            f"epoch over {table['images']} images ({table['batches']} batches). (a), (b), (c') "
            "and (d) run ``StepByStep.train(1)`` without validation; (c) does the same "
            "per-step work in a bare loop. The *data path only* rows iterate the loader without "
            "training.",
            "",
        ]
        rows = [[EPOCH_LABELS[name], _time_cell(stats)] for name, stats in table["times"].items()]
        lines += _table(f"Epoch time on {device}", ["Variant", "Time per epoch"], rows)
        rows = [
            [key, ratio["meaning"], _ratio_cell(ratio), _best_cell(ratio)]
            for key, ratio in table["ratios"].items()
        ]
        header = ["Ratio", "Meaning", "Median (range)", "Fastest"]
        lines += _table(f"Epoch ratios on {device}", header, rows)
    if "epoch" in results and not any(d.startswith("cuda") for d in results["epoch"]):
        lines += [
            "No CUDA device was available for this run. Where one is, the same table is "
            "measured on it too, with the datasets resident on the GPU "
            '(``load_rps(device="cuda")``) and the card\'s name recorded above.',
            "",
        ]

    if "decode_cache" not in results:
        return "\n".join(lines).rstrip() + "\n"
    cache = results["decode_cache"]
    lines += _heading("Decode cache (one-off)")
    lines += [
        "``load_split`` of both splits in a new Python process (imports not counted): *cold* "
        "decodes every PNG into an empty cache folder, *warm* reads the cached tensors back "
        "in another new process.",
        "",
    ]
    rows = [
        ["cold: decode and write the cache", _time_cell(cache["times"]["cold"])],
        ["warm: read the cache", _time_cell(cache["times"]["warm"])],
        ["cold / warm", f"{_ratio_cell(cache['ratio'])}; fastest {_best_cell(cache['ratio'])}"],
    ]
    lines += _table("Decode cache", ["Case", "Time"], rows)

    lr = results["lr_range_test"]
    lines += _heading("LR range test")
    lines += [
        f"Same model, optimizer, loader (preloaded) and seed, {lr['num_iter']} steps up to "
        f"lr {lr['end_lr']:g}, on {lr['device']}; torch-lr-finder's time includes building "
        "``LRFinder`` and ``reset()``, as rpsbook's includes saving and restoring the state. "
        "The ratio compares time per optimizer step.",
        "",
    ]
    rows = [
        [name, str(lr["steps"][name]), _time_cell(stats)] for name, stats in lr["times"].items()
    ]
    rows.append(
        [
            "rpsbook / torch-lr-finder (per step)",
            "–",
            f"{_ratio_cell(lr['ratio'])}; fastest {_best_cell(lr['ratio'])}",
        ]
    )
    lines += _table("LR range test", ["Tool", "Steps", "Time"], rows)

    scaling = results["scaling"]
    factors = [str(f) for f in scaling["factors"]]
    lines += _heading("Scaling with the size of the training set")
    lines += [
        f"The training set repeated {', '.join(f + 'x' for f in factors)} (file list or "
        f"tensors), on {scaling['device']}, all sizes interleaved in each repeat. Growth is "
        f"the time at {factors[-1]}x divided by the time at {factors[0]}x in the same repeat "
        f"({float(factors[-1]) / float(factors[0]):.2f} would be exactly proportional).",
        "",
    ]
    header = [
        "Variant",
        *[f"{f}x ({scaling['images'][f]} images)" for f in factors],
        f"Growth {factors[0]}x to {factors[-1]}x",
    ]
    rows = [
        [
            EPOCH_LABELS[name],
            *[_time_cell(by_factor[f]) for f in factors],
            _ratio_cell(scaling["growth"][name][factors[-1]]),
        ]
        for name, by_factor in scaling["times"].items()
    ]
    lines += _table("Epoch time against training-set size", header, rows)

    imports = results["imports"]
    lines += _heading("Import time")
    lines += [
        "Each statement timed in a new interpreter (interpreter start not counted). "
        "``import rpsbook`` loads submodules on first use. *Whole process* is the wall time "
        "of that interpreter from start to exit: what each gallery page run as a script pays "
        "before and after its own work. Every optimizer's constructor imports "
        "``torch._dynamo`` (so does torchvision), and the interpreter's final garbage "
        "collections over what it leaves take about a second more.",
        "",
    ]
    rows = [
        [
            f"``{imports['statements'][label]}``",
            _time_cell(stats),
            f"{imports['minus_torch'][label] * 1e3:+.0f} ms",
            _time_cell(imports["process"][label]) if "process" in imports else "",
        ]
        for label, stats in imports["times"].items()
    ]
    header = ["Statement", "Time", "Minus ``import torch``", "Whole process"]
    lines += _table("Import time", header, rows)

    gallery = results["gallery"]
    lines += _heading("Gallery execution (last docs build)")
    if gallery["examples"]:
        lines += [
            f"Read from sphinx-gallery's ``sg_execution_times.rst``: {gallery['status']}.",
            "",
        ]
        rows = [
            [f"``{Path(name).name}``", _seconds(seconds)]
            for name, seconds in gallery["examples"].items()
        ]
        rows.append(["**total**", _seconds(gallery["total_s"])])
        lines += _table("Gallery scripts", ["Script", "Time"], rows)
    else:
        lines += [f"No gallery times: {gallery['status']}.", ""]
    return "\n".join(lines).rstrip() + "\n"


def _write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda file: file.write(text.encode("utf-8")), "benchmark results")


def write(results: dict[str, Any], out: Path) -> list[Path]:
    """Write ``results.json`` and ``results.rst`` into ``out`` atomically; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, rst_path = out / "results.json", out / "results.rst"
    _write_text(json_path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    _write_text(rst_path, render_rst(results))
    return [json_path, rst_path]
