"""One training step, shared by the trainer's loop and the learning-rate range test."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from .snapshot import Snapshot

__all__ = ["forward", "train_step"]


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
    prepare: Callable[[Any], tuple[Any, Any]],
    where: str,
    *,
    n_batches: int = 1,
    autocast: torch.autocast | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> Tensor:
    """One optimizer update over the next ``n_batches`` of ``batches``; its loss, detached.

    ``prepare(batch)`` gives each mini-batch's ``(inputs, targets)`` on the device; each is
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
                inputs, targets = prepare(batch)
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
