"""The trainer's TensorBoard logging: a writer per run, and the model's graph."""

from __future__ import annotations

import datetime
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .evaluation import eval_mode

__all__ = ["add_graph", "add_losses", "summary_writer"]


def summary_writer(folder: str | os.PathLike[str], name: str) -> Any:
    """A TensorBoard ``SummaryWriter`` logging to ``{folder}/{name}_{timestamp}``."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ImportError(
            "set_tensorboard needs the optional 'tensorboard' package: pip install tensorboard"
        ) from error
    suffix = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
    return SummaryWriter(f"{Path(folder) / name}_{suffix}")


def add_graph(writer: Any, model: nn.Module, loader: Any, device: torch.device) -> None:
    """``writer.add_graph`` of ``model`` traced, in eval mode, on ``loader``'s first batch."""
    if writer is None:
        raise RuntimeError("add_graph needs a writer: call set_tensorboard(name) first.")
    if loader is None:
        raise RuntimeError("add_graph traces one mini-batch: call set_loaders(...) first.")
    x, _ = next(iter(loader))
    with eval_mode(model), warnings.catch_warnings():
        # tensorboard traces with torch.jit, which torch deprecates: not the reader's to fix.
        warnings.filterwarnings("ignore", r"`torch\.jit\.trace", FutureWarning)
        writer.add_graph(model, x.to(device))


def add_losses(writer: Any, loss: float, val_loss: float | None, epoch: int) -> None:
    """Log an epoch's losses as the book does: the ``loss`` scalars ``training`` and
    ``validation``; nothing without a writer."""
    if writer is None:
        return
    scalars = (
        {"training": loss} if val_loss is None else {"training": loss, "validation": val_loss}
    )
    writer.add_scalars("loss", scalars, global_step=epoch)
