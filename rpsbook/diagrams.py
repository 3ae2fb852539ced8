"""Chapter 6 diagrams drawn from real tensors: three-channel convolutions and dropout.

The chapter prints these as static pictures (Figs 6.3-6.9). Here every number and every pixel
in a diagram is computed by torch first (``F.conv2d``, ``F.dropout``, ``F.dropout2d``) and only
then drawn, so a figure can never disagree with the code next to it.

Random draws are seeded without touching the caller's random state: the helpers seed torch's
CPU generator for the duration of the draw and restore its previous state afterwards. With
``seed=s`` they give exactly what ``torch.manual_seed(s)`` followed by ``nn.Dropout`` (or
``nn.Dropout2d``) gives on a CPU tensor.

When ``ax``/``axes``/``fig`` is not given, figures are created with :mod:`matplotlib.pyplot`
(so Sphinx-Gallery's scraper picks them up); close them with ``plt.close(fig)`` when done.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure, FigureBase
from matplotlib.image import AxesImage
from torch import Tensor

from ._utils import seeded_cpu_rng

__all__ = [
    "RegionConvolution",
    "dropout_sum_variance",
    "dropout_sums",
    "dropout_vs_dropout2d",
    "multichannel_example",
    "plot_dropout2d",
    "plot_dropout_mask",
    "plot_dropout_sums",
    "plot_multichannel_convolution",
    "plot_three_channel_convolution",
    "seeded_dropout",
    "three_channel_convolution",
    "three_channel_example",
]

_RGB_CMAPS = ("Reds", "Greens", "Blues")
_RGB_NAMES = ("R", "G", "B")
_FILTER_CMAP = "PuOr_r"
_RESULT_CMAP = "RdBu_r"


# --------------------------------------------------------------------------- helpers


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


def _check_p(p: float) -> float:
    # p = 1 drops everything and makes the 1 / (1 - p) scale infinite: nothing left to show.
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be a probability in [0, 1), got {p!r}")
    return float(p)


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


# ---------------------------------------------------------------- three-channel convolutions


def three_channel_example() -> tuple[Tensor, Tensor]:
    """A small integer-valued region and filter whose convolution is 39 (Fig 6.4).

    Returns
    -------
    region, kernel : Tensor (3, 3, 3)
        A 3@3x3 region of an RGB image and a 3-channel 3x3 filter, float32 with integer
        values. Their channels contribute 19, 10 and 10.
    """
    region = torch.tensor(
        [
            [[3, 1, 0], [2, 4, 1], [0, 2, 3]],
            [[1, 2, 2], [0, 3, 1], [2, 1, 0]],
            [[4, 0, 1], [1, 2, 3], [0, 1, 2]],
        ],
        dtype=torch.float32,
    )
    kernel = torch.tensor(
        [
            [[1, 0, 1], [2, 1, 0], [0, 1, 2]],
            [[0, 1, 0], [1, 2, 1], [0, 1, 0]],
            [[-1, 0, 1], [1, 2, 2], [0, 0, 1]],
        ],
        dtype=torch.float32,
    )
    return region, kernel


class RegionConvolution(NamedTuple):
    """One filter applied to one region, broken into the steps a diagram shows."""

    products: Tensor
    """(C, k, k): elementwise products, channel by channel."""
    channel_sums: Tensor
    """(C,): the sum of each channel's products."""
    total: Tensor
    """(): the convolution's single output value, as computed by ``F.conv2d``."""


def three_channel_convolution(region: Tensor, kernel: Tensor) -> RegionConvolution:
    """Convolve a filter with a region of the same size, keeping the intermediate steps.

    Parameters
    ----------
    region : Tensor (C, k, k)
        The part of the image under the filter.
    kernel : Tensor (C, k, k)
        The filter: one k x k channel per image channel.

    Returns
    -------
    RegionConvolution
        ``total`` comes from ``F.conv2d`` (no bias); the hand-summed products are checked
        against it.
    """
    region = _as_float(region, "region", 3, "(C, k, k)")
    kernel = _as_float(kernel, "kernel", 3, "(C, k, k)")
    if region.shape != kernel.shape:
        raise ValueError(
            f"region {tuple(region.shape)} and kernel {tuple(kernel.shape)} must have the same "
            "shape: a filter has one channel per image channel and covers the whole region"
        )
    products = region * kernel
    channel_sums = products.sum(dim=(1, 2))
    total = F.conv2d(region[None], kernel[None]).reshape(())
    if not torch.allclose(channel_sums.sum(), total, rtol=1e-5, atol=1e-5):
        raise RuntimeError(
            f"hand-summed products {channel_sums.sum().item()} differ from F.conv2d {total.item()}"
        )
    return RegionConvolution(products, channel_sums, total)


def plot_three_channel_convolution(
    region: Tensor, kernel: Tensor, fig: FigureBase | None = None
) -> Figure:
    """Fig 6.4: a 3-channel filter over a 3-channel region yields one value.

    One row per channel: the region's channel, the filter's channel, their elementwise
    products and the sum of those products; the last panel is the total, which equals
    ``F.conv2d(region, kernel)``.

    Parameters
    ----------
    region, kernel : Tensor (C, k, k)
        See :func:`three_channel_convolution`.
    fig : Figure or SubFigure, optional
        Where to draw; a new pyplot figure by default.

    Returns
    -------
    Figure
        With ``4 * C + 1`` axes.
    """
    conv = three_channel_convolution(region, kernel)
    region = _as_float(region, "region", 3, "(C, k, k)")
    kernel = _as_float(kernel, "kernel", 3, "(C, k, k)")
    n_channels, k, _ = region.shape
    fig = _new_figure(fig, figsize=(10.5, 2.3 * n_channels + 0.8))
    grid = fig.add_gridspec(n_channels, 5, width_ratios=[k, k, k, 1, 1.4])

    cmaps = _channel_cmaps(n_channels)
    region_norm = _range_norm(region)
    kernel_norm = _symmetric_norm(kernel)
    product_norm = _symmetric_norm(conv.products)
    sum_norm = _symmetric_norm(conv.channel_sums, conv.total)
    titles = ("region", "filter", "region × filter", "sum")
    for c in range(n_channels):
        axes = [fig.add_subplot(grid[c, col]) for col in range(4)]
        _heatmap(axes[0], region[c], cmaps[c], region_norm)
        _heatmap(axes[1], kernel[c], _FILTER_CMAP, kernel_norm)
        _heatmap(axes[2], conv.products[c], _RESULT_CMAP, product_norm)
        _heatmap(axes[3], conv.channel_sums[c].reshape(1, 1), _RESULT_CMAP, sum_norm)
        axes[0].set_ylabel(_channel_name(c, n_channels), fontsize=11)
        if c == 0:
            for ax, title in zip(axes, titles, strict=True):
                ax.set_title(title, fontsize=12)

    total_ax = fig.add_subplot(grid[:, 4])
    _heatmap(total_ax, conv.total.reshape(1, 1), _RESULT_CMAP, sum_norm, fontsize=16)
    total_ax.set_title("total\n(F.conv2d)", fontsize=12)
    fmt = _formatter(torch.cat([conv.channel_sums, conv.total[None]]))
    terms = " + ".join(fmt(s) for s in conv.channel_sums.tolist())
    fig.suptitle(
        f"{_shape(region)} region * {_shape(kernel)} filter = {terms} = {fmt(conv.total.item())}",
        fontsize=13,
    )
    return fig.figure


def multichannel_example(
    n_filters: int = 2, size: int = 5, seed: int = 44
) -> tuple[Tensor, Tensor]:
    """A small integer-valued RGB image and ``n_filters`` 3x3 filters (Figs 6.3 and 6.5).

    Drawn from a local generator, so the global random state is untouched.

    Returns
    -------
    image : Tensor (3, size, size)
        Values in {0, 1, 2, 3}.
    filters : Tensor (n_filters, 3, 3, 3)
        Values in {-1, 0, 1}.
    """
    if n_filters < 1 or size < 3:
        raise ValueError(f"need n_filters >= 1 and size >= 3, got {n_filters} and {size}")
    generator = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 4, (3, size, size), generator=generator).float()
    filters = torch.randint(-1, 2, (n_filters, 3, 3, 3), generator=generator).float()
    return image, filters


def plot_multichannel_convolution(
    image: Tensor,
    filters: Tensor,
    fig: FigureBase | None = None,
    *,
    annotate: bool | None = None,
) -> Figure:
    """Figs 6.3/6.5: n multi-channel filters over a multi-channel image give n output channels.

    Columns: the input's channels, each filter's channels, and the output channels
    ``F.conv2d(image, filters)`` (stride 1, no padding, no bias).

    Parameters
    ----------
    image : Tensor (C, H, W)
    filters : Tensor (n, C, k, k) or (C, k, k)
        One filter is drawn as ``n = 1``.
    fig : Figure or SubFigure, optional
        Where to draw; a new pyplot figure by default.
    annotate : bool, optional
        Write the values in the cells; by default only when the image is at most 8x8.

    Returns
    -------
    Figure
        With ``C + n * C + n`` axes.
    """
    image = _as_float(image, "image", 3, "(C, H, W)")
    if isinstance(filters, Tensor) and filters.dim() == 3:
        filters = filters[None]
    filters = _as_float(filters, "filters", 4, "(n, C, k, k)")
    n_channels, height, width = image.shape
    n_filters, filter_channels, k, _ = filters.shape
    if filter_channels != n_channels:
        raise ValueError(
            f"filters have {filter_channels} channels but image has {n_channels}: "
            "a filter needs one channel per image channel"
        )
    if k > min(height, width):
        raise ValueError(f"filters ({k}x{k}) are larger than the image ({height}x{width})")
    output = F.conv2d(image[None], filters)[0]
    if annotate is None:
        annotate = max(height, width) <= 8

    panel = 0.45 if annotate else 0.3
    fig = _new_figure(
        fig,
        figsize=(
            panel * (width + n_filters * k + output.shape[2]) + 1.5 * (n_filters + 2),
            max(n_channels * (panel * height + 0.5), 2.5) + 0.6,
        ),
    )
    columns = fig.subfigures(
        1, n_filters + 2, width_ratios=[width, *([k] * n_filters), output.shape[2]], wspace=0.04
    )

    cmaps = _channel_cmaps(n_channels)
    image_norm = _range_norm(image)
    for c, ax in enumerate(columns[0].subplots(n_channels, 1, squeeze=False)[:, 0]):
        _heatmap(ax, image[c], cmaps[c], image_norm, annotate=annotate)
        ax.set_ylabel(_channel_name(c, n_channels))
    columns[0].suptitle(f"input {_shape(image)}", fontsize=12)

    filter_norm = _symmetric_norm(filters)
    for i in range(n_filters):
        column = columns[1 + i]
        for c, ax in enumerate(column.subplots(n_channels, 1, squeeze=False)[:, 0]):
            _heatmap(ax, filters[i, c], _FILTER_CMAP, filter_norm, annotate=annotate)
        column.suptitle(f"filter {i + 1}: {_shape(filters[i])}", fontsize=12)

    output_norm = _symmetric_norm(output)
    for i, ax in enumerate(columns[-1].subplots(n_filters, 1, squeeze=False)[:, 0]):
        _heatmap(ax, output[i], _RESULT_CMAP, output_norm, annotate=annotate)
        ax.set_title(f"from filter {i + 1}", fontsize=10)
    columns[-1].suptitle(f"output {_shape(output)}", fontsize=12)
    fig.suptitle(
        f"F.conv2d: each filter spans all {n_channels} input channels"
        " and makes one output channel",
        fontsize=13,
    )
    return fig.figure


# ------------------------------------------------------------------------------- dropout


def seeded_dropout(inputs: Tensor, p: float = 0.5, seed: int = 44) -> Tensor:
    """Train-mode dropout with a fixed seed, leaving the caller's random state alone.

    Equal to ``torch.manual_seed(seed); nn.Dropout(p)(inputs)`` on a contiguous CPU tensor,
    whatever the device and memory layout of ``inputs``: each value is zeroed with
    probability ``p`` and the kept ones are scaled by ``1 / (1 - p)``.

    Parameters
    ----------
    inputs : Tensor (*)
    p : float
        Probability of dropping each value.
    seed : int
        The chapter uses 44.

    Returns
    -------
    Tensor (*)
        On the device of ``inputs`` (computed on the CPU so the seed means the same anywhere).
    """
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs)!r}")
    p = _check_p(p)
    with seeded_cpu_rng(seed):
        # contiguous: the mask is drawn in memory order, so a view would get another one
        outputs = F.dropout(inputs.detach().cpu().contiguous(), p, training=True)
    return outputs.to(inputs.device)


def dropout_sums(inputs: Tensor, p: float = 0.5, n: int = 1000, seed: int = 44) -> Tensor:
    """Sums of the dropped-out inputs over ``n`` independent dropout masks (Figs 6.7/6.8).

    The sum is what a linear layer with all weights one (and no bias) outputs. One dropout
    call over an (n, d) stack of copies draws all n masks at once.

    Parameters
    ----------
    inputs : Tensor (d,)
    p : float
        Dropout probability.
    n : int
        Number of masks.
    seed : int
        Seed for the masks; the caller's random state is restored afterwards.

    Returns
    -------
    Tensor (n,)
        Their mean tends to ``inputs.sum()``, their variance to
        :func:`dropout_sum_variance`.
    """
    inputs = _as_float(inputs, "inputs", 1, "(d,)")
    p = _check_p(p)
    if n < 1:
        raise ValueError(f"n must be a positive number of draws, got {n}")
    # contiguous: dropout on a stride-0 (expanded) tensor would not draw n distinct masks
    copies = inputs.expand(n, -1).contiguous()
    with seeded_cpu_rng(seed):
        dropped = F.dropout(copies, p, training=True)
    return dropped.sum(dim=1)


def dropout_sum_variance(inputs: Tensor, p: float) -> Tensor:
    """Exact variance of the sum of dropped-out inputs: ``p / (1 - p) * sum(inputs**2)``.

    Each output is ``x * B / (1 - p)`` with ``B ~ Bernoulli(1 - p)``, whose variance is
    ``x**2 * p / (1 - p)``; the masks are independent, so the variances add.

    Parameters
    ----------
    inputs : Tensor (d,)
    p : float

    Returns
    -------
    Tensor ()
    """
    inputs = _as_float(inputs, "inputs", 1, "(d,)")
    p = _check_p(p)
    return p / (1 - p) * inputs.square().sum()


def plot_dropout_mask(inputs: Tensor, outputs: Tensor, p: float, ax: Axes | None = None) -> Figure:
    """Fig 6.6: which inputs dropout zeroed and which it kept and scaled by ``1 / (1 - p)``.

    Grey bars are the inputs; next to each, the output: a blue bar if kept (``1 / (1 - p)``
    times taller), a red cross at zero if dropped. The title carries the sum of the inputs,
    the unscaled sum of the kept ones and the sum of the outputs (that times ``1 / (1 - p)``).

    Parameters
    ----------
    inputs, outputs : Tensor (d,)
        ``outputs`` is ``inputs`` through train-mode dropout with probability ``p``.
    p : float
    ax : Axes, optional
        A new pyplot figure by default.

    Returns
    -------
    Figure
    """
    inputs = _as_float(inputs, "inputs", 1, "(d,)")
    outputs = _as_float(outputs, "outputs", 1, "(d,)")
    p = _check_p(p)
    if inputs.shape != outputs.shape:
        raise ValueError(
            f"inputs {tuple(inputs.shape)} and outputs {tuple(outputs.shape)} differ in shape"
        )
    scale = 1 / (1 - p)
    dropped = outputs == 0
    if not torch.allclose(outputs[~dropped], inputs[~dropped] * scale, rtol=1e-5, atol=1e-6):
        raise ValueError(
            f"outputs are not inputs through dropout with p={p}: every output must be 0 or "
            f"its input times 1 / (1 - p) = {scale:g}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(inputs) + 1.5), 4), layout="constrained")

    positions = np.arange(len(inputs), dtype=float)
    width = 0.38
    kept = (~dropped).numpy()
    input_bars = ax.bar(positions - width / 2, inputs.numpy(), width, color="0.78")
    for bar in np.asarray(input_bars.patches, dtype=object)[~kept]:
        bar.set(edgecolor="tab:red", hatch="///", linewidth=0)
    kept_bars = ax.bar(positions[kept] + width / 2, outputs[~dropped].numpy(), width)
    crosses = ax.scatter(
        positions[~kept] + width / 2,
        np.zeros(int(dropped.sum())),
        marker="x",
        s=80,
        linewidths=2.5,
        color="tab:red",
        zorder=3,
        clip_on=False,
    )
    for x, y in zip(positions[kept] + width / 2, outputs[~dropped].tolist(), strict=True):
        ax.annotate(_short(y), (x, y), xytext=(0, 3), textcoords="offset points", ha="center")
    ax.set_xticks(positions, [_short(v) for v in inputs.tolist()])
    ax.set_xlabel("input value")
    ax.set_ylabel("value")
    ax.set_ylim(0, float(torch.cat([inputs, outputs]).max()) * 1.2)
    ax.legend(
        [input_bars, kept_bars, crosses],
        [
            "input (hatched: dropped)",
            f"output, kept: input × 1/(1-p) = × {scale:g}",
            "output, dropped: 0",
        ],
        loc="upper left",
        frameon=False,
    )
    ax.set_title(
        f"nn.Dropout(p={p:g}) in train mode: "
        f"{int(dropped.sum())} of {len(inputs)} inputs dropped\n"
        f"sum of inputs {inputs.sum().item():.2f}; kept inputs {inputs[~dropped].sum().item():.2f}"
        f" × {scale:g} = sum of outputs {outputs.sum().item():.2f}"
    )
    return ax.figure.figure


def plot_dropout_sums(
    inputs: Tensor,
    ps: float | Sequence[float] = (0.1, 0.3, 0.5, 0.9),
    n: int = 1000,
    seed: int = 44,
    axes: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Figs 6.7/6.8: histograms of :func:`dropout_sums`, one panel per dropout probability.

    Each panel marks the mean of the sums (close to ``inputs.sum()`` whatever ``p`` is) and
    gives their variance next to the exact one, which grows like ``p / (1 - p)``. Panels share
    their x-axis and their bin edges so the spreads compare at a glance.

    Parameters
    ----------
    inputs : Tensor (d,)
    ps : float or sequence of floats
        One float (Fig 6.7) or several (Fig 6.8).
    n : int
        Number of dropout masks per ``p``.
    seed : int
        Seed for every ``p``'s masks; the caller's random state is left alone.
    axes : Axes or sequence of Axes, optional
        One per ``p``; a new pyplot figure (a grid of at most two columns) by default.

    Returns
    -------
    Figure
    """
    inputs = _as_float(inputs, "inputs", 1, "(d,)")
    ps = (ps,) if isinstance(ps, int | float) else tuple(ps)
    if not ps:
        raise ValueError("ps must hold at least one dropout probability")
    if axes is None:
        n_cols = min(len(ps), 2)
        n_rows = math.ceil(len(ps) / n_cols)
        fig, grid = plt.subplots(
            n_rows,
            n_cols,
            figsize=(5.5 * n_cols, 3.4 * n_rows),
            squeeze=False,
            layout="constrained",
        )
        for ax in grid.flat[len(ps) :]:
            ax.remove()
        axes = list(grid.flat[: len(ps)])
    else:
        axes = [axes] if isinstance(axes, Axes) else list(axes)
        if len(axes) != len(ps):
            raise ValueError(f"axes must hold one Axes per p: got {len(axes)} for {len(ps)} ps")
        fig = axes[0].figure

    expected = inputs.sum().item()
    all_sums = [dropout_sums(inputs, p, n=n, seed=seed) for p in ps]
    lo = min(float(sums.min()) for sums in all_sums)
    hi = max(float(sums.max()) for sums in all_sums)
    margin = 0.03 * (hi - lo) or 0.5
    # Shared bin edges: bars of one width in every panel, so heights compare across panels
    # too (per-panel bins would make the narrowest distribution's bars the thinnest).
    edges = np.linspace(lo - margin, hi + margin, (30 if len(ps) == 1 else 50) + 1)
    for ax, p, sums in zip(axes, ps, all_sums, strict=True):
        mean = sums.mean().item()
        exact = dropout_sum_variance(inputs, p).item()
        ax.hist(sums.numpy(), bins=edges, color="tab:blue", alpha=0.8)
        ax.axvline(mean, color="black", linestyle="--", linewidth=1.5)
        ax.text(
            0.98,
            0.95,
            f"mean (dashed) {mean:.2f}\nvariance {sums.var().item():.2f}\n(exact {exact:.2f})",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=10,
        )
        # one x-range for every panel, so the spreads compare at a glance
        ax.set_xlim(lo - margin, hi + margin)
        ax.set_title(f"p = {p:g}", fontsize=12)
        ax.set_xlabel("sum of outputs")
        ax.set_ylabel("count")
    per_p = " per p" if len(ps) > 1 else ""
    fig.suptitle(
        f"Sums of {n:,} dropout outputs{per_p} (sum of inputs {expected:.2f})", fontsize=13
    )
    return fig.figure


def dropout_vs_dropout2d(image: Tensor, p: float = 0.33, seed: int = 44) -> tuple[Tensor, Tensor]:
    """The same image through regular dropout and through channel dropout (Fig 6.9).

    Both use ``seed`` (as if ``torch.manual_seed(seed)`` came right before each) and leave
    the caller's random state alone.

    Parameters
    ----------
    image : Tensor (C, H, W)
    p : float
        Dropout probability.
    seed : int

    Returns
    -------
    pixels : Tensor (C, H, W)
        ``nn.Dropout``: each value zeroed independently.
    channels : Tensor (C, H, W)
        ``nn.Dropout2d``: whole channels zeroed. Kept values are scaled by ``1 / (1 - p)``
        in both.
    """
    image = _as_float(image, "image", 3, "(C, H, W)")
    p = _check_p(p)
    pixels = seeded_dropout(image, p, seed)
    with seeded_cpu_rng(seed):
        # Dropout2d wants (N, C, H, W); a 3-D input would be read ambiguously (and warn)
        channels = F.dropout2d(image[None], p, training=True)[0]
    return pixels, channels


def plot_dropout2d(
    image: Tensor, p: float = 0.33, seed: int = 44, fig: FigureBase | None = None
) -> Figure:
    """Fig 6.9: an image, regular dropout (single values) and ``Dropout2d`` (whole channels).

    Rows: original, ``nn.Dropout``, ``nn.Dropout2d``; columns: each channel in grey, then the
    RGB composite (for three channels). Display is honest about scale: every panel maps the
    same value range, the minimum and maximum over all three tensors, linearly to
    black..white (no clipping), so kept values visibly brighten by ``1 / (1 - p)`` and dropped
    ones show where zero falls in that range.

    Parameters
    ----------
    image : Tensor (C, H, W)
        Normalized or not.
    p : float
    seed : int
    fig : Figure or SubFigure, optional
        A new pyplot figure by default.

    Returns
    -------
    Figure
        With ``3 * (C + 1) + 1`` axes for three channels (``3 * C + 1`` otherwise; the last
        is the colorbar).
    """
    image = _as_float(image, "image", 3, "(C, H, W)")
    pixels, channels = dropout_vs_dropout2d(image, p, seed)
    n_channels = image.shape[0]
    composite = n_channels == 3
    n_cols = n_channels + composite
    fig = _new_figure(fig, figsize=(2.3 * n_cols + 1.2, 7.2))
    grid = fig.subplots(3, n_cols, squeeze=False)

    norm = _range_norm(image, pixels, channels, headroom=1.0)
    rows = {"original": image, "nn.Dropout": pixels, "nn.Dropout2d": channels}
    for r, (label, tensor) in enumerate(rows.items()):
        for c in range(n_channels):
            ax = grid[r, c]
            shown = _heatmap(ax, tensor[c], "gray", norm, annotate=False)
            if r == 0:
                ax.set_title(_channel_name(c, n_channels), fontsize=11)
        if composite:
            rgb = (tensor - norm.vmin) / (norm.vmax - norm.vmin)
            grid[r, -1].imshow(rgb.permute(1, 2, 0).numpy())
            grid[r, -1].set_xticks([])
            grid[r, -1].set_yticks([])
            if r == 0:
                grid[r, -1].set_title("composite", fontsize=11)
        grid[r, 0].set_ylabel(label, fontsize=11)
    fig.colorbar(shown, ax=grid.ravel().tolist(), shrink=0.6, label="value (every panel)")
    fig.suptitle(
        f"Dropout vs Dropout2d, p={p:g}, seed {seed}\n"
        f"every panel maps [{norm.vmin:.2f}, {norm.vmax:.2f}] linearly to black..white",
        fontsize=12,
    )
    return fig.figure
