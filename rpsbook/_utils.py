"""Small helpers shared by several rpsbook modules (private)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

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


def forked_rng(device: torch.device) -> AbstractContextManager[None]:
    """Restore torch's CPU generator, and every generator of ``device``'s type, on exit."""
    if device.type == "cpu":
        return torch.random.fork_rng(devices=[])
    # All devices of the type, listed so fork_rng does not warn on multi-GPU machines:
    # torch.manual_seed, which the trainer calls, reseeds every one of them.
    count = getattr(torch, device.type).device_count()
    return torch.random.fork_rng(devices=list(range(count)), device_type=device.type)


@contextmanager
def seeded_cpu_rng(seed: int) -> Iterator[None]:
    """Seed torch's CPU generator inside the block; restore the caller's state on exit.

    Only the CPU generator is seeded (not ``torch.manual_seed``, which also reseeds CUDA/MPS
    generators the block never uses and would then not restore).
    """
    state = torch.get_rng_state()
    try:
        torch.default_generator.manual_seed(seed)
        yield
    finally:
        torch.set_rng_state(state)
