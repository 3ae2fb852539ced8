"""
Cyclical learning rates: schedulers stepped per mini-batch
==========================================================

The schedulers of :ref:`sphx_glr_auto_examples_plot_09_epoch_schedulers.py` change the
learning rate between epochs, by a rule of the epoch number or in reaction to the
validation loss. Cyclical schedules move it up *and* down, on purpose, after every
mini-batch. This page makes one argument: a cycle alternates *exploring* the loss surface
(a high rate, long steps that can jump out of a poor valley) with *targeting* a minimum (a
low rate, short steps that settle), and for that to work a cycle must be long, spanning
several epochs.
"""

# %%
# CyclicLR and its three modes
# ----------------------------
#
# :class:`~torch.optim.lr_scheduler.CyclicLR` moves the rate back and forth between
# ``base_lr`` and ``max_lr``, taking ``step_size_up`` steps to climb and as many to come
# down, and it is stepped after every mini-batch. It ignores the rate the optimizer was
# created with: a cycle starts at ``base_lr``. A typical choice of ``max_lr`` is the
# learning rate the range test found
# (:ref:`sphx_glr_auto_examples_plot_06_learning_rates.py`), with ``base_lr`` some way below
# it. Its ``mode`` decides what happens to the amplitude from one cycle to the next:
# ``"triangular"`` keeps it, ``"triangular2"`` halves it every cycle, ``"exp_range"``
# multiplies it by ``gamma`` at every *step*. The book's example (Figure 6.26) takes a
# deliberately unreasonable ``step_size_up=2``, so that three cycles fit in a small figure.

import math

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR

from rpsbook.paths import make_model, make_regression_data
from rpsbook.training import StepByStep, plot_lr_sequences, record_lrs

modes = ("triangular", "triangular2", "exp_range")
cyclic_lrs = {}
for mode in modes:
    # one optimizer per scheduler: a scheduler writes its rate into its optimizer
    dummy_optimizer = SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
    scheduler = CyclicLR(
        dummy_optimizer,
        base_lr=1e-4,
        max_lr=1e-3,
        step_size_up=2,
        mode=mode,
        gamma=math.sqrt(0.5),
    )
    lrs = []
    for _ in range(12):
        lrs.append(scheduler.get_last_lr()[0])
        dummy_optimizer.step()
        scheduler.step()
    cyclic_lrs[mode] = lrs
    print(f"{mode:>11}: lr at steps 2, 6, 10 {[f'{lrs[t]:.3g}' for t in (2, 6, 10)]}")

fig, axes = plt.subplots(1, 3, figsize=(11, 3.3), sharey=True, layout="constrained")
for ax, (mode, lrs) in zip(axes, cyclic_lrs.items(), strict=True):
    ax.plot(range(len(lrs)), lrs, "o-", markersize=4)
    ax.set_title(f"CyclicLR, mode={mode!r}")
    ax.set_xlabel("mini-batch")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
axes[0].set_ylabel("learning rate")
# sphinx_gallery_start_ignore
from rpsbook.report import book_figure

book_figure(
    fig,
    "6.26",
    "The learning rate of 12 mini-batches in three panels: triangles between 1e-4 and 1e-3 "
    "every four steps for triangular, halving in height for triangular2, shrinking faster "
    "for exp_range.",
)
# sphinx_gallery_end_ignore

# %%
# A cycle lasts ``2 * step_size_up = 4`` mini-batches, so steps 2, 6 and 10 are the tops of
# the three cycles. At those steps (printed above) ``triangular`` reaches ``max_lr`` every
# time, ``triangular2`` halves the distance to ``base_lr`` from one cycle to the next, and
# ``exp_range`` decays faster still: ``gamma ** step`` halves the amplitude every two
# steps, so it never even reaches ``max_lr``. (The exponent is the step count, not the cycle
# count the book's text names: :ref:`sphx_glr_auto_examples_plot_20_errata.py`.)
#
# How long should a cycle be?
# ---------------------------
#
# The book says a *full* cycle (up and down) should span 2 to 10 epochs, citing Smith, who
# introduced cyclical learning rates. Smith's rule is about *half* a cycle: his paper sets
# the stepsize, the climb alone (``step_size_up``), to 2 to 10 epochs' worth of mini-batches
# (:ref:`sphx_glr_auto_examples_plot_20_errata.py`). The book's example fits both: the
# chapter's training set has 2,520 images in mini-batches of 16, i.e. 158 mini-batches per
# epoch; a 5-epoch cycle is then 790 mini-batches, and ``step_size_up`` is half of that,
# 395, a climb of two and a half epochs. Ten epochs of it:

n_batches_rps = math.ceil(2520 / 16)
cycle_epochs = 5
step_size_up = cycle_epochs * n_batches_rps // 2
print(f"{n_batches_rps} mini-batches per epoch, step_size_up = {step_size_up}")
realistic = record_lrs(
    lambda opt: CyclicLR(opt, base_lr=1e-3, max_lr=1e-2, step_size_up=step_size_up),
    10 * n_batches_rps,
)
fig = plot_lr_sequences(
    {f"CyclicLR(1e-3, 1e-2, step_size_up={step_size_up}), 10 epochs": realistic},
    log=False,
    xlabel="mini-batch",
)
for epoch in range(1, 10):
    fig.axes[0].axvline(epoch * n_batches_rps, color="0.8", lw=0.8, zorder=0)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    None,
    "The learning rate of 1,580 mini-batches of CyclicLR between 1e-3 and 1e-2 with "
    "step_size_up=395: two triangles, each climbing for two and a half epochs.",
)
# sphinx_gallery_end_ignore

# %%
# The grey lines mark the epochs. Within an epoch the rate changes a little after each
# mini-batch, slowly enough for the model to follow; cycles of four mini-batches change it
# faster than any model can respond.
#
# Why go back up at all? While the rate is high the steps are long: the parameters travel
# across the loss surface and can leave a narrow valley that a small rate would never get
# out of (exploring). As the rate comes down the steps shorten and the parameters settle
# into the valley they are in (targeting). A ``triangular2`` or ``exp_range`` schedule makes
# each exploration shorter than the last, so the run ends targeting.
#
# Adaptive or cycling? Both
# ~~~~~~~~~~~~~~~~~~~~~~~~~
#
# Adaptive learning rates (Adam, :ref:`sphx_glr_auto_examples_plot_07_adaptive_learning_rate.py`)
# are often presented as competitors of cyclical ones, but they combine: Adam adapts the
# *gradients* with its EWMAs, each parameter its own way; a cyclical policy changes the
# *learning rate* that multiplies them.
#
# Schedulers in StepByStep, part II: a step after every mini-batch
# ----------------------------------------------------------------
#
# For these schedulers the book changes its trainer's mini-batch loop: after every training
# step, and only while training, it calls the scheduler, passing the fraction of the epoch
# done so that ``CosineAnnealingWarmRestarts`` can be stepped with a fractional epoch (it
# counts in epochs: stepped without an argument after every mini-batch, it would take each
# mini-batch for an epoch). Written out in plain PyTorch on the regression playground of the
# previous pages (5 mini-batches per epoch):

data = make_regression_data()
loss_fn = nn.MSELoss()


def train_by_hand(model, optimizer, scheduler, n_epochs):
    """The book's _mini_batch with its scheduler call, for n_epochs of training."""
    n_batches = len(data.train_loader)
    lrs = []  # the rate of every update
    for epoch in range(n_epochs):
        model.train()
        for i, (x_batch, y_batch) in enumerate(data.train_loader):
            loss = loss_fn(model(x_batch), y_batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            lrs.append(optimizer.param_groups[0]["lr"])
            # the book's _mini_batch_schedulers: after every update, only in training
            if isinstance(scheduler, CosineAnnealingWarmRestarts):
                scheduler.step(epoch + (i + 1) / n_batches)  # the epoch reached so far
            else:
                scheduler.step()
    return lrs


def cyclic(optimizer):
    return CyclicLR(optimizer, base_lr=0.025, max_lr=0.1, step_size_up=10, mode="triangular2")


def warm_restarts(optimizer):
    return CosineAnnealingWarmRestarts(optimizer, T_0=2)


hand_lrs = {}
for make_scheduler in (cyclic, warm_restarts):
    model = make_model()
    optimizer = SGD(model.parameters(), lr=0.1)
    hand_lrs[make_scheduler.__name__] = train_by_hand(
        model, optimizer, make_scheduler(optimizer), 6
    )
n_batches = len(data.train_loader)
print("warm restarts, first epoch:", [f"{lr:.4f}" for lr in hand_lrs["warm_restarts"][:n_batches]])

# %%
# After mini-batch ``i`` of epoch ``epoch`` the rate of the next mini-batch is due, at the
# fractional epoch ``epoch + (i + 1) / n_batches``. The book passes its epoch counter plus
# ``i / n_batches``, and its counter already counts the epoch being trained, so its
# schedule runs almost one epoch ahead (:ref:`sphx_glr_auto_examples_plot_20_errata.py`).
# :class:`~rpsbook.training.StepByStep` steps a mini-batch scheduler at the same moment, and
# records the rate of every update in ``step_lrs``. The figure draws the rates of the
# loop above, and for contrast ``CosineAnnealingWarmRestarts`` stepped without an
# argument, which restarts every ``T_0 = 2`` mini-batches instead of every two epochs:

trainer_lrs = {}
for make_scheduler in (cyclic, warm_restarts):
    model = make_model()
    sbs = StepByStep(model, loss_fn, SGD(model.parameters(), lr=0.1))
    sbs.set_loaders(data.train_loader, data.val_loader)
    sbs.set_lr_scheduler(make_scheduler(sbs.optimizer))
    sbs.train(6)
    trainer_lrs[make_scheduler.__name__] = sbs.step_lrs
print("StepByStep gives the same rates:", trainer_lrs == hand_lrs)

naive_lrs = record_lrs(warm_restarts, 6 * n_batches, lr=0.1)
fig = plot_lr_sequences(
    {
        "CyclicLR, triangular2": hand_lrs["cyclic"],
        "warm restarts, fractional epochs": hand_lrs["warm_restarts"],
        "warm restarts, step() alone": naive_lrs,
    },
    log=False,
    xlabel="mini-batch",
)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    None,
    "The learning rate of 30 mini-batches (six epochs of five) in three panels: CyclicLR "
    "rising from 0.025 to 0.1 over ten mini-batches, back down over ten, then climbing "
    "again at half the slope, towards a peak of 0.0625 (half the first rise above 0.025); "
    "CosineAnnealingWarmRestarts stepped with fractional epochs gliding down over two epochs "
    "before each restart; the same stepped without an argument restarting every two "
    "mini-batches.",
)
# sphinx_gallery_end_ignore

# %%
# Gotchas of the cyclical schedulers
# ----------------------------------
#
# **CyclicLR cycles the momentum too.** With ``cycle_momentum=True``, the default, it moves
# the momentum opposite to the rate, between ``max_momentum`` (0.9) at the bottom of a cycle
# and ``base_momentum`` (0.8) at the top, writing it into the optimizer (``beta1`` for Adam).
# Plain SGD has a ``momentum`` entry set to zero, so it silently becomes SGD *with*
# momentum:


def lr_and_momentum(optimizer: SGD) -> str:
    group = optimizer.param_groups[0]
    return f"lr {group['lr']:.4g}, momentum {group['momentum']:.4g}"


for cycle_momentum in (True, False):
    optimizer = SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
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
# Pass ``cycle_momentum=False`` to keep the optimizer's own momentum (an optimizer with
# neither ``momentum`` nor ``betas`` requires it).
#
# **OneCycleLR must know the length of training.** It draws a single cycle, warming up to
# ``max_lr`` and annealing far below the start, stretched over ``total_steps`` (or
# ``epochs * steps_per_epoch``), and raises an error if stepped past the end:

one_cycle_lrs = record_lrs(lambda opt: OneCycleLR(opt, max_lr=0.1, total_steps=20), 20)
print(f"first {one_cycle_lrs[0]:.3g}, peak {max(one_cycle_lrs):.3g}, last {one_cycle_lrs[-1]:.3g}")

# %%
# Recap
# -----
#
# * Mini-batch schedulers (``CyclicLR``, ``OneCycleLR``, ``CosineAnnealingWarmRestarts``)
#   are stepped after every update, ``CosineAnnealingWarmRestarts`` with the fractional
#   epoch; :class:`~rpsbook.training.StepByStep` does so.
# * ``max_lr`` is typically the range test's value. Smith's rule: the climb of a cycle
#   (``step_size_up``) spans 2 to 10 epochs; with 158 mini-batches per epoch, a 5-epoch
#   cycle has ``step_size_up=395``.
# * High rates explore, low rates target a minimum; cycles alternate the two. Adapting the
#   gradients (Adam) and cycling the rate combine.
#
# Checked against the book
# ------------------------
#
# What follows compares this page's sequences with the ones the book prints and draws.

# sphinx_gallery_start_ignore
from rpsbook.report import checked_against_book

checked_against_book(
    "Mini-batch schedulers",
    [
        (
            "CyclicLR(1e-4, 1e-3, step_size_up=2) at steps 2, 6, 10: triangular / "
            "triangular2 / exp_range",
            " / ".join(
                " ".join(f"{cyclic_lrs[mode][t]:.3g}" for t in (2, 6, 10)) for mode in modes
            ),
            "tops of Figure 6.26: 0.001 x3 / 0.001 0.00055 0.000325 / below 0.0006, falling",
        ),
        ("step_size_up for a 5-epoch cycle of 158 mini-batches", step_size_up, "395"),
    ],
)
# sphinx_gallery_end_ignore

# %%
# Exercises
# ---------
#
# .. _ex-triangular2-third-peak:
#
# The third peak of triangular2
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Predict, then measure.* ``CyclicLR(base_lr=0.001, max_lr=0.01, step_size_up=5,
# mode="triangular2")``: at which steps (counting from 0) are the peaks of its first three
# cycles, and what rate does each reach? Write them down, then record 30 steps.

# %%
# .. rpsbook-solution::

ex_triangular2 = record_lrs(
    lambda opt: CyclicLR(opt, base_lr=0.001, max_lr=0.01, step_size_up=5, mode="triangular2"),
    30,
)
ex_peaks = [max(range(10 * c, 10 * c + 10), key=ex_triangular2.__getitem__) for c in range(3)]
print("peaks (step, lr):", [(step, f"{ex_triangular2[step]:.6g}") for step in ex_peaks])

# %%
# A cycle lasts ``2 * step_size_up = 10`` steps from ``base_lr``: peaks at steps 5, 15, 25.
# Every cycle halves the height above ``base_lr``, 0.009, then 0.0045, then 0.00225: the
# third peak is :math:`0.001 + 0.009 / 4 = 0.00325`.
#
# .. _ex-cyclic-adam:
#
# CyclicLR on Adam and on Adagrad
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Change one thing and explain.* Give the gotcha's ``CyclicLR(base_lr=1e-4, max_lr=1e-3,
# step_size_up=2)`` an ``Adam(lr=0.01)`` instead of plain SGD, then an ``Adagrad(lr=0.01)``,
# keeping ``cycle_momentum`` at its default. What happens to each optimizer over 5 steps?

# %%
# .. rpsbook-solution::

from torch.optim import Adagrad, Adam

ex_adam = Adam([nn.Parameter(torch.zeros(1))], lr=0.01)
ex_scheduler = CyclicLR(ex_adam, base_lr=1e-4, max_lr=1e-3, step_size_up=2)
ex_adam_beta1 = []
for _ in range(5):
    ex_adam_beta1.append(ex_adam.param_groups[0]["betas"][0])
    ex_adam.step()
    ex_scheduler.step()
print("Adam's beta1 over 5 steps:", [f"{beta1:.3g}" for beta1 in ex_adam_beta1])
try:
    CyclicLR(Adagrad([nn.Parameter(torch.zeros(1))], lr=0.01), base_lr=1e-4, max_lr=1e-3)
except ValueError as error:
    ex_adagrad_error = str(error)
    print("Adagrad: ValueError:", ex_adagrad_error)

# %%
# Adam has no ``momentum``, but its ``beta1`` plays that part (the EWMA of the gradients),
# so ``CyclicLR`` cycles it silently, from 0.9 at the bottom of a cycle down to 0.8 at the
# top and back: Adam's first moment then averages over fewer steps exactly when the rate is
# high. Adagrad has neither ``momentum`` nor ``betas``, and the constructor refuses it:
# it needs ``cycle_momentum=False``. (Older torch refused Adam too: pytorch issue 73910.)
#
# .. _ex-one-cycle-by-hand:
#
# OneCycleLR by hand
# ~~~~~~~~~~~~~~~~~~
#
# *Implement, then compare with torch.* ``OneCycleLR(max_lr=0.1, total_steps=20)``, by
# default (``pct_start=0.3``, ``div_factor=25``, ``final_div_factor=1e4``), rises from
# ``max_lr / 25`` to ``max_lr`` and falls to the start over ``1e4``, each along half a
# cosine. At which step does it peak? Write its 20 rates and compare with ``one_cycle_lrs``.

# %%
# .. rpsbook-solution::


def ex_one_cycle(step, max_lr=0.1, total_steps=20, pct_start=0.3):
    start, peak_step = max_lr / 25, pct_start * total_steps - 1
    if step <= peak_step:  # warm-up, from start up to max_lr
        begin, end, pct = start, max_lr, step / peak_step
    else:  # annealing, from max_lr down to start / 1e4
        begin, end = max_lr, start / 1e4
        pct = (step - peak_step) / (total_steps - 1 - peak_step)
    return end + (begin - end) * (1 + math.cos(math.pi * pct)) / 2  # half a cosine


ex_hand_lrs = [ex_one_cycle(step) for step in range(20)]
ex_peak = max(range(20), key=one_cycle_lrs.__getitem__)
ex_gap = max(abs(a - b) for a, b in zip(ex_hand_lrs, one_cycle_lrs, strict=True))
print(f"torch's peak at step {ex_peak}; largest difference from the rates by hand {ex_gap:.1e}")

# %%
# The warm-up ends at step ``pct_start * total_steps - 1 = 5``, so the peak is the *sixth*
# rate, and the annealing ends at step ``total_steps - 1 = 19``, the last, at ``4e-07``.
# The rates by hand agree with torch's to float64 rounding (the difference printed above).
# From ``0.1 / 25 = 0.004`` the first of the five climbing steps covers
# :math:`(1 - \cos(\pi/5))/2`, under a tenth of the climb, where a straight line would cover
# a fifth: half a cosine starts and ends slowly.

# %%
# Notes
# -----
#
# **One optimizer per scheduler.** The book's snippet for Figure 6.26 builds its three
# ``CyclicLR`` on one shared optimizer. Each still computes its own sequence, but all three
# write into that optimizer, which would train with whichever wrote last; the loop above
# gives each its own.

# sphinx_gallery_thumbnail_number = 1
