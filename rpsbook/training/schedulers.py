"""Learning-rate schedulers: when to step them, what they do to the lr, and their plots.

Three families, by what drives ``scheduler.step()`` (always called *after*
``optimizer.step()``):

* ``"epoch"``: once per epoch (StepLR, MultiStepLR, ExponentialLR, LambdaLR,
  CosineAnnealingLR, ...).
* ``"plateau"``: once per epoch with the validation loss, ``scheduler.step(val_loss)``
  (ReduceLROnPlateau).
* ``"batch"``: once per mini-batch (CyclicLR, OneCycleLR, CosineAnnealingWarmRestarts).

Gotchas
-------
* ``CyclicLR`` and ``OneCycleLR`` cycle the momentum too (``cycle_momentum=True`` by default),
  inversely to the lr: they *overwrite* ``momentum`` (SGD, RMSprop) or ``beta1`` (Adam and
  friends) in the optimizer's param groups, starting at ``max_momentum`` (0.9 for CyclicLR,
  0.95 for OneCycleLR). Plain SGD has a ``momentum`` entry (0) in its defaults, so it silently
  becomes SGD with momentum; an optimizer with neither ``momentum`` nor ``betas`` (Adagrad,
  for instance) makes the constructor raise ``ValueError``. Pass ``cycle_momentum=False`` to
  keep the optimizer's own momentum.
* ``CyclicLR`` starts at ``base_lr``, not at the optimizer's lr (it overwrites it at once).
* ``OneCycleLR`` needs ``total_steps`` (or ``epochs`` and ``steps_per_epoch``) and raises
  ``ValueError`` when stepped more than ``total_steps`` times (its last lr is used by step
  ``total_steps - 1``).
* ``CosineAnnealingWarmRestarts`` counts epochs: stepped once per mini-batch without an argument
  it restarts every ``T_0`` *mini-batches*. Per mini-batch, step it with the fractional epoch,
  ``scheduler.step(cosine_warm_restarts_epoch(epoch, i + 1, n_batches))`` after the ``i``-th
  optimizer step.
* A scheduler mutates its optimizer (lr, ``initial_lr``, maybe momentum): each scheduler needs
  an optimizer of its own, which is why :func:`record_lrs` builds a fresh one per call.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import (
    ChainedScheduler,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    LRScheduler,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
)

from .._utils import check_int

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "SchedulerKind",
    "SchedulerStepper",
    "check_scheduler",
    "cosine_warm_restarts_epoch",
    "plot_lr_sequences",
    "record_lrs",
    "scheduler_kind",
    "scheduler_lrs",
]

SchedulerKind = Literal["epoch", "plateau", "batch"]
_BATCH_SCHEDULERS = (CyclicLR, OneCycleLR, CosineAnnealingWarmRestarts)


def scheduler_kind(scheduler: LRScheduler | ReduceLROnPlateau) -> SchedulerKind:
    """When ``scheduler.step()`` is meant to be called.

    Parameters
    ----------
    scheduler : LRScheduler or ReduceLROnPlateau
        A torch scheduler. ``SequentialLR`` and ``ChainedScheduler`` take the kind of the
        schedulers they hold.

    Returns
    -------
    {"epoch", "plateau", "batch"}
        ``"plateau"`` for ReduceLROnPlateau (step with the validation loss), ``"batch"`` for
        CyclicLR, OneCycleLR and CosineAnnealingWarmRestarts (step after every mini-batch),
        ``"epoch"`` for every other scheduler, including custom subclasses of ``LRScheduler``.
    """
    if isinstance(scheduler, ReduceLROnPlateau):
        return "plateau"
    if isinstance(scheduler, SequentialLR | ChainedScheduler):
        kinds = {scheduler_kind(inner) for inner in scheduler._schedulers}
        if len(kinds) != 1:
            raise ValueError(
                f"scheduler {type(scheduler).__name__} mixes schedulers of kinds "
                f"{sorted(kinds)}; they must all be stepped at the same moment"
            )
        return kinds.pop()
    if isinstance(scheduler, _BATCH_SCHEDULERS):
        return "batch"
    if isinstance(scheduler, LRScheduler):
        return "epoch"
    raise TypeError(
        "scheduler must be a torch.optim.lr_scheduler.LRScheduler or ReduceLROnPlateau, "
        f"got {type(scheduler).__name__}"
    )


def cosine_warm_restarts_epoch(epoch: int, batch_index: int, n_batches: int) -> float:
    """The fractional epoch at the start of mini-batch ``batch_index`` of ``epoch``.

    ``epoch + batch_index / n_batches``, with epochs and mini-batches counted from 0. After the
    optimizer step of mini-batch ``i``, ``scheduler.step(cosine_warm_restarts_epoch(epoch,
    i + 1, n_batches))`` sets the lr of the next mini-batch from its own position;
    ``batch_index = n_batches`` is the start of the next epoch. (Passing ``i`` instead, as in
    the example of PyTorch's documentation, uses the lr of position 0 for the first two
    mini-batches and lags one mini-batch behind afterwards.)

    Parameters
    ----------
    epoch : int
        The current epoch, from 0.
    batch_index : int
        ``0 <= batch_index <= n_batches``.
    n_batches : int
        Mini-batches per epoch, ``len(train_loader)``.

    Returns
    -------
    float
    """
    if n_batches < 1:
        raise ValueError(f"n_batches must be >= 1, got {n_batches}")
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if not 0 <= batch_index <= n_batches:
        raise ValueError(f"batch_index must be in [0, n_batches={n_batches}], got {batch_index}")
    return epoch + batch_index / n_batches


def check_scheduler(
    scheduler: LRScheduler | ReduceLROnPlateau, optimizer: Optimizer | None
) -> None:
    """Raise unless ``scheduler`` is one :func:`scheduler_kind` knows, built on ``optimizer``."""
    scheduler_kind(scheduler)  # validates the type
    if scheduler.optimizer is not optimizer:
        raise ValueError(
            "the scheduler wraps a different optimizer than the trainer's: build it "
            "from trainer.optimizer (after set_optimizer)."
        )


class SchedulerStepper:
    """Calls ``scheduler.step()`` at the moments its :func:`scheduler_kind` asks for.

    The training loop calls :meth:`after_batch` after every optimizer step and
    :meth:`after_epoch` after every epoch's validation; each steps the scheduler only when it is
    its moment. :func:`record_lrs` calls :meth:`step` directly, once per step.

    Parameters
    ----------
    scheduler : LRScheduler or ReduceLROnPlateau, optional
        ``None`` makes every call a no-op.
    history : list, optional
        After every step, the lr of each param group is appended here (the book's
        ``learning_rates``).
    """

    def __init__(
        self,
        scheduler: LRScheduler | ReduceLROnPlateau | None,
        history: list[list[float]] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.kind: SchedulerKind | None = None if scheduler is None else scheduler_kind(scheduler)
        self.history = history

    def check_loaders(self, n_batches: int | None, has_val_loader: bool) -> None:
        """Raise before training if the loaders cannot drive this scheduler.

        ReduceLROnPlateau needs a validation loader; CosineAnnealingWarmRestarts the number of
        mini-batches per epoch (``None``: a loader without a length).
        """
        if self.kind == "plateau" and not has_val_loader:
            raise RuntimeError(
                "ReduceLROnPlateau steps with the validation loss, but there is no validation "
                "loader: call set_loaders(train_loader, val_loader)."
            )
        if isinstance(self.scheduler, CosineAnnealingWarmRestarts) and n_batches is None:
            self.after_batch(0, 0, None)  # raises

    def step(self, metric: float | None = None, epoch: float | None = None) -> None:
        """One scheduler step: with ``metric`` for ReduceLROnPlateau, ``epoch`` if given."""
        assert self.scheduler is not None
        if self.kind == "plateau":
            if metric is None:
                raise ValueError("ReduceLROnPlateau steps with a metric (the validation loss)")
            self.scheduler.step(metric)
        elif epoch is not None:
            self.scheduler.step(epoch)
        else:
            self.scheduler.step()
        if self.history is not None:
            groups = self.scheduler.optimizer.param_groups
            self.history.append([float(group["lr"]) for group in groups])

    def after_batch(self, epoch: int, batch_index: int, n_batches: int | None) -> None:
        """After the optimizer step of mini-batch ``batch_index`` (from 0) of ``epoch``.

        ``CosineAnnealingWarmRestarts`` is stepped with the fractional epoch of the next
        mini-batch, so that batch ``i`` of epoch ``e`` trains with the lr of
        ``e + i / n_batches`` (see :func:`cosine_warm_restarts_epoch`).
        """
        if self.kind != "batch":
            return
        if isinstance(self.scheduler, CosineAnnealingWarmRestarts):
            if n_batches is None:
                raise ValueError(
                    "CosineAnnealingWarmRestarts is stepped with fractional epochs, which needs "
                    "the number of mini-batches: use a training loader with a length."
                )
            self.step(epoch=cosine_warm_restarts_epoch(epoch, batch_index + 1, n_batches))
        else:
            self.step()

    def after_epoch(self, val_loss: float | None) -> None:
        """After an epoch and its validation (``val_loss`` is ``None`` without one)."""
        if self.kind in ("epoch", "plateau"):
            self.step(val_loss)


def record_lrs(
    scheduler_factory: Callable[[Optimizer], LRScheduler | ReduceLROnPlateau],
    n_steps: int,
    *,
    lr: float = 0.01,
    metrics: float | Sequence[float] | None = None,
    optimizer_factory: Callable[[list[torch.nn.Parameter]], Optimizer] | None = None,
) -> list[float]:
    """The learning rate before each of ``n_steps`` scheduler steps, on a throwaway optimizer.

    Parameters
    ----------
    scheduler_factory : callable
        ``scheduler_factory(optimizer) -> scheduler``, e.g.
        ``lambda opt: StepLR(opt, step_size=2, gamma=0.1)``.
    n_steps : int
        Number of steps (epochs or mini-batches, depending on the scheduler).
    lr : float
        The optimizer's lr before the scheduler is built.
    metrics : float or sequence of float, optional
        The value passed to ``step()`` of a ReduceLROnPlateau: a constant, or one value per step
        (at least ``n_steps``). Required for it, rejected for other schedulers.
    optimizer_factory : callable, optional
        ``optimizer_factory(params) -> optimizer``; default ``SGD(params, lr=lr)``. Use one with
        ``betas`` to see how CyclicLR treats Adam.

    Returns
    -------
    list of float
        ``n_steps`` learning rates of the first param group; entry ``k`` is the lr in use during
        step ``k``. ``StepLR(step_size=2, gamma=0.1)`` from 0.01 over 4 steps gives
        ``[0.01, 0.01, 0.001, 0.001]``.
    """
    n_steps = check_int(n_steps, "n_steps", 0)
    # A parameter without a gradient: optimizer.step() leaves it alone but still counts as a
    # step, which keeps the scheduler from warning that it was stepped first.
    params = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = (
        torch.optim.SGD(params, lr=lr) if optimizer_factory is None else optimizer_factory(params)
    )
    scheduler = scheduler_factory(optimizer)
    if getattr(scheduler, "optimizer", None) is not optimizer:
        raise ValueError(
            "scheduler_factory must build its scheduler on the optimizer it is given "
            "(e.g. lambda opt: StepLR(opt, 2, 0.1))"
        )
    return scheduler_lrs(scheduler, n_steps, metrics=metrics)


def scheduler_lrs(
    scheduler: LRScheduler | ReduceLROnPlateau,
    n_steps: int,
    *,
    metrics: float | Sequence[float] | None = None,
) -> list[float]:
    """Step an existing ``scheduler`` ``n_steps`` times (its optimizer's ``step()`` first, as
    in training): the lr of the first param group before each step.

    The scheduler and its optimizer are left after the last step (the book's
    ``plot_scheduler`` does the same); :func:`record_lrs` builds throwaway ones instead.
    ``metrics`` is as in :func:`record_lrs`.
    """
    n_steps = check_int(n_steps, "n_steps", 0)
    stepper = SchedulerStepper(scheduler)
    plateau = stepper.kind == "plateau"
    if plateau and metrics is None:
        raise ValueError("metrics is required to step a ReduceLROnPlateau (e.g. metrics=1.0)")
    if not plateau and metrics is not None:
        raise ValueError(
            f"metrics is only used by ReduceLROnPlateau, not {type(scheduler).__name__}"
        )
    values = _metric_values(metrics, n_steps) if plateau else None

    optimizer = scheduler.optimizer
    lrs = []
    for step in range(n_steps):
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()
        stepper.step(None if values is None else values[step])
    return lrs


def _metric_values(metrics: float | Sequence[float] | None, n_steps: int) -> list[float]:
    if isinstance(metrics, numbers.Real):
        return [float(metrics)] * n_steps
    if isinstance(metrics, str | bytes) or not isinstance(metrics, Iterable):
        raise TypeError(f"metrics must be a number or a sequence, got {type(metrics).__name__}")
    values = [float(value) for value in metrics]
    if len(values) < n_steps:
        raise ValueError(f"metrics has {len(values)} values, fewer than n_steps={n_steps}")
    return values


_MAX_MARKED_STEPS = 60


def plot_lr_sequences(
    sequences: Mapping[str, Sequence[float]],
    ax: Axes | Sequence[Axes] | None = None,
    *,
    log: bool = True,
    xlabel: str = "step",
) -> Figure:
    """Plot learning-rate sequences, one panel each (or together on one axes).

    Each lr is drawn as a staircase (the lr holds for the whole step), with a marker at each
    step for sequences of up to 60 steps; x ticks fall on whole steps.

    Parameters
    ----------
    sequences : mapping of str to sequence of float
        Title (or legend label) to learning rates, e.g. from :func:`record_lrs`.
    ax : Axes or sequence of Axes, optional
        ``None``: a new pyplot figure with one panel per sequence side by side, sharing the
        y-axis, each panel wide enough for its title. One Axes: every sequence on it, with a
        legend. A sequence of Axes: one per sequence.
    log : bool
        Logarithmic y-axis.
    xlabel : str
        Label of the x-axis (``"epoch"`` for epoch schedulers).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import MaxNLocator  # matplotlib is only needed to plot

    if not sequences:
        raise ValueError("sequences is empty; pass at least one {label: lrs} entry")
    from .._figures import SITE_WIDTH, axes_list

    n = len(sequences)
    # Wide enough for the longest title: a constructor call with its arguments is the natural
    # label, and a clipped one is useless. Otherwise the row fits the site's content column.
    width = max(min(4.0, SITE_WIDTH / n), 1.2 + 0.1 * max(len(label) for label in sequences))
    axes = axes_list(
        ax, n, per="sequence", shared=True, panel=(width, 3.5), sharey=True, layout="constrained"
    )
    shared = len(set(map(id, axes))) == 1 and len(sequences) > 1

    for index, ((label, lrs), axis) in enumerate(zip(sequences.items(), axes, strict=True)):
        steps = range(len(lrs))
        color = f"C{index}" if shared else "C0"
        # Markers help read a few epochs; over hundreds of mini-batches they merge into a band.
        marked = len(lrs) <= _MAX_MARKED_STEPS
        axis.step(steps, lrs, where="post", color=color, alpha=0.6 if marked else 1.0, label=label)
        if marked:
            axis.plot(steps, lrs, "o", color=color, markersize=4)
        if log:
            axis.set_yscale("log")
        axis.set_xlabel(xlabel)
        # Steps are whole numbers; ticks at 2.5 would suggest otherwise.
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        if not shared:
            axis.set_title(label)
    axes[0].set_ylabel("learning rate")
    if shared:
        axes[0].legend()
    return axes[0].figure
