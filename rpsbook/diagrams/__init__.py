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

Its modules: ``convolutions`` (Figs 6.3-6.5),
``dropout`` (Figs 6.6-6.9) and the cell drawing they share.
"""

from __future__ import annotations

from .._exports import rehome
from .convolutions import (
    RegionConvolution,
    multichannel_example,
    plot_multichannel_convolution,
    plot_three_channel_convolution,
    three_channel_convolution,
    three_channel_example,
)
from .dropout import (
    dropout_sum_variance,
    dropout_sums,
    dropout_vs_dropout2d,
    plot_dropout2d,
    plot_dropout_mask,
    plot_dropout_sums,
    plot_sums_histogram,
    seeded_dropout,
)

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
    "plot_sums_histogram",
    "plot_three_channel_convolution",
    "seeded_dropout",
    "three_channel_convolution",
    "three_channel_example",
]

rehome(__name__, globals(), __all__)
