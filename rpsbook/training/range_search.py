"""The machinery of :func:`rpsbook.training.lr_range_test` (private).

One optimizer step over ``accumulation_steps`` mini-batches (with optional mixed precision),
mini-batches of any shape (``batch_fn``), the validation loss, the endless pass over a loader,
and the snapshot that puts model, optimizer, RNG and loaders back exactly as they were.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from .._utils import forked_rng, loader_generators, map_tensors, snapshot_optimizer

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


class OptimizerStep:
    """One optimizer step of the range test, over ``accumulation_steps`` mini-batches."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[..., torch.Tensor],
        device: torch.device,
        accumulation_steps: int,
        mixed_precision: bool,
    ) -> None:
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.device, self.accumulation_steps = device, accumulation_steps
        self.dtype: torch.dtype | None = None
        self.scaler: torch.amp.GradScaler | None = None
        if mixed_precision:
            # float16 needs loss scaling against underflowing gradients; bfloat16 does not.
            self.dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
            if device.type == "cuda":
                self.scaler = torch.amp.GradScaler("cuda")

    def __call__(self, batches: Iterator[Any], batch_fn: BatchFn | None) -> float | None:
        """Take the step; its loss, or ``None`` (no step taken) if a loss is not finite."""
        self.model.train()
        total: torch.Tensor | None = None
        for _ in range(self.accumulation_steps):
            inputs, targets = _prepare(next(batches), self.device, "train_loader", batch_fn)
            with torch.autocast(
                self.device.type, dtype=self.dtype, enabled=self.dtype is not None
            ):
                loss = self.loss_fn(_forward(self.model, inputs), targets)
            if not math.isfinite(loss.item()):
                self.optimizer.zero_grad(set_to_none=True)
                return None
            loss = loss / self.accumulation_steps
            (loss if self.scaler is None else self.scaler.scale(loss)).backward()
            total = loss.detach() if total is None else total + loss.detach()
        if self.scaler is None:
            self.optimizer.step()
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        assert total is not None
        return total.item()


def _forward(model: nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, tuple | list):
        return model(*inputs)
    return model(inputs)


def _prepare(
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
            inputs, targets = _prepare(batch, device, "val_loader", batch_fn)
            size = _batch_size(targets)
            weighted.append(loss_fn(_forward(model, inputs), targets).detach().float() * size)
            count += size
    if count == 0:
        raise ValueError("val_loader yielded no mini-batches")
    return torch.stack(weighted).sum().item() / count


@contextmanager
def preserved(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loaders: Iterable[Any],
    device: torch.device,
) -> Iterator[None]:
    """Snapshot everything the range test mutates and put it back on exit, even on errors."""
    tensors: dict[int, torch.Tensor] = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        tensors[id(tensor)] = tensor
    for group in optimizer.param_groups:
        for param in group["params"]:
            tensors[id(param)] = param
    values = [(tensor, tensor.detach().clone()) for tensor in tensors.values()]
    grads = [
        (tensor, None if tensor.grad is None else tensor.grad.detach().clone())
        for tensor in tensors.values()
    ]
    modes = [(module, module.training) for module in model.modules()]
    restore_optimizer = snapshot_optimizer(optimizer)
    # LambdaLR replaces ``optimizer.step`` by a counting wrapper stored on the instance and sets
    # ``optimizer._opt_called``; both are undone so the optimizer is left as it was found.
    instance_attrs = {
        key: vars(optimizer)[key] for key in ("step", "_opt_called") if key in vars(optimizer)
    }
    unique = {id(g): g for loader in loaders for g in loader_generators(loader)}
    generators = [(g, g.get_state()) for g in unique.values()]
    try:
        with forked_rng(device):
            yield
    finally:
        with torch.no_grad():
            for tensor, value in values:
                tensor.copy_(value)
        for tensor, grad in grads:
            tensor.grad = grad
        for module, training in modes:
            module.training = training
        restore_optimizer()
        for key in ("step", "_opt_called"):
            if key in instance_attrs:
                vars(optimizer)[key] = instance_attrs[key]
            else:
                vars(optimizer).pop(key, None)
        for generator, generator_state in generators:
            generator.set_state(generator_state)
