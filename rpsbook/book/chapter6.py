"""Every name of the book's ``plots/chapter6.py``, with its call signature, drawn by rpsbook.

``from rpsbook.book.chapter6 import *`` replaces ``from plots.chapter6 import *``. Each
figure function is an adapter: it turns the book's arguments into a call of rpsbook's own
plot (:mod:`rpsbook.plotting`, :mod:`rpsbook.diagrams`, :mod:`rpsbook.ewma`,
:mod:`rpsbook.paths`, :mod:`rpsbook.training`) and returns the Figure, so the pictures are
rpsbook's, not copies of the book's. The computing helpers (``EWMA``, ``calc_ewma``...,
``compare_optimizers``) are rpsbook's own functions, and the star import also brings the
modules the book's file imports and re-exports (``plt``, ``np``, ``torch``, ``F``,
``deepcopy``, ``Image``, ``ToPILImage`` and five schedulers), except pandas and
scikit-learn, which rpsbook does not use.

Random draws never touch the caller's random state here (the book's ``figure8`` and
``figure9`` reseed torch's global generator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from copy import deepcopy
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import (
    CyclicLR,
    LambdaLR,
    LRScheduler,
    MultiStepLR,
    ReduceLROnPlateau,
    StepLR,
)
from torchvision.transforms import ToPILImage

from .. import diagrams, ewma, paths, plotting
from ..data.decoding import _load_rgb
from ..data.layout import CLASSES
from ..ewma import (
    EWMA,
    calc_corrected_ewma,
    calc_ewma,
    calc_momentum,
    calc_nesterov,
    correction,
    momentum,
)
from ..paths import PathResult, compare_optimizers
from ..training import StepByStep, schedulers

__all__ = [
    "EWMA",
    "CyclicLR",
    "F",
    "Image",
    "LambdaLR",
    "MultiStepLR",
    "ReduceLROnPlateau",
    "StepByStep",
    "StepLR",
    "ToPILImage",
    "calc_corrected_ewma",
    "calc_ewma",
    "calc_momentum",
    "calc_nesterov",
    "compare_optimizers",
    "contour_data",
    "correction",
    "deepcopy",
    "figure1",
    "figure2",
    "figure7",
    "figure8",
    "figure9",
    "figure11",
    "figure15",
    "figure17",
    "figure21",
    "figure26",
    "figure28",
    "ma_vs_ewma",
    "momentum",
    "np",
    "plot_dist",
    "plot_losses",
    "plot_paths",
    "plot_scheduler",
    "plt",
    "torch",
]

#: The three training images the book's Figure 6.1 shows (rock, paper, scissors).
FIGURE1_FILES = (
    "rock/rock06ck02-100.png",
    "paper/paper02-089.png",
    "scissors/testscissors02-006.png",
)
#: The inputs of the chapter's dropout figures: ``torch.linspace(.1, 1.1, 11)``.
SPACED_POINTS = torch.linspace(0.1, 1.1, 11)
#: The loss the book feeds a ``ReduceLROnPlateau`` in ``plot_scheduler`` (a plateau).
_PLATEAU_LOSS = 0.1
#: Steps the book's ``plot_scheduler`` records.
_SCHEDULER_STEPS = 12


def figure1(folder: str = "rps") -> Figure:
    """Fig 6.1: the book's rock, paper and scissors images from the training folder."""
    images = [_load_rgb(str(Path(folder) / name)) for name in FIGURE1_FILES]
    pixels = torch.stack([torch.from_numpy(np.array(image)).permute(2, 0, 1) for image in images])
    labels = [CLASSES.index(name.split("/")[0]) for name in FIGURE1_FILES]
    return plotting.show_images(pixels, labels, CLASSES, ncols=3, size=3.0)


def figure2(first_images: Tensor, first_labels: Tensor, normalizer: Any = None) -> Figure:
    """Fig 6.2: the first six images of a mini-batch, titled by class.

    Standardized values outside [0, 1] are clipped; pass ``normalizer=`` (rpsbook's extra)
    to see the images as they were before standardization.
    """
    return plotting.show_images(
        first_images[:6], first_labels[:6], CLASSES, normalizer=normalizer, ncols=6
    )


def plot_dist(ax: Axes, distrib_outputs: Tensor, p: float) -> Figure:
    """One panel of Figs 6.7/6.8: the histogram of the sums ``distrib_outputs`` for ``p``."""
    return diagrams.plot_sums_histogram(torch.as_tensor(distrib_outputs), p, ax)


def figure7(p: float, distrib_outputs: Tensor) -> Figure:
    """Fig 6.7: :func:`plot_dist` on a new figure."""
    return diagrams.plot_sums_histogram(torch.as_tensor(distrib_outputs), p)


def figure8(ps: Sequence[float] = (0.1, 0.3, 0.5, 0.9)) -> Figure:
    """Fig 6.8: sums of 1,000 dropout outputs of the spaced points per ``p`` (seed 17)."""
    return diagrams.plot_dropout_sums(SPACED_POINTS, ps, seed=17)


def figure9(first_images: Tensor, seed: int = 17, p: float = 0.33) -> Figure:
    """Fig 6.9: the first image, after regular dropout and after ``Dropout2d``."""
    return diagrams.plot_dropout2d(first_images[0], p=p, seed=seed)


def figure11(
    losses: Sequence[float],
    val_losses: Sequence[float],
    losses_nodrop: Sequence[float],
    val_losses_nodrop: Sequence[float],
) -> Figure:
    """Fig 6.11: the losses with and without dropout, on one log-scale axes."""
    fig = plotting.plot_run_losses(losses, val_losses, label="dropout")
    return plotting.plot_run_losses(
        losses_nodrop, val_losses_nodrop, ax=fig.axes[0], label="no dropout"
    )


def figure15(alpha: float = 1 / 3, periods: int = 5, steps: int = 10) -> Figure:
    """Fig 6.15: the weights of an EWMA and of a moving average, by age."""
    return ewma.plot_ewma_weights(alpha=alpha, periods=periods, lags=steps)


def ma_vs_ewma(values: Any, periods: int = 19) -> Figure:
    """Fig 6.16: a series with its moving average, EWMA and bias-corrected EWMA."""
    return ewma.plot_ewma_series(values, period=periods)


def figure17(
    gradients: Any,
    corrected_gradients: Any = None,
    corrected_sq_gradients: Any = None,
    adapted_gradients: Any = None,
) -> Figure:
    """Fig 6.17: Adam's smoothing, scaling and adapted gradients.

    The three series are recomputed from ``gradients`` with Adam's default betas (the book
    computes them the same way before the call); the other arguments are accepted for the
    book's call.
    """
    return ewma.plot_adapted_gradients(torch.as_tensor(np.asarray(gradients, dtype=float)))


def contour_data(
    x_tensor: Tensor, y_tensor: Tensor
) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
    """The book's ``b, w, bs, ws, all_losses``: the least-squares ``(b, w)``, the grid of
    ``(b, w)`` over [0.7, 2.3] (101 x 101, ``np.meshgrid`` layout) and the MSE on it."""
    surface = paths.loss_surface(x_tensor, y_tensor)
    bs, ws = np.meshgrid(surface.b.numpy(), surface.w.numpy())
    b, w = surface.optimum
    return b, w, bs, ws, surface.losses.numpy()


def _surface(b: Any, w: Any, bs: Any, ws: Any, all_losses: Any) -> paths.LossSurface:
    """:func:`contour_data`'s values as the :class:`~rpsbook.paths.LossSurface` they came from."""
    return paths.LossSurface(
        b=torch.as_tensor(np.asarray(bs)[0, :]),
        w=torch.as_tensor(np.asarray(ws)[:, 0]),
        losses=torch.as_tensor(np.asarray(all_losses)),
        optimum=(float(np.squeeze(b)), float(np.squeeze(w))),
    )


def _axes(axs: Any) -> list[Axes] | None:
    """The book's ``axs`` (an Axes, an array or iterator of them, or None) as a list."""
    if axs is None:
        return None
    return [axs] if isinstance(axs, Axes) else list(np.ravel(np.asarray(list(axs), dtype=object)))


def plot_paths(
    results: Mapping[str, PathResult],
    b: Any,
    w: Any,
    bs: Any,
    ws: Any,
    all_losses: Any,
    axs: Any = None,
) -> Figure:
    """Figs 6.18/6.20/6.22: each run's path over the loss surface, one panel per run."""
    return paths.plot_paths(results, _surface(b, w, bs, ws, all_losses), ax=_axes(axs))


def plot_losses(results: Mapping[str, PathResult], axs: Any = None) -> Figure:
    """Figs 6.19/6.23/6.29: each run's losses (one panel per run when ``axs`` is given; by
    default every run on one axes, which compares them directly)."""
    return paths.plot_losses(results, ax=_axes(axs))


def figure21(results: Mapping[str, PathResult]) -> Figure:
    """Fig 6.21: the gradients of the first three runs (SGD, with momentum, with Nesterov)
    and the update term each run used."""
    runs = dict(zip(("SGD", "Momentum", "Nesterov"), results.values(), strict=False))
    return ewma.plot_sgd_terms({name: run.gradients["weight"] for name, run in runs.items()})


def plot_scheduler(
    dummy_optimizer: Optimizer,
    dummy_scheduler: LRScheduler | ReduceLROnPlateau,
    logscale: bool = True,
    ax: Axes | None = None,
) -> Figure:
    """Figs 6.24/6.25: the learning rate over 12 steps of ``dummy_scheduler``.

    As in the book, the scheduler (and its optimizer) is stepped: the plot shows what it
    does from its current state, and it is 12 steps further afterwards.
    """
    metrics = _PLATEAU_LOSS if isinstance(dummy_scheduler, ReduceLROnPlateau) else None
    lrs = schedulers.scheduler_lrs(dummy_scheduler, _SCHEDULER_STEPS, metrics=metrics)
    name = type(dummy_scheduler).__name__
    return schedulers.plot_lr_sequences({name: lrs}, ax=ax, log=logscale)


def figure26(dummy_optimizer: Optimizer, dummy_schedulers: Sequence[LRScheduler]) -> Figure:
    """Fig 6.26: :func:`plot_scheduler` for each ``CyclicLR`` mode, on a linear axis."""
    fig, axes = plt.subplots(1, len(dummy_schedulers), figsize=(11, 3.5), squeeze=False)
    for ax, scheduler in zip(axes[0], dummy_schedulers, strict=True):
        plot_scheduler(dummy_optimizer, scheduler, logscale=False, ax=ax)
        ax.set_title(f"{type(scheduler).__name__}, mode={getattr(scheduler, 'mode', '-')}")
    fig.tight_layout()
    return fig


def figure28(
    results: Mapping[str, PathResult], b: Any, w: Any, bs: Any, ws: Any, all_losses: Any
) -> Figure:
    """Fig 6.28: six paths (two rows of three) with, between them, the learning rate of
    every step of the first three runs."""
    fig = plt.figure(figsize=(11, 10))
    grid = fig.add_gridspec(5, 3)
    path_axes = [
        fig.add_subplot(grid[rows, i]) for rows in (slice(0, 2), slice(3, 5)) for i in range(3)
    ]
    for i, run in enumerate(list(results.values())[:3]):
        ax = fig.add_subplot(grid[2, i])
        schedulers.plot_lr_sequences({run.name: run.learning_rates}, ax=ax, log=False)
    plot_paths(results, b, w, bs, ws, all_losses, axs=path_axes)
    return fig
