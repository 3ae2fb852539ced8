"""
Learning-rate schedulers: per epoch and per validation loss
===========================================================

One fixed learning rate is always a compromise. Far from a minimum a large rate covers
ground quickly, but close to it the same rate makes every update overshoot, so the loss
bounces around instead of settling; a small rate settles nicely but crawls on the way
there. A *learning-rate scheduler* removes the compromise by changing the rate while the
model trains.

This page makes one argument: the simplest schedules are a rule of the epoch number, or a
reaction to the validation loss, and the training loop must step each at the right moment.
Schedulers that move the rate after every mini-batch, in cycles, are the subject of
:ref:`sphx_glr_auto_examples_plot_10_cyclical_schedulers.py`.
"""

# %%
# A scheduler steps *after* the optimizer
# ---------------------------------------
#
# A scheduler wraps an optimizer and rewrites the ``lr`` of its parameter groups every time
# its own ``step()`` is called; the rate the optimizer was created with is the schedule's
# starting point. The simplest one, :class:`~torch.optim.lr_scheduler.StepLR`, multiplies
# the rate by ``gamma`` every ``step_size`` epochs. As in the book, a dummy optimizer over a
# fake parameter is enough to watch it: first ``optimizer.step()`` updates the parameters
# with the current rate, *then* ``scheduler.step()`` prepares the rate of the next epoch.

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    MultiStepLR,
    ReduceLROnPlateau,
    StepLR,
)

from rpsbook.paths import make_model, make_regression_data
from rpsbook.training import StepByStep, plot_lr_sequences, record_lrs

dummy_optimizer = SGD([nn.Parameter(torch.randn(1))], lr=0.01)
dummy_scheduler = StepLR(dummy_optimizer, step_size=2, gamma=0.1)
for _ in range(4):
    # the training loop of this epoch would go here
    print(dummy_scheduler.get_last_lr())
    dummy_optimizer.step()  # first the optimizer...
    dummy_scheduler.step()  # ...then the scheduler

# %%
# Two epochs at 0.01, two at 0.001. Stepping the scheduler *before* the optimizer would
# skip the schedule's first value (the rate drops one epoch early), and PyTorch warns when
# it sees it. :func:`rpsbook.training.record_lrs` runs this loop, in the right order, on a
# throwaway optimizer and returns the rate used at every step; the rest of the page uses it.
#
# Does every scheduler shrink the rate? No: shrinking it as training goes on used to be the
# standard procedure, but cyclical schedules (next page) raise it again on purpose, and even
# an epoch scheduler can follow any curve. The chapter sorts schedulers by *when* their
# ``step()`` is called, which is what the training loop has to know:
#
# * once per epoch, following a rule of the epoch number (``StepLR``, ``MultiStepLR``,
#   ``ExponentialLR``, ``LambdaLR``, ``CosineAnnealingLR``);
# * once per epoch *with the validation loss*, which it watches (``ReduceLROnPlateau``);
# * after every mini-batch (``CyclicLR``, ``OneCycleLR``, ``CosineAnnealingWarmRestarts``).
#
# Epoch schedulers: a rule of the epoch number
# --------------------------------------------
#
# An epoch scheduler sets the rate to the initial rate times a factor that depends only on
# how many epochs have gone by. :class:`~torch.optim.lr_scheduler.LambdaLR` takes that
# factor as any function of the epoch; the others are ready-made rules. A factor of
# ``0.1 ** (epoch // 2)`` is exactly what ``StepLR(step_size=2, gamma=0.1)`` does. Both over
# the book's 12 steps, with the ``LambdaLR`` drawn alone, as in the book (Figure 6.24):

step_lrs = record_lrs(lambda opt: StepLR(opt, step_size=2, gamma=0.1), 12)
lambda_lrs = record_lrs(lambda opt: LambdaLR(opt, lambda epoch: 0.1 ** (epoch // 2)), 12)
print("StepLR:  ", [f"{lr:.0e}" for lr in step_lrs])
print("LambdaLR:", [f"{lr:.0e}" for lr in lambda_lrs])
fig = plot_lr_sequences({"LambdaLR(0.1**(epoch//2))": lambda_lrs}, xlabel="epoch")
# sphinx_gallery_start_ignore
from rpsbook.report import book_figure

book_figure(
    fig,
    "6.24",
    "The learning rate of LambdaLR(0.1**(epoch//2)) over 12 epochs on a log axis: a "
    "staircase from 0.01 dropping tenfold every two epochs, down to 1e-7.",
)
# sphinx_gallery_end_ignore

# %%
# The same staircase for both, down to 1e-7 at epochs 10 and 11.
#
# Not only down: the other rules
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# :class:`~torch.optim.lr_scheduler.MultiStepLR` multiplies the rate by ``gamma`` at the
# listed milestones only; :class:`~torch.optim.lr_scheduler.ExponentialLR` multiplies it by
# ``gamma`` after every epoch; :class:`~torch.optim.lr_scheduler.CosineAnnealingLR` follows
# half a cosine from the initial rate down to ``eta_min`` (0 by default) over ``T_max``
# epochs, and then, if training goes on, back *up* along the other half. And a ``LambdaLR``
# factor can do anything, for instance a warm-up that *raises* the rate over the first
# epochs. Each over 10 epochs, for an optimizer set to 0.01, on a log axis where the rate
# falls tenfold and a linear one where it reaches zero or rises:

n_epochs = 10
more_epoch_lrs = {
    "MultiStepLR([3, 6], 0.1)": record_lrs(
        lambda opt: MultiStepLR(opt, milestones=[3, 6], gamma=0.1), n_epochs
    ),
    "ExponentialLR(0.7)": record_lrs(lambda opt: ExponentialLR(opt, gamma=0.7), n_epochs),
    "CosineAnnealingLR(T_max=5)": record_lrs(
        lambda opt: CosineAnnealingLR(opt, T_max=5), n_epochs
    ),
    "LambdaLR(min(1, (epoch+1)/4))": record_lrs(
        lambda opt: LambdaLR(opt, lambda epoch: min(1.0, (epoch + 1) / 4)), n_epochs
    ),
}
for name, lrs in more_epoch_lrs.items():
    print(f"{name:>30}:", " ".join(f"{lr:.2g}" for lr in lrs))
fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True, layout="constrained")
fig = plot_lr_sequences(more_epoch_lrs, list(axes.flat), log=False, xlabel="epoch")
for ax in axes[0]:
    ax.set(yscale="log", xlabel="")  # log scale: 1e-4 stays visibly above 0
axes[1, 0].set_ylabel("learning rate")
# sphinx_gallery_start_ignore
book_figure(
    fig,
    None,
    "The learning rate over 10 epochs in four panels, two by two: on log axes, MultiStepLR "
    "dropping tenfold at epochs 3 and 6 and ExponentialLR decaying every epoch; on linear "
    "axes, CosineAnnealingLR(T_max=5) falling to zero at epoch 5 and climbing back to 0.009 "
    "at epoch 9, and a LambdaLR warm-up rising from 0.0025 to 0.01 over four epochs.",
)
# sphinx_gallery_end_ignore

# %%
# ``MultiStepLR``'s first rate lasts three epochs, because its milestones are epoch
# *numbers*. The cosine is slow at first, fastest halfway, slow near zero, and with
# ``T_max=5`` it reaches zero at epoch 5 and then climbs back (0.009 at epoch 9, the
# initial rate again at epoch 10), while the warm-up *rises* for its first four epochs: an
# epoch scheduler is a rule of the epoch number, and nothing says the rule must go down.
# (To decay once and stop, ``T_max`` must be the number of epochs of the training.)
#
# Validation-loss scheduler: cut the rate when progress stalls
# ------------------------------------------------------------
#
# :class:`~torch.optim.lr_scheduler.ReduceLROnPlateau` follows no fixed rule: it watches the
# value passed to ``step(val_loss)`` and multiplies the rate by ``factor`` once that value
# has failed to improve for *more than* ``patience`` epochs in a row. Fed a loss that never
# moves, it shows its timing plainly (Figure 6.25 in the book):

plateau_lrs = record_lrs(
    lambda opt: ReduceLROnPlateau(opt, patience=4, factor=0.1), 12, metrics=1.0
)
print([f"{lr:g}" for lr in plateau_lrs])
fig = plot_lr_sequences({"ReduceLROnPlateau(patience=4, factor=0.1)": plateau_lrs}, xlabel="epoch")
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.25",
    "The learning rate of ReduceLROnPlateau over 12 epochs of a flat loss on a log axis: "
    "0.01 for six epochs, 0.001 for five, then 0.0001.",
)
# sphinx_gallery_end_ignore

# %%
# The first loss it sees becomes the best so far; the next four are "bad" epochs it
# tolerates; the fifth bad one exceeds the patience and the rate drops, so the first rate
# lasts six epochs. After a cut the count of bad epochs restarts from zero and the best loss
# is kept, so the next cut comes five epochs later: the book's "four more epochs" are the
# tolerated ones, and the fifth bad epoch cuts again. (The book says the reduced rate is used
# from the sixth epoch; it is the seventh (epoch 6 on the figures' axes, which count from
# 0), as its own figure shows:
# :ref:`sphx_glr_auto_examples_plot_20_errata.py`.)
#
# What counts as an improvement? The ``threshold`` argument decides. By default
# (``threshold_mode="rel"``, ``threshold=1e-4``) a loss must beat the best one by more than
# 0.01 % of it. A loss that shrinks by a ten-thousandth of a percent every epoch stays
# stuck, as far as the scheduler is concerned, for all twelve epochs; with ``threshold=0``
# every decrease counts:

creeping = [1.0 * (1 - 1e-6) ** epoch for epoch in range(12)]
creeping_lrs = {
    threshold: record_lrs(
        lambda opt, t=threshold: ReduceLROnPlateau(opt, patience=4, factor=0.1, threshold=t),
        12,
        metrics=creeping,
    )
    for threshold in (1e-4, 0.0)
}
for threshold, lrs in creeping_lrs.items():
    print(f"threshold={threshold:g}:", " ".join(f"{lr:g}" for lr in lrs))

# %%
# With the default threshold the creeping loss gets exactly the cuts of the flat one; with
# ``threshold=0`` the rate is never cut. In a training loop the scheduler feeds on the
# validation loss, so it needs a validation set.
#
# How StepByStep steps each kind
# ------------------------------
#
# The book adds a scheduler to its training loop in two places. Part I, here: after each
# epoch's validation, an epoch scheduler is stepped, and ``ReduceLROnPlateau`` is stepped
# with the validation loss just measured. Part II, stepping after every mini-batch, is on the
# next page. Written out in plain PyTorch on the regression playground of the previous pages
# (5 mini-batches per epoch), with ``StepLR`` halving a rate of 0.1 every two epochs:

data = make_regression_data()
loss_fn = nn.MSELoss()


def train_by_hand(model, optimizer, scheduler, n_epochs):
    """The book's train(): mini-batches, validation, then the epoch scheduler's step."""
    lrs = []  # the rate of every update
    for _epoch in range(n_epochs):
        model.train()
        for x_batch, y_batch in data.train_loader:
            loss = loss_fn(model(x_batch), y_batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            lrs.append(optimizer.param_groups[0]["lr"])
        model.eval()
        with torch.no_grad():
            val_loss = torch.stack([loss_fn(model(x), y) for x, y in data.val_loader]).mean()
        # the book's _epoch_schedulers(val_loss): after validation, once per epoch
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(val_loss.item())
        else:
            scheduler.step()
    return lrs


model = make_model()
optimizer = SGD(model.parameters(), lr=0.1)
hand_lrs = train_by_hand(model, optimizer, StepLR(optimizer, step_size=2, gamma=0.5), 4)
n_batches = len(data.train_loader)
for epoch in range(4):
    print(f"epoch {epoch}: lrs {hand_lrs[n_batches * epoch : n_batches * (epoch + 1)]}")

# %%
# Every mini-batch of an epoch uses the same rate; the rate changes between epochs only.
# :meth:`StepByStep.set_lr_scheduler <rpsbook.training.StepByStep.set_lr_scheduler>` takes
# any scheduler and :meth:`~rpsbook.training.StepByStep.train` steps it at its moment,
# recording the rate of every update in ``step_lrs``:

model = make_model()
sbs = StepByStep(model, loss_fn, SGD(model.parameters(), lr=0.1))
sbs.set_loaders(data.train_loader, data.val_loader)
sbs.set_lr_scheduler(StepLR(sbs.optimizer, step_size=2, gamma=0.5))
sbs.train(4)
print("StepByStep gives the same rates:", sbs.step_lrs == hand_lrs)

# %%
# Recap
# -----
#
# * Call ``scheduler.step()`` after ``optimizer.step()``.
# * Epoch schedulers are rules of the epoch number, and a rule can go up as well as down
#   (``CosineAnnealingLR`` past ``T_max``, any ``LambdaLR``).
# * ``ReduceLROnPlateau`` cuts the rate once the validation loss has not improved, by more
#   than ``threshold``, for more than ``patience`` epochs.
# * The training loop steps both once per epoch, after validation.
#
# Checked against the book
# ------------------------
#
# What follows compares this page's sequences with the ones the book prints and draws.

# sphinx_gallery_start_ignore
from rpsbook.report import checked_against_book

checked_against_book(
    "Learning-rate schedulers",
    [
        ("StepLR(2, 0.1) from 0.01, first 4 epochs", step_lrs[:4], "[0.01, 0.01, 0.001, 0.001]"),
        (
            "ReduceLROnPlateau(patience=4, factor=0.1), flat loss, 12 epochs",
            " ".join(f"{lr:g}" for lr in plateau_lrs),
            "0.01 x6, 0.001 x5, 0.0001 (Figure 6.25)",
        ),
    ],
)
# sphinx_gallery_end_ignore

# %%
# Exercises
# ---------
#
# .. _ex-steplr-epoch-7:
#
# StepLR in epoch 7
# ~~~~~~~~~~~~~~~~~
#
# *Predict, then measure.* An optimizer set to 0.01 and ``StepLR(step_size=2, gamma=0.1)``,
# stepped once per epoch: which rate does epoch 7 use (counting from 0, as the figures do)?
# And with ``step_size=3``? Write both down, then measure them with ``record_lrs``.

# %%
# .. rpsbook-solution::

ex_epoch_7 = {
    size: record_lrs(lambda opt, s=size: StepLR(opt, step_size=s, gamma=0.1), 8)[7]
    for size in (2, 3)
}
for size, lr in ex_epoch_7.items():
    print(f"step_size={size}: epoch 7 uses lr {lr:g} (0.01 * 0.1 ** (7 // {size}))")

# %%
# Epoch 7 comes after ``7 // step_size`` completed steps of the staircase: three cuts with
# ``step_size=2``, so 1e-05, and two with ``step_size=3``, so 0.0001. An off-by-one here
# (counting epochs from 1, or stepping the scheduler before the optimizer) gives the rate
# of the next stair.
#
# .. _ex-epoch-rules-by-hand:
#
# Two rules by hand
# ~~~~~~~~~~~~~~~~~
#
# *Implement, then compare with torch.* Write ``ExponentialLR(gamma=0.7)`` and
# ``MultiStepLR(milestones=[3, 6], gamma=0.1)`` as closed formulas of the epoch, for an
# initial rate of 0.01, and compare your 10 rates with the page's ``more_epoch_lrs``.

# %%
# .. rpsbook-solution::

from bisect import bisect_right

ex_by_hand = {
    "ExponentialLR(0.7)": [0.01 * 0.7**epoch for epoch in range(10)],
    # gamma once for every milestone already reached
    "MultiStepLR([3, 6], 0.1)": [0.01 * 0.1 ** bisect_right([3, 6], e) for e in range(10)],
}
for ex_name, ex_lrs in ex_by_hand.items():
    ex_gap = max(abs(a - b) / b for a, b in zip(ex_lrs, more_epoch_lrs[ex_name], strict=True))
    print(f"{ex_name}: largest relative difference from torch {ex_gap:.1e}")

# %%
# The formulas give torch's rates to the last bits of a float64 (a difference of about
# 1e-16, or none): torch reaches them by multiplying the previous rate by ``gamma`` at each
# step, the formula by taking a power. ``bisect_right`` counts the milestones that are
# ``<= epoch``: epoch 3 is already at 0.001, as the page's figure shows.
#
# .. _ex-plateau-patience:
#
# Patience 0 or 4
# ~~~~~~~~~~~~~~~
#
# *Predict, then measure.* Feed ``ReduceLROnPlateau(factor=0.5)`` the made-up validation
# losses below, once with ``patience=0`` and once with ``patience=4``. In which epochs is
# the rate lower than in the epoch before?

ex_val_losses = [1.0, 0.8, 0.7, 0.72, 0.69, 0.71, 0.70, 0.68, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69]

# %%
# .. rpsbook-solution::

ex_plateau_lrs, ex_cut_epochs = {}, {}
for patience in (0, 4):
    ex_lrs = record_lrs(
        lambda opt, p=patience: ReduceLROnPlateau(opt, patience=p, factor=0.5),
        len(ex_val_losses),
        metrics=ex_val_losses,
    )
    ex_plateau_lrs[patience] = ex_lrs
    ex_cut_epochs[patience] = [e for e in range(1, len(ex_lrs)) if ex_lrs[e] < ex_lrs[e - 1]]
    print(f"patience={patience}: lower in epochs {ex_cut_epochs[patience]}, last {ex_lrs[-1]:g}")

# %%
# The loss of epoch ``e`` decides the rate of epoch ``e + 1``. With ``patience=0`` every
# loss that fails to beat the best so far (0.7, then 0.69, then 0.68) halves the rate: those
# of epochs 3, 5, 6 and 8 to 12 do, so the rate halves eight times, to 0.01 / 256 in epoch
# 13. With ``patience=4`` the short stalls (three bad epochs at most) are tolerated; only the
# final run of bad epochs, from 8 on, exceeds the patience at its fifth, epoch 12, so epoch
# 13 is the first at 0.005.

# %%
# Notes
# -----
#
# The trainer does not test the class of a scheduler at every step:
# :func:`rpsbook.training.scheduler_kind` sorts it once into ``"epoch"``, ``"plateau"``
# or ``"batch"``, and :class:`~rpsbook.training.SchedulerStepper` steps it accordingly.
# It raises a clear error when a ``ReduceLROnPlateau`` has no validation loader to watch (the
# book's trainer passes it the missing validation loss, ``None``, and torch fails at the end
# of the first epoch with a ``TypeError`` from ``float(None)``), and when the scheduler was
# built on an optimizer other than the trainer's (the book's ``set_lr_scheduler`` then
# ignores it without a word).

# sphinx_gallery_thumbnail_number = 2
