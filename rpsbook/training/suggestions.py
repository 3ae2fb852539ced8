"""The suggestion rules of the learning-rate range test: plain functions, as fastai's.

Each rule, ``rule(lrs, losses) -> lr or None``, reads an lr off a curve already cut by the
skips; :func:`suggest_lr` cuts and checks the curve, then applies the rule it is given, by name
(:data:`SUGGESTION_METHODS`) or as a function of your own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import numpy as np

from .._utils import check_int

__all__ = [
    "SUGGESTION_METHODS",
    "minimum",
    "slide",
    "steepest",
    "suggest_lr",
    "suggest_lrs",
    "valley",
]

Rule = Callable[[np.ndarray, np.ndarray], float | None]
SuggestionMethod = Literal["steepest", "valley", "slide", "minimum"]
SUGGESTION_METHODS: tuple[SuggestionMethod, ...] = ("steepest", "valley", "slide", "minimum")
METHOD_LABELS = {
    "steepest": "steepest descent",
    "valley": "valley",
    "slide": "slide",
    "minimum": "minimum / 10",
}


def suggest_lr(
    lrs: Iterable[float],
    losses: Iterable[float],
    skip_start: int = 10,
    skip_end: int = 5,
    method: SuggestionMethod | Rule = "steepest",
) -> float | None:
    """A learning rate read off a range-test curve, by one of four rules.

    The first ``skip_start`` and last ``skip_end`` points are dropped first (the flat start
    and the divergent end are noisy; fastai drops ``num_iter // 10`` and 5, the same for 100
    iterations). Then, for ``method``:

    ``"steepest"`` (default)
        The lr where the loss falls fastest on a log-lr axis: the most negative
        ``numpy.gradient(loss, log10(lr))`` (central differences, one-sided at the ends).
        torch-lr-finder differentiates with respect to the *index* of the point, which picks
        the same point on an exponential grid (evenly spaced in log lr) but favours small
        learning rates on a linear one; fastai's ``steep`` uses forward differences and
        returns the left end of the steepest segment.
    ``"valley"`` (fastai's default)
        Find the longest strictly decreasing subsequence of the losses (not necessarily
        contiguous); with ``L`` its length and ``end`` the first index where one of that
        length ends, take ``start = end - L`` and return the lr at
        ``start + int(L / 3) + int(L / 3 / 2)`` (clamped to 0): about halfway along the
        valley, well before its bottom.
    ``"slide"`` (fastai's interval slide rule; ``lr_diff=15``, ``thresh=0.005``)
        With ``g = numpy.gradient(loss)`` (per index), compare ``g`` at the last point and 15
        points before it, and slide both towards the start while they differ by more than
        0.005; return the lr of the left point at the last such position (the point 15 before
        the end when they never differ). The threshold is in loss units per step, so the rule
        depends on the scale of the loss.
    ``"minimum"``
        One tenth of the lr with the lowest loss.

    Parameters
    ----------
    lrs, losses : sequence of float, shape (n,)
        Strictly increasing positive learning rates and their (smoothed) losses.
    skip_start, skip_end : int
        Points dropped at each end before applying the rule.
    method : {"steepest", "valley", "slide", "minimum"} or callable
        A rule's name, or a rule: ``rule(lrs, losses) -> float or None`` on the cut arrays.

    Returns
    -------
    float or None
        The suggested lr, or ``None`` when too few points remain after skipping (fewer than
        two; for ``"slide"``, no more than 15).
    """
    if not callable(method) and method not in SUGGESTION_METHODS:
        raise ValueError(f"method must be one of {SUGGESTION_METHODS}, got {method!r}")
    lr_array = np.asarray(list(lrs), dtype=float)
    loss_array = np.asarray(list(losses), dtype=float)
    if lr_array.ndim != 1 or lr_array.shape != loss_array.shape:
        raise ValueError(
            f"lrs and losses must be 1-D and of the same length, got shapes "
            f"{lr_array.shape} and {loss_array.shape}"
        )
    skip_start = check_int(skip_start, "skip_start", 0)
    skip_end = check_int(skip_end, "skip_end", 0)
    stop = len(lr_array) - skip_end
    lr_array, loss_array = lr_array[skip_start:stop], loss_array[skip_start:stop]
    if len(lr_array) < 2:
        return None
    if np.any(lr_array <= 0) or np.any(np.diff(lr_array) <= 0):
        raise ValueError("lrs must be positive and strictly increasing")
    if not np.all(np.isfinite(loss_array)):
        raise ValueError("losses must be finite (a range test stops before a non-finite loss)")
    return (method if callable(method) else RULES[method])(lr_array, loss_array)


def steepest(lrs: np.ndarray, losses: np.ndarray) -> float:
    """The lr of the most negative ``numpy.gradient(losses, log10(lrs))``."""
    return float(lrs[int(np.argmin(np.gradient(losses, np.log10(lrs))))])


def valley(lrs: np.ndarray, losses: np.ndarray) -> float:
    """fastai's ``valley`` (see :func:`suggest_lr`)."""
    n = len(losses)
    # lengths[i]: the longest strictly decreasing subsequence that ends at point i.
    lengths = np.ones(n, dtype=int)
    for i in range(1, n):
        higher = losses[:i] > losses[i]
        if higher.any():
            lengths[i] = lengths[:i][higher].max() + 1
    end = int(np.argmax(lengths))  # the first index of the longest
    length = int(lengths[end])
    start = end - length
    return float(lrs[max(start + int(length / 3) + int(length / 3 / 2), 0)])


def slide(
    lrs: np.ndarray, losses: np.ndarray, lr_diff: int = 15, thresh: float = 0.005
) -> float | None:
    """fastai's interval ``slide`` rule (see :func:`suggest_lr`); ``None`` for ``lr_diff``
    points or fewer."""
    n = len(losses)
    if n <= lr_diff:
        return None
    grads = np.gradient(losses)
    right, left = n - 1, n - 1 - lr_diff
    chosen = left
    while left >= 0 and abs(grads[right] - grads[left]) > thresh:
        chosen = left
        right, left = right - 1, left - 1
    return float(lrs[chosen])


def minimum(lrs: np.ndarray, losses: np.ndarray) -> float:
    """One tenth of the lr with the lowest loss."""
    return float(lrs[int(np.argmin(losses))]) / 10


RULES: dict[str, Rule] = {
    "steepest": steepest,
    "valley": valley,
    "slide": slide,
    "minimum": minimum,
}


def suggest_lrs(
    lrs: Iterable[float],
    losses: Iterable[float],
    skip_start: int = 10,
    skip_end: int = 5,
    methods: Iterable[SuggestionMethod] = SUGGESTION_METHODS,
) -> dict[str, float | None]:
    """``{method: suggest_lr(lrs, losses, skip_start, skip_end, method)}`` for ``methods``."""
    lrs, losses = list(lrs), list(losses)
    return {m: suggest_lr(lrs, losses, skip_start, skip_end, method=m) for m in methods}
