"""The learning-rate range test (Smith, 2017, arXiv:1506.01186).

Train for ``num_iter`` mini-batches while the learning rate grows from ``start_lr`` towards
``end_lr``, record the (smoothed) loss of every step, and put the model and the optimizer back
exactly as they were. The loss-versus-lr curve is usually "U"-shaped on a log axis: a good
learning rate sits where the loss falls fastest, well before the minimum.

Conventions (shared with the book and with torch-lr-finder):

* ``result.lr[i]`` is the learning rate *used by* the ``i``-th optimizer step.
* Without a validation loader, ``result.raw_loss[i]`` is the training loss of the ``i``-th
  mini-batch, computed *before* that step: it reflects the updates made with ``lr[:i]``. With a
  validation loader it is the validation loss measured *after* the ``i``-th step.
* The exponential grid is ``start_lr * (end_lr / start_lr) ** (i / num_iter)`` for
  ``i = 0, ..., num_iter - 1``, so ``end_lr`` itself is never used (it would be step
  ``num_iter``). torch-lr-finder divides by ``num_iter - 1`` instead and reaches ``end_lr`` on
  its last step: its run with ``num_iter + 1`` iterations has our ``num_iter`` learning rates as
  its first ``num_iter`` entries. The linear grid differs from torch-lr-finder's the same way.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from tqdm import tqdm

from .._utils import (
    check_int,
    is_real,
    progress_enabled,
)
from .range_search import BatchFn, batch_device, cycle, prepare, validation_loss
from .snapshot import Snapshot
from .step import train_step
from .suggestions import METHOD_LABELS, SUGGESTION_METHODS, suggest_lr, suggest_lrs

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["LRRangeTestResult", "book_loader", "lr_range_test", "make_lr_fn"]

StepMode = Literal["exp", "linear"]
_STEP_MODES = ("exp", "linear")


def make_lr_fn(
    start_lr: float, end_lr: float, num_iter: int, step_mode: StepMode = "exp"
) -> Callable[[int], float]:
    """The multiplicative factor of iteration ``i``, to be used with ``LambdaLR``.

    Parameters
    ----------
    start_lr, end_lr : float
        The learning rates of iteration 0 and of iteration ``num_iter``; ``0 < start_lr < end_lr``.
    num_iter : int
        The number of iterations the range spans (at least 1).
    step_mode : {"exp", "linear"}
        ``"exp"``: factor ``(end_lr / start_lr) ** (i / num_iter)`` (evenly spaced on a log
        axis); ``"linear"``: factor ``1 + i * (end_lr / start_lr - 1) / num_iter``.

    Returns
    -------
    Callable[[int], float]
        ``lr_fn(i)``; ``LambdaLR(optimizer, lr_fn)`` sets the lr of step ``i`` to
        ``start_lr * lr_fn(i)`` when the optimizer starts at ``start_lr``.

    Examples
    --------
    >>> lr_fn = make_lr_fn(0.01, 0.1, 10)
    >>> 0.01 * lr_fn(1)
    0.012589254117941673
    """
    if not (is_real(start_lr) and math.isfinite(start_lr) and start_lr > 0):
        raise ValueError(f"start_lr must be a positive finite number, got {start_lr!r}")
    if not (is_real(end_lr) and math.isfinite(end_lr) and end_lr > start_lr):
        raise ValueError(
            f"end_lr must be a finite number larger than start_lr={start_lr!r}, got {end_lr!r}; "
            "the range test only increases the learning rate"
        )
    num_iter = check_int(num_iter, "num_iter", 1)
    if step_mode not in _STEP_MODES:
        raise ValueError(f"step_mode must be one of {_STEP_MODES}, got {step_mode!r}")

    ratio = float(end_lr) / float(start_lr)  # NumPy scalars in, Python floats out
    if step_mode == "exp":

        def lr_fn(iteration: int) -> float:
            return ratio ** (iteration / num_iter)

    else:

        def lr_fn(iteration: int) -> float:
            return 1 + iteration * (ratio - 1) / num_iter

    return lr_fn


@dataclass
class LRRangeTestResult:
    """What :func:`lr_range_test` recorded; all lists have one entry per optimizer step.

    Attributes
    ----------
    lr : list of float
        The learning rate of each step (of the first param group).
    loss : list of float
        The EWMA-smoothed loss; ``loss[0] == raw_loss[0]``.
    raw_loss : list of float
        The unsmoothed training (or validation) loss.
    suggestion : float or None
        :func:`suggest_lr` of ``lr`` and ``loss`` with its default skips.
    suggestions : dict of str to float or None
        :func:`suggest_lrs` of ``lr`` and ``loss``: every method of :data:`SUGGESTION_METHODS`
        with the default skips (``suggestions["steepest"] == suggestion``).
    diverged : bool
        Whether the test stopped early (``diverge_th`` exceeded or a non-finite loss).
    step_mode : {"exp", "linear"}
        The grid the learning rates followed.
    figure : Figure or None
        The curve's figure once drawn; unpacking as the book does,
        ``tracking, fig = result``, returns it (drawing it first if needed).
    """

    lr: list[float]
    loss: list[float]
    raw_loss: list[float]
    suggestion: float | None
    diverged: bool
    step_mode: StepMode
    suggestions: dict[str, float | None] = field(default_factory=dict)
    figure: Figure | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def tracking(self) -> dict[str, list[float]]:
        """The book's ``tracking`` dict: ``{"lr": lr, "loss": loss}`` (smoothed losses)."""
        return {"lr": list(self.lr), "loss": list(self.loss)}

    def __iter__(self) -> Iterator[Any]:
        """Unpack as the book does: ``tracking, fig = result``.

        ``fig`` is ``figure``; when none was drawn yet, the whole curve (no points
        skipped, no marker, as in the book) is drawn with :meth:`plot` and kept.
        """
        if self.figure is None:
            self.figure = self.plot(skip_start=0, skip_end=0, mark_suggestion=False)
        return iter((self.tracking, self.figure))

    def plot(
        self,
        ax: Axes | None = None,
        *,
        skip_start: int = 10,
        skip_end: int = 5,
        mark_suggestion: bool = True,
        methods: Sequence[str] = ("steepest",),
        show_raw: bool = False,
        label: str = "smoothed loss",
        **line_kwargs: Any,
    ) -> Figure:
        """Smoothed loss against learning rate on a log x-axis.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new pyplot figure is created when ``None``.
        skip_start, skip_end : int
            Points left out at each end (as in :func:`suggest_lr`); pass 0 to see everything.
        mark_suggestion : bool
            Mark the :func:`suggest_lr` point of each of ``methods``, computed with the same
            skips, on the smoothed curve (the loss is interpolated on log lr where the
            suggestion is not a grid point, e.g. ``"minimum"``), with the method and the lr in
            the legend.
        methods : sequence of {"steepest", "valley", "slide", "minimum"}
            The suggestions to mark; ``SUGGESTION_METHODS`` marks all four.
        show_raw : bool
            Also draw the unsmoothed losses, faintly, in the colour of the smoothed curve: how
            noisy they are shows why the curve is smoothed, and the gap between the two shows
            the lag of the EWMA. The y-axis stays fitted to the smoothed curve (with a margin
            of half its range on each side), so the raw losses' outliers are clipped.
        label : str
            Legend label of the smoothed curve; when it is not the default it also prefixes the
            label of the suggestion marker, so that several results can share one axes.
        **line_kwargs
            Passed to :meth:`matplotlib.axes.Axes.plot` for the smoothed curve (``color``
            defaults to ``"C0"``), e.g. ``linestyle="--"`` to overlay another run.

        Returns
        -------
        matplotlib.figure.Figure
        """
        skip_start = check_int(skip_start, "skip_start", 0)
        skip_end = check_int(skip_end, "skip_end", 0)
        if ax is None:
            # A pyplot figure, unlike a bare Figure, is seen by plt.show() and by
            # Sphinx-Gallery's scraper.
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        stop = len(self.lr) - skip_end
        lrs, losses = self.lr[skip_start:stop], self.loss[skip_start:stop]
        line_kwargs.setdefault("color", "C0")
        (line,) = ax.plot(lrs, losses, label=label, **line_kwargs)
        if show_raw:
            ax.plot(
                lrs,
                self.raw_loss[skip_start:stop],
                color=line.get_color(),
                alpha=0.3,
                linewidth=0.8,
                zorder=line.get_zorder() - 0.1,
                label="raw loss" if label == "smoothed loss" else f"{label} (raw)",
            )
            if losses:
                low, high = min(losses), max(losses)
                margin = 0.5 * (high - low) or 0.05 * abs(high) or 1.0
                ax.set_ylim(low - margin, high + margin)
        if mark_suggestion:
            prefix = "" if label == "smoothed loss" else f"{label}, "
            found = suggest_lrs(self.lr, self.loss, skip_start, skip_end, methods)
            for index, (method, suggestion) in enumerate(found.items()):
                if suggestion is None:
                    continue
                name = METHOD_LABELS[method]
                ax.scatter(
                    [suggestion],
                    [np.interp(np.log10(suggestion), np.log10(lrs), losses)],
                    s=60,
                    marker="os^D"[SUGGESTION_METHODS.index(method)],
                    # on an axes shared by several results, a marker takes its curve's colour
                    color=line.get_color() if prefix else f"C{3 + index}",
                    edgecolor="black" if prefix else "face",
                    zorder=3,
                    label=f"{prefix}{name}: {suggestion:.2e}",
                )
        ax.legend()
        ax.set_xscale("log")
        ax.set_xlabel("Learning rate")
        ax.set_ylabel("Loss")
        title = f"LR range test ({self.step_mode})"
        ax.set_title(title + (", stopped early" if self.diverged else ""))
        return ax.figure


def lr_range_test(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    train_loader: Iterable[Any],
    end_lr: float,
    num_iter: int = 100,
    step_mode: StepMode = "exp",
    alpha: float = 0.05,
    *,
    start_lr: float | None = None,
    val_loader: Iterable[Any] | None = None,
    diverge_th: float | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    accumulation_steps: int = 1,
    mixed_precision: bool = False,
    batch_fn: BatchFn | None = None,
) -> LRRangeTestResult:
    """Run the learning-rate range test and restore the model and optimizer afterwards.

    One optimizer step per mini-batch (``train_loader`` is cycled when it runs out) for
    ``num_iter`` steps, with the lr of step ``i`` set by ``LambdaLR`` with
    :func:`make_lr_fn` ``(start_lr, end_lr, num_iter, step_mode)``.

    The loss is smoothed by an EWMA seeded with the first loss,
    ``loss[i] = alpha * raw_loss[i] + (1 - alpha) * loss[i - 1]``, as in the book and in
    torch-lr-finder (its ``smooth_f`` is our ``alpha``). Seeding with the first value instead of
    0 means there is no bias towards zero to correct; the price is that the first loss keeps a
    weight ``(1 - alpha) ** i`` (0.60 after 10 steps with alpha 0.05), which is harmless here
    because the early losses, taken at tiny learning rates, are nearly equal. The EWMA lags the
    raw loss by about ``1 / alpha`` steps, which shifts the curve to the right.

    Parameters
    ----------
    model : nn.Module
        Trained in train mode; its parameters must be on ``device`` when it is given.
    optimizer : torch.optim.Optimizer
        Its current lr (of each param group) is the start of the range unless ``start_lr`` is
        given. A scheduler may already be attached (its ``initial_lr`` is kept).
    loss_fn : callable
        ``loss_fn(model(x), y) -> Tensor ()``, averaged over the mini-batch.
    train_loader : iterable of (x, y, ...) tuples
        Mini-batches of tensors; ``x`` of shape (N, ...) and ``y`` of shape (N, ...).
    end_lr : float
        The lr of (the never taken) step ``num_iter``.
    num_iter : int
        The number of optimizer steps.
    step_mode : {"exp", "linear"}
        The lr grid (see :func:`make_lr_fn`).
    alpha : float
        EWMA weight of the newest loss, in (0, 1]; 1 means no smoothing.
    start_lr : float, optional
        Overrides the optimizer's lr (for every param group) during the test.
    val_loader : iterable of (x, y, ...) tuples, optional
        When given, the loss of each step is the sample-weighted mean validation loss measured
        (in eval mode, without gradients) after the step, as torch-lr-finder does. Slower, but
        less noisy.
    diverge_th : float, optional
        Stop when the smoothed loss exceeds ``diverge_th`` times the best smoothed loss so far
        (must be > 1; losses are assumed positive). ``None`` never stops early, except on a
        non-finite loss, which always stops the test (that step is not recorded).
    device : str or torch.device, optional
        Where mini-batches are sent; defaults to the device of the model's parameters.
    progress : bool, optional
        Show a tqdm bar; ``None`` follows ``RPSBOOK_PROGRESS``.
    accumulation_steps : int
        Mini-batches per optimizer step, as in torch-lr-finder: each loss is divided by
        ``accumulation_steps`` before ``backward()``, so the gradients add up to those of the
        mean loss, and the recorded loss of the step is the sum of the divided losses. Use it
        to test the lr of an effective batch larger than fits in memory.
    mixed_precision : bool
        Run the training forward pass and loss under ``torch.autocast``: float16 with a
        ``GradScaler`` on CUDA (a step whose gradients overflow is skipped by the scaler, as
        in training), bfloat16 without a scaler elsewhere. Validation losses stay in full
        precision. Off by default.
    batch_fn : callable, optional
        ``batch_fn(batch) -> (inputs, targets)`` for loaders whose batches are not
        ``(x, y, ...)`` tuples of tensors (dicts, several inputs). ``inputs`` may be a tensor,
        a tuple (passed as ``model(*inputs)``) or a dict (``model(**inputs)``); ``targets`` is
        passed to ``loss_fn`` as it is. Tensors found in either (also inside tuples, lists and
        dicts) are moved to ``device``. Example:
        ``batch_fn=lambda b: ((b["image"], b["mask"]), b["label"])``.

    Returns
    -------
    LRRangeTestResult

    Notes
    -----
    Restored exactly afterwards, also when an exception is raised: parameter and buffer values,
    gradients (zeroed for the test), the train/eval flag of every module, the optimizer's state
    and param groups (no ``initial_lr`` left behind), the ``step`` wrapper that ``LambdaLR``
    installs on the optimizer, the global torch RNG (and the device's) and the RNG of the
    loaders' samplers, so that the training run that follows sees the same random numbers as
    without the test.
    """
    if not (is_real(alpha) and 0 < alpha <= 1):
        raise ValueError(f"alpha must be in (0, 1] (1 = no smoothing), got {alpha!r}")
    if diverge_th is not None and not diverge_th > 1:
        raise ValueError(f"diverge_th must be > 1 (a multiple of the best loss), got {diverge_th}")
    if not optimizer.param_groups:
        raise ValueError("optimizer has no param_groups")
    accumulation_steps = check_int(accumulation_steps, "accumulation_steps", 1)
    first_lr = float(optimizer.param_groups[0]["lr"]) if start_lr is None else start_lr
    lr_fn = make_lr_fn(first_lr, end_lr, num_iter, step_mode)
    start_lr = None if start_lr is None else float(start_lr)
    target = batch_device(model, device)

    lrs: list[float] = []
    raw_losses: list[float] = []
    losses: list[float] = []
    diverged = False
    with Snapshot(model, optimizer, rng=target, loaders=(train_loader, val_loader)):
        model.zero_grad(set_to_none=True)
        optimizer.zero_grad(set_to_none=True)
        for group in optimizer.param_groups:
            # LambdaLR takes its base lr from ``initial_lr`` when the key exists (an attached
            # scheduler put it there), which would start the range at the wrong lr.
            group.pop("initial_lr", None)
            if start_lr is not None:
                group["lr"] = start_lr
        scheduler = LambdaLR(optimizer, lr_fn)
        batches = cycle(train_loader, "train_loader")
        bar = tqdm(total=num_iter, desc="LR range test", disable=not progress_enabled(progress))
        best = math.inf
        precision = _mixed_precision(target) if mixed_precision else {}
        try:
            for i in range(num_iter):
                lr = float(optimizer.param_groups[0]["lr"])
                model.train()
                try:
                    value = train_step(
                        model,
                        loss_fn,
                        optimizer,
                        batches,
                        f"step {i} of the range test",
                        prepare=lambda batch: prepare(batch, target, "train_loader", batch_fn),
                        n_batches=accumulation_steps,
                        **precision,
                    ).item()
                except FloatingPointError:  # a non-finite loss: the step was not taken
                    diverged = True
                    break
                with warnings.catch_warnings():
                    # A GradScaler skips the steps whose gradients overflow; LambdaLR would
                    # warn that it is stepped before the optimizer.
                    warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step")
                    scheduler.step()
                if val_loader is not None:
                    value = validation_loss(model, loss_fn, val_loader, target, batch_fn)
                    if not math.isfinite(value):
                        diverged = True
                        break
                smoothed = value if not losses else alpha * value + (1 - alpha) * losses[-1]
                lrs.append(lr)
                raw_losses.append(value)
                losses.append(smoothed)
                bar.update()
                best = min(best, smoothed)
                if diverge_th is not None and smoothed > diverge_th * best:
                    diverged = True
                    break
        finally:
            bar.close()
            batches.close()
    return LRRangeTestResult(
        lr=lrs,
        loss=losses,
        raw_loss=raw_losses,
        suggestion=suggest_lr(lrs, losses),
        diverged=diverged,
        step_mode=step_mode,
        suggestions=suggest_lrs(lrs, losses),
    )


def _mixed_precision(device: torch.device) -> dict[str, Any]:
    """``train_step``'s autocast (and scaler): float16 needs loss scaling against underflowing
    gradients; bfloat16, used off CUDA, does not."""
    if device.type == "cuda":
        return {
            "autocast": torch.autocast("cuda", dtype=torch.float16),
            "scaler": torch.amp.GradScaler("cuda"),
        }
    return {"autocast": torch.autocast(device.type, dtype=torch.bfloat16)}


def book_loader(
    data_loader: Any,
    train_loader: Any,
    end_lr: float | None,
    optimizer: torch.optim.Optimizer | None,
) -> Any:
    """The loader of the book's ``sbs.lr_range_test(data_loader, end_lr)``, checked."""
    if data_loader is not None and not isinstance(data_loader, Iterable):
        raise TypeError(
            f"lr_range_test's first argument is the data loader (as in the book), got "
            f"{data_loader!r}; pass the learning rate as end_lr={data_loader!r}."
        )
    loader = data_loader if data_loader is not None else train_loader
    if end_lr is None:
        raise TypeError("lr_range_test needs end_lr, the learning rate the range ends at.")
    if optimizer is None or loader is None:
        raise RuntimeError(
            "lr_range_test needs set_optimizer(...) and a loader: pass data_loader or "
            "call set_loaders(...) first."
        )
    return loader
