"""
Learning rates and the LR range test
====================================

Of all the knobs of a training run, the learning rate is the one that decides whether the
run works at all: too small and the model barely moves in ten epochs, too large and the
loss bounces around or explodes. This page shows how to pick it without a costly search.
We build the schedule of the *learning-rate range test* (Smith, 2017,
`arXiv:1506.01186 <https://arxiv.org/abs/1506.01186>`_) with
:func:`rpsbook.lr_finder.make_lr_fn`, run the test on the chapter's CNN (Figure 6.14 in the
book), check that it leaves the model and the optimizer exactly as it found them, compare it
point by point with the `torch-lr-finder <https://github.com/davidtvs/pytorch-lr-finder>`_
package, and finally train with the learning rate the curve points to.
"""

# %%
# Why one number matters so much
# ------------------------------
#
# Every optimizer step moves the weights by the learning rate times an update direction.
# The learning rate therefore sets the scale of *everything* that happens during training,
# and no other hyper-parameter can make up for a bad one. It also depends on the model, the
# data, the batch size and the optimizer, so a value that worked elsewhere is only a hint.
#
# The classic way to choose it is a coarse grid: try values a factor of 3 (or 10) apart,
# train with each, keep the best. Coarse, because the loss is not very sensitive to small
# changes of the learning rate, but it is to its order of magnitude. The catch is the price:
# one full training run per value.

import contextlib
import copy
import io
import math
import tempfile

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn, optim
from torch.optim.lr_scheduler import LambdaLR
from torch_lr_finder import LRFinder

from rpsbook.data import load_rps
from rpsbook.lr_finder import lr_range_test, make_lr_fn
from rpsbook.models import CNN2
from rpsbook.report import compare_with_book
from rpsbook.schedulers import plot_lr_sequences, record_lrs
from rpsbook.trainer import StepByStep

SECTION = "Learning rates and the LR range test"

rps = load_rps()
grid = [mantissa * 10.0**exponent for exponent in range(-4, -1) for mantissa in (1, 3)] + [0.1]
n_epochs = 10
print("a factor-of-3 grid:", ", ".join(f"{lr:g}" for lr in grid))
print(
    f"{len(grid)} runs x {n_epochs} epochs x {len(rps.train_loader)} mini-batches = "
    f"{len(grid) * n_epochs * len(rps.train_loader):,} optimizer steps"
)

# %%
# The range test needs far fewer steps (100 below) because it tries all the learning rates
# in a *single* short run: it starts tiny and increases the learning rate after every
# mini-batch while recording the loss. At first the steps are too small to matter and the
# loss stays flat; then it starts to fall; eventually the steps get so big that the loss
# shoots up. The useful range is the descending part.
#
# The schedule: ``make_lr_fn``
# ----------------------------
#
# Growing the learning rate after every mini-batch is a job for a scheduler.
# :class:`~torch.optim.lr_scheduler.LambdaLR` multiplies the optimizer's initial learning
# rate by a function of the step number, and :func:`~rpsbook.lr_finder.make_lr_fn` returns
# that function: from ``start_lr`` to ``end_lr`` in ``num_iter`` steps, either as a geometric
# progression (``"exp"``: the same *ratio* between consecutive steps) or an arithmetic one
# (``"linear"``: the same *difference*). Here is one step of the book's example, from 0.01
# to 0.1 over 10 iterations:

dummy_optimizer = optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
dummy_scheduler = LambdaLR(dummy_optimizer, make_lr_fn(0.01, 0.1, 10))
dummy_optimizer.step()
dummy_scheduler.step()
print("lr after one step:", dummy_scheduler.get_last_lr()[0])

# %%
# That is :math:`0.01 \cdot 10^{1/10}`. The two modes side by side, recorded on throwaway
# optimizers with :func:`~rpsbook.schedulers.record_lrs` (11 values: step 10 is ``end_lr``):

sequences = {
    mode: record_lrs(lambda opt, mode=mode: LambdaLR(opt, make_lr_fn(0.01, 0.1, 10, mode)), 11)
    for mode in ("exp", "linear")
}
for mode, lrs in sequences.items():
    print(f"{mode:>6}:", ", ".join(f"{lr:.4f}" for lr in lrs[:4]), "...", f"{lrs[-1]:.4f}")
fig = plot_lr_sequences(sequences, xlabel="iteration")

# %%
# On a logarithmic axis the exponential schedule is a straight line: every order of
# magnitude gets the same number of steps. The linear one rushes through the small values
# and spends most of its steps near the end, which is why the exponential grid is the usual
# choice when the right learning rate is unknown to within a few orders of magnitude.
#
# The range test on the chapter's model
# -------------------------------------
#
# The chapter's set-up: ``CNN2(5, p=0.3)`` with Adam starting at its training learning rate,
# 3e-4, which is also where the test starts; 100 mini-batches up to ``end_lr=0.1``.
# :meth:`~rpsbook.trainer.StepByStep.lr_range_test` runs
# :func:`~rpsbook.lr_finder.lr_range_test` on the trainer's model, optimizer and training
# loader.

torch.manual_seed(13)
model = CNN2(n_filters=5, p=0.3)
optimizer = optim.Adam(model.parameters(), lr=3e-4)
sbs = StepByStep(model, nn.CrossEntropyLoss(), optimizer)
sbs.set_loaders(rps.train_loader, rps.val_loader)

weights_before = copy.deepcopy(model.state_dict())
result = sbs.lr_range_test(end_lr=0.1, num_iter=100)
print(f"{len(result.lr)} steps, lr from {result.lr[0]:.2e} to {result.lr[-1]:.2e}")
print(f"suggested lr (steepest descent): {result.suggestion:.2e}")
print(
    compare_with_book(
        "LR range test, steepest descent (seed 13)",
        f"{result.suggestion:.2e}",
        "Figure 6.14: U-shaped, steepest descent around 1e-2",
        section=SECTION,
    )
)

# %%
# Figure 6.14 in the book. The solid line is the smoothed loss
# (:class:`~rpsbook.lr_finder.LRRangeTestResult` ``.loss``); the faint one is the loss of
# each mini-batch, too noisy to read a slope from. The first 10 and last 5 points are left
# out, as torch-lr-finder does: the start is flat and the end is where the loss blows up.

fig = result.plot(show_raw=True)

# %%
# The red dot is the point where the smoothed loss falls fastest per decade of learning
# rate (:func:`~rpsbook.lr_finder.suggest_lr`). It sits to the right of where the raw
# losses fall fastest, and that is not noise: it is the lag of the smoothing.
#
# The smoothed curve lags: one rule for picking the learning rate
# ----------------------------------------------------------------
#
# The smoothing is an exponentially weighted moving average with ``alpha=0.05``, and the
# average age of an EWMA is about :math:`1/\alpha` = 20 values (see
# :ref:`sphx_glr_auto_examples_plot_07_adaptive_learning_rate.py`). So the smoothed loss
# plotted at step ``i`` mostly describes the model of 20 steps earlier. On an exponential
# grid every step multiplies the learning rate by the same ratio, so a lag of 20 steps is a
# fixed *factor* in learning rate: here, from 3e-4 to 0.1 in 100 steps, the ratio
# ``(0.1 / 3e-4) ** (20 / 100)``, about 3.2. The descent the red dot marks happened at a
# learning rate about 3.2 times smaller. That is how our 2.79e-2 and the book's "around
# 1e-2" tell the same story.
#
# Every page of this gallery that picks a learning rate from a range test uses the same
# rule:
#
# 1. take the steepest point of the smoothed curve (:func:`~rpsbook.lr_finder.suggest_lr`);
# 2. divide it by the lag factor ``ratio ** (1 / alpha)``, the learning rate 20 steps
#    earlier;
# 3. round *down* to a value of the 1-2-5 series (1e-3, 2e-3, 5e-3, 1e-2, ...).
#
# Rounding down rather than to the nearest is deliberate: the test spends a single
# mini-batch at each learning rate, and a rate at which the loss still fell for a few steps
# can make a ten-epoch run unstable. On this curve the rule gives exactly the chapter's
# choice, 0.005:


def round_down_125(value: float) -> float:
    """The largest value of the 1-2-5 series (..., 0.01, 0.02, 0.05, 0.1, ...) <= value."""
    decade = 10.0 ** math.floor(math.log10(value))
    return max(m * decade for m in (1, 2, 5) if m * decade <= value * (1 + 1e-9))


alpha = 0.05  # the smoothing of lr_range_test, its default
lag_factor = (result.lr[1] / result.lr[0]) ** (1 / alpha)
lag_corrected = result.suggestion / lag_factor
chosen_lr = round_down_125(lag_corrected)
print(f"lag of {1 / alpha:.0f} steps = a factor of {lag_factor:.2f} in learning rate")
print(f"steepest point {result.suggestion:.2e} / {lag_factor:.2f} = {lag_corrected:.2e}")
print(f"rounded down to the 1-2-5 series: {chosen_lr:g}")

# %%
# Is each point skewed by the ones before it?
# -------------------------------------------
#
# A fair objection to the whole test: the loss at step 60 is not the loss "of" the
# learning rate of step 60. It is measured on a model that the 59 earlier steps have
# already moved, with smaller learning rates, so every point carries the history of the
# points before it. A grid search has no such problem, since each of its runs starts
# afresh. The answer is that the test does not claim precision. What is wanted is a
# ballpark, an order of magnitude to start from, and during the flat part of the curve
# the earlier steps, taken with tiny learning rates, have barely moved the model. By the
# time the steps are large enough to matter, the curve is already near the region it is
# meant to find. The rule above backs off from the steepest point for the same reason: the
# numbers are rough, and it is safer to err on the small side.
#
# The test leaves no trace
# ------------------------
#
# The test has just trained the model for 100 steps with ever larger learning rates, which
# wrecks its weights and fills Adam's moving averages. It puts everything back, so the next
# training run starts from the freshly initialized model:

print(
    "weights unchanged:",
    all(torch.equal(model.state_dict()[k], v) for k, v in weights_before.items()),
)
print("optimizer lr:", optimizer.param_groups[0]["lr"])
print("optimizer state entries:", len(optimizer.state))
print("gradients left behind:", any(p.grad is not None for p in model.parameters()))

# %%
# What rpsbook adds to the book's version
# ---------------------------------------
#
# The book's range test has a few rough edges that
# :func:`~rpsbook.lr_finder.lr_range_test` fixes:
#
# * ``step_mode`` is honoured (the book always stepped exponentially);
# * gradients are cleared after the test (the book left those of the last mini-batch in
#   place, to be added to the first gradients of the next training run; the Notes of
#   :ref:`sphx_glr_auto_examples_plot_12_putting_it_all_together.py` say what that
#   changes);
# * ``diverge_th`` stops the test once the smoothed loss exceeds that multiple of its best
#   value, and a non-finite loss always stops it;
# * the restoration happens in a ``finally`` block, so an exception halfway (out of memory,
#   a keyboard interrupt) does not leave a half-trained model behind. It also covers the
#   random number generators, so the test does not change what the next training run sees.
#
# A linear sweep over the same range shows why it is rarely the right tool here:

linear = sbs.lr_range_test(end_lr=0.1, num_iter=100, step_mode="linear")
for name, run in (("exp", result), ("linear", linear)):
    below = sum(lr < 1e-2 for lr in run.lr)
    print(f"{name:>6}: {below} of {len(run.lr)} steps below 1e-2, suggestion {run.suggestion:.2e}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout="constrained")
result.plot(axes[0], skip_start=0, skip_end=0)
fig = linear.plot(axes[1], skip_start=0, skip_end=0)

# %%
# Shown whole this time (no skipped points). The linear grid crosses the interesting
# region, below 1e-2, within its first few steps (the counts printed above), when the
# smoothed loss has barely started to move: it cannot resolve the descent, and its
# suggestion is correspondingly less trustworthy. A linear sweep is useful for zooming into
# a narrow range that an exponential sweep has already located.

# %%
# Our range test against torch-lr-finder
# --------------------------------------
#
# The torch-lr-finder package implements the same test (the book compares with it), so the
# two can be checked against each other. The notebook ran it on a model built after
# ``torch.manual_seed(11)``; we do the same, to compare with the notebook's suggestion
# (the page redirects the package's progress bar, see the Notes).


def notebook_model() -> tuple[nn.Module, optim.Optimizer]:
    torch.manual_seed(11)
    model = CNN2(n_filters=5, p=0.3)
    return model, optim.Adam(model.parameters(), lr=3e-4)


def torch_lr_finder(num_iter: int, keep: int | None = None) -> tuple[dict, float]:
    """Run torch-lr-finder as the notebook did; its history (first ``keep`` points) and
    suggestion (the steepest slope per *point*, after skipping the first 10 and last 5)."""
    model, optimizer = notebook_model()
    quiet = (contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()))
    with tempfile.TemporaryDirectory() as cache_dir, quiet[0], quiet[1]:
        finder = LRFinder(
            model, optimizer, nn.CrossEntropyLoss(), device="cpu", cache_dir=cache_dir
        )
        finder.range_test(rps.train_loader, end_lr=0.1, num_iter=num_iter)
        finder.reset()
        finder.history = {key: values[:keep] for key, values in finder.history.items()}
        _, suggestion = finder.plot(ax=Figure().subplots(), skip_start=10, skip_end=5)
    return finder.history, suggestion


_, notebook_suggestion = torch_lr_finder(100)
print(
    compare_with_book(
        "torch-lr-finder suggestion (seed 11, num_iter=100)",
        f"{notebook_suggestion:.2e}",
        "9.02E-03 (notebook)",
        section=SECTION,
    )
)

# %%
# Run on the same seed-11 model, over the same grid (see the Notes at the end for why
# torch-lr-finder needs ``num_iter=101`` to produce our 100 learning rates), the two
# implementations can be compared point by point:

model_11, optimizer_11 = notebook_model()
ours = lr_range_test(model_11, optimizer_11, nn.CrossEntropyLoss(), rps.train_loader, 0.1)
theirs, their_suggestion = torch_lr_finder(101, keep=100)

fig = ours.plot(label="rpsbook", linewidth=5, alpha=0.4)
ax = fig.axes[0]
ax.plot(theirs["lr"][10:-5], theirs["loss"][10:-5], "--", color="C1", label="torch-lr-finder")
ax.legend()
ax.set_title("Same model, seed and grid: rpsbook vs torch-lr-finder")

print("same learning rates:", ours.lr == theirs["lr"])
difference = max(abs(a - b) for a, b in zip(ours.loss, theirs["loss"], strict=True))
print(f"max |difference| of the smoothed losses: {difference:.3g}")
print(f"suggestions: rpsbook {ours.suggestion:.2e}, torch-lr-finder {their_suggestion:.2e}")

# %%
# Same model, same mini-batches in the same order, same dropout masks, same smoothing: the
# smoothed losses are identical (the difference printed above), and so are the suggestions.
# The comparison also shows how fragile a single suggestion is. Shifting every learning
# rate by a fraction of a percent (the off-by-one grid) moved torch-lr-finder's pick,
# printed in the previous cell, away from the one printed here; and the seed-13 model of
# Figure 6.14, which differs only in its initial weights and in the order of its
# mini-batches, got a suggestion several times larger. Read the *shape* of the curve (where
# the descent starts, where it bottoms out) rather than the position of one dot, and round
# generously, as the rule above does.

# %%
# Training with the chosen learning rate
# --------------------------------------
#
# Back to the chapter's model (seed 13), which the range test left untouched. The rule
# picked ``chosen_lr`` (0.005, the chapter's value), so Adam trains at that instead of
# 3e-4, for 10 epochs. :meth:`~rpsbook.trainer.StepByStep.set_optimizer` swaps the
# optimizer in.

sbs.set_optimizer(optim.Adam(model.parameters(), lr=chosen_lr))
sbs.train(n_epochs)
counts = StepByStep.loader_apply(rps.val_loader, sbs.correct)

fig = sbs.plot_losses()
fig.axes[0].set_title(f"CNN2(5, p=0.3), Adam lr={chosen_lr:g}")
print(f"final losses: training {sbs.losses[-1]:.4f}, validation {sbs.val_losses[-1]:.4f}")
hits, total = counts.sum(dim=0).tolist()
print(f"validation accuracy: {hits}/{total} = {hits / total:.1%}")

# %%
# Compare with the same model trained at 3e-4 on
# :ref:`sphx_glr_auto_examples_plot_05_model_training.py`: the larger learning rate drives
# the training loss down much further in the same 10 epochs. The validation loss does not
# follow it all the way: it levels off and wobbles from epoch to epoch, a model that fits its
# training set better without generalizing much better. The rest of the chapter is about
# getting both, by adapting the learning rate per parameter
# (:ref:`sphx_glr_auto_examples_plot_07_adaptive_learning_rate.py`) and changing it during
# training (:ref:`sphx_glr_auto_examples_plot_09_epoch_schedulers.py` and
# :ref:`sphx_glr_auto_examples_plot_10_cyclical_schedulers.py`).
#
# Recap
# -----
#
# * The learning rate sets the scale of every update; a grid search over it costs one
#   training run per value.
# * :func:`~rpsbook.lr_finder.make_lr_fn` gives ``LambdaLR`` an exponential (or linear)
#   schedule; the range test uses it to sweep the learning rate over one short run.
# * :func:`~rpsbook.lr_finder.lr_range_test` (or
#   :meth:`~rpsbook.trainer.StepByStep.lr_range_test`) returns the smoothed losses and the
#   steepest-descent suggestion, and restores model, optimizer, gradients and random state
#   even on errors.
# * The smoothed curve lags the raw losses by about ``1/alpha`` = 20 steps, a factor of
#   about 3.2 in learning rate on this grid. The rule used throughout the gallery: steepest
#   point, divided by that factor, rounded down to the 1-2-5 series.
# * Once their grids are aligned, rpsbook's test and torch-lr-finder's produce the same
#   curve; a single suggestion is fragile, so read the curve's shape and round down.
#
# Notes
# -----
#
# * **torch-lr-finder's grid.** Both tools take ``start_lr * (end_lr / start_lr) ** (i /
#   n)``, but torch-lr-finder sets ``n = num_iter - 1``, so that its last step uses
#   ``end_lr`` itself, while rpsbook (like the book) sets ``n = num_iter``, so that
#   ``end_lr`` would be the step *after* the last. Every learning rate after the first
#   differs a little, and so does every loss. Giving torch-lr-finder one more iteration
#   aligns them: its first 100 learning rates are then exactly ours.
# * **torch-lr-finder's output.** The package has no switch for its progress bar and
#   messages, so the page redirects them; it caches the model and optimizer states on
#   disk (in a temporary folder here), and ``reset()`` restores them.
# * **Cost.** Besides the two range tests of the chapter's model (seed 13, exponential
#   and linear) and two of the seed-11 model (rpsbook and torch-lr-finder, 100 or 101
#   mini-batches each), this page trains one model for 10 epochs.

# sphinx_gallery_thumbnail_number = 2
