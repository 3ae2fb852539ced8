"""
Dropout
=======

The model of the previous page can drop features before each of its linear layers. This
page looks closely at what that means: what :class:`torch.nn.Dropout` does to a tensor in
training mode and in evaluation mode, why the values it keeps are scaled up, how much
noise it adds to what the next layer sees (and how that noise grows with the dropout
probability), why that noise makes a model generalize better, and how
:class:`torch.nn.Dropout2d` differs by dropping whole channels of an image instead of
single pixels. Every diagram is drawn from the tensors the code computes, with the
helpers in :mod:`rpsbook.diagrams`.
"""

# %%
# Dropping values at random
# -------------------------
#
# The chapter's experiment feeds eleven evenly spaced numbers, 0.1 to 1.1, to a dropout
# layer with ``p=0.5`` after seeding the random generator with 44. In training mode (the
# mode every new module starts in) each value is zeroed with probability ``p``,
# independently of the others.

import matplotlib.pyplot as plt
import torch
from torch import nn

from rpsbook.data import load_rps
from rpsbook.diagrams import (
    dropout_sum_variance,
    dropout_sums,
    dropout_vs_dropout2d,
    plot_dropout2d,
    plot_dropout_mask,
    plot_dropout_sums,
    seeded_dropout,
)
from rpsbook.report import book_figure, compare_with_book

SECTION = "Dropout"

inputs = torch.linspace(0.1, 1.1, 11)

torch.manual_seed(44)
dropping_model = nn.Dropout(p=0.5)
dropping_model.train()
output_train = dropping_model(inputs)
print("inputs: ", inputs.numpy().round(2))
print("outputs:", output_train.numpy().round(2))

# %%
# Every output is either zero or twice its input. The factor 2 is ``1 / (1 - p)``; the
# section on expected sums below shows why it is there.
#
# Note *what* was dropped. This "model" is a bare dropout layer: it has no weights at all,
# so what dropout zeroes are the values flowing *into* the next layer, the inputs, never
# the next layer's weights (those stay untouched and are all used in the next step).

print("parameters of the dropout layer:", list(dropping_model.parameters()))
print("inputs dropped:", output_train.eq(0).sum().item(), "of", inputs.numel())

# %%
# Summing the outputs
# -------------------
#
# To see what the *next* layer receives, the chapter passes the outputs through a linear
# layer whose eleven weights are all one and which has no bias: its output is simply the
# sum of its inputs. Without dropout that sum is 0.1 + 0.2 + ... + 1.1 = 6.6.

summing_layer = nn.Linear(11, 1, bias=False)
with torch.no_grad():
    summing_layer.weight.fill_(1.0)

train_sum = summing_layer(output_train).item()
print(f"sum of outputs in training mode: {train_sum:.4f}")
print(
    compare_with_book(
        "sum through a linear layer of ones, train mode (p=0.5, seed 44)",
        f"{train_sum:.1f}",
        "9.4 (book, older torch); 8.8 (notebook, torch 2.14)",
        section=SECTION,
    )
)

# %%
# Split the training-mode sum into its two ingredients: the inputs that survived, added
# up *before* scaling, and the factor ``1 / (1 - p) = 2`` applied to them. The book's run
# kept inputs that add up to 4.7 (scaled, 9.4); ours:

kept = output_train != 0
print(f"kept inputs: {inputs[kept].numpy().round(2)}")
print(f"their unscaled sum: {inputs[kept].sum().item():.1f}  (book: 4.7)")
print(f"times 1 / (1 - p) = {1 / (1 - 0.5):g}: {train_sum:.1f}  (book: 9.4)")

# %%
# The book then tries seed 45, a draw it describes as dropping exactly half of the
# inputs, with a sum of 6.4. With eleven inputs, exactly half cannot be dropped, and on
# the torch release that built this page seed 45 draws yet another mask:

torch.manual_seed(45)
output_45 = nn.Dropout(p=0.5)(inputs)
print("outputs, seed 45:", output_45.numpy().round(2))
print(
    f"dropped {output_45.eq(0).sum().item()} of {inputs.numel()}; "
    f"sum of outputs {summing_layer(output_45).item():.1f} (book: 6.4)"
)

# %%
# Our sum differs from the book's, and that is expected rather than a bug. A seed fixes
# the stream of random numbers the generator produces, but *which* values get dropped also
# depends on how dropout turns that stream into a mask: how many random numbers it draws
# per element, in what order, and with which kernel. Those details have changed between
# torch releases, so the same seed gives a different (and equally valid) mask on the
# book's torch and on the one this page was built with. The numbers the book quotes
# for this experiment are one possible draw, not properties of dropout.
#
# In evaluation mode, dropout does nothing at all: the inputs pass through untouched, and
# the sum is exactly the sum of the inputs.

dropping_model.eval()
output_eval = dropping_model(inputs)
eval_sum = summing_layer(output_eval).item()
print("eval mode returns the inputs:", torch.equal(output_eval, inputs))
print(
    compare_with_book(
        "sum through a linear layer of ones, eval mode", f"{eval_sum:.1f}", "6.6", section=SECTION
    )
)

# %%
# Figure 6.6 in the book shows which inputs were dropped. Here the grey bars are the
# inputs (hatched when dropped) and the blue bars the outputs that survived, each twice as
# tall as its input.

fig = plot_dropout_mask(inputs, output_train, p=0.5)
book_figure(
    fig,
    "6.6",
    "Eleven bars for the inputs 0.1 to 1.1, the dropped ones hatched, and the kept outputs "
    "beside them at twice their input's height.",
)

# %%
# One mask per element, not per mini-batch
# ----------------------------------------
#
# Dropout draws a fresh coin for every single element of its input. For a mini-batch
# that means every example gets its own mask: feeding three copies of the same eleven
# inputs in one call drops different values in each row.

torch.manual_seed(44)
batch_output = nn.Dropout(p=0.5)(inputs.expand(3, -1))
print(batch_output.numpy().round(1))
print("kept per row:", batch_output.ne(0).sum(dim=1).tolist())

# %%
# The first row is the mask we saw above (the first row consumes the first random
# numbers); the other two are independent draws. There is no single "thinned network"
# shared by a mini-batch: each example passes through its own.

# %%
# Why scale the kept values by 1 / (1 - p)?
# -----------------------------------------
#
# Each output is its input times a random factor that is ``1 / (1 - p)`` with probability
# ``1 - p`` and zero otherwise, so its *expected* value is the input itself:
# ``(1 - p) * x / (1 - p) = x``. The expected sum is therefore the sum of the inputs,
# whatever ``p`` is. Without the scaling, the next layer would see inputs about half as
# large during training (for ``p=0.5``) as in evaluation, when nothing is dropped, and its
# weights, tuned to the smaller training values, would be off at prediction time. Scaling
# during training (rather than shrinking at evaluation, as the original dropout paper did)
# means the evaluation-mode model needs no change at all.
#
# One draw tells us little, so let us repeat the experiment with 1,000 independent masks
# (:func:`~rpsbook.diagrams.dropout_sums`) and look at the sums (Figure 6.7 in the book).

sums = dropout_sums(inputs, p=0.5, n=1000, seed=44)
print(
    compare_with_book(
        "mean of 1,000 dropout sums, p=0.5", f"{sums.mean().item():.2f}", "≈ 6.6", section=SECTION
    )
)
fig = plot_dropout_sums(inputs, 0.5, n=1000, seed=44)
book_figure(
    fig,
    "6.7",
    "A histogram of 1,000 sums of the eleven inputs after dropout with p=0.5, spread from 0 "
    "to about 13, with a dashed line at their mean, close to 6.6.",
)

# %%
# The sums land all over the place, from well below to well above 6.6, but their mean
# (the dashed line) is close to 6.6, as promised by the calculation above.
#
# More dropout, more noise
# ------------------------
#
# The mean does not depend on ``p``, but the spread does. Each output has variance
# ``x**2 * p / (1 - p)`` and the masks of different elements are independent, so the
# variance of the sum is ``p / (1 - p) * sum(x**2)``
# (:func:`~rpsbook.diagrams.dropout_sum_variance`). Let us compare it with the variance of
# 1,000 simulated sums for four probabilities (Figure 6.8 in the book), and also count two
# extreme outcomes: every input dropped (sum 0) and none dropped (sum ``6.6 / (1 - p)``).

print(f"sum of squared inputs: {inputs.square().sum().item():.2f}")
ps = (0.1, 0.3, 0.5, 0.9)
for p in ps:
    simulated = dropout_sums(inputs, p=p, n=1000, seed=44)
    exact = dropout_sum_variance(inputs, p).item()
    all_dropped = simulated.eq(0).float().mean().item()
    none_dropped = torch.isclose(simulated, inputs.sum() / (1 - p)).float().mean().item()
    print(
        f"p = {p}: p/(1-p) = {p / (1 - p):4.2f}, mean {simulated.mean().item():.3f}, "
        f"variance {simulated.var().item():5.2f} (exact {exact:5.2f}), "
        f"all dropped {all_dropped:4.1%}, none dropped {none_dropped:4.1%}"
    )
# One row with a shared y-axis, so that bar heights compare across panels too.
fig, axes = plt.subplots(1, len(ps), figsize=(14, 3.4), sharey=True, layout="constrained")
fig = plot_dropout_sums(inputs, ps, n=1000, seed=44, axes=axes)
book_figure(
    fig,
    "6.8",
    "Four histograms of 1,000 dropout sums side by side for p = 0.1, 0.3, 0.5 and 0.9 on "
    "shared axes: the spread widens with p, and at 0.9 a third of the sums are zero.",
)

# %%
# The simulated variances printed above sit close to the exact ones, and they explode as
# ``p`` approaches 1, where ``p / (1 - p)`` grows without bound. With ``p=0.9`` about a
# third of the sums are zero (all eleven inputs dropped, probability 0.9 to the 11th) and
# most others come from one or two surviving inputs multiplied by ten. With ``p=0.1`` the
# same share of draws, at the other extreme, drops nothing: they make up most of the
# tallest bar, on the right of its panel. All four histograms share one x-axis, one y-axis
# and one set of bins, so both the widening and the bar heights compare at a glance.
#
# Why noise helps: dropout as regularization
# ------------------------------------------
#
# During training, a layer after dropout never knows which of its inputs will be there.
# It cannot lean on one particular feature (that feature is missing half of the time), nor
# on a precise combination of features that happens to fit the training images, because
# the combination keeps changing. What pays off instead is spreading the evidence over
# many features, each somewhat useful on its own. In effect every example of every
# mini-batch trains a different thinned network (its own mask, see above), and evaluation
# mode stands in for the average of all of them by using the full network on unscaled
# inputs, whose values are the expected values of the scaled ones. The noise makes
# training harder (the training loss goes up), but what the model learns transfers
# better to images it has not seen; the next page measures that effect on Rock Paper
# Scissors. The larger ``p``, the stronger the effect, up to the point where too little
# signal survives to learn anything.
#
# Dropout for images: Dropout2d
# -----------------------------
#
# Neighbouring pixels of a picture are strongly correlated, so zeroing single pixels
# removes little information: the next convolution can fill the holes from the neighbours.
# :class:`torch.nn.Dropout2d` drops whole channels (feature maps) instead, each with
# probability ``p``, and scales the surviving channels by ``1 / (1 - p)``. Let us compare
# both on a real, normalized training image, with ``p=0.33`` and seed 44
# (:func:`~rpsbook.diagrams.dropout_vs_dropout2d`).

rps = load_rps()
image, label = rps.train_dataset[1000]
print("image:", tuple(image.shape), "class:", rps.classes[int(label)])

pixels, channels = dropout_vs_dropout2d(image, p=0.33, seed=44)
dropped_pixels = pixels.eq(0).flatten(1).float().mean(dim=1)
dropped_channels = channels.eq(0).flatten(1).all(dim=1)
for c, name in enumerate("RGB"):
    print(
        f"channel {name}: Dropout zeroed {dropped_pixels[c]:.1%} of its pixels; "
        f"Dropout2d {'dropped it' if dropped_channels[c] else 'kept it'}"
    )

# %%
# Regular dropout zeroed roughly a third of the pixels of every channel, scattered
# everywhere, while Dropout2d removed entire channels and kept the others whole (the
# printout above lists which). Figure 6.9 in the book shows the result as pictures.
#
# How the panels are drawn: the image is normalized, so its values are not in [0, 1]
# (the white background is a small positive number, the hand is negative), and dropout
# multiplies the survivors by ``1 / (1 - 0.33)``, about 1.5. Rather than clipping any of
# that, :func:`~rpsbook.diagrams.plot_dropout2d` maps one common range, from the smallest to
# the largest value found in any of the three rows, linearly to black..white in every panel
# (the colorbar and the title give the range). The same value therefore has the same
# shade everywhere: the background of kept values turns brighter than in the original, and
# a dropped value (exactly zero) shows as the light grey where zero falls in that range,
# not as black. The composite column stacks the three mapped channels as RGB.

fig = plot_dropout2d(image, p=0.33, seed=44)
book_figure(
    fig,
    "6.9",
    "A normalized training picture, its three channels and their composite, in three rows: "
    "the original, nn.Dropout peppering every channel with zeros, and nn.Dropout2d zeroing "
    "whole channels.",
    verdict="differs: shows each channel and a shared grey scale, not only the composite",
)

# %%
# In the ``nn.Dropout`` row every channel is peppered with grey dots, but the hand is
# still perfectly recognizable; in the composite each pixel loses a different subset of
# its channels, hence the confetti of colours. In the ``nn.Dropout2d`` row a dropped
# channel becomes one flat grey square, while the kept channels are complete, just
# brighter.
#
# The composite of that row may surprise: dropping a channel did not remove its colour
# from the hand, it *added* it. Zero in a normalized image is not black but the channel's
# average brightness over the training set, a light grey since most of every picture is
# white background. Where the hand was dark in all three channels, one channel is now
# light and the two others still dark, so the hand takes that channel's colour. Dropout
# on normalized data replaces what it drops with "average", which is exactly what the
# next layer sees. A convolution after Dropout2d must learn to work with whatever channels
# are left, the image counterpart of what dropout does for the features of a linear layer.

# %%
# Recap
# -----
#
# * In training mode :class:`~torch.nn.Dropout` zeroes each value with probability ``p`` and
#   scales the rest by ``1 / (1 - p)``; in evaluation mode it returns its input.
# * It drops the *inputs* of the next layer, not weights, and draws one mask per element,
#   so every example of a mini-batch gets its own.
# * Which values are dropped depends on the seed *and* on torch's implementation, which is
#   why our sum through a layer of ones differs from the book's.
# * The scaling keeps the expected sum equal to the sum of the inputs; the variance of the
#   sum grows as ``p / (1 - p)``.
# * That noise keeps the next layer from relying on any single feature, which regularizes
#   the model.
# * :class:`~torch.nn.Dropout2d` drops whole channels, the better choice after convolutions,
#   where neighbouring pixels carry nearly the same information.

# %%
# Notes
# -----
#
# The diagrams above draw their masks with :func:`~rpsbook.diagrams.seeded_dropout`, which
# does what ``torch.manual_seed(44)`` followed by ``nn.Dropout`` does, without touching the
# global random state (it seeds, draws, and restores the generator). It gives the very same
# mask:

print("same as seeded_dropout:", torch.equal(output_train, seeded_dropout(inputs, 0.5, seed=44)))

# sphinx_gallery_thumbnail_number = 4
plt.show()
