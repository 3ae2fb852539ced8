"""Interleaved repeats and robust summaries (median, min-max, quartiles)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Stats", "interleaved", "per_repeat_ratio"]


@dataclass(frozen=True)
class Stats:
    """Summary of repeated measurements (seconds, or a dimensionless ratio)."""

    median: float
    low: float
    high: float
    q1: float
    q3: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        """Summarize ``samples`` (at least one value)."""
        if not samples:
            raise ValueError("samples is empty: run at least one repeat (--repeats >= 1)")
        values = sorted(float(v) for v in samples)
        if len(values) > 1:
            q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        else:
            q1 = q3 = values[0]
        return cls(
            median=statistics.median(values),
            low=values[0],
            high=values[-1],
            q1=q1,
            q3=q3,
            samples=tuple(float(v) for v in samples),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "q1": self.q1,
            "q3": self.q3,
            "n": len(self.samples),
            "samples": list(self.samples),
        }


def interleaved(
    variants: Mapping[str, Callable[[], object]],
    repeats: int,
    *,
    warmup: bool = True,
    sync: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Wall time of every variant in every repeat, the variants interleaved.

    Each repeat runs every variant once; the order rotates by one from repeat to repeat so no
    variant always runs right after the same other one. ``warmup`` runs each variant once,
    untimed, first (lazy initialisation, allocator, file cache). ``sync`` is called before the
    clock stops (an accelerator's queue must be drained to time it).

    Returns
    -------
    dict
        ``{name: [seconds of repeat 0, ..., repeat repeats-1]}``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(variants)
    finish = sync or (lambda: None)
    if warmup:
        for name in names:
            variants[name]()
        finish()
    times: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            variants[name]()
            finish()
            times[name].append(time.perf_counter() - start)
    return times


def per_repeat_ratio(
    times: Mapping[str, Sequence[float]], numerator: str, denominator: str
) -> list[float]:
    """``times[numerator][r] / times[denominator][r]`` for every repeat ``r``.

    Ratios of measurements taken side by side cancel most of the machine's drift; their
    spread is the honest uncertainty of the comparison.
    """
    return [n / d for n, d in zip(times[numerator], times[denominator], strict=True)]
