"""
Data preparation
================

Before a model can tell rock from paper from scissors, the pictures have to become tensors
of a fixed size, on a sensible scale, served in mini-batches. This page builds that pipeline
as the chapter does: an ``ImageFolder`` per split, a temporary dataset to measure the
per-channel mean and standard deviation of the training images, a ``Normalize`` transform
made from them, and the real datasets and loaders that use it.
"""

# %%
# The dataset
# -----------
#
# The *Rock Paper Scissors* dataset was created by Laurence Moroney and is distributed under
# the `Creative Commons Attribution 2.0 <https://creativecommons.org/licenses/by/2.0/>`_
# license (CC BY 2.0). It holds computer-generated pictures of hands of many skin tones
# making the three gestures on a white background: 2,520 for training (folder ``rps/``) and
# 372 in a separate test set (folder ``rps-test-set/``), which the chapter uses as its
# validation set. The originals are 300x300 RGBA PNGs; this site is built on a copy that was
# resized to 28x28 beforehand, the size the chapter's model expects anyway.
# :func:`rpsbook.data.find_data` returns the folder holding both splits.

import torch
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder
from torchvision.transforms.v2 import Compose, Normalize, Resize, ToDtype, ToImage

import rpsbook.data
from rpsbook.plotting import plot_class_examples, show_standardized
from rpsbook.training import StepByStep

root = rpsbook.data.find_data()
print("data folder holds:", sorted(p.name for p in root.iterdir() if not p.name.startswith(".")))

# %%
# ImageFolder
# -----------
#
# Each split has one sub-folder per gesture, named after it. That is all
# :class:`~torchvision.datasets.ImageFolder` needs: it numbers the classes in *alphabetical*
# order of the folder names, so the labels are paper=0, rock=1, scissors=2. Every confusion
# matrix and per-class count later in the chapter follows this order.
#
# Besides the folder, ``ImageFolder`` takes optional arguments: ``transform`` (applied
# to each image), ``target_transform`` (applied to each label), ``loader`` (opens a file;
# PIL by default), ``is_valid_file`` (tells which files to keep) and, in recent
# torchvision, ``allow_empty`` (accept a class folder without images). Our labels are plain
# integers, so ``target_transform`` has nothing to do here; it earns its place when the
# target is itself something to transform, such as a mask image in a segmentation task.
# Just to see it act, one that turns each label into its class name:

named = ImageFolder(root / "rps", target_transform=lambda label: named.classes[label])
print("class_to_idx:", named.class_to_idx)
print("label of the first picture, through target_transform:", repr(named[0][1]))

# %%
# PIL's loader converts every picture to RGB: the originals' fourth, alpha (transparency)
# channel is dropped, so the model sees three channels. One picture per class
# (Figure 6.1 in the book):

fig = plot_class_examples(
    torch.stack([ToImage()(named[i][0]) for i in (0, 840, 1680)]), torch.arange(3), named.classes
)
# sphinx_gallery_start_ignore
from rpsbook.report import book_figure

book_figure(
    fig,
    "6.1",
    "Three computer-generated hands on a white background, titled paper, rock and scissors.",
    verdict="differs: the 28x28 copy, where the book shows the 300x300 originals",
)
# sphinx_gallery_end_ignore

# %%
# The temporary dataset
# ---------------------
#
# To standardize the images we first need their statistics, and to measure those we need the
# images as float tensors. So the chapter builds a *temporary* dataset with only three
# transforms: ``Resize(28)`` (shorter side to 28 pixels; a no-op on this copy),
# ``ToImage()`` (PIL image to a ``(3, H, W)`` tensor) and ``ToDtype(float32, scale=True)``
# (``uint8`` 0-255 to floats in [0, 1]). Its loader needs no shuffling: it only feeds the
# statistics.

temp_transform = Compose([Resize(28), ToImage(), ToDtype(torch.float32, scale=True)])
temp_dataset = ImageFolder(root / "rps", transform=temp_transform)
temp_loader = DataLoader(temp_dataset, batch_size=16)

image, label = temp_dataset[0]
print("temp_dataset[0]:", tuple(image.shape), image.dtype, "label", label)
class_counts = torch.bincount(torch.tensor(temp_dataset.targets))
print("images per class:", dict(zip(temp_dataset.classes, class_counts.tolist(), strict=True)))

# %%
# The training set is balanced, 840 pictures of each gesture, so a model that always gives
# the same answer is right a third of the time.
#
# Statistics per channel
# ----------------------
#
# ``Normalize`` needs a mean and a standard deviation per channel. The chapter computes
# them per image and *adds them up*: for a mini-batch, the number of images, the sum over
# images of each image's channel mean, and the sum of each image's channel standard
# deviation (the unbiased one, as ``Tensor.std`` computes it). Sums can be added batch after
# batch, whatever the size of the last batch; the division comes once, at the end.


def statistics_per_channel(images, labels):
    """Rows: number of images, sum of per-image channel means, sum of per-image stds."""
    n_images, n_channels = images.shape[:2]
    pixels = images.reshape(n_images, n_channels, -1)  # (N, C, H*W)
    counts = torch.full((n_channels,), float(n_images))
    return torch.stack([counts, pixels.mean(dim=2).sum(dim=0), pixels.std(dim=2).sum(dim=0)])


first_images, first_labels = next(iter(temp_loader))
first_stats = statistics_per_channel(first_images, first_labels)
print(first_stats)
print(
    "rpsbook.data.statistics_per_channel gives the same tensor:",
    torch.equal(first_stats, rpsbook.data.statistics_per_channel(first_images, first_labels)),
)

# %%
# Each column is a channel (red, green, blue). The book's first mini-batch holds the same
# 16 pictures but in their 300x300 originals, shrunk by ``Resize(28)`` with another
# resampling routine than the one that made this copy, so its sums are close to these but
# not equal (the comparison is at the end of the page).
#
# The normalizer
# --------------
#
# The trainer's ``loader_apply`` applies a function to every mini-batch of a loader and adds
# up the results. Over the whole training set, then the division: the sum of per-image
# means over the number of images, and the same for the standard deviations.

totals = StepByStep.loader_apply(temp_loader, statistics_per_channel)
print(totals)
n_images, sum_means, sum_stds = totals
mean, std = sum_means / n_images, sum_stds / n_images
normalizer = Normalize(mean=mean.tolist(), std=std.tolist())
print("mean:", mean)
print("std: ", std)

library_normalizer = rpsbook.data.make_normalizer(temp_loader)
print(
    "rpsbook.data.make_normalizer gives the same statistics:",
    torch.equal(torch.tensor(library_normalizer.mean), mean)
    and torch.equal(torch.tensor(library_normalizer.std), std),
)

# %%
# The means are high because most of every picture is white background. The standard
# deviation is the *average of per-image* standard deviations, not the standard deviation
# of all training pixels pooled together. The pooled one also counts how much whole images
# differ from each other in brightness, so it comes out larger:

raw_train = rpsbook.data.load_split(root, "train")  # the same pictures as uint8 tensors
pooled_std = raw_train.images.float().div(255).transpose(0, 1).reshape(3, -1).std(dim=1)
print("pooled std of all training pixels:", pooled_std)

# %%
# Either choice puts the inputs on a scale of about one; what matters is that one normalizer
# serves every dataset.
#
# Statistics come from the training set only
# ------------------------------------------
#
# The validation set stands in for pictures the model has never seen, and at deployment the
# pictures to classify are not there in advance to be measured. So the statistics are
# learned from the training set, like the model's weights, and then applied unchanged to
# everything else. Measured on the validation set they would differ:

val_stats = StepByStep.loader_apply(
    DataLoader(ImageFolder(root / "rps-test-set", transform=temp_transform), batch_size=16),
    statistics_per_channel,
)
print("validation-set mean (not used):", val_stats[1] / val_stats[0])
print("validation-set std  (not used):", val_stats[2] / val_stats[0])

# %%
# The same reasoning explains *pre-computed statistics*. A pre-trained model (the next
# chapter uses some) learned its weights on inputs standardized with the statistics of *its*
# training set, typically ImageNet's. Such a model comes with those statistics, and new
# pictures must be standardized with them, not with statistics measured on the new data:
# the weights expect inputs on the scale they were trained on.
#
# The real datasets and loaders
# -----------------------------
#
# The real datasets use the same transforms plus the normalizer; each split has its own
# folder, so nothing needs splitting. Both loaders serve mini-batches of 16, and only the
# training one shuffles: the order matters for gradient descent, not for evaluation.

composer = Compose([Resize(28), ToImage(), ToDtype(torch.float32, scale=True), normalizer])

train_data = ImageFolder(root=root / "rps", transform=composer)
val_data = ImageFolder(root=root / "rps-test-set", transform=composer)

train_loader = DataLoader(train_data, batch_size=16, shuffle=True)
val_loader = DataLoader(val_data, batch_size=16)
print("train batches:", len(train_loader), "| validation batches:", len(val_loader))

# %%
# :func:`rpsbook.data.load_rps` builds the same loaders (the other pages use it), with the
# normalizer measured as above:

rps = rpsbook.data.load_rps(root)
same_batches = [
    torch.equal(x, y) and torch.equal(a, b)
    for (x, a), (y, b) in zip(val_loader, rps.val_loader, strict=True)
]
print(
    "rpsbook.data.load_rps gives the same normalizer and validation batches:",
    rps.mean == mean.tolist() and rps.std == std.tolist() and all(same_batches),
)

# %%
# A normalized training batch
# ---------------------------
#
# With the seed the chapter uses, here are the first six images of a shuffled, normalized
# training batch (Figure 6.2 in the book). Standardizing subtracts each channel's training
# mean and divides by its standard deviation, so the white background, a little brighter
# than the average pixel, sits at a small positive value, and the hand, darker than the
# average, turns negative:

torch.manual_seed(88)
images, labels = next(iter(train_loader))
print("batch: min", round(images.min().item(), 3), "max", round(images.max().item(), 3))
background = images[0, :, 0, 0]
print("background (top-left pixel) of the first image:", background)

# %%
# Such values cannot be shown as they are. :func:`rpsbook.plotting.show_standardized` draws
# the six pictures three ways:
#
# * **top row**: the normalization undone (``x * std + mean``): the pictures *before*
#   standardization, not what the model receives.
# * **middle row**: the standardized values, what the model receives. Every channel goes
#   through the same linear map, from ``[-m, m]`` (``m``, the largest absolute value of the
#   six, is in the row label) to none..full intensity of that channel's colour. A pixel whose
#   three channels all sit at their training means (zero) is therefore mid grey; the colour
#   bar shows the grey a pixel gets when its three channels share a value. The background,
#   close to the average, is a mid grey, and the hands, below it, are dark, tinted where
#   their channels sit at different distances below the means.
# * **bottom row**: what the book's Figure 6.2 shows. The book's plotting code (its
#   companion repository's ``plots/chapter6.py``) converts the standardized
#   floats straight to bytes (times 255, cast to ``uint8``); out-of-range values wrap around
#   (on x86 CPUs; the conversion is undefined in C), so a dark hand turns into bright
#   confetti. The book calls those colours the effect of standardization; they are the
#   effect of the cast.

fig = show_standardized(images[:6], labels[:6], train_data.classes, normalizer=normalizer)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.2",
    "Six normalized training pictures three ways: normalization undone, standardized values "
    "mapped to channel intensity with zero at mid grey, and the values cast to bytes as the "
    "book's figure shows them.",
    verdict="differs: adds the undone and standardized rows above the book's wrapped bytes",
)
# sphinx_gallery_end_ignore

# %%
# To look at normalized images, undo the normalization (top row) or map the values with a
# stated scale (middle row); a straight cast to bytes shows neither the picture nor the
# model's input.

# %%
# Checked against the book
# ------------------------
#
# The rows below set this page's numbers next to the book's (300x300 originals) and the book
# notebook's stored outputs when it ran on this 28x28 copy.

# sphinx_gallery_start_ignore
from rpsbook.report import checked_against_book

checked_against_book(
    "Data preparation",
    [
        (
            "first-batch sums of per-image means",
            first_stats[1],
            "[13.8748, 13.3048, 13.1962] printed in the book (n=16, 300x300 originals)",
        ),
        (
            "first-batch sums of per-image stds",
            first_stats[2],
            "[3.0507, 3.8268, 3.9754] printed in the book (n=16, 300x300 originals)",
        ),
        (
            "summed per-image means over the training set",
            totals[1],
            "[2139.3064, 2065.9209, 2040.7278] by the book's notebook on this 28x28 copy",
        ),
        (
            "normalizer mean",
            [f"{value:.4f}" for value in mean.tolist()],
            "[0.8502, 0.8215, 0.8116] printed in the book; "
            "[0.8489, 0.8198, 0.8098] by the book's notebook on this 28x28 copy",
        ),
        (
            "normalizer std",
            [f"{value:.4f}" for value in std.tolist()],
            "[0.2089, 0.2512, 0.2659] printed in the book; "
            "[0.2165, 0.2600, 0.2748] by the book's notebook on this 28x28 copy",
        ),
        ("training batches", len(train_loader), "158 printed in the book"),
        ("validation batches", len(val_loader), "24: the book's 372 images in batches of 16"),
    ],
    digits=8,
)
# sphinx_gallery_end_ignore

# %%
# Exercises
# ---------
#
# .. _ex-data-val-normalized:
#
# The validation split on the training's scale
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Predict, then measure.* The validation pictures go through the normalizer made from the
# *training* statistics (``mean``, ``std``). From the numbers printed above, predict the
# per-channel mean of per-image means and of per-image stds of the normalized validation
# split; then measure them over ``rps.val_loader``. Are they 0 and 1?

# %%
# .. rpsbook-solution::

ex_val_mean, ex_val_std = val_stats[1] / val_stats[0], val_stats[2] / val_stats[0]
ex_predicted = torch.stack([(ex_val_mean - mean) / std, ex_val_std / std])
ex_n, ex_sum_means, ex_sum_stds = StepByStep.loader_apply(rps.val_loader, statistics_per_channel)
ex_measured = torch.stack([ex_sum_means / ex_n, ex_sum_stds / ex_n])
print("predicted means", ex_predicted[0], "stds", ex_predicted[1])
print("measured  means", ex_measured[0], "stds", ex_measured[1])

# %%
# ``Normalize`` maps each pixel of a channel through one straight line, :math:`(x - m)/s`,
# so each picture's channel mean goes through that line too and its standard deviation is
# divided by :math:`s`; averaging over pictures keeps both relations. The prediction holds
# to float rounding. The validation split is *not* standardized: its pictures are brighter
# than the training ones (means about 0.14 to 0.26 above zero) and vary less (stds about
# 0.63 to 0.83). No defect: the model must see new pictures on the scale it was trained on.
#
# .. _ex-data-stats-by-hand:
#
# Statistics without a loader
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Implement, then compare with torch.* Compute the validation split's mean of per-image
# channel means and stds in one go from its ``uint8`` tensor
# (``rpsbook.data.load_split(root, "val")``), and compare with the page's ``val_stats``
# (sums over batches of 16). Then load the split in batches of 300 (one of 300, one of 72)
# and compare two ways of combining them: the chapter's sums divided once, and the average
# of the two batches' own averages.

# %%
# .. rpsbook-solution::

ex_pixels = rpsbook.data.load_split(root, "val").images.float().div(255).flatten(start_dim=2)
ex_loader = DataLoader(ImageFolder(root / "rps-test-set", transform=temp_transform), 300)
ex_sums = StepByStep.loader_apply(ex_loader, statistics_per_channel)
ex_ways = {
    "by hand, 372 at once": torch.stack([ex_pixels.mean(2).mean(0), ex_pixels.std(2).mean(0)]),
    "sums, batches of 16": val_stats[1:] / val_stats[0],
    "sums, 300 + 72": ex_sums[1:] / ex_sums[0],
    "mean of averages, 300 + 72": StepByStep.loader_apply(
        ex_loader, lambda x, y: statistics_per_channel(x, y)[1:] / len(x), reduce="mean"
    ),
}
for ex_name, (ex_means, ex_stds) in ex_ways.items():
    print(f"{ex_name:>26}: means {ex_means.numpy().round(5)}, stds {ex_stds.numpy().round(5)}")

# %%
# The three ways that add sums agree with the computation by hand up to float rounding
# (the last printed digit at most): where the batches end does not matter. Averaging the
# batches' averages gives each *batch* the same weight, so the 72 pictures of the last one
# count as much as the other 300; this split is sorted by class, so that batch holds only
# scissors, and the result is off in the third decimal. Sums, divided once at the end, are
# right for any batch size.
#
# .. _ex-data-no-normalize:
#
# No normalizer
# ~~~~~~~~~~~~~
#
# *Change one thing and explain.* Build the training loader without the normalizer
# (``temp_transform``, shuffled, batches of 16) and take its first batch after
# ``torch.manual_seed(88)``, as the page did for Figure 6.2. Compare its range and
# per-channel means with the normalized ``images``. What is lost by normalizing?

# %%
# .. rpsbook-solution::

torch.manual_seed(88)
ex_raw, ex_labels = next(iter(DataLoader(temp_dataset, batch_size=16, shuffle=True)))
for ex_name, ex_batch in (("without Normalize", ex_raw), ("with Normalize", images)):
    print(
        f"{ex_name:>17}: min {ex_batch.min():.3f}, max {ex_batch.max():.3f}, std "
        f"{ex_batch.std():.2f}, channel means {ex_batch.mean(dim=(0, 2, 3)).numpy().round(3)}"
    )
ex_same = torch.equal(ex_labels, labels) and torch.equal(normalizer(ex_raw), images)
print("the same pictures, through the normalizer:", ex_same)

# %%
# Without the normalizer every input lies in [0, 1], and mostly near the top: the channel
# means are about 0.85, so all inputs share one sign and a large common offset. Normalized,
# the same batch spreads below and above zero, with means within a fraction of one of zero
# (not at zero: this batch is brighter than the average training picture) and a spread of
# about one, the scale the layers' default initialization is designed for. Nothing is lost:
# ``Normalize`` is a per-channel straight line, undone by ``x * std + mean`` (Figure 6.2's
# top row), and the printed check finds the same pictures in the same order.

# %%
# Notes
# -----
#
# :func:`rpsbook.data.find_data` looks for the two splits in an explicit ``root``, then in
# ``$RPSBOOK_DATA_DIR``, then in a per-user cache folder (the 28x28 copy shipped with
# rpsbook, or the originals with ``source="download"``); its error lists every place it
# looked. :func:`~rpsbook.data.load_rps` decodes each split once and serves tensors from
# memory instead of decoding every PNG in every epoch, with identical batches;
# :doc:`/performance` measures what that saves.

# sphinx_gallery_thumbnail_number = 2
