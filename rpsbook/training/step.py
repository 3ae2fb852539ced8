"""One training step, shared by the trainer's loop and the learning-rate range test, and the
epoch of steps the trainer runs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from .._utils import empty_loader_message
from .snapshot import Snapshot

if TYPE_CHECKING:
    from .schedulers import SchedulerStepper

__all__ = [
    "check_loaders",
    "forward",
    "loader_length",
    "mean_loss",
    "train_epoch",
    "train_step",
]


def forward(model: nn.Module, inputs: Any) -> Any:
    """``model(inputs)``; a tuple or list is passed as ``model(*inputs)``, a dict as
    ``model(**inputs)``."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, tuple | list):
        return model(*inputs)
    return model(inputs)


def train_step(
    model: nn.Module,
    loss_fn: Callable[..., Tensor],
    optimizer: Optimizer,
    batches: Iterable[Any],
    where: str,
    *,
    prepare: Callable[[Any], tuple[Any, Any]] | None = None,
    n_batches: int = 1,
    autocast: torch.autocast | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> Tensor:
    """One optimizer update over the next ``n_batches`` of ``batches``; its loss, detached.

    Each batch is ``(inputs, targets)`` on the device, or made so by ``prepare(batch)``; each is
    drawn when its turn comes (a loader's shuffling and dropout draw from the same random
    generator). Several mini-batches accumulate gradients: each loss is divided by
    ``n_batches`` before ``backward()`` and the step's loss is the sum of the divided losses.
    The forward pass runs under ``autocast`` (a ``torch.autocast``) if given; ``scaler``
    scales the loss and steps.

    A loss that is not finite raises ``FloatingPointError`` naming ``where`` before its
    ``backward()``. On any exception (``KeyboardInterrupt`` too) the buffers (BatchNorm's
    statistics, which the forward pass updates) are put back; the parameters are those of the
    previous step unless it strikes inside ``optimizer.step()``. No gradients are left.
    """
    buffers = Snapshot(tensors=model.buffers())
    total = torch.zeros(())
    try:
        with buffers.restored_on_error():
            for i, batch in zip(range(n_batches), batches, strict=False):
                inputs, targets = batch if prepare is None else prepare(batch)
                with autocast or contextlib.nullcontext():
                    loss = loss_fn(forward(model, inputs), targets)
                if not bool(torch.isfinite(loss.detach()).all()):
                    raise FloatingPointError(
                        f"the training loss is {loss.detach().cpu().tolist()} at {where}. "
                        "Training stopped before backward(): model, optimizer and scheduler "
                        "are as they were after the previous mini-batch. Lower the learning "
                        "rate, or check that mini-batch for NaN/inf inputs."
                    )
                if n_batches > 1:
                    loss = loss / n_batches
                (loss if scaler is None else scaler.scale(loss)).backward()
                total = loss.detach() if i == 0 else total + loss.detach()
            if scaler is None:
                optimizer.step()
            else:
                scaler.step(optimizer)
                scaler.update()
    finally:
        optimizer.zero_grad()  # no stale gradients for the next step to add
    return total


def train_epoch(
    model: nn.Module,
    loader: Any,
    step: Callable[[Tensor, Tensor, str], Tensor],
    stepper: SchedulerStepper,
    epoch: int,
) -> float:
    """One pass over ``loader`` in train mode: ``step(x, y, where)`` on every mini-batch, then
    ``stepper.after_batch``; the mean of the mini-batch losses."""
    n_batches = loader_length(loader)
    of = "" if n_batches is None else f" of {n_batches}"
    batch_losses: list[Tensor] = []
    model.train()
    for i, (x, y) in enumerate(loader):
        batch_losses.append(step(x, y, f"epoch {epoch}, mini-batch {i}{of} (both counted from 0)"))
        stepper.after_batch(epoch, i, n_batches)
    return mean_loss(batch_losses, loader, "train_loader")


def loader_length(loader: Any) -> int | None:
    """``len(loader)``, or ``None`` for a loader without a length (an IterableDataset)."""
    try:
        return len(loader)
    except TypeError:
        return None


def mean_loss(batch_losses: list[Tensor], loader: Any, name: str) -> float:
    """The mean of mini-batch losses held on the device: one transfer to the host."""
    if not batch_losses:
        raise ValueError(empty_loader_message(loader, name))
    values = torch.stack([loss.detach().reshape(()) for loss in batch_losses]).cpu().tolist()
    # The book's np.mean of Python floats, to the last bit.
    return float(np.mean(values))


def check_loaders(train_loader: Any, val_loader: Any, stepper: SchedulerStepper) -> None:
    """Refuse before the first epoch what would fail after a whole epoch's training: no
    training loader, an empty loader (one without a length, an IterableDataset, when it runs
    out), or loaders the scheduler cannot step with (:meth:`SchedulerStepper.check_loaders`)."""
    if train_loader is None:
        raise RuntimeError("no training data: call set_loaders(train_loader, ...) first.")
    stepper.check_loaders(loader_length(train_loader), val_loader is not None)
    for name, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
        if loader is not None and loader_length(loader) == 0:
            raise ValueError(empty_loader_message(loader, name))
