"""
Three-channel convolutions
==========================

The earlier chapters convolved single-channel (grayscale) images. The rock-paper-scissors
pictures have three channels, red, green and blue, and the rule for that case is simple
once seen: a filter always has as many channels as its input, it slides over the image's
height and width only, and at each position it adds up the products over *all* channels
into a single number. So one filter yields one output channel, whatever the number of
input channels, and the number of filters decides the number of output channels. This page
shows that rule with diagrams computed by torch (Figures 6.3 to 6.5 in the book) and then
on a real picture.
"""

# %%
# A filter has as many channels as the image
# ------------------------------------------
#
# Take an RGB image of 3@5x5 and one 3x3 filter. Because the image has three channels, so
# does the filter: it is a 3@3x3 stack, one 3x3 slice per colour channel (Figure 6.3 in
# the book). The filter below is the book's (its notebook spells out the values); the
# image is the site's own, a small integer image that
# :func:`rpsbook.diagrams.multichannel_example` draws from a fixed seed.
# :func:`rpsbook.diagrams.plot_multichannel_convolution` runs ``F.conv2d`` and draws
# input, filter and output. The filter slides over height and width only (not over the
# channels), visiting 3x3 positions without padding, so the output is a *single-channel*
# 1@3x3 map.

import torch
import torch.nn.functional as F
from torch import nn

from rpsbook.data import load_rps
from rpsbook.diagrams import (
    multichannel_example,
    plot_multichannel_convolution,
    plot_three_channel_convolution,
    three_channel_convolution,
)

# the book's 3-channel filter: one 3x3 slice per colour channel
book_filter = torch.tensor(
    [
        [[0, 3, 0], [1, 0, 1], [2, 1, 0]],
        [[2, 1, 0], [0, 3, 1], [1, -1, 0]],
        [[0, 1, 3], [-1, -2, 0], [2, 0, 1]],
    ],
    dtype=torch.float32,
)
image, site_filters = multichannel_example(n_filters=1)
filters = torch.stack([book_filter, site_filters[0]])  # the book's, then one of the site's
print("image:", tuple(image.shape), "| filters:", tuple(filters.shape))
print("one filter  ->", tuple(F.conv2d(image[None], filters[:1]).shape[1:]))
fig = plot_multichannel_convolution(image, filters[0])
# sphinx_gallery_start_ignore
from rpsbook.report import book_figure

book_figure(
    fig,
    "6.3",
    "A 3@5x5 integer image, a 3@3x3 filter and the single-channel 3x3 output of their "
    "convolution, each channel drawn as a grid of numbers.",
    verdict="differs: the filter is the book's, the image values are the site's own",
)
# sphinx_gallery_end_ignore

# %%
# One region, one number
# ----------------------
#
# What happens at one of those positions? The book's worked example takes a 3@3x3 region
# of an RGB image and the 3@3x3 filter above, with small integer values, so the arithmetic
# can be followed by eye; these are the values of its notebook. Multiply region and filter
# element by element, add up the products of each channel, then add the three channel sums:

region = torch.tensor(
    [
        [[5, 0, 8], [1, 9, 5], [6, 0, 2]],
        [[0, 5, 4], [8, 1, 9], [4, 8, 1]],
        [[4, 2, 0], [6, 3, 0], [5, 2, 8]],
    ],
    dtype=torch.float32,
)
kernel = book_filter
products = region * kernel
channel_sums = products.sum(dim=(1, 2))
total = channel_sums.sum()
print("sum of products, per channel:", channel_sums.tolist())
print("total:", total.item())
conv_value = F.conv2d(region[None], kernel[None]).reshape(())
print("F.conv2d gives the same value:", torch.equal(total, conv_value))

# %%
# :func:`rpsbook.diagrams.three_channel_convolution` keeps these steps for the diagram
# below. Each row of the diagram is one channel: the region's values, the filter's values,
# their products and the sum of those products. The three channel sums are then added into the
# single value on the right (Figure 6.4 in the book). There is no separate output per
# channel: the channels are merged at this very step.

steps = three_channel_convolution(region, kernel)
print("rpsbook gives the same products:", torch.equal(steps.products, products))
fig = plot_three_channel_convolution(region, kernel)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.4",
    "One row per colour channel with the region's values, the filter's values, their "
    "products and the channel's sum, 18, 13 and 8, added into the single output value 39.",
)
# sphinx_gallery_end_ignore

# %%
# Two filters: two output channels
# --------------------------------
#
# Adding a second filter adds a second output channel, computed independently from the same
# three input channels (Figure 6.5 in the book). This is why a convolutional layer's weight
# has the shape ``(out_channels, in_channels, kernel_height, kernel_width)``: one full-depth
# filter per output channel.

print("two filters ->", tuple(F.conv2d(image[None], filters).shape[1:]))
fig = plot_multichannel_convolution(image, filters)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.5",
    "The same 3@5x5 image convolved with two 3@3x3 filters, giving a two-channel 3x3 output, "
    "one channel per filter.",
    verdict="differs: the first filter is the book's, the image and second filter the site's",
)
# sphinx_gallery_end_ignore

# %%
# On a real picture
# -----------------
#
# :class:`torch.nn.Conv2d` does the same thing with learnable filters (initialized at random)
# plus one bias per output channel. Here a layer with three input channels and two filters
# of size 3 is applied to one normalized 3@28x28 training image from
# :func:`rpsbook.data.load_rps`.

rps = load_rps()
picture, label = rps.train_dataset[0]
torch.manual_seed(13)
conv = nn.Conv2d(in_channels=3, out_channels=2, kernel_size=3)
with torch.no_grad():
    feature_maps = conv(picture[None])
print("input:  ", tuple(picture[None].shape), f"({rps.classes[int(label)]})")
print("weight: ", tuple(conv.weight.shape), "| bias:", tuple(conv.bias.shape))
print("output: ", tuple(feature_maps.shape))

# %%
# Two filters give two channels, and height and width each shrank by two, one pixel from
# each edge, because a 3x3 filter fits 26 times along 28 pixels. The top-left output value
# of the first channel is nothing but the worked example above (Figure 6.4), applied to the
# picture's top-left 3@3x3 corner, plus the bias:

by_hand = (picture[:, :3, :3] * conv.weight[0]).sum() + conv.bias[0]
print(f"by hand: {by_hand.item():.6f} | Conv2d: {feature_maps[0, 0, 0, 0].item():.6f}")
print("equal up to rounding:", torch.allclose(by_hand, feature_maps[0, 0, 0, 0], atol=1e-6))

# %%
# (Up to rounding only: ``Conv2d`` adds the same 27 products in another order than ``sum``
# does, and float addition depends on the order.)

# %%
# Recap
# -----
#
# * A filter has one channel per input channel; at each position the products of *all*
#   channels are summed into one value.
# * One filter makes one output channel; ``n`` filters make ``n`` channels, so a
#   :class:`~torch.nn.Conv2d` weight is ``(out_channels, in_channels, k, k)``.
# * Without padding, a 3x3 filter trims one pixel from each edge, so height and width each
#   shrink by two: 28x28 becomes 26x26.

# %%
# Checked against the book
# ------------------------
#
# The worked example's value, set next to the one the book prints.

# sphinx_gallery_start_ignore
from rpsbook.report import checked_against_book

checked_against_book(
    "Three-channel convolutions",
    [("worked example, one output value", total.item(), "39")],
)
# sphinx_gallery_end_ignore

# %%
# Notes
# -----
#
# The diagrams are drawn by :mod:`rpsbook.diagrams` from the tensors above, with
# ``F.conv2d`` computing every output value. The 3@5x5 image of Figures 6.3 and 6.5 and the
# second filter come from :func:`~rpsbook.diagrams.multichannel_example`, which draws small
# integers from a fixed seed with its own generator, so the page's random state is untouched.

# sphinx_gallery_thumbnail_number = 3
