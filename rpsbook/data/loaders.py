"""The chapter's loaders: :func:`load_rps` puts sources, decoding and normalization together."""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch.utils.data import DataLoader, Dataset

from .cache import load_split
from .datasets import _CollateTo, collate
from .decoding import image_folder
from .embedded import load_embedded
from .layout import CLASSES, SPLITS
from .sources import find_data, locate
from .statistics import make_normalizer, normalize, normalizer_statistics, to_float

if TYPE_CHECKING:  # pragma: no cover
    import torchvision.transforms.v2


def _positive_int(value: Any, name: str) -> int:
    """``value`` as a Python int (numpy integers accepted), or a ``TypeError``/``ValueError``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a positive integer, got {value!r} ({type(value).__name__}); "
            f"pass e.g. {name}=16"
        ) from None
    if number <= 0:
        raise ValueError(f"{name} must be a positive integer, got {number}")
    return number


def _check_device(device: str | torch.device | None) -> torch.device | None:
    """``device`` as a ``torch.device`` that can hold tensors here, or a ``ValueError``."""
    if device is None:
        return None
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a device ({exc}); pass 'cpu', 'cuda', 'cuda:1', 'mps', "
            "a torch.device, or None"
        ) from None
    try:
        torch.empty(0, device=resolved)
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(
            f"device={device!r} cannot be used on this machine ({exc}); pass device=None "
            "(CPU tensors) or a device that torch reports as available"
        ) from None
    return resolved


@dataclass
class RPSData:
    """Everything the chapter's training needs: normalized datasets, loaders, normalizer.

    ``mean`` and ``std`` are the per-channel statistics of the training set that normalized
    both datasets; :attr:`normalizer` is the same as a torchvision transform.
    """

    train_dataset: Dataset
    val_dataset: Dataset
    train_loader: DataLoader
    val_loader: DataLoader
    mean: list[float]
    std: list[float]
    classes: list[str]

    @cached_property
    def normalizer(self) -> torchvision.transforms.v2.Normalize:
        """``v2.Normalize(mean, std)``, built on first use (only then is torchvision imported)."""
        from torchvision.transforms import v2

        return v2.Normalize(mean=self.mean, std=self.std)


def load_rps(
    root: str | os.PathLike[str] | None = None,
    *,
    source: str | None = None,
    batch_size: int = 16,
    preload: bool = True,
    device: str | torch.device | None = None,
    generator: torch.Generator | None = None,
    cache_dir: str | os.PathLike[str] | Literal[False] | None = None,
    progress: bool | None = None,
) -> RPSData:
    """Normalized training/validation datasets and loaders, as in the chapter.

    The normalizer is computed on the training set only (:func:`make_normalizer` over the
    un-normalized images, batches of 16, no shuffling). The training loader shuffles; with
    ``generator=None`` it draws from torch's global RNG, which
    :meth:`rpsbook.training.StepByStep.train` seeds, reproducing the book's runs; pass a
    ``torch.Generator`` for an independent stream (the trainer seeds it too).

    Parameters
    ----------
    root, source
        Where the images come from (see :func:`locate`): by default the 28x28 copy shipped
        with rpsbook (no files, no network); ``root`` or ``$RPSBOOK_DATA_DIR`` name a folder
        holding ``rps/`` and ``rps-test-set/``; ``source="download"`` (or
        ``RPSBOOK_DATA=download``) uses the full-size originals, downloaded on first use.
    batch_size
        Mini-batch size of both loaders (a positive integer).
    preload
        ``True`` (default): decode once (:func:`load_split`) and serve tensors.
        ``False``: the naive ``ImageFolder`` pipeline that decodes PNGs on every access.
        Both yield identical tensors.
    device
        Where the batches are delivered. With ``preload=True`` the datasets themselves live
        there (e.g. ``"cuda"``), so batches need no host-to-device copies; with
        ``preload=False`` images are decoded on the CPU and each batch is moved.
    """
    batch_size = _positive_int(batch_size, "batch_size")
    target_device = _check_device(device)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
            "pass torch.Generator().manual_seed(seed)"
        )
    found = locate(root, source=source)
    if preload and found.kind == "embedded":
        raw = {s: load_embedded(s) for s in SPLITS}
    elif preload:
        folder = find_data(root, source=source, progress=progress)
        raw = {s: load_split(folder, s, cache_dir=cache_dir, progress=progress) for s in SPLITS}
    collate_fn: Callable[[Sequence[Any]], Any] = collate
    if preload:
        # torch-only equivalents of v2.ToDtype and v2.Normalize (bit for bit): no torchvision
        temporary = raw["train"].map_images(to_float)
        mean, std = normalizer_statistics(DataLoader(temporary, batch_size=16))
        datasets = {
            s: raw[s].map_images(lambda x: normalize(to_float(x), mean, std)) for s in SPLITS
        }
        if target_device is not None:
            datasets = {s: d.to(target_device) for s, d in datasets.items()}
    else:
        folder = find_data(root, source=source, progress=progress)
        normalizer = make_normalizer(DataLoader(image_folder(folder, "train"), batch_size=16))
        mean, std = list(normalizer.mean), list(normalizer.std)
        datasets = {s: image_folder(folder, s, normalizer) for s in SPLITS}
        if target_device is not None:
            collate_fn = _CollateTo(target_device)
    return RPSData(
        train_dataset=datasets["train"],
        val_dataset=datasets["val"],
        train_loader=DataLoader(
            datasets["train"],
            batch_size=batch_size,
            shuffle=True,
            generator=generator,
            collate_fn=collate_fn,
        ),
        val_loader=DataLoader(datasets["val"], batch_size=batch_size, collate_fn=collate_fn),
        mean=mean,
        std=std,
        classes=list(CLASSES),
    )
