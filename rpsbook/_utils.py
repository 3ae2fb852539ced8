"""Small helpers shared by several rpsbook modules (private)."""

from __future__ import annotations

import os

import torch


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to show a tqdm bar: ``progress`` if given, else ``RPSBOOK_PROGRESS != "0"``."""
    if progress is not None:
        return bool(progress)
    return os.environ.get("RPSBOOK_PROGRESS", "1") != "0"


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device to use: ``device`` if given, else cuda, then mps, then cpu."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
