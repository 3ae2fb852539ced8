"""
Model training
==============

Time to train :class:`~rpsbook.models.CNN2` on Rock Paper Scissors, with the chapter's
recipe: five filters, dropout ``p=0.3``, Adam with a learning rate of ``3e-4``, ten epochs.
Then we count, class by class, how many images the model gets right, train the same model
without dropout to see what dropout buys, and look at the filters the convolutions learned.
"""

# %%
# Model configuration
# -------------------
#
# The book swaps SGD for Adam here. Adam adapts the learning rate *for each parameter*,
# and it keeps what it needs for that in its state: tensors shaped like the parameters.
# The learning rate is 3e-4, the "Karpathy constant": a joke, but in the right order of
# magnitude for Adam. The loss is :class:`~torch.nn.CrossEntropyLoss`, since the model
# outputs one logit per class.

import matplotlib.pyplot as plt
import torch
from torch import nn, optim

from rpsbook.data import load_rps
from rpsbook.models import CNN2
from rpsbook.training import StepByStep

rps = load_rps()  # normalized images, mini-batches of 16, the training set shuffled
train_loader, val_loader = rps.train_loader, rps.val_loader

torch.manual_seed(13)
model_cnn2 = CNN2(n_filters=5, p=0.3)
multi_loss_fn = nn.CrossEntropyLoss(reduction="mean")
optimizer_cnn2 = optim.Adam(model_cnn2.parameters(), lr=3e-4)

# %%
# Adam's state is created by its first step. One step on a copy of the model shows it,
# and how far that step moves the parameters:

probe = CNN2(n_filters=5, p=0.3)
probe.load_state_dict(model_cnn2.state_dict())
probe_optimizer = optim.Adam(probe.parameters(), lr=3e-4)
initial = [param.detach().clone() for param in probe.parameters()]
x, y = next(iter(train_loader))
multi_loss_fn(probe(x), y).backward()
probe_optimizer.step()
for name, param in probe.named_parameters():
    state = probe_optimizer.state[param]
    print(
        f"{name:>12} {tuple(param.shape)!s:<13} exp_avg {tuple(state['exp_avg'].shape)!s:<13}"
        f" exp_avg_sq {tuple(state['exp_avg_sq'].shape)}"
    )

moved = torch.cat(
    [(p.detach() - p0).flatten().abs() for p, p0 in zip(probe.parameters(), initial, strict=True)]
)
has_grad = torch.cat([p.grad.flatten() != 0 for p in probe.parameters()])
step_in_lr = moved[has_grad] / 3e-4
print(
    f"{int(has_grad.sum())} of {has_grad.numel()} parameters have a non-zero gradient; "
    f"each moved by {step_in_lr.min():.3f} to {step_in_lr.max():.3f} times lr"
)
zero_features = int((model_cnn2.featurizer(x) == 0).all(dim=0).sum())  # of fc1's 125 inputs
print(f"fc1 inputs that are zero for all 16 images: {zero_features} of 125")
print(
    "largest initial |weight| per layer:",
    ", ".join(
        f"{name} {getattr(model_cnn2, name).weight.abs().max():.3f}"
        for name in ("conv1", "conv2", "fc1", "fc2")
    ),
)

# %%
# Why not 0.1, as in earlier chapters? Adam's update is the learning rate times an
# *adapted* gradient: a moving average of the gradients divided by the square root of a
# moving average of their squares. That ratio is roughly independent of the gradients'
# scale; its size is usually at most 1 and, with the default betas, never above about 7
# (:ref:`sphx_glr_auto_examples_plot_07_adaptive_learning_rate.py` computes it). On the
# very first step, bias correction makes it :math:`g / |g|`, so every parameter with a
# non-zero gradient moves by the learning rate itself (the ratios printed above). Almost
# all of the others are ``fc1`` weights whose input feature (printed above) or whose unit's
# ReLU output is zero for all 16 images of this mini-batch. With 0.1, that first step
# alone would be of the size of the initial weights, all below 0.2 (the last line).
#
# Training with dropout
# ---------------------
#
# :class:`~rpsbook.training.StepByStep` runs the loop; before it starts, it seeds every
# generator with 42, like the book, which fixes the order of the mini-batches and the
# dropout masks. Ten epochs:

sbs_cnn2 = StepByStep(model_cnn2, multi_loss_fn, optimizer_cnn2)
sbs_cnn2.set_loaders(train_loader, val_loader)
sbs_cnn2.train(10)

# %%
# Figure 6.10 in the book shows the two losses per epoch on a log scale. Like the book,
# the trainer's loss of an epoch is the mean of its mini-batch losses.

fig = sbs_cnn2.plot_losses()
fig.axes[0].set_title("CNN2(5, p=0.3), Adam lr=3e-4")
# sphinx_gallery_start_ignore
from rpsbook.report import book_figure

book_figure(
    fig,
    "6.10",
    "Training and validation losses of CNN2(5, p=0.3) over 10 epochs on a log axis, both "
    "falling, the validation loss more slowly after the first epochs.",
)
# sphinx_gallery_end_ignore
print("training:  ", " ".join(f"{loss:.3f}" for loss in sbs_cnn2.losses))
print("validation:", " ".join(f"{loss:.3f}" for loss in sbs_cnn2.val_losses))

# %%
# Both losses fall. The two curves measure slightly different models: the training loss
# is averaged over an epoch *while* the weights change, with dropout on, and the
# validation loss is computed at the end of the epoch in evaluation mode, with every unit
# present. That is why a validation loss can sit close to the training loss, or even below
# it, although the model never learns from the validation images.
#
# Accuracy, class by class
# ------------------------
#
# :meth:`~rpsbook.training.StepByStep.correct` returns, for one mini-batch, a ``(3, 2)``
# table: one row per class (paper, rock, scissors) with the number of images the model
# classified correctly (largest logit, evaluation mode) and the number of images of that
# class. ``StepByStep.loader_apply`` sums these tables over a loader:


def print_counts(title: str, counts: torch.Tensor) -> None:
    """A (3, 2) per-class [correct, total] table, with the class names and the total."""
    print(title)
    for name, (hits, total) in zip(rps.classes, counts.tolist(), strict=True):
        print(f"  {name:>8}: {hits:4d} / {total:4d} ({hits / total:.1%})")
    hits, total = counts.sum(dim=0).tolist()
    print(f"  {'all':>8}: {hits:4d} / {total:4d} ({hits / total:.1%})")


train_counts = StepByStep.loader_apply(train_loader, sbs_cnn2.correct)
val_counts = StepByStep.loader_apply(val_loader, sbs_cnn2.correct)
print_counts("training set, p=0.3", train_counts)
print_counts("validation set, p=0.3", val_counts)

# %%
# Nearly perfect on the training images, clearly worse on the validation images, and most
# of the validation errors are pictures of paper. Both sets are computer-generated, but the
# validation set is a separate set of renderings the model never saw. (The book, trained
# on the 300x300 originals, counts 313 of 372 right; on this 28x28 copy the book's own
# notebook gets the counts printed above.)
#
# The regularizing effect of dropout
# ----------------------------------
#
# Dropout is meant to reduce overfitting. To see it, the book trains a model identical in
# every way but the dropout: same seed, same optimizer, same data, same epochs, ``p=0``.

torch.manual_seed(13)
model_cnn2_nodrop = CNN2(n_filters=5, p=0.0)
optimizer_cnn2_nodrop = optim.Adam(model_cnn2_nodrop.parameters(), lr=3e-4)
sbs_cnn2_nodrop = StepByStep(model_cnn2_nodrop, multi_loss_fn, optimizer_cnn2_nodrop)
sbs_cnn2_nodrop.set_loaders(train_loader, val_loader)
sbs_cnn2_nodrop.train(10)

# %%
# Figure 6.11 in the book puts the losses of both models on one axis: solid lines for the
# training losses, dashed ones for the validation losses, one colour per model.

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
sbs_cnn2_nodrop.plot_losses(ax=ax, label="no dropout")
sbs_cnn2.plot_losses(ax=ax, label="dropout p=0.3")
ax.set_title("Same model, same seed, with and without dropout")
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.11",
    "Training (solid) and validation (dashed) losses of the models with and without dropout "
    "on one log axis: without dropout the training loss falls far lower; its validation loss "
    "is the lower one for the first three epochs and the higher one afterwards.",
)
# sphinx_gallery_end_ignore
print("p=0 training:    ", " ".join(f"{loss:.3f}" for loss in sbs_cnn2_nodrop.losses))
print("p=0 validation:  ", " ".join(f"{loss:.3f}" for loss in sbs_cnn2_nodrop.val_losses))
print("p=0.3 validation:", " ".join(f"{loss:.3f}" for loss in sbs_cnn2.val_losses))

# %%
# The book reads two things off this figure, and the printed losses show both:
#
# * the training loss is **higher with dropout**, in every epoch: dropout makes training
#   harder, since each image loses its own random selection of the linear layers' inputs;
# * the validation loss ends **lower with dropout**: the model generalizes better.
#
# Not from the start, though. For the first three epochs the model without dropout has the
# lower validation loss too: it learns faster. From the fourth epoch on its validation loss
# is the higher one, and it no longer falls much while its training loss keeps falling:
# the model fits details of the training images that do not carry over to new ones.
#
# The accuracies tell the same story. The book prints the totals of both tables:

train_counts_nodrop = StepByStep.loader_apply(train_loader, sbs_cnn2_nodrop.correct)
val_counts_nodrop = StepByStep.loader_apply(val_loader, sbs_cnn2_nodrop.correct)
print("p=0:  ", train_counts_nodrop.sum(dim=0), val_counts_nodrop.sum(dim=0))
print("p=0.3:", train_counts.sum(dim=0), val_counts.sum(dim=0))

accuracy = {}
for name, (train, val) in {
    "p=0": (train_counts_nodrop, val_counts_nodrop),
    "p=0.3": (train_counts, val_counts),
}.items():
    accuracy[name] = [(c[:, 0].sum() / c[:, 1].sum()).item() for c in (train, val)]
    print(
        f"{name:>6}: train {accuracy[name][0]:.1%}, validation {accuracy[name][1]:.1%}, "
        f"gap {accuracy[name][0] - accuracy[name][1]:.1%}"
    )

# %%
# Both models are close to perfect on the training set, so dropout did not prevent
# learning. The model trained with dropout gives up a little training accuracy and gains
# much more validation accuracy: the gap between the two is about half as wide. That is
# regularization: a slightly worse fit of the training data for a better fit of the data
# we care about.
#
# What did the filters learn?
# ---------------------------
#
# The first convolution has five filters over the three colour channels, each 3x3:

print(model_cnn2.conv1.weight.shape)

# %%
# :meth:`~rpsbook.training.StepByStep.visualize_filters` draws them, one row per filter and
# one column per input channel, on one grey scale; the colour bar marks zero in red: cells
# brighter than that are positive weights, darker ones negative (Figure 6.12 in the book):

fig = sbs_cnn2.visualize_filters("conv1")
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.12",
    "A 5x3 grid of grey-scale 3x3 weight patterns: the five learned conv1 filters, one "
    "column per colour channel.",
    verdict="differs: adds a colour bar with zero marked",
)
# sphinx_gallery_end_ignore

# %%
# The second convolution has five filters over the five channels the first one produces,
# a 5x5 grid (Figure 6.13 in the book):

print(model_cnn2.conv2.weight.shape)
fig = sbs_cnn2.visualize_filters("conv2")
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.13",
    "A 5x5 grid of grey-scale 3x3 weight patterns: the five learned conv2 filters, one "
    "column per input channel.",
    verdict="differs: adds a colour bar with zero marked",
)
# sphinx_gallery_end_ignore

# %%
# Not much can be read from them. A 3x3 filter has nine weights per channel, enough for a
# tiny pattern such as an edge in one direction; a few cells look like that, most do not
# look like anything in particular. The second layer combines the *outputs* of the first,
# so its weights only make sense together with those outputs. The feature maps a network
# produces for real images (:ref:`sphx_glr_auto_examples_plot_03_fancier_model.py`) tell
# more than the raw weights.
#
# Recap
# -----
#
# * Adam keeps two tensors shaped like each parameter; its first step moves each parameter
#   that has a gradient by the learning rate, which is why 0.1 is far too large and 3e-4
#   works.
# * ``StepByStep.correct`` and ``loader_apply`` give per-class ``[correct, total]`` tables.
# * Without dropout the training loss falls lower and, after the first epochs, the
#   validation loss stays higher: dropout narrows the gap between training and validation.
# * Learned 3x3 filters say little on their own.

# %%
# Checked against the book
# ------------------------
#
# This page's run next to the numbers printed in the book (300x300 originals), the book
# notebook's stored outputs, and the book's notebook run on this 28x28 copy.

# sphinx_gallery_start_ignore
from rpsbook.report import checked_against_book


def count_text(counts: torch.Tensor) -> str:
    hits, total = counts.sum(dim=0).tolist()
    return f"{hits}/{total} = {hits / total:.1%}"


checked_against_book(
    "Model training",
    [
        (
            "final losses (train, validation), CNN2(5, p=0.3)",
            f"{sbs_cnn2.losses[-1]:.4f}, {sbs_cnn2.val_losses[-1]:.4f}",
            "0.1180, 0.2576 by the book's notebook on this 28x28 copy (digits move with the CPU)",
        ),
        (
            "validation accuracy, CNN2(5, p=0.3)",
            count_text(val_counts),
            "313/372 = 84.1% printed in the book; 324/372 = 87.1% in the book notebook's "
            "stored outputs; 330/372 = 88.7% by the book's notebook on this 28x28 copy",
        ),
        (
            "validation per class [correct, total], CNN2(5, p=0.3)",
            val_counts,
            "[[92, 124], [118, 124], [120, 124]] by the book's notebook on this 28x28 copy",
        ),
        (
            "training accuracy, CNN2(5, p=0.3)",
            count_text(train_counts),
            "2504/2520 printed in the book and by the book's notebook on this 28x28 copy; "
            "2503/2520 in the book notebook's stored outputs",
        ),
        (
            "validation accuracy, CNN2(5, p=0)",
            count_text(val_counts_nodrop),
            "293/372 printed in the book; 292/372 by the book's notebook on this 28x28 copy",
        ),
        (
            "training accuracy, CNN2(5, p=0)",
            count_text(train_counts_nodrop),
            "2518/2520 printed in the book; 2514/2520 by the book's notebook on this 28x28 copy",
        ),
    ],
)
# sphinx_gallery_end_ignore

# %%
# Exercises
# ---------
#
# .. _ex-batches-per-epoch:
#
# Mini-batches per epoch
# ~~~~~~~~~~~~~~~~~~~~~~
#
# *Predict, then measure.* The training set holds 2,520 images, the validation set 372,
# in mini-batches of 16. How many mini-batches make an epoch of each, how large is the last
# one, and how many steps did Adam take in the ten epochs of ``sbs_cnn2``? Measure with the
# loaders and with the ``step`` in ``optimizer_cnn2``'s state (the page's trained optimizer:
# in the page's notebook, no new training).

# %%
# .. rpsbook-solution::

ex_batch_sizes = {}
with torch.random.fork_rng():  # the shuffling draws from the global generator
    for ex_name, ex_loader in (("training", train_loader), ("validation", val_loader)):
        ex_batch_sizes[ex_name] = [len(ex_y) for _, ex_y in ex_loader]
        ex_last = ex_batch_sizes[ex_name][-1]
        print(f"{ex_name}: {len(ex_loader)} mini-batches, the last of {ex_last} images")
ex_adam_steps = int(optimizer_cnn2.state[model_cnn2.conv1.weight]["step"])
print("Adam steps in 10 epochs:", ex_adam_steps)

# %%
# 2,520 = 157 x 16 + 8, so an epoch takes 158 mini-batches, the last of 8 images; 372 =
# 23 x 16 + 4 gives 24 validation mini-batches, the last of 4 (the one that weighs four
# times as much in the mean of the Notes). One Adam step per training mini-batch: 1,580.
#
# .. _ex-confusion-matrix:
#
# Where do the errors go?
# ~~~~~~~~~~~~~~~~~~~~~~~
#
# *Implement, then compare with torch.* With the page's trained ``sbs_cnn2`` (its
# ``predict`` on each validation mini-batch), count a 3x3 confusion matrix: row = true
# class, column = predicted class. Its diagonal and its row sums must give ``val_counts``,
# the table of ``StepByStep.correct``. What are the misclassified pictures of paper taken
# for?

# %%
# .. rpsbook-solution::

ex_confusion = torch.zeros(3, 3, dtype=torch.long)
for ex_x, ex_y in val_loader:
    ex_predicted = sbs_cnn2.predict(ex_x).argmax(dim=1)
    ex_confusion += torch.bincount(3 * ex_y + ex_predicted, minlength=9).reshape(3, 3)
print("true \\ predicted:", rps.classes)
for ex_name, ex_row in zip(rps.classes, ex_confusion.tolist(), strict=True):
    print(f"{ex_name:>16}: {ex_row}")
ex_table = torch.stack([ex_confusion.diag(), ex_confusion.sum(dim=1)], dim=1)
ex_same_counts = torch.equal(ex_table, val_counts)
print("diagonal and row sums equal val_counts:", ex_same_counts)

# %%
# The diagonal is the ``correct`` column of ``val_counts`` and the rows add up to the 124
# images of each class: ``correct`` is the confusion matrix with the off-diagonal cells
# added up. Those cells (printed above) say what the 32 misread pictures of paper were
# taken for; ``predict`` switched the model to evaluation mode and back, so dropout was off.
#
# .. _ex-adam-lr-0-1:
#
# Adam at 0.1
# ~~~~~~~~~~~
#
# *Change one thing and explain.* Train the page's model (``torch.manual_seed(13)``,
# ``CNN2(n_filters=5, p=0.3)``) for one epoch with Adam at ``lr=0.1`` instead of 3e-4.
# Count the correct validation predictions, and look at what the featurizer outputs.

# %%
# .. rpsbook-solution::

torch.manual_seed(13)
ex_model = CNN2(n_filters=5, p=0.3)
ex_sbs = StepByStep(ex_model, multi_loss_fn, optim.Adam(ex_model.parameters(), lr=0.1))
ex_sbs.set_loaders(train_loader, val_loader)
ex_sbs.train(1)
ex_counts = StepByStep.loader_apply(val_loader, ex_sbs.correct)
print_counts("validation set, Adam lr=0.1, one epoch", ex_counts)
ex_features = torch.cat([ex_model.featurizer(ex_x).detach() for ex_x, _ in val_loader])
print("featurizer outputs that are not zero:", int(ex_features.count_nonzero()))
print(f"validation loss {ex_sbs.val_losses[-1]:.4f}; ln 3 = {torch.log(torch.tensor(3.0)):.4f}")

# %%
# The model predicts the same class for every validation image: 124 of 372 right, a third.
# Adam moves each parameter by up to about the learning rate per step, here 0.1, the size
# of the weights themselves, and within the epoch the ReLUs after the convolutions came to
# output zero for every image: all features are zero, so the logits come from the
# classifier's biases alone, the same for every image. No gradient flows back through a
# ReLU that outputs zero, so the convolutions cannot recover, and the loss sits near
# :math:`\ln 3`, that of a uniform guess. Steps of 3e-4 are a few hundred times smaller.

# %%
# Notes
# -----
#
# **Which mean.** An epoch's loss here, as in the book, is the mean of its mini-batch
# losses. The last validation mini-batch holds 4 images, not 16, so each counts four times
# as much as any other; a mean over the 372 images differs (the book's notebook: 0.2658).
#
# **Machines.** The trainer draws random numbers in the book's order, so the counts above
# match the notebook's. The losses move with the CPU and threads from the third decimal on
# (the order of float additions); on a GPU the counts can move (:ref:`numbers-variation`).

# sphinx_gallery_thumbnail_number = 2
