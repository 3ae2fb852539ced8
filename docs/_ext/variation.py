"""``.. rpsbook-variation:: path`` renders ``benchmarks/variation.json`` (written by
``python -m benchmarks.variation``): the headline numbers across thread counts and CPU
kernels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective
from tables import table

_VARIATION_RUNS = [  # (key in variation.json, column, sentence)
    ("adam 3e-4", "Adam 3e-4", "CNN2(5, p=0.3), Adam 3e-4 (Model training)"),
    ("adam 0.005", "Adam 0.005", "the same model, Adam 0.005 (Learning rates)"),
    ("final", "Final model", "CNN2(5, p=0.5), SGD + CyclicLR (Putting it all together)"),
]


def variation_rows(record: dict[str, Any]) -> list[list[str]]:
    """The variation table's rows: one per configuration."""
    rows = []
    # torch's own choice first (what a reader gets), then each kernel set; threads ascending
    order = sorted(
        record["configs"], key=lambda c: (c["kernels"] != "auto", c["kernels"], c["threads"])
    )
    for config in order:
        runs = config["runs"]
        cells = [str(config["threads"]), f"{config['kernels']} ({config['capability']})"]
        for key, _, _ in _VARIATION_RUNS:
            run = runs[key]
            cells.append(f"{run['correct']}/{run['total']}, {run['val_loss']:.4f}")
        cells.append(f"{runs['adam 0.005']['suggestion']:.2e} / {runs['final']['suggestion']:.2e}")
        rows.append(cells)
    return rows


def variation_spread(record: dict[str, Any]) -> list[str]:
    """One sentence per run: the range of its correct counts and validation losses."""
    out = []
    for key, _, title in _VARIATION_RUNS:
        runs = [c["runs"][key] for c in record["configs"]]
        counts = sorted({r["correct"] for r in runs})
        low, high = min(r["val_loss"] for r in runs), max(r["val_loss"] for r in runs)
        total = runs[0]["total"]
        if len(counts) == 1:
            moved = f"{counts[0]} of {total} correct in every configuration"
        else:
            moved = (
                f"{counts[0]} to {counts[-1]} of {total} correct ({len(counts)} different counts)"
            )
        loss = f"{low:.4f}" if f"{low:.4f}" == f"{high:.4f}" else f"{low:.4f} to {high:.4f}"
        out.append(f"{title}: {moved}; validation loss {loss}.")
    return out


class VariationDirective(SphinxDirective):
    """The table of ``benchmarks/variation.json``."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        _, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(path)
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise self.error(
                f"cannot read {path} ({err}); run `python -m benchmarks.variation` to write it"
            ) from err
        header = ["Threads", "CPU kernels", *(t for _, t, _ in _VARIATION_RUNS), "Range tests"]
        output: list[nodes.Node] = [
            table(header, variation_rows(record), [8, 16, 19, 19, 19, 19]),
        ]
        items = nodes.bullet_list()
        for sentence in variation_spread(record):
            items += nodes.list_item("", nodes.paragraph(text=sentence))
        output.append(items)
        output.append(
            nodes.paragraph(
                text=f"Measured with torch {record['torch']} on {record['cpu']} "
                f"({record['cores']} cores), {record['date']}; with no setting, torch chose "
                f"{record['auto_capability']} kernels."
            )
        )
        return output
