"""Per-channel statistics and the normalizer, in plain torch (no torchvision import).

:func:`to_float` and :func:`normalize` compute exactly what torchvision's
``v2.ToDtype(torch.float32, scale=True)`` and ``v2.Normalize`` compute (the same operations
in the same order, so bit for bit), which lets :func:`rpsbook.data.load_rps` serve the
preloaded datasets without importing torchvision (more than a second per process).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.utils.data import DataLoader

if TYPE_CHECKING:  # pragma: no cover
    import torchvision.transforms.v2


def statistics_per_channel(images: Tensor, labels: Tensor | None = None) -> Tensor:
    """Per-channel sums over a batch, to be added up over a loader.

    Parameters
    ----------
    images
        ``(N, C, H, W)`` float tensor.
    labels
        Ignored; accepted so the function can be given to :func:`loader_apply`.

    Returns
    -------
    Tensor
        ``(3, C)``: row 0 the number of images, row 1 the sum of per-image channel means,
        row 2 the sum of per-image channel standard deviations (unbiased).
    """
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor (N, C, H, W), got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(
            f"images must be floating point, got {images.dtype}: convert uint8 images with "
            "torchvision.transforms.v2.ToDtype(torch.float32, scale=True) first"
        )
    n_samples, n_channels = images.shape[:2]
    flat = images.reshape(n_samples, n_channels, -1)
    sum_means = flat.mean(dim=2).sum(dim=0)
    # std_mean's std equals Tensor.std's bit for bit (tested) and takes a faster CPU path
    # for batches like these (timings in CONTRIBUTING)
    sum_stds = torch.std_mean(flat, dim=2)[0].sum(dim=0)
    counts = torch.full(
        (n_channels,), float(n_samples), dtype=sum_means.dtype, device=images.device
    )
    return torch.stack([counts, sum_means, sum_stds])


def loader_apply(
    loader: DataLoader, func: Callable[[Tensor, Tensor], Tensor], reduce: str = "sum"
) -> Tensor:
    """Apply ``func(x, y)`` to every mini-batch and reduce the stacked results over batches.

    ``reduce`` is ``"sum"`` or ``"mean"``; the result has the shape of one ``func`` output.
    """
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    results = [func(x, y) for x, y in loader]
    if not results:
        raise ValueError("loader yielded no batches: its dataset is empty")
    results = torch.stack(results)
    return results.sum(dim=0) if reduce == "sum" else results.float().mean(dim=0)


def normalizer_statistics(loader: DataLoader) -> tuple[list[float], list[float]]:
    """``(mean, std)`` per channel: the mean of per-image means and of per-image stds.

    Note that the std is the *average per-image* standard deviation, not the pooled standard
    deviation of all pixels. Always compute it on the training set.
    """
    n, sum_means, sum_stds = loader_apply(loader, statistics_per_channel)
    return (sum_means / n).tolist(), (sum_stds / n).tolist()


def make_normalizer(loader: DataLoader) -> torchvision.transforms.v2.Normalize:
    """``v2.Normalize`` with the mean of per-image means and the mean of per-image stds.

    Always compute it on the training set (see :func:`~rpsbook.data.normalizer_statistics`).
    """
    from torchvision.transforms import v2

    mean, std = normalizer_statistics(loader)
    return v2.Normalize(mean=mean, std=std)


def to_float(images: Tensor) -> Tensor:
    """``uint8`` images ``(..., C, H, W)`` as ``float32`` in [0, 1], as ``v2.ToDtype`` does."""
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 (0-255), got {images.dtype}")
    return images.to(torch.float32).mul_(1.0 / 255)


def normalize(images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """``(images - mean) / std`` per channel of float images ``(..., C, H, W)``, as
    ``v2.Normalize(mean, std)`` computes it."""
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point, got {images.dtype}: use to_float")
    if not all(std):
        raise ValueError(f"std has a zero ({list(std)}): normalizing would divide by zero")
    shape = (-1, 1, 1)
    mean_t = torch.as_tensor(mean, dtype=images.dtype, device=images.device).view(shape)
    std_t = torch.as_tensor(std, dtype=images.dtype, device=images.device).view(shape)
    return images.sub(mean_t).div_(std_t)
