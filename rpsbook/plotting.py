"""Figures for images, filters, feature maps and loss curves.

Every function returns the :class:`~matplotlib.figure.Figure` it drew on. New figures are
created through :mod:`matplotlib.pyplot` (so Sphinx-Gallery and notebooks pick them up) but
never shown: call ``plt.show()`` or ``fig.savefig`` yourself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from ._figures import axes_list

if TYPE_CHECKING:  # torchvision is imported only by code that reads images (rpsbook.data)
    import torchvision.transforms.v2

__all__ = [
    "denormalize",
    "plot_class_examples",
    "plot_feature_maps",
    "plot_filters",
    "plot_run_losses",
    "show_images",
    "show_standardized",
]


def _tensor(values: Tensor | np.ndarray, name: str, shape: str) -> Tensor:
    """``values`` as a tensor: NumPy arrays are taken as they are (the book's images often are)."""
    if isinstance(values, Tensor):
        return values
    if isinstance(values, np.ndarray):
        return torch.from_numpy(values)
    raise TypeError(f"{name} must be a torch.Tensor or NumPy array {shape}, got {type(values)!r}")


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _class_name(label: int, classes: Sequence[str] | None) -> str:
    """The title of an image: its class name, or its label when no names are given."""
    if classes is None:
        return str(label)
    if not 0 <= label < len(classes):
        raise ValueError(f"label {label} has no name in classes ({len(classes)} names)")
    return classes[label]


def denormalize(images: Tensor, normalizer: torchvision.transforms.v2.Normalize) -> Tensor:
    """Undo ``normalizer`` on ``(..., C, H, W)`` images: ``x * std + mean``."""
    images = _tensor(images, "images", "(..., C, H, W)")
    mean = torch.as_tensor(normalizer.mean, dtype=images.dtype, device=images.device)
    std = torch.as_tensor(normalizer.std, dtype=images.dtype, device=images.device)
    return images * std[:, None, None] + mean[:, None, None]


def _displayable(image: Tensor) -> np.ndarray:
    """``(C, H, W)`` float or uint8 -> ``(H, W, C)`` floats in [0, 1], clipped (never wrapped)."""
    image = image.detach().cpu()
    if image.dtype == torch.uint8:
        image = image.float() / 255
    return image.clamp(0, 1).permute(1, 2, 0).numpy()


def _floats(values: Sequence[float] | Tensor) -> list[float]:
    """Losses as plain floats, whether given as floats or as (CUDA) tensors."""
    if isinstance(values, Tensor):
        return values.detach().cpu().flatten().tolist()
    return [float(v.detach().cpu()) if isinstance(v, Tensor) else float(v) for v in values]


def show_images(
    images: Tensor,
    labels: Tensor | Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
    *,
    normalizer: torchvision.transforms.v2.Normalize | None = None,
    ncols: int = 6,
    size: float = 2.0,
    title: str | None = None,
) -> Figure:
    """A grid of ``(N, 3, H, W)`` images, each titled with its class name.

    Normalized images are shown honestly: with ``normalizer`` they are denormalized first;
    any value left outside [0, 1] is clipped (converting straight to ``uint8`` would wrap
    negative values around to bright ones instead).

    Parameters
    ----------
    images : Tensor (N, C, H, W)
        ``uint8`` (0-255) or float (0-1, or normalized when ``normalizer`` is given).
    labels : Tensor (N,) or sequence of int, optional
        Class index of each image, used for its title.
    classes : sequence of str, optional
        Class names indexed by label; without them titles are the label numbers.
    normalizer : v2.Normalize, optional
        The transform that normalized ``images``; it is undone before display.
    ncols, size : int, float
        Images per row and the side of each image in inches.
    title : str, optional
        A title above the whole grid.

    Returns
    -------
    Figure
        With ``ceil(N / ncols) * ncols`` axes (the unused ones hidden).
    """
    images = _tensor(images, "images", "(N, C, H, W)")
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(
            f"images must be (N, C, H, W) with N >= 1, got shape {tuple(images.shape)}"
        )
    if labels is not None and len(labels) != images.shape[0]:
        raise ValueError(f"got {len(labels)} labels for {images.shape[0]} images")
    ncols = _positive(ncols, "ncols")
    if normalizer is not None:
        images = denormalize(images.float(), normalizer)
    n = images.shape[0]
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size * ncols, size * nrows + 0.3 + 0.3 * bool(title)),
        squeeze=False,
        layout="constrained",
    )
    # White backgrounds would otherwise merge into one strip.
    fig.get_layout_engine().set(wspace=0.06)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(_displayable(images[i]))
        if labels is not None:
            ax.set_title(_class_name(int(labels[i]), classes))
    if title:
        fig.suptitle(title)
    return fig


_FRAME = {"fill": False, "edgecolor": "0.5", "linewidth": 0.8, "clip_on": False}


def _strip(panels: Sequence[np.ndarray], gap: int) -> np.ndarray:
    """``(H, W, C)`` panels side by side, ``gap`` transparent columns apart: ``(H, n*W +
    (n-1)*gap, 4)`` RGBA, so one Axes (one image to draw) shows a whole row."""
    height, width = panels[0].shape[:2]
    strip = np.zeros((height, len(panels) * (width + gap) - gap, 4), dtype=np.float32)
    for i, panel in enumerate(panels):
        left = i * (width + gap)
        strip[:, left : left + width, :3] = panel
        strip[:, left : left + width, 3] = 1.0
    return strip


def show_standardized(
    images: Tensor,
    labels: Tensor | Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
    *,
    normalizer: torchvision.transforms.v2.Normalize,
    size: float = 1.8,
) -> Figure:
    """Standardized images three ways: the originals, the standardized values, wrapped bytes.

    Row 1 undoes ``normalizer`` (the pictures before standardization). Row 2 shows the
    standardized values themselves, the input the model receives: one linear map, shared
    by all channels and images, takes ``[-m, m]`` to none..full intensity of each channel's
    colour, where ``m`` is the largest absolute standardized value shown, so a pixel whose
    channels are all zero (their training-set means) is mid grey and nothing is clipped;
    the colorbar shows the grey of a pixel whose three channels share a value. Row 3
    converts the standardized floats straight to ``uint8`` as the book's figure does
    (``x * 255`` cast to bytes), which wraps values modulo 256.

    Each row is one Axes holding one RGBA strip of the ``N`` images, ``W // 14`` transparent
    columns apart (image ``i`` starts at column ``i * (W + gap)``); the top row's x tick
    labels are the class names. One Axes per row rather than per image: drawing 18 Axes
    took three times as long for the same picture.

    Parameters
    ----------
    images : Tensor (N, C, H, W)
        Standardized (normalized) float images, on any device.
    labels, classes
        As in :func:`show_images`.
    normalizer : v2.Normalize
        The transform that standardized ``images``.
    size : float
        Side of each image in inches.

    Returns
    -------
    Figure
        With 3 image Axes (one per row) and one colorbar for row 2.
    """
    images = _tensor(images, "images", "(N, C, H, W)")
    if images.ndim != 4 or images.shape[0] == 0 or not images.is_floating_point():
        raise ValueError(
            f"images must be standardized floats (N, C, H, W) with N >= 1, got {images.dtype} "
            f"of shape {tuple(images.shape)}"
        )
    if labels is not None and len(labels) != images.shape[0]:
        raise ValueError(f"got {len(labels)} labels for {images.shape[0]} images")
    images = images.detach().cpu().float()
    m = float(images.abs().max()) or 1.0
    rows = {
        "original\n(denormalized)": denormalize(images, normalizer).clamp(0, 1),
        f"standardized\n[-{m:.2f}, {m:.2f}] → 0..1\nin each channel": (images + m) / (2 * m),
        "book: straight\nto uint8 (wraps)": (images * 255).to(torch.int64).to(torch.uint8),
    }
    n, width = images.shape[0], images.shape[-1]
    gap = max(1, width // 14)
    fig, axes = plt.subplots(
        3, 1, figsize=(size * n + 1.9, 3 * size + 0.4), squeeze=False, layout="constrained"
    )
    for ax, (row_label, shown) in zip(axes[:, 0], rows.items(), strict=True):
        ax.imshow(_strip([_displayable(image) for image in shown], gap), interpolation="nearest")
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_ylabel(row_label, rotation=0, ha="right", va="center", fontsize=10)
        ax.set_frame_on(False)
        for i in range(n):  # a frame per image: white backgrounds meet the white page
            ax.add_patch(
                Rectangle((i * (width + gap) - 0.5, -0.5), width, images.shape[-2], **_FRAME)
            )
    if labels is not None:
        top = axes[0, 0]
        centers = [i * (width + gap) + (width - 1) / 2 for i in range(n)]
        top.set_xticks(centers, [_class_name(int(label), classes) for label in labels])
        top.tick_params(
            axis="x", length=0, top=True, labeltop=True, bottom=False, labelbottom=False
        )
    mappable = plt.cm.ScalarMappable(plt.Normalize(-m, m), cmap="gray")
    fig.colorbar(
        mappable, ax=axes[1, 0], shrink=0.9, label="standardized value\n(3 channels equal)"
    )
    return fig


def plot_class_examples(
    images: Tensor,
    labels: Tensor,
    classes: Sequence[str],
    *,
    normalizer: torchvision.transforms.v2.Normalize | None = None,
    size: float = 2.5,
    title: str | None = None,
) -> Figure:
    """The first image of each class, titled with its name (Fig 6.1).

    Images and ``normalizer`` are as in :func:`show_images`; one axes per class.
    """
    if not len(classes):
        raise ValueError("classes is empty: pass the class names, indexed by label")
    images, labels = _tensor(images, "images", "(N, C, H, W)"), torch.as_tensor(labels)
    picks = []
    for c, name in enumerate(classes):
        found = torch.nonzero(labels == c)
        if len(found) == 0:
            raise ValueError(f"no image has label {c} ({name!r}); pass images of every class")
        picks.append(int(found[0]))
    return show_images(
        images[picks],
        labels[picks],
        classes,
        normalizer=normalizer,
        ncols=len(picks),
        size=size,
        title=title,
    )


def plot_filters(
    weights: Tensor, title: str | None = None, cmap: str = "gray", size: float = 1.4
) -> Figure:
    """Convolution weights ``(out_channels, in_channels, kH, kW)`` as a grid of small images.

    Row ``i`` is filter ``i``, column ``j`` its slice for input channel ``j``. All cells share
    one color scale, so brighter always means a larger weight; a colour bar gives the scale
    and marks where zero falls on it.
    """
    weights = _tensor(weights, "weights", "(out, in, kH, kW)")
    if weights.ndim != 4 or weights.numel() == 0:
        raise ValueError(
            "weights must be (out, in, kH, kW) with at least one filter, got shape "
            f"{tuple(weights.shape)}"
        )
    weights = weights.detach().cpu()
    n_out, n_in = weights.shape[:2]
    vmin, vmax = float(weights.min()), float(weights.max())
    fig, axes = plt.subplots(
        n_out,
        n_in,
        figsize=(size * n_in, size * n_out + 0.4 * bool(title)),
        squeeze=False,
        layout="constrained",
    )
    for i in range(n_out):
        for j in range(n_in):
            ax = axes[i, j]
            shown = ax.imshow(weights[i, j].numpy(), cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"channel {j}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"filter {i}", fontsize=9)
    bar = fig.colorbar(shown, ax=axes.ravel().tolist(), label="weight", shrink=0.8)
    if vmin < 0 < vmax:  # the reference: negative weights below it, positive ones above
        bar.ax.axhline(0, color="tab:red", linewidth=2)
    if title:
        fig.suptitle(title)
    return fig


def plot_feature_maps(
    outputs: Mapping[str, Tensor],
    n_images: int = 10,
    y: Tensor | None = None,
    yhat: Tensor | None = None,
    cmap: str = "gray",
    size: float = 1.1,
    *,
    classes: Sequence[str] | None = None,
) -> Figure:
    """Outputs of several layers for the first ``n_images`` images: one column per image.

    Parameters
    ----------
    outputs : mapping of str to Tensor
        Layer name -> its output: ``(N, C, H, W)`` maps give one row per channel, ``(N, F)``
        features a single row, each vector drawn as a 1 x F strip.
    n_images : int
        How many images (columns) to show at most.
    y, yhat : Tensor (N,), optional
        Labels and predicted classes; they title the columns.
    cmap, size : str, float
        Colormap, and the side of each cell in inches.
    classes : sequence of str, optional
        Class names for the titles; by default the class indices are shown.

    Returns
    -------
    Figure
        With one row per channel (per layer for features) and one column per image. Each
        row has one colour scale, so a channel's response can be compared across images.
    """
    if not outputs:
        raise ValueError("outputs is empty: pass {layer name: output tensor}")
    n_images = _positive(n_images, "n_images")
    rows: list[tuple[str, Tensor, tuple[float, float]]] = []
    for name, out in outputs.items():
        # Tensors, or the NumPy arrays that StepByStep.visualization holds (as in the book).
        out = torch.as_tensor(out).detach().cpu().float()[:n_images]
        if out.numel() == 0:
            raise ValueError(f"output of {name!r} is empty (shape {tuple(out.shape)})")
        if out.ndim == 4:
            rows += [
                (f"{name}\nch {c}", out[:, c], (float(out[:, c].min()), float(out[:, c].max())))
                for c in range(out.shape[1])
            ]
        elif out.ndim == 2:
            rows.append((name, out[:, None, :], (float(out.min()), float(out.max()))))
        else:
            raise ValueError(
                f"output of {name!r} has shape {tuple(out.shape)}; expected 2-D or 4-D"
            )
    n_cols = rows[0][1].shape[0]
    fig, axes = plt.subplots(
        len(rows),
        n_cols,
        figsize=(size * n_cols + 0.6, size * len(rows) + 0.5 * (y is not None)),
        squeeze=False,
        layout="constrained",
    )

    font = max(8.0, 6.5 * size)  # labels stay readable when cells are drawn larger

    for r, (label, maps, (vmin, vmax)) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            aspect = "equal" if maps.shape[1] > 1 else "auto"
            ax.imshow(maps[c].numpy(), cmap=cmap, vmin=vmin, vmax=vmax, aspect=aspect)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=font)
    if y is not None:
        for c in range(n_cols):
            title = f"label {_class_name(int(y[c]), classes)}"
            if yhat is not None:
                title += f"\npred {_class_name(int(yhat[c]), classes)}"
            axes[0, c].set_title(title, fontsize=font)
    return fig


def plot_run_losses(
    losses: Sequence[float],
    val_losses: Sequence[float] = (),
    ax: Axes | None = None,
    label: str | None = None,
    log: bool = True,
) -> Figure:
    """One run's training (solid) and validation (dashed) loss per epoch.

    Pass the same ``ax`` and different ``label`` values to compare several runs on one axes.
    ``StepByStep.plot_losses`` draws a trainer's losses with it, and
    :func:`rpsbook.paths.plot_losses` the losses of each result of ``compare_optimizers``.
    """
    (ax,) = axes_list(ax, 1, panel=(7, 4), layout="constrained")
    prefix = f"{label}: " if label else ""
    losses, val_losses = _floats(losses), _floats(val_losses)
    epochs = range(1, len(losses) + 1)
    (line,) = ax.plot(epochs, losses, label=f"{prefix}training")
    if len(val_losses):
        ax.plot(
            range(1, len(val_losses) + 1),
            val_losses,
            linestyle="--",
            color=line.get_color(),
            label=f"{prefix}validation",
        )
    if log:
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        # plain numbers, and the minor ticks at 2, 3 and 5 times a power of ten labelled too,
        # so that a level between two powers of ten (a final loss of 0.15) can be read off
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(
            FuncFormatter(lambda y, _: f"{y:g}" if f"{y:.0e}"[0] in "235" else "")
        )
        # the axis starts at the labelled level just below the lowest loss of every run on it
        # and on the axes that share its y axis (sharey=True: one limit for all of them)
        values = np.concatenate(
            [
                np.asarray(line.get_ydata(), dtype=float)
                for shared in ax.get_shared_y_axes().get_siblings(ax)
                for line in shared.get_lines()
            ]
        )
        lowest, highest = float(values.min()), float(values.max())
        if lowest > 0:
            power = 10.0 ** math.floor(math.log10(lowest))
            bottom = max(m for m in (1, 2, 3, 5) if m * power <= lowest) * power
            # a fixed bottom turns autoscaling off: the top is set too, 5% (in log) above all
            top = highest * (highest / bottom) ** 0.05
            ax.set_ylim(bottom=bottom, top=top)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    return ax.figure
