"""
Dropout
=======

The model of the previous page can drop features before each of its linear layers. This
page looks closely at what that means: what :class:`torch.nn.Dropout` does to a tensor in
training mode and in evaluation mode, why the values it keeps are scaled up, how much noise
it adds to what the next layer sees and how that noise grows with the dropout probability,
why that noise helps a model generalize, and how :class:`torch.nn.Dropout2d` drops whole
channels of an image instead of single pixels.
"""

# %%
# Dropping values at random
# -------------------------
#
# The chapter feeds eleven evenly spaced numbers, 0.1 to 1.1, to a dropout layer with
# ``p=0.5`` after seeding the random generator with 44. In training mode (the mode every new
# module starts in) each value is zeroed with probability ``p``, independently of the others.

import torch
import torch.nn.functional as F
from torch import nn

from rpsbook.data import load_rps
from rpsbook.diagrams import (
    dropout_sum_variance,
    dropout_sums,
    dropout_vs_dropout2d,
    plot_dropout2d,
    plot_dropout_mask,
    plot_dropout_sums,
)

inputs = torch.linspace(0.1, 1.1, 11)

torch.manual_seed(44)
dropping_model = nn.Dropout(p=0.5)
dropping_model.train()
output_train = dropping_model(inputs)
print("inputs: ", inputs.numpy().round(2))
print("outputs:", output_train.numpy().round(2))
kept = output_train != 0
print("kept outputs / their inputs:", (output_train[kept] / inputs[kept]).unique())

# %%
# Every output is either zero or twice its input. The factor 2 is ``1 / (1 - p)``, one over
# the probability of being *kept*; the section on expected sums below shows why it is there.
# The book's text calls it "a factor of 1/p", which is also 2 when ``p=0.5`` but wrong for
# any other ``p`` (an erratum, see :ref:`sphx_glr_auto_examples_plot_20_errata.py`).
#
# Note *what* was dropped. This "model" is a bare dropout layer without any weights, so
# what dropout zeroes are the values flowing *into* the next layer, never that layer's
# weights.

print("parameters of the dropout layer:", list(dropping_model.parameters()))
print("inputs dropped:", output_train.eq(0).sum().item(), "of", inputs.numel())

# %%
# Summing the outputs
# -------------------
#
# To see what the *next* layer receives, the chapter passes the outputs through a linear
# layer whose eleven weights are all one and which has no bias: its output is the sum of its
# inputs. Without dropout that sum is 0.1 + 0.2 + ... + 1.1 = 6.6. Splitting the
# training-mode sum into the inputs that survived, added up *before* scaling, and the factor
# 2:

summing_layer = nn.Linear(11, 1, bias=False)
with torch.no_grad():
    summing_layer.weight.fill_(1.0)

train_sum = summing_layer(output_train).item()
kept_sum = inputs[kept].sum().item()
print(f"sum of outputs in training mode: {train_sum:.1f}")
print(f"kept inputs {inputs[kept].numpy().round(2)} add up to {kept_sum:.1f}, times 2")

# %%
# The book's run kept inputs that add up to 4.7, so its sum was 9.4. It then tries seed 45,
# which it says drops exactly half of the inputs, for a sum of 6.4 (with eleven inputs,
# exactly half cannot be dropped). Here is what seed 45 draws on the torch that built this
# page:

torch.manual_seed(45)
output_45 = nn.Dropout(p=0.5)(inputs)
sum_45 = summing_layer(output_45).item()
print("outputs, seed 45:", output_45.numpy().round(2))
print(f"dropped {output_45.eq(0).sum().item()} of {inputs.numel()}; sum {sum_45:.1f}")

# %%
# Neither mask is the book's, and that is no bug. A seed fixes the stream of random numbers,
# but how dropout turns that stream into a mask (how many numbers per element, in which
# order, with which kernel) has changed between torch releases. The book's numbers are one
# possible draw, not properties of dropout; the comparison at the end of the page lists
# them.
#
# Evaluation mode, and why a module
# ---------------------------------
#
# In evaluation mode dropout does nothing: the inputs pass through untouched, and the sum is
# exactly the sum of the inputs. Predictions must not change from one call to the next.

dropping_model.eval()
output_eval = dropping_model(inputs)
eval_sum = summing_layer(output_eval).item()
print("eval mode returns the inputs:", torch.equal(output_eval, inputs), f"| sum: {eval_sum:.1f}")

# %%
# That is why the chapter uses a dropout *module*, not the functional ``F.dropout``. A module
# follows the mode of the model it belongs to: ``model.eval()`` switches every submodule,
# dropout included, to evaluation mode. The function knows nothing about modes: its
# ``training`` argument is ``True`` unless you pass it, so inside a ``forward`` it keeps
# dropping at prediction time unless you write ``training=self.training`` yourself.

torch.manual_seed(44)
print("F.dropout(inputs, p=0.5) zeroes", F.dropout(inputs, p=0.5).eq(0).sum().item(), "values")
print("with training=False it zeroes", F.dropout(inputs, 0.5, training=False).eq(0).sum().item())

# %%
# Figure 6.6 in the book shows which inputs were dropped. The grey bars are the inputs
# (hatched when dropped), the blue bars the outputs that survived, twice as tall.

fig = plot_dropout_mask(inputs, output_train, p=0.5)
# sphinx_gallery_start_ignore
from rpsbook.report import book_figure

book_figure(
    fig,
    "6.6",
    "Eleven bars for the inputs 0.1 to 1.1, the dropped ones hatched, and the kept outputs "
    "beside them at twice their input's height.",
    verdict="differs: another mask (the book's run dropped 4 of the 11 inputs)",
)
# sphinx_gallery_end_ignore

# %%
# Dropout draws a fresh coin for every element of its input, so every example of a
# mini-batch gets its own mask. Three copies of the inputs in one call:

torch.manual_seed(44)
batch_output = nn.Dropout(p=0.5)(inputs.expand(3, -1))
print(batch_output.numpy().round(1))

# %%
# The first row is the mask above (it consumes the first random numbers); the other two are
# independent draws. There is no single "thinned network" shared by a mini-batch.
#
# Why scale the kept values by 1 / (1 - p)?
# -----------------------------------------
#
# Each output is its input times a random factor that is ``1 / (1 - p)`` with probability
# ``1 - p`` and zero otherwise, so its *expected* value is the input itself:
# ``(1 - p) * x / (1 - p) = x``. The expected sum is the sum of the inputs, whatever ``p``
# is. Without the scaling the next layer would see smaller inputs in training than in
# evaluation, when nothing is dropped, and its weights, tuned to the training values, would
# be off at prediction time. Scaling during training means the evaluation-mode model needs no
# change at all.
#
# One draw tells us little, so let us draw 1,000 masks at once, one per row of a stack of
# copies, and sum each row (the layer of ones again):

torch.manual_seed(44)
copies = inputs.repeat(1000, 1)
sums = F.dropout(copies, p=0.5).sum(dim=1)
print(f"mean of 1,000 sums: {sums.mean().item():.2f}")
print(
    "rpsbook.diagrams.dropout_sums gives the same sums:",
    torch.equal(sums, dropout_sums(inputs, p=0.5, n=1000, seed=44)),
)

# %%
# The sums land all over the place, but their mean, the dashed line of Figure 6.7, is close
# to 6.6, as the calculation promised.

fig = plot_dropout_sums(inputs, 0.5, n=1000, seed=44)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.7",
    "A histogram of 1,000 sums of the eleven inputs after dropout with p=0.5, spread from "
    "under 1 to about 13, with a dashed line at their mean, close to 6.6.",
)
# sphinx_gallery_end_ignore

# %%
# More dropout, more noise
# ------------------------
#
# The mean does not depend on ``p``, but the spread does. Each output has variance
# ``x**2 * p / (1 - p)`` and the masks of different elements are independent, so the
# variance of the sum is ``p / (1 - p) * sum(x**2)``
# (:func:`~rpsbook.diagrams.dropout_sum_variance`). Let us compare it with the variance of
# 1,000 sums for four probabilities (Figure 6.8 in the book), and count two extreme
# outcomes: every input dropped (sum 0) and none dropped (sum ``6.6 / (1 - p)``).

ps = (0.1, 0.3, 0.5, 0.9)
shares = {}
for p in ps:
    simulated = dropout_sums(inputs, p=p, n=1000, seed=44)
    exact = dropout_sum_variance(inputs, p).item()
    all_dropped = simulated.eq(0).float().mean().item()
    none_dropped = torch.isclose(simulated, inputs.sum() / (1 - p)).float().mean().item()
    shares[p] = (simulated.var().item(), exact, all_dropped, none_dropped)
    print(
        f"p = {p}: variance {simulated.var().item():5.2f} (exact {exact:5.2f}), "
        f"all dropped {all_dropped:4.1%}, none dropped {none_dropped:4.1%}"
    )
# Each panel its own x-range and bins (one possible sum per bin where they fit).
fig = plot_dropout_sums(inputs, ps, n=1000, seed=44, sharex=False)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.8",
    "Four histograms of 1,000 dropout sums in a 2x2 grid for p = 0.1, 0.3, 0.5 and 0.9, "
    "each on its own x-range: the spread widens with p, at 0.1 a third of the sums are "
    "the largest one, 7.33, and at 0.9 about a third are zero.",
    verdict="differs: a 2x2 grid instead of one row",
)
# sphinx_gallery_end_ignore

# %%
# The simulated variances sit close to the exact ones, and they explode as ``p`` approaches
# 1. With ``p=0.9`` about a third of the sums are zero (all eleven inputs dropped, probability
# 0.9 to the 11th, 0.31) and most others come from one or two surviving inputs multiplied by
# ten. With ``p=0.1`` the same share of draws, at the other extreme, drops nothing: the
# tallest bar of its panel, at its right end, is the largest possible sum,
# ``6.6 / 0.9 = 7.33``. Mind the x-axes: each panel has its own range.
#
# Why noise helps: dropout as regularization
# ------------------------------------------
#
# During training, a layer after dropout never knows which of its inputs will be there. It
# cannot lean on one particular feature, which is missing half of the time, nor on a precise
# combination of features that happens to fit the training images, because the combination
# keeps changing. What pays off is spreading the evidence over many features, each somewhat
# useful on its own. The book compares this with the random choice of features in a random
# forest, where each tree, or each split, sees only a subset of the features: no single
# feature can dominate, and the ensemble generalizes better. Here every example trains a
# different thinned network, and evaluation mode stands in for their average by using the
# full network. The noise makes training harder (the training loss goes up), but what the
# model learns transfers better to unseen images; the next page measures that on Rock Paper
# Scissors.
#
# Dropout for images: Dropout2d
# -----------------------------
#
# Neighbouring pixels of a picture are strongly correlated, so zeroing single pixels removes
# little information: the next convolution can fill the holes from the neighbours.
# :class:`torch.nn.Dropout2d` drops whole channels (feature maps) instead, each with
# probability ``p``, and scales the surviving channels by ``1 / (1 - p)``. It expects a
# mini-batch, ``(N, C, H, W)``: a 3-D input would be read as ``(N, C, L)``, one channel
# per row of the image (PyTorch warns), so a single image needs a batch dimension. Both on
# a normalized training image, with ``p=0.33`` and seed 44:

rps = load_rps()
image, label = rps.train_dataset[1000]
print("image:", tuple(image.shape), "class:", rps.classes[int(label)])

torch.manual_seed(44)
pixels = nn.Dropout(p=0.33)(image)
torch.manual_seed(44)
channels = nn.Dropout2d(p=0.33)(image.unsqueeze(0))  # a batch of one: (1, 3, 28, 28)
print("Dropout2d output:", tuple(channels.shape))
channels = channels[0]
print(
    "rpsbook.diagrams.dropout_vs_dropout2d gives the same:",
    all(map(torch.equal, (pixels, channels), dropout_vs_dropout2d(image, p=0.33, seed=44))),
)
dropped_pixels = pixels.eq(0).flatten(1).float().mean(dim=1)
dropped_channels = channels.eq(0).flatten(1).all(dim=1)
for c, name in enumerate("RGB"):
    print(
        f"channel {name}: Dropout zeroed {dropped_pixels[c]:.1%} of its pixels; "
        f"Dropout2d {'dropped it' if dropped_channels[c] else 'kept it'}"
    )

# %%
# Regular dropout zeroed roughly a third of the pixels of every channel, while Dropout2d
# removed whole channels (with this seed, one) and kept the others whole (Figure 6.9 in the
# book). Every panel below maps the same range, from the smallest to the largest value
# of the three rows, linearly to black..white (colour bar and title), so a value has the
# same shade everywhere: a dropped value, exactly zero, is the light grey where zero falls in that
# range, not black.

fig = plot_dropout2d(image, p=0.33, seed=44)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.9",
    "A normalized training picture, its three channels and their composite, in three rows: "
    "the original, nn.Dropout peppering every channel with zeros, and nn.Dropout2d zeroing "
    "whole channels.",
    verdict="differs: shows each channel and a shared grey scale, not only the composite",
)
# sphinx_gallery_end_ignore

# %%
# In the ``nn.Dropout`` row every channel is peppered with grey dots, but the hand is still
# recognizable; in the composite each pixel loses a different subset of its channels, hence
# the confetti of colours. In the ``nn.Dropout2d`` row a dropped channel is one flat grey
# square, while the kept ones are complete but multiplied by ``1 / (1 - p)``, about 1.5: values
# above zero get brighter, values below zero darker, so their contrast rises.
#
# In that row's composite, dropping a channel did not remove its colour from the hand, it
# *added* it. Zero in a normalized image is not black but the channel's average over the
# training set, a light value since most of every picture is white background. Where the
# hand was dark in all three channels, the dropped one is now light, so the hand takes that
# channel's colour. Dropout on normalized data replaces what it drops with "average", and a
# convolution after Dropout2d must learn to work with the channels that are left.

# %%
# Checked against the book
# ------------------------
#
# The dropout experiment's numbers next to the book's, which came from another mask.

# sphinx_gallery_start_ignore
from rpsbook.report import checked_against_book

checked_against_book(
    "Dropout",
    [
        (
            "sum through a linear layer of ones, train mode (p=0.5, seed 44)",
            f"{train_sum:.1f}",
            "9.4 (book, older torch); 8.8 (notebook, torch 2.14)",
        ),
        ("unscaled sum of the kept inputs (seed 44)", f"{kept_sum:.1f}", "4.7 (book)"),
        ("sum through a linear layer of ones, train mode (seed 45)", f"{sum_45:.1f}", "6.4"),
        ("sum through a linear layer of ones, eval mode", f"{eval_sum:.1f}", "6.6"),
        ("mean of 1,000 dropout sums, p=0.5", f"{sums.mean().item():.2f}", "≈ 6.6"),
    ],
)
# sphinx_gallery_end_ignore

# %%
# Exercises
# ---------
#
# .. _ex-dropout-ones:
#
# Dropout on a vector of ones
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Predict, then measure.* Feed 100,000 ones to ``nn.Dropout`` with ``p=0.5`` and ``p=0.2`` in
# training mode (seed 0), then in evaluation mode: which values, what mean and variance?

# %%
# .. rpsbook-solution::

ex_stats = {}
for ex_p in (0.5, 0.2):
    torch.manual_seed(0)
    ex_dropout = nn.Dropout(p=ex_p)
    for ex_mode in ("train", "eval"):
        ex_out = ex_dropout.train(ex_mode == "train")(torch.ones(100_000))
        ex_stats[ex_p, ex_mode] = ex_out.unique(), ex_out.mean().item(), ex_out.var().item()
        print(f"p={ex_p} {ex_mode:>5}: values {ex_out.unique().tolist()}, ", end="")
        print(f"mean {ex_out.mean().item():.4f}, variance {ex_out.var().item():.4f}")

# %%
# In training mode an output is :math:`1/(1-p)` with probability :math:`1-p`, else 0 (2 or
# 0 for ``p=0.5``, 1.25 or 0 for ``p=0.2``), so the mean is 1 and the variance, the mean
# square minus 1, is :math:`1/(1-p) - 1 = p/(1-p)`: 1 and 0.25, give or take the few
# thousandths of noise of 100,000 draws. In evaluation mode every output is 1, variance 0.
# :func:`~rpsbook.diagrams.dropout_sum_variance` adds this variance up, times each input
# squared.
#
# .. _ex-dropout-by-hand:
#
# Dropout by hand
# ~~~~~~~~~~~~~~~
#
# *Implement, then compare with torch.* Write dropout yourself: a mask that keeps each
# element with probability ``1 - p`` (``Tensor.bernoulli_``), scaled by ``1 / (1 - p)``,
# times the input (in that order: the rounding differs otherwise). After
# ``torch.manual_seed(44)``, does it give the page's ``output_train`` (``p=0.5``) and its
# ``nn.Dropout(p=0.33)`` image ``pixels`` exactly? And a mask drawn as
# ``torch.rand(...) < 1 - p``?

# %%
# .. rpsbook-solution::


def my_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zero each element with probability p and scale the kept ones by 1 / (1 - p)."""
    keep = torch.empty_like(x).bernoulli_(1 - p)  # 1 with probability 1 - p, else 0
    return x * (keep / (1 - p))


torch.manual_seed(44)
ex_same_inputs = torch.equal(my_dropout(inputs, 0.5), output_train)
torch.manual_seed(44)
ex_same_image = torch.equal(my_dropout(image, 0.33), pixels)
torch.manual_seed(44)
ex_rand_mask = torch.rand(inputs.shape) < 1 - 0.5
print("same as output_train:", ex_same_inputs, "| same as pixels:", ex_same_image)
print("rand mask keeps:", ex_rand_mask.int().numpy(), "| page's:", kept.int().numpy())

# %%
# Both are equal bit for bit: on a CPU tensor :class:`~torch.nn.Dropout` draws its mask
# with ``bernoulli_(1 - p)``, divides it by ``1 - p`` and multiplies. A mask from
# ``torch.rand`` follows the same rule but turns the seed into other numbers, so it keeps
# other elements: the rule, not the draw, is what dropout is.
#
# .. _ex-dropout-model-mode:
#
# Dropout inside a model
# ~~~~~~~~~~~~~~~~~~~~~~
#
# *Change one thing and explain.* Classify the first 16 validation images 20 times with
# ``CNN2(n_filters=5, p=0.5)`` (built after ``torch.manual_seed(13)``) in training mode: how
# many get more than one predicted class? Then change only the mode, to evaluation.

# %%
# .. rpsbook-solution::

from rpsbook.models import CNN2

torch.manual_seed(13)
ex_model, (ex_x, _) = CNN2(n_filters=5, p=0.5), next(iter(rps.val_loader))
ex_flips = {}
for ex_mode in ("train", "eval"):
    ex_model.train(ex_mode == "train")
    with torch.no_grad():
        ex_classes = torch.stack([ex_model(ex_x).argmax(dim=1) for _ in range(20)])  # (20, 16)
    ex_flips[ex_mode] = int((ex_classes != ex_classes[0]).any(dim=0).sum())
    print(f"{ex_mode:>5} mode: {ex_flips[ex_mode]} of 16 images change class in 20 calls")

# %%
# In training mode every call draws new masks for the inputs of ``fc1`` and ``fc2``, so the
# logits change from call to call, and so does the class of an image whose logits are
# close (in this untrained model, most). In evaluation mode both dropout layers pass their
# inputs through: the same logits every call, no image changes class. That is why a trainer
# evaluates and predicts in evaluation mode (``StepByStep.predict`` switches and restores).

# %%
# Notes
# -----
#
# The diagrams draw their masks with :func:`~rpsbook.diagrams.seeded_dropout`, which does
# what ``torch.manual_seed(44)`` followed by ``nn.Dropout`` does without touching the global
# random state (it seeds, draws, and restores the generator), so it gives the very same
# mask as the first cell of this page.

# sphinx_gallery_thumbnail_number = 4
