"""
A fancier model: CNN2
=====================

With three-channel images in hand, the chapter builds a slightly larger convolutional
network than before: two convolution blocks that turn a 3@28x28 picture into a short
feature vector, followed by a small two-layer classifier, optionally with dropout. This
page takes :class:`rpsbook.models.CNN2` apart: what each layer does to the shape of the
data, why the model is split into a *featurizer* and a *classifier*, where dropout goes, how
many parameters it has and where they are, and what its feature maps look like before any
training.
"""

# %%
# The architecture
# ----------------
#
# ``CNN2(n_filters, p)`` has two convolutional blocks (3x3 convolution, ReLU, 2x2 max
# pooling), the first going from 3 to ``n_filters`` channels, the second from
# ``n_filters`` to ``n_filters``; then it flattens the result and applies two linear layers
# (to 50 hidden units, then to 3 logits, one per class). Printing the model lists its
# modules:

import torch
import torch.nn.functional as F
from torch import nn, optim

from rpsbook.data import load_rps
from rpsbook.listing import show_source
from rpsbook.models import CNN2
from rpsbook.plotting import plot_feature_maps, show_images
from rpsbook.training import StepByStep, eval_mode

torch.manual_seed(13)
model = CNN2(n_filters=5, p=0.3)
print(model)

# %%
# Where are the ReLUs and the pooling? They hold no parameters, so :class:`~rpsbook.models.CNN2`
# calls them as functions (``F.relu``, ``F.max_pool2d``) inside its ``forward`` and they do
# not appear in the printout. That also means a forward hook, which attaches to modules,
# would not see them. The layers with parameters are created in the constructor; these
# are its lines that build them (the lines above them, not shown, check the arguments).
# The book's class names its first argument ``n_filters``, while the book's configuration
# calls ``CNN2(n_feature=5)``, which that signature rejects: an erratum (`CNN2(n_feature=...)
# on the errata page <plot_20_errata.html#cnn2-n-feature>`__); rpsbook's CNN2 takes both.

show_source(CNN2.__init__, lines=("self.n_filters = n_filters", "self.drop ="))

# %%
# One caveat of calling activations as functions: it only works for activations without
# parameters. Swap ReLU for ``torch.nn.PReLU``, whose negative slope is learned, and
# it must become a module attribute created in ``__init__``, like the convolutions;
# otherwise its parameter is created anew at every call, never registered with the model,
# and never trained.
#
# Following the shapes
# --------------------
#
# Where does the ``5 * 5`` in ``fc1``'s size come from? Let us take a real mini-batch of 16
# normalized images through the model's steps one at a time, in the order ``forward`` runs
# them, and write down the shape after each step that changes it (``C@HxW`` for images,
# the number of features after flattening).

rps = load_rps()
torch.manual_seed(88)
images, labels = next(iter(rps.train_loader))


def chw(x: torch.Tensor) -> str:
    """``(N, C, H, W)`` -> "C@HxW"; ``(N, F)`` -> "F"."""
    return f"{x.shape[1]}@{x.shape[2]}x{x.shape[3]}" if x.ndim == 4 else str(x.shape[1])


with eval_mode(model):  # no dropout, so the result can be compared with the model's
    walk = [chw(images)]
    x = model.conv1(images)
    walk.append(chw(x))
    x = F.max_pool2d(F.relu(x), kernel_size=2)
    walk.append(chw(x))
    x = model.conv2(x)
    walk.append(chw(x))
    x = F.max_pool2d(F.relu(x), kernel_size=2)
    walk.append(chw(x))
    x = x.flatten(start_dim=1)
    walk.append(chw(x))
    x = F.relu(model.fc1(x))
    walk.append(chw(x))
    x = model.fc2(x)
    walk.append(chw(x))
    print(" -> ".join(walk))
    print("the same logits as model(images):", torch.equal(x, model(images)))

# %%
# Convolutions without padding trim a one-pixel border (28 -> 26, 13 -> 11), pooling halves
# the size and rounds down (26 -> 13, 11 -> 5), ReLU and dropout leave shapes unchanged.
# Five channels of 5x5 make the 125 features ``fc1`` expects.

# %%
# Featurizer and classifier
# -------------------------
#
# ``forward`` is literally ``classifier(featurizer(x))``:

show_source(CNN2.forward, docstring=False)

# %%
# The featurizer (the two convolution blocks and the flattening) turns each picture into
# 125 numbers:

show_source(CNN2.featurizer, docstring=False)

# %%
# The classifier (the linear layers, with dropout) turns those numbers into three logits:

show_source(CNN2.classifier, docstring=False)

# %%
# Naming the two halves costs nothing and pays off: the features of any batch are one call away for
# inspection, the classifier can be replaced or retrained on top of a frozen featurizer
# (that is how transfer learning works), and regularization such as dropout can be confined
# to the part where most of the parameters live.

# Dropout is random in training mode; eval_mode switches it off (and restores the mode after).
with eval_mode(model):
    features = model.featurizer(images)
    logits = model.classifier(features)
    print("features:", tuple(features.shape), "| logits:", tuple(logits.shape))
    print("classifier(featurizer(x)) == model(x):", torch.equal(logits, model(images)))

# %%
# Dropout only when asked for
# ---------------------------
#
# With ``p > 0`` the model drops features before each linear layer: before ``fc1`` (some of
# the 125 features) and before ``fc2`` (some of the 50 hidden units), using one
# :class:`~torch.nn.Dropout` module for both places. With ``p=0`` nothing is dropped. The
# book's model always creates ``self.drop``, even for ``p=0``, and only skips *calling* it;
# rpsbook's creates the module only when ``p > 0`` (the comment in the listing above says
# so), so a ``p=0`` model prints without it. Both compute the same outputs. The two
# printouts:

print(CNN2(n_filters=5, p=0.0))
print(CNN2(n_filters=5, p=0.3))

# %%
# Counting parameters
# -------------------
#
# Dropout has no parameters, so both models have the same count. Listing them per tensor
# shows where they are: the first linear layer maps 125 features to 50 units and holds
# almost all of them, while the convolutions, which share each small filter across the
# whole picture, need very few.

for name, parameter in model.named_parameters():
    print(f"{name:>12}: {tuple(parameter.shape)!s:<14} {parameter.numel():>5,}")
n_parameters = sum(p.numel() for p in model.parameters())
print(f"total: {n_parameters:,}")

# %%
# The previous chapter's model, for single-channel 10x10 images, had 213 parameters; this
# one has 32 times as many, and 6,250 of them, the weights of ``fc1``, connect the 125
# features to the 50 hidden units:

print("fc1.weight:", model.fc1.weight.numel(), "| ratio to 213:", round(n_parameters / 213, 1))

# %%
# Feature maps of an untrained model
# ----------------------------------
#
# The trainer's hooks (:meth:`~rpsbook.training.StepByStep.attach_hooks`) store the outputs of
# chosen layers during :meth:`~rpsbook.training.StepByStep.predict`; then
# :meth:`~rpsbook.training.StepByStep.visualize_outputs` draws them. Nothing is trained on
# this page: the filters are still the random values they were initialized with. First the
# six pictures (shown denormalized), then what the two convolutions make of them.

sbs = StepByStep(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=3e-4))
fig = show_images(images[:6], labels[:6], rps.classes, normalizer=rps.normalizer)
# sphinx_gallery_start_ignore
from rpsbook.report import book_figure

book_figure(
    fig,
    None,
    "Six training pictures with the normalization undone, titled with their class.",
)
# sphinx_gallery_end_ignore

sbs.attach_hooks(["conv1", "conv2"])
predictions = sbs.predict(images[:6]).argmax(dim=1)
maps = sbs.visualization  # the stored outputs, by layer name
sbs.remove_hooks()
print("labels:     ", [rps.classes[i] for i in labels[:6].tolist()])
print("predictions:", [rps.classes[i] for i in predictions.tolist()])

# %%
# The stored outputs of ``conv1`` first, drawn with
# :func:`rpsbook.plotting.plot_feature_maps` (the helper behind
# :meth:`~rpsbook.training.StepByStep.visualize_outputs`) at a size where each 26x26 map
# can be read. Each column is one picture, each row one channel of the layer (taken
# before the ReLU, with one grey scale per row); the titles give label and prediction.

fig = plot_feature_maps(
    {"conv1": maps["conv1"]},
    n_images=6,
    y=labels[:6],
    yhat=predictions,
    classes=rps.classes,
    size=1.5,
)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    None,
    "A grid of 26x26 grey-scale maps, one column per picture and one row per conv1 channel "
    "of the untrained model: hands outlined like embossed edges or silhouettes.",
)
# sphinx_gallery_end_ignore

# %%
# And the 11x11 outputs of ``conv2``, computed from the five maps above after ReLU and
# max pooling (so from 13x13 inputs):

fig = plot_feature_maps(
    {"conv2": maps["conv2"]},
    n_images=6,
    y=labels[:6],
    yhat=predictions,
    classes=rps.classes,
    size=1.5,
)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    None,
    "A grid of coarser 11x11 grey-scale maps, one column per picture and one row per conv2 "
    "channel of the untrained model, where the hands' outlines survive only roughly.",
)
# sphinx_gallery_end_ignore

# %%
# Even random filters outline the hand. A 3x3 filter whose weights do not cancel out
# responds one way to flat background and another way wherever brightness changes, so some
# channels come out like an embossed edge map and others like a bright or dark silhouette.
# The second layer mixes the first layer's maps into coarser 11x11 ones where the hand's
# outline survives only roughly. What random filters cannot do is pick features that
# *separate* the classes: the predictions printed above owe nothing to the labels. Training
# is what turns these filters into useful ones.

# %%
# Recap
# -----
#
# * :class:`~rpsbook.models.CNN2` maps 3@28x28 to ``n``\ @5x5 with two convolution blocks,
#   flattens it to ``25 n`` features and classifies them with two linear layers.
# * ``featurizer`` and ``classifier`` name the two halves, which makes features easy to
#   inspect and the classifier easy to replace.
# * Dropout (``p > 0``) sits before each linear layer; with ``p=0`` there is no dropout
#   module at all (the book creates one and skips it).
# * Activations with parameters, such as PReLU, must be modules, not functions.
# * With 5 filters the model has 6,823 parameters (the previous chapter's had 213), mostly
#   in ``fc1``.
# * Random filters already produce edge-like feature maps; training makes them useful.

# %%
# Checked against the book
# ------------------------
#
# The shapes and the parameter count, set next to the ones the book prints.

# sphinx_gallery_start_ignore
from rpsbook.report import checked_against_book

checked_against_book(
    "A fancier model: CNN2",
    [
        (
            "shape walk, CNN2(5)",
            " -> ".join(walk),
            "3@28x28 -> 5@26x26 -> 5@13x13 -> 5@11x11 -> 5@5x5 -> 125 -> 50 -> 3",
        ),
        ("parameters of CNN2(5)", f"{n_parameters:,}", "6,823"),
    ],
)
# sphinx_gallery_end_ignore

# %%
# Exercises
# ---------
#
# .. _ex-cnn2-parameters:
#
# Parameters as a function of the number of filters
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Predict, then measure.* Write each layer's number of parameters (weights and biases) as
# a function of ``n_filters`` :math:`n`. Predict them for ``CNN2(n_filters=10)``, and the
# smallest :math:`n` for which ``conv2`` holds more parameters than ``fc1``. Then build the
# models and count.

# %%
# .. rpsbook-solution::


ex_crossover = next(n for n in range(1, 500) if n * 9 * n + n > 25 * n * 50 + 50)
print("predicted: conv2 overtakes fc1 from n =", ex_crossover)
torch.manual_seed(13)
ex_counted, ex_predicted = {}, {}
for n in (10, ex_crossover - 1, ex_crossover):
    ex_predicted[n] = [3 * 9 * n + n, n * 9 * n + n, 25 * n * 50 + 50, 50 * 3 + 3]
    ex_counted[n] = [sum(p.numel() for p in layer.parameters()) for layer in CNN2(n).children()]
    ex_same = ex_counted[n] == ex_predicted[n]
    print(f"CNN2({n}): conv1, conv2, fc1, fc2 hold {ex_counted[n]}, as predicted: {ex_same}")

# %%
# A convolution has ``in * out * 3 * 3`` weights and ``out`` biases, so ``conv2`` grows as
# :math:`9n^2`; ``fc1`` has :math:`25n \times 50` weights, linear in :math:`n`; ``fc2`` does
# not depend on it. With 10 filters the model has 13,893 parameters, about twice as many as
# with 5, nine in ten of them in ``fc1``; ``conv2`` overtakes it only from 139 filters on.
# The 25 is the 5x5 map: larger pictures would grow ``fc1``, never the convolutions.
#
# .. _ex-cnn2-input-size:
#
# Pictures of another size
# ~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Change one thing and explain.* Resize the six pictures to 32x32
# (``F.interpolate(images[:6], size=32, mode="bilinear")``) and feed them to ``model``.
# Which step fails, and why? For which square sizes from 22 to 33 does ``CNN2`` run, and
# how many features does ``featurizer`` give for each?

# %%
# .. rpsbook-solution::

ex_accepted, ex_features = [], {}
with eval_mode(model), torch.no_grad():
    for ex_side in range(22, 34):
        ex_resized = F.interpolate(images[:6], size=ex_side, mode="bilinear")
        ex_features[ex_side] = model.featurizer(ex_resized).shape[1]
        try:
            model(ex_resized)
            ex_accepted.append(ex_side)
        except RuntimeError as error:
            if ex_side == 32:
                print("32x32:", error)
print("features by side:", " ".join(f"{k}:{v}" for k, v in ex_features.items()))
print("sides that CNN2 accepts:", ex_accepted)

# %%
# Convolutions and pooling work on any size, so ``featurizer`` runs; ``fc1`` does not: its
# weight is built for exactly 125 inputs. At 32x32 the walk is 30, 15, 13, then 6: 5@6x6,
# 180 features, and the matrix product fails. Pooling rounds down, so four sides reach 5x5
# (26 to 29), and only those run. Hence ``Resize(28)`` in the data pipeline; a model meant
# for any size would pool to a fixed grid before flattening (``nn.AdaptiveMaxPool2d(5)``).
#
# .. _ex-max-pool-by-hand:
#
# Max pooling by hand
# ~~~~~~~~~~~~~~~~~~~
#
# *Implement, then compare with torch.* Write 2x2 max pooling with ``reshape`` and
# ``amax``: cut the maps into 2x2 blocks and keep each block's largest value. Compare with
# ``F.max_pool2d`` on the page's batch after ``conv1`` and ReLU (26x26 maps), then after
# ``conv2`` and ReLU (11x11, an odd size). How many of each 11x11 map's values are ignored?

# %%
# .. rpsbook-solution::

with torch.no_grad():
    ex_relu1 = F.relu(model.conv1(images))
    ex_relu2 = F.relu(model.conv2(F.max_pool2d(ex_relu1, kernel_size=2)))
ex_equal = {}
for ex_name, ex_maps in (("conv1", ex_relu1), ("conv2", ex_relu2)):
    h = ex_maps.shape[-1] // 2  # square maps; an odd last row and column are dropped
    ex_pooled = ex_maps[..., : 2 * h, : 2 * h].reshape(16, 5, h, 2, h, 2).amax(dim=(3, 5))
    ex_equal[ex_name] = torch.equal(ex_pooled, F.max_pool2d(ex_maps, kernel_size=2))
    print(f"{ex_name}: {chw(ex_maps)} -> {chw(ex_pooled)}, as F.max_pool2d: {ex_equal[ex_name]}")

# %%
# Equal bit for bit: a maximum involves no arithmetic, so there is no rounding to differ.
# On 26x26 maps every value lands in a block; on 11x11 maps ``F.max_pool2d`` drops the last
# row and column, as the slice does: 21 of the 121 values of each map never reach the
# classifier, whatever they hold.

# %%
# Notes
# -----
#
# The shapes above were followed by hand; :mod:`torch.fx` can record them for any model,
# functional calls included (``symbolic_trace`` and ``ShapeProp``).

# sphinx_gallery_thumbnail_number = 2
