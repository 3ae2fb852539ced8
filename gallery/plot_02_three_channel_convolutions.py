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
# Exercises
# ---------
#
# .. _ex-conv-by-hand:
#
# A Conv2d layer by hand
# ~~~~~~~~~~~~~~~~~~~~~~
#
# *Implement, then compare with torch.* Compute *all* of ``feature_maps``, the two 26x26
# maps of ``conv`` on the real ``picture``, without ``Conv2d`` or ``F.conv2d``: for each of
# the nine positions ``(i, j)`` in the filter, multiply the picture's 3@26x26 window that
# starts at ``(i, j)`` by each filter's three weights there, add up over the channels, and
# accumulate; add the bias at the end. How close do you get to ``Conv2d``?

# %%
# .. rpsbook-solution::

ex_weight, ex_bias = conv.weight.detach(), conv.bias.detach()  # (2, 3, 3, 3), (2,)
ex_size = picture.shape[-1] - 2  # 26 positions along each side
ex_maps = torch.zeros(2, ex_size, ex_size)
for i in range(3):
    for j in range(3):
        ex_window = picture[:, i : i + ex_size, j : j + ex_size]  # (3, 26, 26)
        # (2, 3, 1, 1) weights times (3, 26, 26) pixels, summed over the 3 channels
        ex_maps += (ex_weight[:, :, i, j, None, None] * ex_window).sum(dim=1)
ex_maps += ex_bias.view(2, 1, 1)
ex_gap = (ex_maps - feature_maps[0]).abs().max().item()
print(f"by hand: {tuple(ex_maps.shape)}, largest difference from Conv2d: {ex_gap:.1e}")

# %%
# The two maps agree with ``Conv2d``'s to float32 rounding (the largest difference printed
# above is of the order of 1e-6, or zero): the layer is nothing but these 27 products per
# output value and filter, plus the bias, added here in another order than ``Conv2d`` adds.
#
# .. _ex-conv-shapes:
#
# Output shapes and parameter counts
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Predict, then measure.* For ``nn.Conv2d(3, 8, kernel_size=k, stride=s, padding=p)``
# applied to ``picture`` (3@28x28), predict the output's shape and the layer's number of
# parameters for ``(k, s, p)`` = (3, 1, 0), (5, 1, 0), (3, 1, 1), (3, 2, 0), (3, 2, 1) and
# (7, 3, 2). Then build each layer and measure.

# %%
# .. rpsbook-solution::

ex_shapes, ex_counts = {}, {}
for k, s, p in [(3, 1, 0), (5, 1, 0), (3, 1, 1), (3, 2, 0), (3, 2, 1), (7, 3, 2)]:
    ex_conv = nn.Conv2d(3, 8, kernel_size=k, stride=s, padding=p)
    ex_shapes[k, s, p] = tuple(ex_conv(picture[None]).shape[1:])
    ex_counts[k, s, p] = sum(q.numel() for q in ex_conv.parameters())
    print(
        f"k={k} s={s} p={p}: output {ex_shapes[k, s, p]} (formula {(28 + 2 * p - k) // s + 1}),"
        f" {ex_counts[k, s, p]} parameters (formula {8 * 3 * k * k + 8})"
    )

# %%
# A k-wide filter fits :math:`n + 2p - k + 1` times along :math:`n` pixels padded by
# :math:`p` on each side; a stride :math:`s` keeps every :math:`s`-th of those positions,
# starting with the first: :math:`\lfloor (n + 2p - k)/s \rfloor + 1`. Padding 1 keeps a 3x3
# filter's output at 28x28; stride 2 roughly halves it. The parameters are
# ``out_channels * in_channels * k * k`` weights plus one bias per filter: neither stride,
# padding nor the image's size changes them, since the same filters slide everywhere.
#
# .. _ex-conv-colour-blind:
#
# A filter with three equal slices
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Change one thing and explain.* Give a filter the same slice in all three channels, the
# first slice of the book's filter (``book_filter[0]``), and convolve ``picture`` with it.
# Compare with a one-channel convolution of the *sum* of the picture's channels with that
# slice. Then shuffle the picture's channels (blue, red, green) and convolve again, with
# this filter and with ``conv``'s first one. What can a filter with equal slices not see?

# %%
# .. rpsbook-solution::

ex_equal_slices = book_filter[0].expand(3, 3, 3)[None]  # (1, 3, 3, 3)
ex_out = F.conv2d(picture[None], ex_equal_slices)
ex_summed = F.conv2d(picture.sum(dim=0)[None, None], book_filter[0][None, None])
ex_as_sum = torch.allclose(ex_out, ex_summed, atol=1e-4)
print("the same as the channels' sum convolved with one slice:", ex_as_sum)
ex_shuffled, ex_unchanged = picture[[2, 0, 1]][None], {}  # blue, red, green
for ex_name, ex_filter in (("equal slices", ex_equal_slices), ("conv's first", conv.weight[:1])):
    ex_before = F.conv2d(picture[None], ex_filter)
    ex_unchanged[ex_name] = torch.allclose(F.conv2d(ex_shuffled, ex_filter), ex_before, atol=1e-4)
    print(f"channels shuffled, {ex_name} filter: the same output {ex_unchanged[ex_name]}")

# %%
# Multiplying every channel by the same weights and adding up is the same as adding the
# channels first and multiplying once: a filter with equal slices sees only the sum of the
# three channels, a grey version of the picture. It cannot tell colours apart, so shuffling
# the channels changes nothing. ``conv``'s random filter has different slices and answers
# differently. Filters see colour only through the differences between their slices.

# %%
# Notes
# -----
#
# The diagrams are drawn by :mod:`rpsbook.diagrams` from the tensors above, with
# ``F.conv2d`` computing every output value. The 3@5x5 image of Figures 6.3 and 6.5 and the
# second filter come from :func:`~rpsbook.diagrams.multichannel_example`, which draws small
# integers from a fixed seed with its own generator, so the page's random state is untouched.

# sphinx_gallery_thumbnail_number = 3
