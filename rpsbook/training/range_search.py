"""The machinery of :func:`rpsbook.training.lr_range_test` (private).

One optimizer step over ``accumulation_steps`` mini-batches (with optional mixed precision),
mini-batches of any shape (``batch_fn``), the validation loss, the endless pass over a loader,
and the snapshot that puts model, optimizer, RNG and loaders back exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from .._utils import map_tensors
from .step import forward

BatchFn = Callable[[Any], tuple[Any, Any]]


def batch_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """Where mini-batches go: ``device``, checked against the model's tensors, else theirs."""
    tensors = [*model.parameters(), *model.buffers()]
    model_device = tensors[0].device if tensors else torch.device("cpu")
    if device is None:
        return model_device
    device = torch.device(device)
    for tensor in tensors:
        same = tensor.device.type == device.type and (
            device.index is None or tensor.device.index == device.index
        )
        if not same:
            raise ValueError(
                f"device={str(device)!r} but the model has tensors on {tensor.device}; move the "
                "model there before creating its optimizer, or leave device=None"
            )
    return device


def prepare(
    batch: Any, device: torch.device, name: str, batch_fn: BatchFn | None
) -> tuple[Any, Any]:
    """``(inputs, targets)`` of a mini-batch, on ``device``."""
    if batch_fn is None:
        return _unpack(batch, device, name)
    pair = batch_fn(batch)
    if not (isinstance(pair, tuple | list) and len(pair) == 2):
        raise TypeError(
            f"batch_fn must return an (inputs, targets) pair for each {name} batch, got "
            f"{type(pair).__name__}"
        )
    move = lambda tensor: tensor.to(device, non_blocking=True)  # noqa: E731
    return map_tensors(pair[0], move), map_tensors(pair[1], move)


def _batch_size(targets: Any) -> int:
    """The length of the first tensor in ``targets`` (1 when it holds none)."""
    if isinstance(targets, torch.Tensor):
        return len(targets) if targets.ndim else 1
    items = targets.values() if isinstance(targets, dict) else targets
    if isinstance(items, Iterable) and not isinstance(items, str | bytes):
        for item in items:
            if isinstance(item, torch.Tensor | tuple | list | dict):
                return _batch_size(item)
    return 1


def _unpack(batch: Any, device: torch.device, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (
        isinstance(batch, list | tuple)
        and len(batch) >= 2
        and all(isinstance(item, torch.Tensor) for item in batch[:2])
    ):
        raise TypeError(
            f"{name} must yield (x, y, ...) tuples of tensors, got {type(batch).__name__}; "
            "pass batch_fn=... to adapt other batches"
        )
    return batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)


def cycle(loader: Iterable[Any], name: str) -> Iterator[Any]:
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError(f"{name} yielded no mini-batches")


def validation_loss(
    model: nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    loader: Iterable[Any],
    device: torch.device,
    batch_fn: BatchFn | None,
) -> float:
    model.eval()
    weighted: list[torch.Tensor] = []
    count = 0
    with torch.no_grad():
        for batch in loader:
            inputs, targets = prepare(batch, device, "val_loader", batch_fn)
            size = _batch_size(targets)
            weighted.append(loss_fn(forward(model, inputs), targets).detach().float() * size)
            count += size
    if count == 0:
        raise ValueError("val_loader yielded no mini-batches")
    return torch.stack(weighted).sum().item() / count
