"""What the diagrams share: tensors checked on the way in, cells drawn as annotated heatmaps."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import FigureBase
from matplotlib.image import AxesImage
from torch import Tensor

_RGB_CMAPS = ("Reds", "Greens", "Blues")
_RGB_NAMES = ("R", "G", "B")
_FILTER_CMAP = "PuOr_r"
_RESULT_CMAP = "RdBu_r"


def _as_float(tensor: Tensor, name: str, dim: int, shape: str) -> Tensor:
    """``tensor`` detached as a contiguous CPU float tensor, or a clear error if not ``dim``-D.

    Contiguous because dropout draws its mask in memory order: a transposed view would get
    another mask from the same seed.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {shape}, got {type(tensor)!r}")
    if tensor.dim() != dim:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(tensor.shape)}")
    return tensor.detach().cpu().float().contiguous()


def _new_figure(fig: FigureBase | None, figsize: tuple[float, float]) -> FigureBase:
    if fig is not None:
        return fig
    return plt.figure(figsize=figsize, layout="constrained")


def _formatter(values: Tensor) -> Callable[[float], str]:
    """Integers print as integers (``-0`` as ``0``); anything else with two decimals."""
    if torch.equal(values, values.round()):
        return lambda v: f"{v + 0.0:.0f}"
    return lambda v: f"{v:.2f}"


def _short(value: float) -> str:
    """At most two decimals, trailing zeros dropped: 0.40 -> "0.4", 2.00 -> "2"."""
    return f"{value + 0.0:.2f}".rstrip("0").rstrip(".")


# Annotated cells stretch their colour range by this factor so that the extreme values get
# mid-saturated colours instead of near-black ones that swamp the picture.
_CELL_HEADROOM = 1.4


def _symmetric_norm(*tensors: Tensor, headroom: float = _CELL_HEADROOM) -> Normalize:
    """A norm centred on zero, so a diverging colormap shows the sign of every value."""
    bound = max(float(t.abs().max()) for t in tensors) or 1.0
    return Normalize(-bound * headroom, bound * headroom)


def _range_norm(*tensors: Tensor, headroom: float = _CELL_HEADROOM) -> Normalize:
    """A norm from the smallest value to (``headroom`` times the span above it) the largest."""
    lo = min(float(t.min()) for t in tensors)
    hi = max(float(t.max()) for t in tensors)
    span = hi - lo if hi > lo else 1.0
    return Normalize(lo, lo + span * headroom)


def _heatmap(
    ax: Axes,
    values: Tensor,
    cmap: str,
    norm: Normalize,
    *,
    annotate: bool = True,
    fmt: Callable[[float], str] | None = None,
    fontsize: float = 13,
) -> AxesImage:
    """Draw a 2-D tensor as cells, optionally writing each value in its cell.

    The text is black on light cells and white on dark ones (by the cell's luminance).
    """
    array = values.numpy()
    image = ax.imshow(array, cmap=cmap, norm=norm)
    ax.set_xticks([])
    ax.set_yticks([])
    if annotate:
        fmt = fmt or _formatter(values)
        rgb = image.cmap(image.norm(array))[..., :3]
        luminance = rgb @ np.array([0.2126, 0.7152, 0.0722])
        for (i, j), value in np.ndenumerate(array):
            colour = "black" if luminance[i, j] > 0.5 else "white"
            ax.text(j, i, fmt(value), ha="center", va="center", color=colour, fontsize=fontsize)
    return image


def _channel_cmaps(n_channels: int) -> tuple[str, ...]:
    return _RGB_CMAPS if n_channels == 3 else ("Greys",) * n_channels


def _channel_name(c: int, n_channels: int) -> str:
    return f"channel {c} ({_RGB_NAMES[c]})" if n_channels == 3 else f"channel {c}"


def _shape(t: Tensor) -> str:
    """A (C, H, W) shape written the book's way: ``C@HxW``."""
    c, h, w = t.shape
    return f"{c}@{h}x{w}"
