"""
Learning-rate schedulers
========================

One fixed learning rate is always a compromise. Far from a minimum a large rate covers
ground quickly, but close to it the same rate makes every update overshoot, so the loss
bounces around instead of settling; a small rate settles nicely but crawls on the way
there. A *learning-rate scheduler* removes the compromise by changing the rate while the
model trains, following a rule: divide it by ten every few epochs, cut it when the
validation loss stops improving, or sweep it up and down in cycles.

This page goes through PyTorch's schedulers with :mod:`rpsbook.schedulers`: when each one
must be stepped (per epoch, per validation loss or per mini-batch), what sequences of
rates they produce (Figures 6.24 to 6.26 in the book), how
:class:`rpsbook.trainer.StepByStep` steps each kind at the right moment, and the surprises
hidden in their defaults. It ends on the linear-regression playground, where learning-rate
range tests (Figure 6.27) and the paths of six optimizer/scheduler pairs across the loss
surface (Figures 6.28 and 6.29) show what a schedule actually changes.
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

import math
import warnings
from functools import partial

import matplotlib.pyplot as plt
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

from rpsbook.lr_finder import lr_range_test
from rpsbook.paths import (
    OptimizerConfig,
    compare_optimizers,
    loss_surface,
    make_model,
    make_regression_data,
    plot_losses,
    plot_paths,
)
from rpsbook.report import compare_with_book
from rpsbook.schedulers import plot_lr_sequences, record_lrs, scheduler_kind
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
# and the training loop has to know it. :func:`rpsbook.schedulers.scheduler_kind` sorts them
# into three families:
#
# * ``"epoch"``: stepped once per epoch, following a fixed rule;
# * ``"plateau"``: stepped once per epoch *with the validation loss*, which it watches;
# * ``"batch"``: stepped after every mini-batch, for rates that move within an epoch.

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
plot_lr_sequences(
    {"StepLR(2, 0.1)": step_lrs, "LambdaLR(0.1**(epoch//2))": lambda_lrs}, xlabel="epoch"
)

# %%
# The two agree up to rounding only (the difference printed above): ``StepLR`` multiplies
# the current rate by 0.1 at every milestone, while ``LambdaLR`` recomputes
# ``0.01 * 0.1 ** k`` from scratch. The difference is harmless, but it is a reminder to
# compare floating-point rates with a tolerance.
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
plot_lr_sequences({"ReduceLROnPlateau(patience=4, factor=0.1)": plateau_lrs}, xlabel="epoch")

# %%
# The first loss it sees becomes the best so far; the next four are "bad" epochs it
# tolerates; the fifth bad one exceeds the patience and the rate drops, so the first rate
# lasts six epochs. After a cut the count of bad epochs restarts from zero, and the best loss
# is kept, so the next cut comes after five more epochs, not six. In a training loop it
# feeds on the validation loss, so it needs a validation set to watch.
#
# Mini-batch schedulers: cycles within an epoch
# ---------------------------------------------
#
# :class:`~torch.optim.lr_scheduler.CyclicLR` moves the rate back and forth between
# ``base_lr`` and ``max_lr``, taking ``step_size_up`` steps to climb and as many to come
# down, so it is stepped after every mini-batch. Its ``mode`` decides what happens to the
# amplitude from one cycle to the next: ``"triangular"`` keeps it, ``"triangular2"`` halves
# it every cycle, ``"exp_range"`` multiplies it by ``gamma`` at every *step* (Figure 6.26 in
# the book):

modes = ("triangular", "triangular2", "exp_range")
cyclic_lrs = {
    mode: record_lrs(
        lambda opt, mode=mode: CyclicLR(
            opt, base_lr=1e-4, max_lr=1e-3, step_size_up=2, mode=mode, gamma=math.sqrt(0.5)
        ),
        16,
    )
    for mode in modes
}
for mode, lrs in cyclic_lrs.items():
    print(f"{mode:>11}: lr at steps 2, 6, 10 {[f'{lrs[t]:.3g}' for t in (2, 6, 10)]}")
plot_lr_sequences(cyclic_lrs, xlabel="mini-batch")

# %%
# A cycle lasts ``2 * step_size_up = 4`` mini-batches, so steps 2, 6 and 10 are the tops of
# the first three cycles. At those steps, printed above, ``triangular`` reaches ``max_lr``
# every time, ``triangular2`` halves the distance to ``base_lr`` from one cycle to the next,
# and ``exp_range`` decays faster still, since ``gamma**t`` halves the amplitude every two
# steps: it never even reaches ``max_lr``.
#
# Each sequence comes from its own call to :func:`~rpsbook.schedulers.record_lrs`, and each
# call builds a fresh optimizer. That is not a detail: a scheduler does not keep the rate to
# itself, it *writes* it into its optimizer's parameter groups (along with an
# ``initial_lr`` entry and, for ``CyclicLR``, the momentum, see below). Three schedulers on a
# single optimizer would overwrite one another at every step, and the optimizer would train
# with whichever wrote last. One optimizer, one scheduler.
#
# How StepByStep steps each kind
# ------------------------------
#
# :meth:`StepByStep.set_lr_scheduler <rpsbook.trainer.StepByStep.set_lr_scheduler>` takes
# any of these schedulers and :meth:`~rpsbook.trainer.StepByStep.train` asks
# :func:`~rpsbook.schedulers.scheduler_kind` when to step it: epoch schedulers after each
# epoch's validation, ``ReduceLROnPlateau`` at the same moment with the validation loss it
# just measured, mini-batch schedulers right after every ``optimizer.step()``. The trainer
# records the rate of every update in its ``learning_rates`` list. Here it is on the
# regression playground of the previous pages (5 mini-batches per epoch) with ``StepLR``
# halving a rate of 0.1 every two epochs:

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
    print(f"epoch {epoch}: lrs {sbs.learning_rates[n_batches * epoch : n_batches * (epoch + 1)]}")

# %%
# Every mini-batch of an epoch uses the same rate, and the rate changes between epochs only.
#
# Mistakes that the trainer turns into errors rather than silently ignoring them: a
# ``ReduceLROnPlateau`` with no validation loader to measure its loss, and a scheduler
# built on some other optimizer than the trainer's (it would change the rate of an optimizer
# that never trains this model).

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

# %%
# Mini-batch schedulers are stepped after every update. One of them needs care:
# :class:`~torch.optim.lr_scheduler.CosineAnnealingWarmRestarts` counts in *epochs*: it
# follows half a cosine from the initial rate down to ``eta_min`` over ``T_0`` epochs and
# then restarts. Called with no argument after every mini-batch, it would take each
# mini-batch for an epoch and restart every ``T_0`` mini-batches. The trainer instead passes
# the fractional epoch reached, ``epoch + (i + 1) / n_batches`` after mini-batch ``i`` (see
# :func:`~rpsbook.schedulers.cosine_warm_restarts_epoch`), so the rate glides down within
# each epoch and restarts every ``T_0`` epochs. Both histories side by side, for ``T_0=2``
# over six epochs:

sbs = playground_trainer()
sbs.set_lr_scheduler(CosineAnnealingWarmRestarts(sbs.optimizer, T_0=2))
sbs.train(6)
naive_lrs = record_lrs(
    lambda opt: CosineAnnealingWarmRestarts(opt, T_0=2), len(sbs.learning_rates), lr=0.1
)
print("trainer, first epoch:  ", [f"{lr:.4f}" for lr in sbs.learning_rates[:n_batches]])
print("step() per mini-batch: ", [f"{lr:.4f}" for lr in naive_lrs[:n_batches]])
plot_lr_sequences(
    {
        "StepByStep (fractional epochs)": sbs.learning_rates,
        "step() without argument": naive_lrs,
    },
    log=False,
    xlabel="mini-batch",
)

# %%
# Gotchas of the cyclical schedulers
# ----------------------------------
#
# **CyclicLR cycles the momentum too.** With ``cycle_momentum=True``, the default, it moves
# the momentum opposite to the rate, between ``max_momentum`` (0.9) at the bottom of a cycle
# and ``base_momentum`` (0.8) at the top, writing it into the optimizer (``beta1`` for Adam).
# Plain SGD has a ``momentum`` entry set to zero, so it silently becomes SGD *with*
# momentum. Note also the rate: the optimizer was created with 0.01, yet ``CyclicLR``
# replaces it with ``base_lr`` at once, because a cycle starts at the bottom.


def lr_and_momentum(optimizer: SGD) -> str:
    group = optimizer.param_groups[0]
    return f"lr {group['lr']:.4g}, momentum {group['momentum']:.4g}"


for cycle_momentum in (True, False):
    optimizer = throwaway_sgd(lr=0.01)
    print(f"cycle_momentum={cycle_momentum}")
    print(f"  plain SGD:                 {lr_and_momentum(optimizer)}")
    scheduler = CyclicLR(
        optimizer, base_lr=1e-4, max_lr=1e-3, step_size_up=2, cycle_momentum=cycle_momentum
    )
    print(f"  after CyclicLR(...):       {lr_and_momentum(optimizer)}")
    for _ in range(2):
        optimizer.step()
        scheduler.step()
    print(f"  two steps later (the top): {lr_and_momentum(optimizer)}")

# %%
# Pass ``cycle_momentum=False`` to keep the optimizer's own momentum, and expect a
# ``ValueError`` from an optimizer that has neither ``momentum`` nor ``betas`` unless you do.
#
# **OneCycleLR must know the length of training.** It draws a single cycle, warming up to
# ``max_lr`` and annealing far below the start, stretched over ``total_steps`` (or
# ``epochs * steps_per_epoch``). It refuses to be stepped past the end:

one_cycle = partial(OneCycleLR, max_lr=0.1, total_steps=20)
one_cycle_lrs = record_lrs(one_cycle, 20)
print(f"first {one_cycle_lrs[0]:.3g}, peak {max(one_cycle_lrs):.3g}, last {one_cycle_lrs[-1]:.3g}")
try:
    record_lrs(one_cycle, 21)
except ValueError as error:
    print(f"ValueError: {error}")

# %%
# **Cycles should be long.** The cycles above last four mini-batches only to keep the figure
# readable. Smith, who introduced cyclical rates, recommends a half cycle (``step_size_up``)
# of 2 to 10 epochs' worth of mini-batches, i.e. a multiple of ``len(train_loader)``; much
# shorter cycles change the rate faster than the model can respond to it.
#
# Choosing the range: LR range tests on the regression
# ----------------------------------------------------
#
# Before comparing schedules on the playground, we need rates to schedule. The learning-rate
# range test of the previous pages, :func:`rpsbook.lr_finder.lr_range_test`, raises the rate
# of SGD with momentum 0.9 (with and without Nesterov) from 1e-3 to 1 over 100 mini-batches
# of the regression data and records the smoothed loss (Figure 6.27 in the book). The test
# puts the model and optimizer back as they were when it is done.

torch.manual_seed(42)  # the training loader shuffles with torch's global generator
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout="constrained")
for k, nesterov in enumerate((False, True)):
    name = "Nesterov" if nesterov else "Momentum"
    model = make_model()
    optimizer = SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=nesterov)
    result = lr_range_test(model, optimizer, nn.MSELoss(), data.train_loader, end_lr=1)
    result.plot(ax=axes[k])
    axes[k].set_title(f"SGD, momentum 0.9{', Nesterov' if nesterov else ''}")
    lowest = result.lr[result.loss.index(min(result.loss))]
    print(f"{name}: steepest descent at lr {result.suggestion:.2e}, lowest loss at {lowest:.2f}")

# %%
# The two flavours give nearly the same curve, and the same suggestion (printed above): the
# point where the smoothed loss falls fastest. Unlike the "U" of the CNN's range test
# (Figure 6.14 in the book), these curves never turn up: on this small, well-conditioned
# problem even a rate close to 1 does not make SGD with momentum diverge, and the lowest
# smoothed loss (printed above) comes near the end of the range. Everything from a few
# thousandths up is usable, so the comparison below runs SGD at 0.1, well inside the
# falling part of both curves, and lets a ``CyclicLR`` sweep between 0.025 and 0.1.
#
# What a schedule changes: paths on the loss surface
# --------------------------------------------------
#
# Six runs from the same initial model, same mini-batches, ten epochs each, all with SGD at
# a rate of 0.1 and momentum 0.9 (plain, or Nesterov): without a scheduler, with ``StepLR``
# halving the rate every four epochs, and with a ``triangular2`` ``CyclicLR`` between 0.025
# and 0.1 with ten mini-batches (two epochs) per half cycle.
# :func:`rpsbook.paths.compare_optimizers` trains them with
# :class:`~rpsbook.trainer.StepByStep`, records the ``(b, w)`` path of every update, and
# :func:`rpsbook.paths.plot_paths` draws them over the loss contours, one row per optimizer
# and one column per schedule (Figure 6.28 in the book).

flavours = {
    "Momentum": partial(SGD, lr=0.1, momentum=0.9),
    "Nesterov": partial(SGD, lr=0.1, momentum=0.9, nesterov=True),
}
schedules = {
    "no scheduler": None,
    "StepLR": partial(StepLR, step_size=4, gamma=0.5),
    "CyclicLR": partial(CyclicLR, base_lr=0.025, max_lr=0.1, step_size_up=10, mode="triangular2"),
}
configs = [
    OptimizerConfig(f"{flavour} + {schedule}", optimizer, scheduler)
    for flavour, optimizer in flavours.items()
    for schedule, scheduler in schedules.items()
]
results = compare_optimizers(configs)
surface = loss_surface(data.x_train, data.y_train)
plot_paths(results, surface, ncols=3)

# %%
# The losses of the same runs, one panel per optimizer so that the three schedules share
# an axes (Figure 6.29 in the book):

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True, layout="constrained")
plot_losses(results, ax=[axes[0]] * 3 + [axes[1]] * 3)
for panel, flavour in zip(axes, flavours, strict=True):
    panel.set_title(flavour)
    panel.legend(fontsize="small")

# %%
# Where each run ended, next to the least-squares optimum, and the momentum its optimizer
# was left with:

b_best, w_best = surface.optimum
print(f"least squares: b={b_best:.4f}, w={w_best:.4f}")
print(f"{'':>24} {'train':>7} {'val':>7} {'b':>7} {'w':>7} {'distance':>8} {'momentum':>8}")
for name, result in results.items():
    b, w = result.path[-1].tolist()
    distance = math.dist((b, w), surface.optimum)
    momentum = result.optimizer_state["param_groups"][0]["momentum"]
    print(
        f"{name:>24} {result.losses[-1]:7.4f} {result.val_losses[-1]:7.4f} "
        f"{b:7.4f} {w:7.4f} {distance:8.4f} {momentum:8.3f}"
    )

# %%
# What the schedules changed:
#
# * **StepLR** leaves the first four epochs (20 updates) untouched, so its path and losses
#   coincide with the constant-rate run until the first cut, and the orange training curve
#   hides the blue one up to epoch 4. Afterwards a smaller rate shortens every step, the
#   ones that would overshoot *and* the ones that would bring the parameters home. With
#   momentum 0.9 the run was still swinging around a wide loop when the rate was halved,
#   and the shorter steps left it on the far side of that loop: both ``StepLR`` runs end
#   farther from the least-squares point than their constant-rate twins (the distances in
#   the table).
#   A decaying schedule pays off in long runs that have already reached the minimum's
#   neighbourhood, not in ten epochs on a path that has not.
# * **CyclicLR** starts at ``base_lr``, a quarter of 0.1, so the first updates are shorter
#   and the first overshoot is much smaller; in the momentum row it shrinks the wide loops
#   of the constant rate to one smaller swing and ends closest to the optimum. Part of that
#   smoothness comes from the momentum itself: as warned above, ``CyclicLR`` cycled it too,
#   and its runs end with the momentum printed in the table instead of the 0.9 their
#   optimizers were built with.
# * **Nesterov** already damps the oscillations that plain momentum suffers from, so the
#   schedules change its path less; its constant-rate run ends about as close to the
#   optimum as the best momentum run.
#
# The final losses differ far less than the end points do. The loss surface is a long,
# narrow valley: moving along it barely changes the loss, which is why the distance to the
# optimum is the more telling column here, and why validation losses (on 20 points, whose
# own optimum is elsewhere) cannot rank these runs.
#
# Recap
# -----
#
# * Call ``scheduler.step()`` after ``optimizer.step()``; the other way round skips the
#   schedule's first value.
# * Schedulers come in three kinds (:func:`~rpsbook.schedulers.scheduler_kind`): per epoch,
#   per validation loss (``ReduceLROnPlateau``), per mini-batch (``CyclicLR``,
#   ``OneCycleLR``, ``CosineAnnealingWarmRestarts``, the last with fractional epochs).
#   :class:`~rpsbook.trainer.StepByStep` steps each at its moment and refuses a plateau
#   scheduler without validation data or a scheduler on a foreign optimizer.
# * A scheduler writes into its optimizer: give each one its own optimizer, and remember
#   that ``CyclicLR`` and ``OneCycleLR`` overwrite the momentum unless told not to, that
#   ``CyclicLR`` starts at ``base_lr``, and that ``OneCycleLR`` needs the total number of
#   steps.
# * Pick the range with an LR range test, and make a cycle span 2 to 10 epochs.

# sphinx_gallery_thumbnail_number = 3
