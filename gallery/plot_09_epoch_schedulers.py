"""
Learning-rate schedulers: per epoch and per validation loss
===========================================================

One fixed learning rate is always a compromise. Far from a minimum a large rate covers
ground quickly, but close to it the same rate makes every update overshoot, so the loss
bounces around instead of settling; a small rate settles nicely but crawls on the way
there. A *learning-rate scheduler* removes the compromise by changing the rate while the
model trains: a large rate to *explore* the loss surface, then a small one to *target* the
minimum it has found.

This page makes one argument: the simplest schedules are a rule of the epoch number, or a
reaction to the validation loss, and the training loop must step each at the right moment.
It goes through when a scheduler is stepped, the three kinds that
:func:`rpsbook.schedulers.scheduler_kind` tells apart, the epoch schedulers (Figure 6.24 in
the book, plus ``MultiStepLR``, ``ExponentialLR`` and ``CosineAnnealingLR``), the
validation-loss scheduler (Figure 6.25), and how :class:`rpsbook.trainer.StepByStep` steps
them. Schedulers that move the rate within an epoch, in cycles, are the subject of
:ref:`sphx_glr_auto_examples_plot_10_cyclical_schedulers.py`.
"""

# %%
# A scheduler steps *after* the optimizer
# ---------------------------------------
#
# A scheduler wraps an optimizer and rewrites the ``lr`` of its parameter groups every time
# its own ``step()`` is called. The order matters: first ``optimizer.step()`` updates the
# parameters with the current rate, *then* ``scheduler.step()`` prepares the rate of the
# next step. Below, :class:`~torch.optim.lr_scheduler.StepLR` divides a rate of 0.01 by ten
# every two epochs, once in the right order and once the wrong way round.

import warnings

import torch
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    ExponentialLR,
    LambdaLR,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    StepLR,
)

from rpsbook.listing import show_source
from rpsbook.paths import make_model, make_regression_data
from rpsbook.report import book_figure, compare_with_book
from rpsbook.schedulers import (
    SchedulerStepper,
    plot_lr_sequences,
    record_lrs,
    scheduler_kind,
)
from rpsbook.trainer import StepByStep

SECTION = "Learning-rate schedulers"


def throwaway_sgd(lr: float = 0.01) -> SGD:
    """Plain SGD over one dummy parameter: enough to watch what a scheduler does."""
    return SGD([nn.Parameter(torch.zeros(1))], lr=lr)


for order in ("optimizer first", "scheduler first"):
    optimizer = throwaway_sgd()
    scheduler = StepLR(optimizer, step_size=2, gamma=0.1)
    used = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            if order == "scheduler first":
                scheduler.step()
            used.append(optimizer.param_groups[0]["lr"])
            optimizer.step()  # the update of this epoch, with the rate just recorded
            if order == "optimizer first":
                scheduler.step()
    print(f"{order}: lr per epoch {used}")
    for warning in caught:
        print(f"  torch warns: {str(warning.message).split('. ')[0]}")

# %%
# In the right order the four epochs use 0.01, 0.01, 0.001, 0.001: two epochs per rate, as
# asked. Stepping the scheduler first skips the schedule's first value, so the rate drops
# one epoch early; PyTorch notices and warns. :func:`rpsbook.schedulers.record_lrs` runs
# the correct loop for us (on a throwaway optimizer, as here) and returns the rate used by
# every step; the rest of the page uses it.
#
# Three kinds of schedulers
# -------------------------
#
# What differs from one scheduler to the next is *when* ``step()`` is meant to be called,
# and the training loop has to know it. The chapter sorts them into three families:
#
# * stepped once per epoch, following a fixed rule (``StepLR``, ``MultiStepLR``,
#   ``ExponentialLR``, ``LambdaLR``, ``CosineAnnealingLR``);
# * stepped once per epoch *with the validation loss*, which it watches
#   (``ReduceLROnPlateau``);
# * stepped after every mini-batch, for rates that move within an epoch (``CyclicLR``,
#   ``OneCycleLR``, ``CosineAnnealingWarmRestarts``; next page).
#
# Epoch schedulers: a rule of the epoch number
# --------------------------------------------
#
# An epoch scheduler multiplies the optimizer's initial rate by a factor that depends only on
# how many epochs have gone by. :class:`~torch.optim.lr_scheduler.LambdaLR` takes that
# factor as any function of the epoch; the others are ready-made rules. A factor of
# ``0.1 ** (epoch // 2)`` is exactly what ``StepLR(step_size=2, gamma=0.1)`` does, and the
# two sequences agree (Figure 6.24 in the book):

n_epochs = 10
step_lrs = record_lrs(lambda opt: StepLR(opt, step_size=2, gamma=0.1), n_epochs)
lambda_lrs = record_lrs(lambda opt: LambdaLR(opt, lambda epoch: 0.1 ** (epoch // 2)), n_epochs)
print("StepLR:  ", [f"{lr:.0e}" for lr in step_lrs])
print("LambdaLR:", [f"{lr:.0e}" for lr in lambda_lrs])
gap = max(abs(a - b) / b for a, b in zip(step_lrs, lambda_lrs, strict=True))
print(f"largest relative difference: {gap:.1e}")
print(
    compare_with_book(
        "StepLR(2, 0.1) from 0.01, first 4 epochs",
        step_lrs[:4],
        "[0.01, 0.01, 0.001, 0.001]",
        section=SECTION,
    )
)
fig = plot_lr_sequences(
    {"StepLR(2, 0.1)": step_lrs, "LambdaLR(0.1**(epoch//2))": lambda_lrs}, xlabel="epoch"
)
book_figure(
    fig,
    "6.24",
    "The learning rate over 10 epochs on a log axis for StepLR(2, 0.1) and the equivalent "
    "LambdaLR, two identical staircases dropping tenfold every two epochs from 0.01.",
)

# %%
# The two agree up to rounding only (the difference printed above): ``StepLR`` multiplies
# the current rate by 0.1 at every milestone, while ``LambdaLR`` recomputes
# ``0.01 * 0.1 ** k`` from scratch. The difference is harmless, but it is a reminder to
# compare floating-point rates with a tolerance.
#
# The other ready-made rules
# ~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# Three more epoch schedulers of the chapter, each from 0.01 over 10 epochs:
# :class:`~torch.optim.lr_scheduler.MultiStepLR` multiplies the rate by ``gamma`` at the
# listed milestones only, :class:`~torch.optim.lr_scheduler.ExponentialLR` multiplies it by
# ``gamma`` after every epoch, and :class:`~torch.optim.lr_scheduler.CosineAnnealingLR`
# glides down half a cosine from the initial rate to ``eta_min`` (0 by default) over
# ``T_max`` epochs.

more_epoch_lrs = {
    "MultiStepLR([3, 6], 0.1)": record_lrs(
        lambda opt: MultiStepLR(opt, milestones=[3, 6], gamma=0.1), n_epochs
    ),
    "ExponentialLR(0.7)": record_lrs(lambda opt: ExponentialLR(opt, gamma=0.7), n_epochs),
    "CosineAnnealingLR(10)": record_lrs(lambda opt: CosineAnnealingLR(opt, T_max=10), n_epochs),
}
for name, lrs in more_epoch_lrs.items():
    print(f"{name:>24}:", " ".join(f"{lr:.2g}" for lr in lrs))
fig = plot_lr_sequences(more_epoch_lrs, log=False, xlabel="epoch")
book_figure(
    fig,
    None,
    "The learning rate over 10 epochs on a linear axis for MultiStepLR, ExponentialLR and "
    "CosineAnnealingLR from 0.01.",
)

# %%
# A linear y-axis this time, so that the cosine's shape shows: slow at first, fastest
# halfway, slow again near the end, where the rate approaches zero. ``MultiStepLR``'s
# first rate lasts three epochs, because its milestones are epoch *numbers*: the rate
# changes when the epoch counter reaches 3 and 6.
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
print(
    compare_with_book(
        "ReduceLROnPlateau(patience=4, factor=0.1), flat loss, 12 epochs",
        " ".join(f"{lr:g}" for lr in plateau_lrs),
        "0.01 x6, 0.001 x5, 0.0001",
        section=SECTION,
    )
)
fig = plot_lr_sequences({"ReduceLROnPlateau(patience=4, factor=0.1)": plateau_lrs}, xlabel="epoch")
book_figure(
    fig,
    "6.25",
    "The learning rate of ReduceLROnPlateau over 12 epochs of a flat loss on a log axis: "
    "0.01 for six epochs, 0.001 for five, then 0.0001.",
)

# %%
# The first loss it sees becomes the best so far; the next four are "bad" epochs it
# tolerates; the fifth bad one exceeds the patience and the rate drops, so the first rate
# lasts six epochs. After a cut the count of bad epochs restarts from zero, and the best loss
# is kept, so the next cut comes after five more epochs, not six. The reduced rate is
# first used in the seventh epoch (the book says the sixth;
# :ref:`sphx_glr_auto_examples_plot_20_errata.py`). In a training loop it feeds on the
# validation loss, so it needs a validation set to watch.
#
# How StepByStep steps each kind
# ------------------------------
#
# :meth:`StepByStep.set_lr_scheduler <rpsbook.trainer.StepByStep.set_lr_scheduler>` takes
# any of these schedulers, and :meth:`~rpsbook.trainer.StepByStep.train` hands it to a
# :class:`~rpsbook.schedulers.SchedulerStepper`, which asks
# :func:`~rpsbook.schedulers.scheduler_kind` once when to step it: epoch schedulers after each
# epoch's validation, ``ReduceLROnPlateau`` at the same moment with the validation loss it
# just measured, mini-batch schedulers right after every ``optimizer.step()`` (next
# page). The trainer records the rate of every update in ``step_lrs`` (and, as the book
# does, one list of group rates per scheduler step in ``learning_rates``). The training loop
# calls the stepper's ``after_epoch`` once each epoch's training and validation are done;
# it steps the epoch and plateau kinds, the plateau one with the validation loss:

show_source(SchedulerStepper.after_epoch, docstring=False)

# %%
# and the step itself, where ``ReduceLROnPlateau`` gets its metric and every other scheduler
# none (``CosineAnnealingWarmRestarts``, stepped per mini-batch, gets its fractional epoch):

show_source(SchedulerStepper.step, docstring=False)

# %%
# Here it is on the regression playground of the previous pages (5 mini-batches per epoch)
# with ``StepLR`` halving a rate of 0.1 every two epochs:

data = make_regression_data()


def playground_trainer(with_validation: bool = True) -> StepByStep:
    """The regression model with plain SGD (lr 0.1), ready to train."""
    model = make_model()
    trainer = StepByStep(model, nn.MSELoss(), SGD(model.parameters(), lr=0.1))
    trainer.set_loaders(data.train_loader, data.val_loader if with_validation else None)
    return trainer


sbs = playground_trainer()
sbs.set_lr_scheduler(StepLR(sbs.optimizer, step_size=2, gamma=0.5))
sbs.train(4)
n_batches = len(data.train_loader)
print(f"{n_batches} mini-batches per epoch")
for epoch in range(4):
    print(f"epoch {epoch}: lrs {sbs.step_lrs[n_batches * epoch : n_batches * (epoch + 1)]}")

# %%
# Every mini-batch of an epoch uses the same rate, and the rate changes between epochs only.
#
# Recap
# -----
#
# * Call ``scheduler.step()`` after ``optimizer.step()``; the other way round skips the
#   schedule's first value.
# * Schedulers come in three kinds: per epoch
#   (``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``LambdaLR``, ``CosineAnnealingLR``),
#   per validation loss (``ReduceLROnPlateau``), per mini-batch (next page).
# * An epoch scheduler is a rule of the epoch number; ``ReduceLROnPlateau`` cuts the rate
#   once the validation loss has not improved for more than ``patience`` epochs.
# * :class:`~rpsbook.trainer.StepByStep` steps each kind at its moment.
#
# Notes
# -----
#
# **How the trainer tells the kinds apart.** :func:`rpsbook.schedulers.scheduler_kind`
# sorts a scheduler into ``"epoch"``, ``"plateau"`` or ``"batch"``; the trainer asks it
# when to step:

schedulers = {
    "StepLR": lambda opt: StepLR(opt, step_size=2),
    "MultiStepLR": lambda opt: MultiStepLR(opt, milestones=[3, 6]),
    "ExponentialLR": lambda opt: ExponentialLR(opt, gamma=0.9),
    "LambdaLR": lambda opt: LambdaLR(opt, lambda epoch: 0.1 ** (epoch // 2)),
    "CosineAnnealingLR": lambda opt: CosineAnnealingLR(opt, T_max=10),
    "ReduceLROnPlateau": lambda opt: ReduceLROnPlateau(opt, patience=4, factor=0.1),
    "CyclicLR": lambda opt: CyclicLR(opt, base_lr=1e-4, max_lr=1e-3),
    "OneCycleLR": lambda opt: OneCycleLR(opt, max_lr=0.1, total_steps=100),
    "CosineAnnealingWarmRestarts": lambda opt: CosineAnnealingWarmRestarts(opt, T_0=2),
}
for name, make_scheduler in schedulers.items():
    print(f"{name:>27}: {scheduler_kind(make_scheduler(throwaway_sgd()))}")

# %%
# **Errors instead of silence.** Mistakes that the trainer turns into errors rather than
# silently ignoring them: a ``ReduceLROnPlateau`` with no validation loader to measure its
# loss, and a scheduler built on some other optimizer than the trainer's (it would change
# the rate of an optimizer that never trains this model). The messages name the fix:

sbs = playground_trainer(with_validation=False)
sbs.set_lr_scheduler(ReduceLROnPlateau(sbs.optimizer, patience=4, factor=0.1))
try:
    sbs.train(1)
except RuntimeError as error:
    print(f"RuntimeError: {error}")

sbs = playground_trainer()
other_optimizer = SGD(make_model().parameters(), lr=0.1)
try:
    sbs.set_lr_scheduler(StepLR(other_optimizer, step_size=2))
except ValueError as error:
    print(f"ValueError: {error}")


# sphinx_gallery_thumbnail_number = 2
