"""
Learning rates and the LR range test
====================================

No formula gives the best learning rate. This page follows the chapter: a grid search,
then the *learning-rate range test* (Smith, 2017, `arXiv:1506.01186
<https://arxiv.org/abs/1506.01186>`_) in plain PyTorch, used to train the chapter's model.
"""

# %%
# Learning rates
# --------------
#
# The book offers two rules of thumb: a learning rate is smaller than 1 and most likely
# larger than 1e-6. Earlier chapters used 0.1, high but fine for really simple problems;
# for models like this one, one order of magnitude lower, **0.01**, is a better starting
# point. If the loss still does not go down, a **grid search** trains the model with
# several learning rates, a few epochs each, and compares the losses; the values usually
# differ by a factor of 3 (0.1, 0.03, 0.01, 3e-3, ...) or of 10 (0.1, 0.01, 1e-3, ...).

from copy import deepcopy

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn, optim
from torch.optim.lr_scheduler import LambdaLR
from torch_lr_finder import LRFinder

from rpsbook.data import load_rps
from rpsbook.models import CNN2
from rpsbook.training import StepByStep, lr_finder

rps = load_rps()
train_loader, val_loader = rps.train_loader, rps.val_loader

# %%
# Plotted against the learning rates, the losses of a grid search should show three things:
#
# * **too low**: the model barely learns, and the loss stays high;
# * **too high**: the model does not converge, and the loss goes up;
# * **in between**: a lower loss, pointing at the right order of magnitude.
#
# Finding LR
# ----------
#
# The range test looks for that "in between" much more cheaply. It also tries many learning
# rates and logs the losses, but it takes a *single* training step, on one mini-batch, with
# each, raising the learning rate before the next mini-batch: one short training loop,
# where a grid search trains the model once per value.
# Doesn't each step then start from a model that the earlier steps, at other learning
# rates, have already changed? Yes, but the test is after a ballpark value, not a precise
# one, and the small early steps barely nudge the model from its initial state.
#
# First, the learning rate of each iteration, from ``start_lr`` to ``end_lr`` in
# ``num_iter`` iterations, linearly or exponentially. A higher-order function returns the
# *factor* that multiplies the initial learning rate at iteration ``i``:


def make_lr_fn(start_lr, end_lr, num_iter, step_mode="exp"):
    ratio = end_lr / start_lr
    if step_mode == "linear":

        def lr_fn(iteration):
            return 1 + iteration * (ratio - 1) / num_iter

    else:

        def lr_fn(iteration):
            return ratio ** (iteration / num_iter)

    return lr_fn


start_lr, end_lr, num_iter = 0.01, 0.1, 10
lr_fn = make_lr_fn(start_lr, end_lr, num_iter)
iterations = np.arange(num_iter + 1)
print(start_lr * lr_fn(iterations))
same = np.array_equal(lr_fn(iterations), lr_finder.make_lr_fn(0.01, 0.1, 10)(iterations))
print("same as rpsbook's lr_finder.make_lr_fn:", same)

# %%
# Each step multiplies the learning rate by :math:`10^{1/10}`. On an optimizer,
# :class:`~torch.optim.lr_scheduler.LambdaLR` sets the learning rate to the initial one
# times ``lr_fn(i)``, ``i`` counting the ``scheduler.step()`` calls (after each
# ``optimizer.step()``). (The book's class takes ``n_filters`` too, but its text and notebook
# call it with ``n_feature=5``: :ref:`sphx_glr_auto_examples_plot_20_errata.py`.)

dummy_model = CNN2(n_filters=5, p=0.3)
dummy_optimizer = optim.Adam(dummy_model.parameters(), lr=start_lr)
dummy_scheduler = LambdaLR(dummy_optimizer, lr_lambda=lr_fn)
dummy_optimizer.step()
dummy_scheduler.step()
print(dummy_scheduler.get_last_lr()[0])

# %%
# The range test follows the book's four steps: (1) keep the states of the model and of
# the optimizer, since the test changes both; (2) build the factor function and its
# ``LambdaLR`` scheduler; (3) run a training loop over mini-batches, logging the learning
# rate and the loss of every step; (4) restore model and optimizer. The loss of a single
# mini-batch jumps up and down, so the logged loss is smoothed by an exponentially weighted
# moving average (EWMA, the next page) with ``alpha=0.05``.


def lr_range_test(model, optimizer, loss_fn, data_loader, end_lr, num_iter=100, alpha=0.05):
    # 1. the states to restore at the end
    previous_states = {
        "model": deepcopy(model.state_dict()),
        "optimizer": deepcopy(optimizer.state_dict()),
    }
    # 2. from the optimizer's learning rate to end_lr in num_iter steps
    start_lr = optimizer.param_groups[0]["lr"]
    scheduler = LambdaLR(optimizer, lr_lambda=make_lr_fn(start_lr, end_lr, num_iter))
    # 3. one training step per mini-batch (over the loader again if it runs out)
    device = next(model.parameters()).device
    tracking = {"loss": [], "lr": []}
    iteration = 0
    while iteration < num_iter:
        for x_batch, y_batch in data_loader:
            loss = loss_fn(model(x_batch.to(device)), y_batch.to(device))
            loss.backward()
            tracking["lr"].append(scheduler.get_last_lr()[0])
            if iteration == 0:
                tracking["loss"].append(loss.item())
            else:
                previous = tracking["loss"][-1]
                tracking["loss"].append(alpha * loss.item() + (1 - alpha) * previous)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            iteration += 1
            if iteration == num_iter:
                break
    # 4. the model and optimizer as they were
    optimizer.load_state_dict(previous_states["optimizer"])
    model.load_state_dict(previous_states["model"])
    return tracking


# %%
# The range test on the chapter's model
# -------------------------------------
#
# The test is meant for an **untrained** model, so the book builds a new one (seed 13),
# with Adam at 3e-4, where the test starts; it ends at 0.1 after 100 iterations:

torch.manual_seed(13)
new_model = CNN2(n_filters=5, p=0.3)
new_optimizer = optim.Adam(new_model.parameters(), lr=3e-4)
sbs_new = StepByStep(new_model, nn.CrossEntropyLoss(), new_optimizer)
initial_weights = deepcopy(new_model.state_dict())

torch.manual_seed(42)  # the order of the mini-batches and the dropout masks
tracking = lr_range_test(new_model, new_optimizer, nn.CrossEntropyLoss(), train_loader, 1e-1)
torch.manual_seed(42)
result = sbs_new.lr_range_test(train_loader, end_lr=1e-1, num_iter=100)
print("same as rpsbook's StepByStep.lr_range_test:", result.tracking == tracking)

# %%
# Figure 6.14 in the book: the smoothed loss against the learning rate, on a log axis. The
# faint line is the loss of each mini-batch, too noisy to read a slope from.

steepest = result.suggestion  # where the smoothed loss falls fastest, per decade of lr
lowest = result.lr[int(np.argmin(result.loss))]
fig = result.plot(skip_start=0, skip_end=0, mark_suggestion=False, show_raw=True)
ax = fig.axes[0]
for lr, style, label in ((steepest, "oC3", "steepest descent"), (lowest, "sC2", "lowest loss")):
    ax.plot(lr, result.loss[result.lr.index(lr)], style, ms=8, label=f"{label}: {lr:.2e}")
ax.legend()
ax.set_title("CNN2(5, p=0.3), Adam: LR range test")
# sphinx_gallery_start_ignore
restored = all(torch.equal(new_model.state_dict()[k], v) for k, v in initial_weights.items())
assert restored and not new_optimizer.state, "the range test must restore model and optimizer"
from rpsbook.report import book_figure

book_figure(
    fig,
    "6.14",
    "The smoothed training loss of the range test against the learning rate on a log axis: "
    "flat at first, falling fastest above 1e-2, lowest a little further right, then rising.",
    verdict="differs: adds the raw losses and marks the steepest point and the lowest loss",
)
# sphinx_gallery_end_ignore
print(f"steepest descent at lr {steepest:.2e}; lowest smoothed loss at lr {lowest:.2e}")

# %%
# A "U"-shaped curve. The loss barely moves at the smallest learning rates, falls fastest
# above 1e-2, reaches its lowest point a little further right (both printed above), then
# climbs. The Karpathy constant, 3e-4, is too low for this model. The book reads "the
# descending part" of its curve by eye, "something around 0.01", and trains with 0.005.
#
# A reading by eye is not reproducible, so every page of this gallery that picks a
# learning rate from a range test uses one rule, our choice, not the book's. The smoothed
# loss at step ``i`` averages the earlier raw losses with weights :math:`\alpha(1-\alpha)^k`,
# whose mean lag is :math:`(1-\alpha)/\alpha` = 19 steps; and each raw loss, measured
# *before* its own step, shows what the previous step's learning rate did. So the descent
# seen at step ``i`` comes, on average, from the learning rate about 20 steps earlier: a
# fixed factor on an exponential grid. The rule: take the steepest point of the smoothed curve
# (:func:`~rpsbook.training.suggest_lr`, skipping the first 10 and last 5 points), divide
# it by that factor, and, a second choice, round *down* to the 1-2-5 series (one mini-batch
# per learning rate is a rough measurement; erring low is safer).

alpha = 0.05  # the smoothing of the test
lag_factor = (result.lr[1] / result.lr[0]) ** (1 / alpha)
lag_corrected = steepest / lag_factor
chosen_lr = max(m * 10.0**k for k in range(-6, 1) for m in (1, 2, 5) if m * 10**k <= lag_corrected)
print(f"{steepest:.2e} / lag factor {lag_factor:.2f} = {lag_corrected:.2e}, down to {chosen_lr:g}")

# %%
# The lag-corrected value printed above is itself "around 0.01", the book's reading; only
# the rounding down makes it 0.005, the value the chapter trains with. (The range test of
# :ref:`sphx_glr_auto_examples_plot_12_putting_it_all_together.py` is read with the same rule.)
#
# Training with the new learning rate
# -----------------------------------
#
# The range test left ``new_model`` untouched. A new Adam optimizer at 0.005 goes into the
# trainer for 10 epochs; next to it, the previous page's seed-13 model at 3e-4.

new_optimizer = optim.Adam(new_model.parameters(), lr=0.005)
sbs_new.set_optimizer(new_optimizer)
sbs_new.set_loaders(train_loader, val_loader)
sbs_new.train(10)

torch.manual_seed(13)
model_3e4 = CNN2(n_filters=5, p=0.3)
sbs_3e4 = StepByStep(model_3e4, nn.CrossEntropyLoss(), optim.Adam(model_3e4.parameters(), 3e-4))
sbs_3e4.set_loaders(train_loader, val_loader)
sbs_3e4.train(10)

runs, val_hits = {0.005: sbs_new, 3e-4: sbs_3e4}, {}
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout="constrained")
print(f"{'Adam lr':>8} {'train loss':>11} {'val loss':>9} {'val correct':>12}")
for ax, (lr, run) in zip(axes, runs.items(), strict=True):
    val_hits[lr] = StepByStep.loader_apply(val_loader, run.correct).sum(dim=0)[0].item()
    print(f"{lr:>8g} {run.losses[-1]:>11.4f} {run.val_losses[-1]:>9.4f} {val_hits[lr]:>8}/372")
    run.plot_losses(ax=ax)
    ax.set_title(f"CNN2(5, p=0.3), Adam lr={lr:g}")
# sphinx_gallery_start_ignore
book_figure(
    fig,
    None,
    "Training and validation losses over 10 epochs on a log axis, Adam at 0.005 (left) and "
    "at 3e-4 (right): the left training loss falls much lower, its validation loss does not.",
)
# sphinx_gallery_end_ignore

# %%
# As the book says, the training loss goes down faster: at 0.005 it ends at less than half
# of the 3e-4 run's. The validation loss does not follow (the table), so the distance
# between the two losses grows: the model "might be overfitting". The validation counts
# are coarse: at 0.005 the count moves by a dozen images or more with the CPU kernels and
# threads (:ref:`numbers-variation`); at 3e-4 it is 330 on every setting measured.
#
# The range test is no magic. There may be no "U" at all (the optimizer's learning rate is
# already too high, or ``end_lr`` too low), and the middle of the descending part is not
# guaranteed to be the fastest learning rate for the model. Nor is a good initial learning
# rate the end of the story: the loss surface of a large model is very messy, and a
# learning rate that works well at the start of training may be too high later on. The
# learning rate has to **change** or **adapt** during training, which the rest of the
# chapter does (:ref:`sphx_glr_auto_examples_plot_07_adaptive_learning_rate.py`,
# :ref:`sphx_glr_auto_examples_plot_09_epoch_schedulers.py`).
#
# Our range test against torch-lr-finder
# --------------------------------------
#
# The `torch-lr-finder <https://github.com/davidtvs/pytorch-lr-finder>`_ package runs the
# same test with more options: the same exponential grid (up to one detail, in the Notes),
# the same smoothing (its ``smooth_f`` is our ``alpha``) and a steepest-point suggestion.
# As in the book, on a model built after ``torch.manual_seed(11)``: ``range_test`` runs
# the test, ``plot`` draws the curve and marks that point, ``reset`` restores the model and
# the optimizer, whose states it keeps in memory (``memory_cache=True``). The book's curve
# is "not quite a U" but points at 1e-2, as does the run below (whose printed lines,
# ``{finder_name}`` placeholder included, are torch-lr-finder's own).

torch.manual_seed(11)
finder_model = CNN2(n_filters=5, p=0.3)
finder_optimizer = optim.Adam(finder_model.parameters(), lr=3e-4)
finder = LRFinder(finder_model, finder_optimizer, nn.CrossEntropyLoss(), device=sbs_new.device)
# sphinx_gallery_start_ignore
import contextlib
import io

progress_bar = contextlib.redirect_stderr(io.StringIO())  # torch-lr-finder's tqdm bar
progress_bar.__enter__()
# sphinx_gallery_end_ignore
finder.range_test(train_loader, end_lr=1e-1, num_iter=100)
# sphinx_gallery_start_ignore
progress_bar.__exit__(None, None, None)
# sphinx_gallery_end_ignore
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax, finder_suggestion = finder.plot(ax=ax, log_lr=True)
ax.set_title(f"torch-lr-finder, seed 11: steepest gradient at {finder_suggestion:.2e}")
finder.reset()
# sphinx_gallery_start_ignore
book_figure(
    fig,
    None,
    "torch-lr-finder's smoothed loss against the learning rate on a log axis, without its "
    "first 10 and last 5 points, with its steepest-gradient suggestion marked.",
)
# sphinx_gallery_end_ignore

# %%
# Recap
# -----
#
# * The range test takes one training step per learning rate on an untrained model, logs
#   the smoothed loss, and restores model and optimizer; rpsbook's gives the same values.
# * Its curve points at the descending region; the steepest point divided by the lag of
#   the smoothing is around 0.01, and our rounding down to 1-2-5 gives the chapter's 0.005.
# * A good initial learning rate is not the end: it has to change or adapt in training.
#
# Checked against the book
# ------------------------
#
# The table compares this page's run with the book's printed numbers and with the stored
# outputs of the book's notebook run on this 28x28 copy.

# sphinx_gallery_start_ignore
from rpsbook.report import checked_against_book

checked_against_book(
    "Learning rates and the LR range test",
    [
        ("lr after one LambdaLR step", dummy_scheduler.get_last_lr()[0], "0.012589254117941673"),
        ("range test: steepest point, lowest loss", f"{steepest:.2e}, {lowest:.2e}",
         "Figure 6.14: descending part 'around 0.01', read by eye (book)"),
        ("learning rate chosen from the range test", f"{chosen_lr:g}", "0.005 (book)"),
        ("torch-lr-finder suggestion", f"{finder_suggestion:.2e}", "9.02E-03 (book's notebook)"),
    ],
    digits=17,
)  # fmt: skip
# sphinx_gallery_end_ignore

# %%
# Exercises
# ---------
#
# .. _ex-lr-at-iteration:
#
# The learning rate at iteration 50
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Predict, then measure.* On the range test's grid, 3e-4 to 0.1 in 100 iterations, what
# is the learning rate at iteration 50, exponentially and linearly? How many of the 100
# iterations are below 0.01 in each mode? Measure with a ``LambdaLR`` stepped 50 times.

# %%
# .. rpsbook-solution::

ex_lr_50, ex_below = {}, {}
for ex_mode in ("exp", "linear"):
    ex_lr_fn = lr_finder.make_lr_fn(3e-4, 0.1, 100, ex_mode)
    ex_scheduler = LambdaLR(optim.SGD([torch.zeros(1, requires_grad=True)], lr=3e-4), ex_lr_fn)
    for _ in range(50):
        ex_scheduler.optimizer.step()
        ex_scheduler.step()
    ex_lr_50[ex_mode] = ex_scheduler.get_last_lr()[0]
    ex_below[ex_mode] = sum(3e-4 * ex_lr_fn(i) < 0.01 for i in range(100))
    print(f"{ex_mode:>6}: lr at 50 {ex_lr_50[ex_mode]:.6g}, {ex_below[ex_mode]} of 100 below 0.01")

# %%
# Halfway, the exponential grid is at the *geometric* mean of its ends,
# :math:`\sqrt{3 \times 10^{-4} \cdot 0.1} \approx 5.48 \times 10^{-3}`, the linear one at
# their arithmetic mean, 0.05015. The exponential grid spends 61 iterations below 0.01 (its
# exponent there, :math:`\ln(0.01/0.0003) / \ln(0.1/0.0003)`, is 0.604), the linear one 10:
# a linear sweep hardly samples the small rates, which is why range tests sweep exponentially.
#
# .. _ex-steepest-by-hand:
#
# The steepest point by hand
# ~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Implement, then compare with torch.* Write the "steepest" rule: without the first 10 and
# last 5 points, the lr where ``numpy.gradient`` of the losses is lowest. Applied to the
# page's ``result`` and to torch-lr-finder's ``finder.history``, does it give ``steepest``
# and ``finder_suggestion``?

# %%
# .. rpsbook-solution::


def steepest_lr(lrs: list[float], losses: list[float]) -> float:
    """The lr where the loss falls fastest per step, without the first 10 and last 5."""
    lrs, losses = lrs[10 : len(lrs) - 5], losses[10 : len(losses) - 5]
    return lrs[int(np.gradient(np.array(losses)).argmin())]


ex_steepest = steepest_lr(result.lr, result.loss)
ex_finder_steepest = steepest_lr(finder.history["lr"], finder.history["loss"])
print(f"ours: {ex_steepest:.3e}, the page's: {steepest:.3e}")
print(f"torch-lr-finder's: {ex_finder_steepest:.3e}, its suggestion: {finder_suggestion:.3e}")

# %%
# The same learning rates, both. :func:`~rpsbook.training.suggest_lr` takes the slope per
# decade of learning rate (``numpy.gradient(loss, log10(lr))``), torch-lr-finder per step;
# on an exponential grid each step spans the same fraction of a decade, so the two slopes
# differ by a constant factor and pick the same point. On a linear grid they would not.
#
# .. _ex-range-test-alpha:
#
# Less smoothing
# ~~~~~~~~~~~~~~
#
# *Change one thing and explain.* Rerun the range test on a fresh seed-13 model (Adam at
# 3e-4, seed 42 before the test) with ``alpha=0.2`` instead of 0.05; draw both curves on
# one axes. Which change: the raw losses, how far the curve goes up and down, its steepest point?

# %%
# .. rpsbook-solution::

torch.manual_seed(13)
ex_model = CNN2(n_filters=5, p=0.3)
ex_optimizer = optim.Adam(ex_model.parameters(), lr=3e-4)
torch.manual_seed(42)
ex_result = lr_finder.lr_range_test(
    ex_model, ex_optimizer, nn.CrossEntropyLoss(), train_loader, end_lr=0.1, alpha=0.2
)
print("same raw losses:", ex_result.raw_loss == result.raw_loss)
ex_roughness = {}
for ex_alpha, ex_run in ((0.05, result), (0.2, ex_result)):
    ex_roughness[ex_alpha] = np.abs(np.diff(ex_run.loss)).sum()  # all ups and downs
    print(f"alpha {ex_alpha}: {ex_roughness[ex_alpha]:.2f}, steepest at {ex_run.suggestion:.2e}")
ex_fig, ex_ax = plt.subplots(figsize=(7, 4), layout="constrained")
result.plot(ex_ax, label="alpha=0.05")
ex_fig = ex_result.plot(ex_ax, label="alpha=0.2", color="C1")  # the same figure
# sphinx_gallery_start_ignore
book_figure(
    ex_fig,
    None,
    "Two range tests of the same model on one axes, their losses smoothed with alpha 0.05"
    " and 0.2, each with its steepest point marked in its curve's colour.",
)
# sphinx_gallery_end_ignore

# %%
# The raw losses are the same: ``alpha`` changes how the test is read, not its steps. With
# 0.2 the curve travels several times as far up and down (the printed totals) and its
# steepest point moves. An EWMA moves by ``alpha`` times the gap between the newest raw loss
# and the average so far, so it falls fastest where a loss lies far below the average, e.g.
# just after a bad mini-batch pushed it up: with less smoothing, single mini-batches decide.

# %%
# Notes
# -----
#
# * **What is restored.** Like the book's, the function above restores the model's and the
#   optimizer's states; rpsbook's :func:`~rpsbook.training.lr_range_test` also restores
#   gradients, modes and random state, even after an error, and honours ``step_mode`` (the
#   book's keeps the last gradients: :ref:`sphx_glr_auto_examples_plot_20_errata.py`).
# * **Linear sweeps** spend most of their steps near ``end_lr`` (:ref:`ex-lr-at-iteration`).
# * **torch-lr-finder's grid** divides by ``num_iter - 1`` where we divide by ``num_iter``: its
#   rates exceed ours after the first step (by about 6% at the last) unless it gets 101.

# sphinx_gallery_thumbnail_number = 1
