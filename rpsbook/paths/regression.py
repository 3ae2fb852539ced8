"""The playground's data: a one-feature regression, its model and its loss surface."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset, TensorDataset, random_split

from .._utils import seeded_cpu_rng


@dataclass(frozen=True)
class RegressionData:
    """The synthetic dataset, its 80/20 split and loaders.

    Attributes
    ----------
    x, y : Tensor (N, 1) float32
        All points, in generation order.
    train_dataset, val_dataset : Subset
        The ``random_split`` of ``TensorDataset(x, y)``.
    train_loader, val_loader : DataLoader
        Batches of ``batch_size``; the training loader shuffles.
    """

    x: Tensor
    y: Tensor
    train_dataset: Subset
    val_dataset: Subset
    train_loader: DataLoader
    val_loader: DataLoader

    @property
    def x_train(self) -> Tensor:
        """Training features ``(n_train, 1)``, in split order."""
        return self.x[self.train_dataset.indices]

    @property
    def y_train(self) -> Tensor:
        """Training targets ``(n_train, 1)``, in split order."""
        return self.y[self.train_dataset.indices]


def make_regression_data(
    n: int = 100,
    *,
    true_b: float = 1.0,
    true_w: float = 2.0,
    noise: float = 0.1,
    seed: int = 42,
    split_seed: int = 13,
    train_ratio: float = 0.8,
    batch_size: int = 16,
    generator: torch.Generator | None = None,
) -> RegressionData:
    """``y = true_b + true_w * x + noise * N(0, 1)`` with ``x ~ U(0, 1)``, split and batched.

    The draws equal the book's ``np.random.seed(seed)`` followed by ``rand`` then ``randn``,
    and its ``torch.manual_seed(split_seed)`` before ``random_split``, without touching
    the global random state. The training loader shuffles with ``generator``; ``None`` draws
    from torch's global RNG, which :meth:`~rpsbook.training.StepByStep.train` seeds, as in
    the book.
    """
    if not 0 < train_ratio < 1:
        raise ValueError(f"train_ratio must be strictly between 0 and 1, got {train_ratio}.")
    rng = np.random.RandomState(seed)
    x = rng.rand(n, 1)
    y = true_b + true_w * x + noise * rng.randn(n, 1)
    x_tensor = torch.as_tensor(x).float()
    y_tensor = torch.as_tensor(y).float()
    dataset = TensorDataset(x_tensor, y_tensor)
    n_train = int(n * train_ratio)
    train_dataset, val_dataset = random_split(
        dataset, [n_train, n - n_train], generator=torch.Generator().manual_seed(split_seed)
    )
    return RegressionData(
        x=x_tensor,
        y=y_tensor,
        train_dataset=train_dataset,
        val_dataset=val_dataset,
        train_loader=DataLoader(
            train_dataset, batch_size=batch_size, shuffle=True, generator=generator
        ),
        val_loader=DataLoader(val_dataset, batch_size=batch_size),
    )


def make_model(seed: int = 42) -> nn.Sequential:
    """``Sequential(linear=Linear(1, 1))`` initialised as after ``torch.manual_seed(seed)``.

    The global random state is restored afterwards.
    """
    with seeded_cpu_rng(seed):
        return nn.Sequential(OrderedDict(linear=nn.Linear(1, 1)))


def least_squares(x: Tensor, y: Tensor) -> tuple[float, float]:
    """The ``(b, w)`` minimising the MSE of ``b + w * x`` on ``x, y`` of shape ``(N, 1)``."""
    x_np = x.detach().cpu().double().numpy().reshape(-1)
    y_np = y.detach().cpu().double().numpy().reshape(-1)
    if len(x_np) != len(y_np):
        raise ValueError(f"x and y must hold as many points, got {len(x_np)} and {len(y_np)}.")
    design = np.column_stack([np.ones_like(x_np), x_np])
    (b, w), *_ = np.linalg.lstsq(design, y_np, rcond=None)
    return float(b), float(w)


@dataclass(frozen=True)
class LossSurface:
    """MSE over a grid of ``(b, w)``.

    Attributes
    ----------
    b : Tensor (n_b,) float64
    w : Tensor (n_w,) float64
    losses : Tensor (n_w, n_b) float64
        ``losses[i, j]`` is the MSE of ``b[j] + w[i] * x`` (rows follow ``w``, as ``contour``
        expects).
    optimum : tuple of float
        Least-squares ``(b, w)``.
    """

    b: Tensor
    w: Tensor
    losses: Tensor
    optimum: tuple[float, float]


def loss_surface(
    x: Tensor,
    y: Tensor,
    b_range: tuple[float, float] = (0.7, 2.3),
    w_range: tuple[float, float] = (0.7, 2.3),
    n: int = 101,
) -> LossSurface:
    """MSE of ``b + w * x`` on ``(x, y)`` (shape ``(N, 1)``) over an ``n x n`` grid."""
    b = torch.linspace(*b_range, n, dtype=torch.float64)
    w = torch.linspace(*w_range, n, dtype=torch.float64)
    x64 = x.detach().cpu().double().reshape(-1, 1, 1)
    y64 = y.detach().cpu().double().reshape(-1, 1, 1)
    # (N, n_w, n_b): every point's prediction under every (b, w) of the grid.
    predictions = b[None, None, :] + w[None, :, None] * x64
    losses = ((predictions - y64) ** 2).mean(dim=0)
    return LossSurface(b=b, w=w, losses=losses, optimum=least_squares(x, y))
