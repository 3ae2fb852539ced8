"""
Cyclical learning rates: schedulers stepped per mini-batch
==========================================================

The epoch schedulers of :ref:`sphx_glr_auto_examples_plot_09_epoch_schedulers.py` only
ever lower the learning rate. Cyclical schedules raise it again, on purpose, and change it
after every mini-batch. This page makes one argument: a cycle alternates *exploring* the
loss surface (a high rate, long steps that can jump out of a poor valley) with *targeting*
a minimum (a low rate, short steps that settle), and for that to work a cycle must be long,
spanning several epochs. It shows ``CyclicLR``'s three modes (Figure 6.26 in the book), a
cycle of sensible length, ``CosineAnnealingWarmRestarts`` stepped with fractional epochs,
and the defaults that surprise.
"""

# %%
import math
from functools import partial

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR

from rpsbook.paths import make_model, make_regression_data
from rpsbook.report import book_figure
from rpsbook.schedulers import plot_lr_sequences, record_lrs
from rpsbook.trainer import StepByStep


def throwaway_sgd(lr: float = 0.01) -> SGD:
    """Plain SGD over one dummy parameter: enough to watch what a scheduler does."""
    return SGD([nn.Parameter(torch.zeros(1))], lr=lr)


# %%
# CyclicLR and its three modes
# ----------------------------
#
# :class:`~torch.optim.lr_scheduler.CyclicLR` moves the rate back and forth between
# ``base_lr`` and ``max_lr``, taking ``step_size_up`` steps to climb and as many to come
# down, so it is stepped after every mini-batch. The book's example (Figure 6.26) uses a
# deliberately unreasonable ``step_size_up=2``, so that a few cycles fit in one small
# figure; the next section shows a realistic one. Its ``mode`` decides what happens to the
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
# Plain matplotlib rather than plot_lr_sequences: straight lines between the steps on a
# linear axis, so the triangles show as triangles (the library draws staircases).
fig, axes = plt.subplots(1, 3, figsize=(11, 3.3), sharey=True, layout="constrained")
for ax, (mode, lrs) in zip(axes, cyclic_lrs.items(), strict=True):
    ax.plot(range(len(lrs)), lrs, "o-", markersize=4)
    ax.set_title(f"CyclicLR, mode={mode!r}")
    ax.set_xlabel("mini-batch")
    ax.set_xticks(range(0, len(lrs), 2))
    ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
axes[0].set_ylabel("learning rate")
book_figure(
    fig,
    "6.26",
    "The learning rate of 16 mini-batches in three panels: triangles between 1e-4 and 1e-3 "
    "every four steps for triangular, halving in height for triangular2, shrinking faster "
    "for exp_range.",
)

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
# single optimizer would each still compute their own sequence from their own step count,
# but all three would write it into the one optimizer, which would train with whichever
# wrote last (:ref:`sphx_glr_auto_examples_plot_20_errata.py` shows it). One optimizer, one
# scheduler.
#
#
# How long should a cycle be?
# ---------------------------
#
# The book says a *full* cycle (up and down, ``2 * step_size_up`` mini-batches) should span
# 2 to 10 epochs, citing Smith, who introduced cyclical learning rates. Smith's rule is
# about *half* a cycle: his paper sets the stepsize, the climb alone (``step_size_up``),
# to 2 to 10 epochs' worth of iterations, so a full cycle of 4 to 20 epochs
# (:ref:`sphx_glr_auto_examples_plot_20_errata.py`). The book's example fits both rules.
# The chapter's training set has 2,520 images in mini-batches of 16, i.e. 158 mini-batches
# per epoch; a 5-epoch cycle is then 790 mini-batches, and ``step_size_up`` is half of
# that, 395, a climb of two and a half epochs. Ten epochs of it:

n_batches_rps = math.ceil(2520 / 16)
cycle_epochs = 5
step_size_up = cycle_epochs * n_batches_rps // 2
print(
    f"{n_batches_rps} mini-batches per epoch, a {cycle_epochs}-epoch cycle is "
    f"{cycle_epochs * n_batches_rps} of them: step_size_up = {step_size_up}"
)
realistic = record_lrs(
    lambda opt: CyclicLR(opt, base_lr=1e-3, max_lr=1e-2, step_size_up=step_size_up),
    10 * n_batches_rps,
)
fig = plot_lr_sequences(
    {f"CyclicLR(1e-3, 1e-2, step_size_up={step_size_up}), 10 epochs": realistic},
    log=False,
    xlabel="mini-batch",
)
ax = fig.axes[0]
for epoch in range(1, 10):
    ax.axvline(epoch * n_batches_rps, color="0.8", lw=0.8, zorder=0)
book_figure(
    fig,
    None,
    "The learning rate of 1,580 mini-batches of CyclicLR between 1e-3 and 1e-2 with "
    "step_size_up=395: two triangles, each climbing for two and a half epochs.",
)

# %%
# The grey lines mark the epochs: each climb takes two and a half of them. Within an epoch
# the rate changes a little after each mini-batch, slowly enough for the model to follow;
# the cycles of four mini-batches above change it faster than any model can respond.
#
# Exploring and targeting
# ~~~~~~~~~~~~~~~~~~~~~~~
#
# Why go back up at all? While the rate is high the steps are long: the parameters travel
# across the loss surface and can leave a narrow valley that a small rate would never get
# out of (exploring). As the rate comes down the steps shorten and the parameters settle
# into the valley they are in (targeting). A cyclical schedule alternates the two, and a
# ``triangular2`` or ``exp_range`` one makes each exploration shorter than the last, so the
# run ends targeting.
#
# Adaptive or cycling? Both
# ~~~~~~~~~~~~~~~~~~~~~~~~~
#
# Adam (:ref:`sphx_glr_auto_examples_plot_07_adaptive_learning_rate.py`) and a cyclical
# schedule are not alternatives. Adam adapts the *gradients*, each parameter's own way; a
# scheduler changes the *learning rate*, the same for every parameter. Nothing prevents
# using both: a ``CyclicLR`` on an Adam optimizer cycles the rate that multiplies Adam's
# adapted gradients (and, by default, its ``beta1``, see the gotchas below).
#
# Warm restarts, per mini-batch
# -----------------------------
#
# Mini-batch schedulers are stepped after every update. One of them needs care:
# :class:`~torch.optim.lr_scheduler.CosineAnnealingWarmRestarts` counts in *epochs*: it
# follows half a cosine from the initial rate down to ``eta_min`` over ``T_0`` epochs and
# then restarts. Called with no argument after every mini-batch, it would take each
# mini-batch for an epoch and restart every ``T_0`` mini-batches. The trainer instead passes
# the fractional epoch reached, ``epoch + (i + 1) / n_batches`` after mini-batch ``i`` (see
# :func:`~rpsbook.schedulers.cosine_warm_restarts_epoch`), so the rate glides down within
# each epoch and restarts every ``T_0`` epochs. Both histories side by side, for ``T_0=2``
# over six epochs:

data = make_regression_data()  # the regression playground: 5 mini-batches per epoch
n_batches = len(data.train_loader)
model = make_model()
sbs = StepByStep(model, nn.MSELoss(), SGD(model.parameters(), lr=0.1))
sbs.set_loaders(data.train_loader, data.val_loader)
sbs.set_lr_scheduler(CosineAnnealingWarmRestarts(sbs.optimizer, T_0=2))
sbs.train(6)
naive_lrs = record_lrs(
    lambda opt: CosineAnnealingWarmRestarts(opt, T_0=2), len(sbs.step_lrs), lr=0.1
)
print("trainer, first epoch:  ", [f"{lr:.4f}" for lr in sbs.step_lrs[:n_batches]])
print("step() per mini-batch: ", [f"{lr:.4f}" for lr in naive_lrs[:n_batches]])
fig = plot_lr_sequences(
    {
        "StepByStep (fractional epochs)": sbs.step_lrs,
        "step() without argument": naive_lrs,
    },
    log=False,
    xlabel="mini-batch",
)
book_figure(
    fig,
    None,
    "The learning rate of CosineAnnealingWarmRestarts(T_0=2) over six epochs of five "
    "mini-batches: the trainer's glides down over two epochs before each restart, stepping "
    "without an argument restarts every two mini-batches.",
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
# Recap
# -----
#
# * Mini-batch schedulers (``CyclicLR``, ``OneCycleLR``, ``CosineAnnealingWarmRestarts``)
#   are stepped after every update; :class:`~rpsbook.trainer.StepByStep` does so, and
#   passes ``CosineAnnealingWarmRestarts`` the fractional epoch.
# * Smith's rule: the climb of a cycle (``step_size_up``) should span 2 to 10 epochs (the
#   book says the full cycle). With 158 mini-batches per epoch, a 5-epoch cycle is 790
#   mini-batches, ``step_size_up=395``. The book's ``step_size_up=2`` only makes a small
#   figure.
# * High rates explore, low rates target a minimum; cycles alternate the two. Adapting the
#   gradients (Adam) and cycling the rate combine.
# * A scheduler writes into its optimizer: give each one its own optimizer, and remember
#   that ``CyclicLR`` and ``OneCycleLR`` overwrite the momentum unless told not to, that
#   ``CyclicLR`` starts at ``base_lr``, and that ``OneCycleLR`` needs the total number of
#   steps.
#
# The next page puts these schedules to work on the regression playground.

# sphinx_gallery_thumbnail_number = 1
