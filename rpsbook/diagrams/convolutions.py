"""Figs 6.3-6.5: a convolution over three channels, cell by cell, and a multichannel layer."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure, FigureBase
from torch import Tensor

from ._cells import (
    _FILTER_CMAP,
    _RESULT_CMAP,
    _as_float,
    _channel_cmaps,
    _channel_name,
    _formatter,
    _heatmap,
    _new_figure,
    _range_norm,
    _shape,
    _symmetric_norm,
)


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
