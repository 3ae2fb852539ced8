"""Evaluation: eval mode, the validation loss of an epoch, predictions and per-class counts
of correct ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .step import mean_loss

__all__ = ["class_counts", "ends_with_sigmoid", "eval_mode", "predict", "validate"]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode and ``no_grad`` for the block, then restore its mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def validate(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    loader: Any,
    device: torch.device,
) -> float | None:
    """The mean of ``loader``'s mini-batch losses, in eval mode and without gradients
    (``None`` without a loader)."""
    if loader is None:
        return None
    with eval_mode(model):
        batch_losses = [loss_fn(model(x.to(device)), y.to(device)) for x, y in loader]
    return mean_loss(batch_losses, loader, "val_loader")


def predict(model: nn.Module, x: Tensor | np.ndarray, device: torch.device) -> Tensor | np.ndarray:
    """``model``'s outputs for a batch ``x`` ``(N, ...)``, computed in eval mode on ``device``.

    As in the book, a NumPy array in (converted to float32) gives a NumPy array out; a tensor
    in gives a CPU tensor out, with its dtype kept.
    """
    is_tensor = isinstance(x, Tensor)
    x_tensor = x if is_tensor else torch.as_tensor(np.asarray(x)).float()
    with eval_mode(model):
        out = model(x_tensor.to(device)).cpu()
    return out if is_tensor else out.numpy()


def class_counts(
    outputs: Tensor, y: Any, threshold: float = 0.5, *, probabilities: bool = False
) -> Tensor:
    """Per-class ``[correct, total]`` counts: ``(n_classes, 2)``, for outputs ``(N, C)``.

    ``C > 1``: the arg-max is the prediction. ``C == 1`` (or ``(N,)``) is binary: class 1
    when ``sigmoid(outputs)`` (``outputs`` itself if ``probabilities``) exceeds ``threshold``.
    ``y`` must hold ``N`` labels in ``[0, n_classes)``.
    """
    if outputs.ndim == 1 or outputs.shape[1] == 1:
        scores = outputs.reshape(-1)
        predicted = ((scores if probabilities else torch.sigmoid(scores)) > threshold).long()
        n_classes = 2
    else:
        predicted, n_classes = outputs.argmax(dim=1), outputs.shape[1]
    labels = _labels(y, len(predicted), n_classes)
    hits = torch.bincount(labels[predicted == labels], minlength=n_classes)
    return torch.stack([hits, torch.bincount(labels, minlength=n_classes)], dim=1)


def ends_with_sigmoid(model: nn.Module) -> bool:
    """Whether the model's last layer is ``nn.Sigmoid`` (looking into nested Sequentials)."""
    while isinstance(model, nn.Sequential) and len(model):
        model = model[-1]
    return isinstance(model, nn.Sigmoid)


def _labels(y: Any, n_samples: int, n_classes: int) -> Tensor:
    """``y`` as a flat ``int64`` CPU tensor of ``n_samples`` labels in ``[0, n_classes)``."""
    labels = torch.as_tensor(y).cpu().reshape(-1).long()
    if len(labels) != n_samples:
        raise ValueError(
            f"y holds {len(labels)} labels for a batch of {n_samples} samples: pass one label "
            "per row of x."
        )
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError(
            f"y holds labels from {int(labels.min())} to {int(labels.max())}, but the model "
            f"has {n_classes} classes: labels must be in [0, {n_classes})."
        )
    return labels
