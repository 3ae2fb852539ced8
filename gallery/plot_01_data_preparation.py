"""
Data preparation
================

Before a model can tell rock from paper from scissors, the pictures have to become tensors
of a fixed size, on a sensible scale, served in mini-batches. This page walks through that
pipeline as the chapter builds it: where the images come from, how the class labels are
assigned, how the per-channel mean and standard deviation are measured for normalization
(and why on the training set only), and why rpsbook decodes every PNG once instead of once
per epoch. Every number on this page is computed when the page is built.
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
# validation set. The originals are 300x300 RGBA PNGs; this documentation is built on a copy
# that was resized to 28x28 beforehand, the size the chapter's model expects anyway.
# :func:`rpsbook.data.find_data` returns the folder holding both splits (the Notes at the
# end say where it looks).

import time

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader

from rpsbook.data import (
    find_data,
    image_folder,
    load_rps,
    load_split,
    make_normalizer,
    statistics_per_channel,
)
from rpsbook.listing import show_source
from rpsbook.plotting import plot_class_examples, show_standardized
from rpsbook.report import book_figure, compare_with_book
from rpsbook.trainer import StepByStep

SECTION = "Data preparation"

root = find_data()
print("data folder holds:", sorted(p.name for p in root.iterdir() if not p.name.startswith(".")))

# %%
# Classes are sorted folder names
# -------------------------------
#
# Each split has one sub-folder per gesture, and torchvision's
# :class:`~torchvision.datasets.ImageFolder` numbers the classes in *alphabetical* order of
# those folder names. So the labels are paper=0, rock=1, scissors=2, not the order of the
# game's name. Every confusion matrix and per-class count later in the chapter follows this
# order.

temporary_dataset = image_folder(root, "train")
print("class_to_idx:", temporary_dataset.class_to_idx)
print("training images:", len(temporary_dataset))
counts = torch.bincount(torch.tensor(temporary_dataset.targets))
print("images per class:", dict(zip(temporary_dataset.classes, counts.tolist(), strict=True)))

# %%
# The training set is balanced, 840 pictures of each gesture, so a model that always
# answers the same class would be right a third of the time: the baseline every accuracy
# below should be read against.
#
# ``ImageFolder`` takes more than a folder. Its optional arguments: ``transform`` (applied
# to each image, here the conversions below), ``target_transform`` (applied to each label),
# ``loader`` (the function that opens a file; by default PIL's, through
# ``default_loader``) and ``is_valid_file`` (which files count). The default loader
# converts every picture to RGB. The originals are RGBA, with a fourth, alpha
# (transparency) channel; the conversion drops it, so the model sees three channels.

# %%
# One picture per class (Figure 6.1 in the book). :func:`rpsbook.data.load_split` returns the
# decoded ``uint8`` images of a split as one ``(N, 3, 28, 28)`` tensor, and
# :func:`rpsbook.plotting.plot_class_examples` shows the first image of each class.

raw_train = load_split(root, "train")
fig = plot_class_examples(raw_train.images, raw_train.targets, raw_train.classes)
book_figure(
    fig,
    "6.1",
    "Three computer-generated hands on a white background, titled paper, rock and scissors.",
    verdict="differs: the 28x28 copy, where the book shows the 300x300 originals",
)

# %%
# The temporary dataset
# ---------------------
#
# To normalize the images we first need their statistics, and to measure those we need the
# images as float tensors. The chapter therefore builds a *temporary* dataset with only three
# transforms: ``Resize(28)`` (shorter side to 28 pixels; a no-op on this copy), ``ToImage()``
# (PIL image to a ``(3, H, W)`` tensor) and ``ToDtype(float32, scale=True)`` (``uint8``
# 0-255 to floats in [0, 1]). :func:`rpsbook.data.image_folder` without a normalizer is
# exactly that dataset.

print(temporary_dataset.transform)
image, label = temporary_dataset[0]
print("temporary_dataset[0]:", tuple(image.shape), image.dtype, "label", label)
print(f"values from {image.min().item():.4f} to {image.max().item():.4f}")
temporary_loader = DataLoader(temporary_dataset, batch_size=16)  # no shuffling needed
first_images, first_labels = next(iter(temporary_loader))
print("first batch:", tuple(first_images.shape), first_images.dtype)

# %%
# Statistics per channel
# ----------------------
#
# :func:`rpsbook.data.statistics_per_channel` does not return averages but *sums*: row 0 is
# the number of images, row 1 the sum over images of each image's channel mean, row 2 the
# sum of each image's channel standard deviation. Sums can simply be added up batch after
# batch, and dividing by the total count at the end gives the averages over the whole set,
# whatever the size of the last batch. Here it is, from the library (the checks at its top
# only turn bad input into clear errors):

show_source(statistics_per_channel, docstring=False)

# %%
# Each image is flattened to ``(channels, pixels)``; ``mean(dim=2)`` and the standard
# deviation over ``dim=2`` give one value per image and channel, summed over the images.
# The book calls ``std(dim=2)``; the library takes the same numbers, bit for bit, from
# ``torch.std_mean``, which is several times faster on a CPU. Both are the *unbiased*
# standard deviation (dividing by the number of pixels minus one), as in the book; with 784
# pixels per channel the difference from the biased one is tiny. On the first mini-batch
# of the temporary loader:

first_stats = statistics_per_channel(first_images, first_labels)
print(first_stats)
print(
    compare_with_book(
        "first-batch sums of per-image means",
        first_stats[1],
        "[13.8748, 13.3048, 13.1962] (n=16, 300px originals)",
        section=SECTION,
        digits=6,
    )
)
print(
    compare_with_book(
        "first-batch sums of per-image stds",
        first_stats[2],
        "[3.0507, 3.8268, 3.9754] (n=16, 300px originals)",
        section=SECTION,
        digits=5,
    )
)

first_unbiased = first_images[0, 0].std().item()
first_biased = first_images[0, 0].std(correction=0).item()
print(f"first image, red channel: unbiased std {first_unbiased:.6f}, biased {first_biased:.6f}")

# %%
# Both runs take the same first 16 pictures (the first papers in sorted order), but the
# book read the 300x300 originals and let ``Resize(28)`` shrink them, while this copy was
# shrunk to 28x28 before it reached us, by a different resizing routine. Resampling
# averages neighbouring pixels differently, so the per-image means move a little and the
# standard deviations, which depend on how sharp the edges stay, move more. The values
# above are therefore close to the book's but not equal; nothing is wrong with either.

# %%
# The normalizer
# --------------
#
# :func:`rpsbook.data.make_normalizer` adds those sums over the whole training loader and
# returns a :class:`~torchvision.transforms.v2.Normalize` transform built from the averages.
# The adding up is the trainer's ``loader_apply``: it applies a function to every
# mini-batch of a loader and sums the results. Over the whole training set:

totals = StepByStep.loader_apply(temporary_loader, statistics_per_channel)
print(totals)
print(
    compare_with_book(
        "summed per-image means over the training set",
        totals[1],
        "[2139.3064, 2065.9209, 2040.7278] (notebook on this copy)",
        section=SECTION,
        digits=8,
    )
)

# %%
# Row 0 counts the 2,520 images. ``make_normalizer`` does exactly that, then divides:

show_source(make_normalizer, docstring=False)

# %%

normalizer = make_normalizer(temporary_loader)
print(normalizer)
print(
    compare_with_book(
        "normalizer mean",
        [f"{value:.4f}" for value in normalizer.mean],
        "[0.8502, 0.8215, 0.8116] (book) / [0.8489, 0.8198, 0.8098] (notebook on this copy)",
        section=SECTION,
    )
)
print(
    compare_with_book(
        "normalizer std",
        [f"{value:.4f}" for value in normalizer.std],
        "[0.2089, 0.2512, 0.2659] (book) / [0.2165, 0.2600, 0.2748] (notebook on this copy)",
        section=SECTION,
    )
)

# %%
# The means are high because most of every picture is white background. Our values match
# the book's notebook run on this same copy to the four decimals it prints; the small gap
# to the book itself is again the resizing.
#
# Note what the standard deviation is: the *average of per-image* standard deviations, not
# the standard deviation of all training pixels pooled together. The pooled one also counts
# how much whole images differ from each other in brightness, so it comes out larger:

pixels = raw_train.images.float().div(255).transpose(0, 1).reshape(3, -1)
print("pooled std of all training pixels:", pixels.std(dim=1))

# %%
# Either choice puts the inputs on a scale of about one; what matters is to use the same
# normalizer everywhere, which is why it is computed once and passed to both datasets.
#
# Statistics come from the training set only
# ------------------------------------------
#
# The validation set stands in for pictures the model has never seen. Computing the
# normalizer on it (or on both sets together) would let information about that data shape
# the preprocessing, and at deployment time the images to classify are not available in
# advance anyway. Had we measured the validation set, we would have got different
# numbers, which is precisely the point: the training set decides, everything else follows.

raw_val = load_split(root, "val")
val_normalizer = make_normalizer(
    DataLoader(raw_val.map_images(lambda x: x.float() / 255), batch_size=16)
)
print("validation-set mean (not used):", [round(m, 4) for m in val_normalizer.mean])
print("validation-set std  (not used):", [round(s, 4) for s in val_normalizer.std])

# %%
# The real datasets and loaders
# -----------------------------
#
# :func:`rpsbook.data.load_rps` puts it all together: it measures the normalizer on the
# training set, appends it to the transforms of both sets, and builds loaders of 16 images,
# shuffling the training one.

rps = load_rps(root)
print("train batches:", len(rps.train_loader), "| validation batches:", len(rps.val_loader))
print(compare_with_book("training batches", len(rps.train_loader), "158", section=SECTION))
print(compare_with_book("validation batches", len(rps.val_loader), "24", section=SECTION))

# %%
# A normalized training batch
# ---------------------------
#
# With the seed the chapter uses, here are the first six images of a shuffled, normalized
# training batch (Figure 6.2 in the book). Normalizing is *standardizing*: each channel
# has its training-set mean subtracted and is divided by its standard deviation, so the
# white background no longer sits at 1 but at a small positive value, and the hand, darker
# than the average pixel, turns negative:

torch.manual_seed(88)
images, labels = next(iter(rps.train_loader))
print(
    "standardized batch: min", round(images.min().item(), 3), "max", round(images.max().item(), 3)
)
print("background (top-left pixel) of the first image:", images[0, :, 0, 0].numpy().round(3))

# %%
# Such values cannot be displayed as they are, and there is more than one honest way to
# show them. :func:`rpsbook.plotting.show_standardized` draws the batch three ways:
#
# * **top row**: the normalization undone (``x * std + mean``), i.e. the pictures *before*
#   standardization. This is not what the model receives.
# * **middle row**: the standardized values themselves, which is what the model receives.
#   One linear map, the same for every channel and image, takes ``[-m, m]`` (``m`` is the
#   largest absolute value of the six, in the row label) to black..white, so zero, the
#   average pixel of the training set, is mid grey, and nothing is clipped. The
#   background turns a light grey close to that middle, because after standardization it
#   is close to the average, and the hands, whose values lie below zero, turn dark.
# * **bottom row**: what the book's Figure 6.2 shows. The book converts the normalized
#   floats straight to ``uint8`` (multiply by 255, cast to bytes). For a float outside
#   0..255 that conversion is *undefined behaviour* in C, and so in NumPy and torch, which
#   use C's cast: on x86 CPUs it happens to wrap around modulo 256, other processors may
#   clamp or return other values. The row re-creates the x86 result portably, by casting
#   to 64-bit integers first (narrowing an integer to ``uint8`` is defined: modulo 256).

fig = show_standardized(images[:6], labels[:6], rps.classes, normalizer=rps.normalizer)
book_figure(
    fig,
    "6.2",
    "Six normalized training pictures three ways: normalization undone, standardized values "
    "on a symmetric grey scale, and the values cast to bytes as the book's figure shows them.",
    verdict="differs: adds the undone and grey-scale rows above the book's wrapped bytes",
)

# %%
# Why the bottom row looks the way it does: where the cast wraps, a negative value becomes
# a large byte (dark turns bright) and a value above one a small one, while values between
# 0 and 1 merely lose their meaning as brightness. A few values, by hand:

values = torch.tensor([-0.5, -0.01, 0.5, 1.2])
print("values:                        ", values)
print("via int64, wrapped to uint8:   ", (values * 255).to(torch.int64).to(torch.uint8))
print("clipped, then to uint8:        ", (values.clamp(0, 1) * 255).to(torch.uint8))

# %%
# So the book's picture is neither the original image nor the model's input. To look at
# normalized images, undo the normalization (top row) or map the values honestly
# (middle row); never cast them straight to bytes.

# %%
# Recap
# -----
#
# * The labels are the sorted folder names: paper=0, rock=1, scissors=2.
# * Per-channel statistics are accumulated as sums per batch
#   (:func:`~rpsbook.data.statistics_per_channel`) and averaged by
#   :func:`~rpsbook.data.make_normalizer`; the std is the mean of per-image stds.
# * The normalizer comes from the training set only and is applied to both sets.
# * The model receives standardized values, centred on each channel's training mean;
#   show them with an honest map, or undo the normalization to see the pictures.
#   Converting them straight to ``uint8`` is undefined for values out of range (it wraps
#   on x86 CPUs).

# %%
# Notes
# -----
#
# **Where the data comes from.** :func:`rpsbook.data.find_data` looks for the folder
# holding both splits in this order: an explicit ``root`` argument, the
# ``RPSBOOK_DATA_DIR`` environment variable, then a per-user cache folder, where it
# downloads and checks the two official archives on first use. When nothing works, its
# error lists every place it looked and how to fix it.
#
# **Decode once, not every epoch.** An ``ImageFolder`` opens and decodes a PNG file every
# time an item is requested, so every epoch decodes all 2,892 pictures again, although
# they never change. rpsbook's default
# (``load_rps(preload=True)``) decodes each split once into a single ``uint8`` tensor,
# caches it on disk, and normalizes the whole tensor in one operation; a mini-batch is then
# just an index into memory. ``preload=False`` gives the book's pipeline, with identical
# tensors. A pass over the 372 validation images with each, the fastest of three (a rough
# measurement, kept small so the page stays cheap; the benchmarks page has careful
# numbers):


def one_pass(loader) -> float:
    """Seconds to draw every mini-batch of ``loader``, the fastest of three passes."""
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in loader:
            pass
        seconds.append(time.perf_counter() - start)
    return min(seconds)


naive_train = image_folder(root, "train", rps.normalizer)
naive_val = image_folder(root, "val", rps.normalizer)
seconds_naive = one_pass(DataLoader(naive_val, batch_size=16))
seconds_preloaded = one_pass(rps.val_loader)
print(f"ImageFolder pipeline: {seconds_naive:.2f} s per pass")
print(f"preloaded tensors:    {seconds_preloaded:.3f} s per pass")
print(f"ratio: {seconds_naive / seconds_preloaded:.0f}x")

# %%
# The ratio is large because nothing else happens in this loop: decoding a PNG costs far
# more than slicing a tensor that is already in memory. During training the model's forward
# and backward passes add the same time to both pipelines, so the gain per epoch is
# smaller, but not small: when the book's notebook ran on this copy, about half of every
# epoch went into decoding. The two pipelines produce the same tensors, so the choice
# changes speed only:

difference = (naive_train[0][0] - rps.train_dataset[0][0]).abs().max()
print("largest difference on the first training image:", difference.item())

# sphinx_gallery_thumbnail_number = 2
plt.show()
