"""
Schedulers and SGD flavours on the regression
=============================================

What does a schedule change in practice? This page makes that one argument on the
two-parameter regression of :ref:`sphx_glr_auto_examples_plot_08_sgd_flavours.py`, where
every update can be seen: LR range tests of SGD with momentum and with Nesterov (Figure
6.27 in the book, one panel each), then six runs, {momentum, Nesterov} x {no scheduler,
``StepLR``, ``CyclicLR``}, across the loss surface (Figures 6.28 and 6.29).
"""

# %%
# LR range tests on the regression
# --------------------------------
#
# As in the book, the range test of
# :ref:`sphx_glr_auto_examples_plot_06_learning_rates.py` raises the rate of SGD with
# momentum 0.9, in one panel without Nesterov and in one with it, from 1e-3 towards
# ``end_lr=1`` over 100 mini-batches of the regression data: an exponential grid of 100
# rates whose last is 0.93 (the test stops one step short of ``end_lr``). The whole curve
# is drawn, both ends included, with the raw loss of every
# step next to the smoothed one, on a log scale: on this problem the last points are where
# the story is.

import itertools
import math

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import CyclicLR, StepLR

from rpsbook.paths import (
    OptimizerConfig,
    compare_optimizers,
    loss_surface,
    make_model,
    make_regression_data,
    plot_losses,
    plot_paths,
)
from rpsbook.training import lr_range_test

data = make_regression_data()
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout="constrained")
range_tests = {}
for panel, nesterov in zip(axes, (False, True), strict=True):
    name = "Nesterov" if nesterov else "Momentum"
    torch.manual_seed(42)  # the loader shuffles with torch's global generator
    model = make_model()
    optimizer = SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=nesterov)
    result = lr_range_test(model, optimizer, nn.MSELoss(), data.train_loader, end_lr=1)
    range_tests[name] = result
    result.plot(ax=panel, skip_start=0, skip_end=0, mark_suggestion=False, show_raw=True)
    panel.set_title(f"SGD, momentum 0.9{', Nesterov' if nesterov else ''}")
raw = [loss for result in range_tests.values() for loss in result.raw_loss]
axes[0].set_yscale("log")  # the axes share y: this sets both
axes[0].set_ylim(min(raw) / 2, 2 * max(raw))
# sphinx_gallery_start_ignore
from rpsbook.report import book_figure

book_figure(
    fig,
    "6.27",
    "Two range tests of SGD with momentum 0.9 on the regression, momentum on the left and "
    "Nesterov on the right, learning rates from 1e-3 to 0.93, drawn whole on log axes: the "
    "raw losses fall from the first step with the smoothed curve above them; momentum's "
    "last raw losses jump up and down, Nesterov's shoot up by more than two orders of "
    "magnitude in the last four steps, and its smoothed curve turns sharply up over the "
    "same steps, by more than a factor of ten.",
    verdict="differs: the book's two panels (momentum, Nesterov), with the raw losses added "
    "and a log loss axis; the book draws the smoothed curves alone on a linear axis",
)
# sphinx_gallery_end_ignore

for name, result in range_tests.items():
    best = result.loss.index(min(result.loss))
    print(
        f"{name}: lowest smoothed loss {result.loss[best]:.4f} at lr {result.lr[best]:.2f}; "
        f"last 5 raw losses "
        + ", ".join(f"{loss:.3g}" for loss in result.raw_loss[-5:])
        + f" (lr {result.lr[-5]:.2f} to {result.lr[-1]:.2f}); last smoothed "
        f"{result.loss[-1]:.3g}"
    )

# %%
# Why is the smoothed curve (dark) above the raw losses (faint) for the whole descent? It
# is an exponentially weighted moving average of them with ``alpha = 0.05``: each point is
# 5 % of the current raw loss plus 95 % of the previous point, so it averages the losses of
# the last few dozen steps, with a mean lag of :math:`(1 - \alpha) / \alpha = 19` steps.
# While the loss falls, those older losses are higher than the current one, and the average
# sits above it. At the end the lag shows the other way: the smoothed curve turns up only
# at its last few points, after the raw losses have started to climb, but a raw loss
# tens of times the average moves it by several times its own value, so the turn is sharp.
#
# The two flavours are nearly the same for most of the range; the end differs. With
# Nesterov the raw losses of the last four steps (printed above) grow by more than two
# orders of magnitude, and the smoothed curve by more than a factor of ten: the run is
# diverging. With plain momentum they swing up and down, some steps by more than a factor
# of two, the first sign of instability, but they have not blown up by the
# last rate, 0.93. The default plot, which leaves out the last five points, would have
# hidden both.
#
# The book reads its curves as suggesting a rate between 0.01 and 0.1, the middle of the
# descending part; it knows 0.1 works on this problem, and calls 0.025 a more conservative
# choice. We keep its 0.1 for every run: well inside the falling part of both curves, and
# well below the rate where Nesterov's loss turns up (printed above).
#
# What a schedule changes: paths on the loss surface
# --------------------------------------------------
#
# The book's optimizer, with its two candidate schedulers: ``StepLR`` halves the rate every
# four epochs, and ``CyclicLR`` oscillates between 0.025 and 0.1, climbing over ten
# mini-batches (two epochs) and coming back down over ten, halving its amplitude every
# cycle. Each is applied to SGD with momentum and with Nesterov momentum:

schedules = {
    "no scheduler": None,
    "StepLR": lambda optimizer: StepLR(optimizer, step_size=4, gamma=0.5),
    "CyclicLR": lambda optimizer: CyclicLR(
        optimizer, base_lr=0.025, max_lr=0.1, step_size_up=10, mode="triangular2"
    ),
}
configs = [
    OptimizerConfig(
        f"{flavour} + {schedule}",
        lambda params, nesterov=(flavour == "Nesterov"): SGD(
            params, lr=0.1, momentum=0.9, nesterov=nesterov
        ),
        make_scheduler,
    )
    for flavour in ("Momentum", "Nesterov")
    for schedule, make_scheduler in schedules.items()
]

# %%
# :func:`rpsbook.paths.compare_optimizers` trains the six runs for ten epochs each with
# :class:`~rpsbook.training.StepByStep`, from the same initial model and on the same
# mini-batches, and records the ``(b, w)`` of every update;
# :func:`rpsbook.paths.plot_paths` draws them over the loss contours (Figure 6.28 in the
# book: momentum in the first row, each schedule's learning rate per update in the second,
# Nesterov in the third).

results = compare_optimizers(configs, data=data)
surface = loss_surface(data.x_train, data.y_train)
fig = plt.figure(figsize=(11, 11.5))
grid = fig.add_gridspec(3, 3, height_ratios=[1, 0.45, 1])
path_axes = [fig.add_subplot(grid[row, col]) for row in (0, 2) for col in range(3)]
lr_axes = [fig.add_subplot(grid[1, col]) for col in range(3)]
fig = plot_paths(results, surface, ax=path_axes)
for ax, schedule in zip(lr_axes, schedules, strict=True):
    lrs = results[f"Momentum + {schedule}"].learning_rates
    ax.plot(range(len(lrs)), lrs, color="C2")
    ax.set(title=f"learning rate, {schedule}", xlabel="update", ylim=(0, 0.11))
lr_axes[0].set_ylabel("learning rate")
fig.tight_layout()
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.28",
    "Six paths over the loss contours: momentum in the first row, Nesterov in the third, one "
    "column per schedule (none, StepLR, CyclicLR), and between them each schedule's learning "
    "rate per update.",
)
# sphinx_gallery_end_ignore

# %%
# Where each run ended, next to the least-squares optimum, and the momentum its optimizer
# was left with:

b_best, w_best = surface.optimum
print(f"least squares: b={b_best:.4f}, w={w_best:.4f}")
print(f"{'':>24} {'train':>7} {'val':>7} {'b':>7} {'w':>7} {'distance':>8} {'momentum':>8}")
distances = {}
for name, result in results.items():
    b, w = result.path[-1].tolist()
    distances[name] = math.dist((b, w), surface.optimum)
    momentum = result.optimizer_state["param_groups"][0]["momentum"]
    print(
        f"{name:>24} {result.losses[-1]:7.4f} {result.val_losses[-1]:7.4f} "
        f"{b:7.4f} {w:7.4f} {distances[name]:8.4f} {momentum:8.3f}"
    )

# %%
# The book finds that adding a scheduler "seems to have helped" the optimizer towards "a
# more stable path". Our runs agree only for ``CyclicLR`` with plain momentum:
#
# * **CyclicLR** starts at ``base_lr``, a quarter of 0.1, so the first updates are shorter
#   and the first overshoot smaller; with momentum it turns the wide loops of the
#   constant rate into one smaller swing, and it ends closer to the optimum than the
#   constant-rate run (the distances in the table). Part of that comes from the momentum
#   itself: as the previous page warned, ``CyclicLR`` cycled it too, and its runs end with
#   the momentum printed in the table instead of 0.9. With Nesterov it does not help: its
#   ``CyclicLR`` run ends farther from the optimum than the constant-rate one.
# * **StepLR** leaves the first four epochs (20 updates) untouched, so its path coincides
#   with the constant-rate one until the first cut. By then the momentum run is still
#   swinging around a wide loop, and the shorter steps leave it on the far side: both
#   ``StepLR`` runs end *farther* from the least-squares point than their constant-rate
#   twins. A decaying schedule pays off once a run has reached the minimum's
#   neighbourhood, which ten epochs of these runs have not.
# * **Nesterov** already damps the oscillations of plain momentum, so the schedules change
#   its path less, and neither brings it closer.
#
# The losses of the same runs, one panel per run, as in the book (Figure 6.29):

fig, axes = plt.subplots(2, 3, figsize=(11, 6.5), sharex=True, sharey=True, layout="constrained")
plot_losses(results, ax=list(axes.flat), title=None)
for panel, name in zip(axes.flat, results, strict=True):
    panel.set_title(name)
    panel.set_ylim(1e-3, 1)
    panel.legend(["training", "validation"], fontsize="small")
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.29",
    "Training (solid) and validation (dashed) losses over ten epochs on log axes, one panel "
    "per run: momentum in the first row, Nesterov in the second, one column per schedule; "
    "in the momentum row the CyclicLR panel starts with a lower validation loss and lacks "
    "the dip and rebound of its two neighbours.",
    verdict="same",  # the notebook's stored figure: same six panels, same curves
)
# sphinx_gallery_end_ignore

falls_every_epoch = {
    name: all(b < a for a, b in itertools.pairwise(result.losses))
    for name, result in results.items()
}
print("training loss lower every epoch:", falls_every_epoch)

# %%
# The book finds the curves of a row hard to tell apart, except Nesterov with the cyclical
# scheduler, which "produced a smoother reduction in the training loss". Our runs agree
# for the Nesterov row: only its ``CyclicLR`` run lowers its training loss at every epoch
# (the line above); the two others reach their level by epoch 4 and then rise a little
# before falling again. In the momentum row, though, both our curves and the book's own
# figure, which they reproduce, go against the remark: the ``CyclicLR`` panel stands out,
# its first validation loss several times lower than its neighbours', and without their
# deep dip and rebound in the first epochs. (In that row it is the ``StepLR`` run that
# bumps up, after its first cut.) The final losses differ far less than the end points do:
# the loss surface is a long, narrow valley, and moving along it barely changes the loss.
# That is why the distance to the optimum is the more telling column of the table, and why
# validation losses (on 20 points, whose own optimum is elsewhere) cannot rank these runs.
#
# Recap
# -----
#
# * Draw a range test whole, raw losses included: the smoothed curve lags them by about
#   19 steps, above them on the way down, turning up late but sharply at the end; the last
#   points, which the default plot skips, hold Nesterov's divergence.
# * On this problem, a cyclical schedule that starts at ``base_lr`` (and cycles the
#   momentum) tames plain momentum's first overshoot; a decaying one cut in the middle of a
#   swing does not help in ten epochs; Nesterov needs the help least, and gets none.
#
# Checked against the book
# ------------------------
#
# What follows compares this page's runs with what the book says of its figures; the book
# prints no numbers for them.

# sphinx_gallery_start_ignore
from rpsbook.report import checked_against_book

checked_against_book(
    "Scheduler paths",
    [
        (
            "Nesterov range test: last raw loss / raw loss 4 steps earlier",
            range_tests["Nesterov"].raw_loss[-1] / range_tests["Nesterov"].raw_loss[-5],
            "Figure 6.27: the smoothed curve ticks up at the last point",
        ),
        (
            "distance to the optimum, momentum: no scheduler / StepLR / CyclicLR",
            " / ".join(f"{distances[f'Momentum + {s}']:.3f}" for s in schedules),
            "Figure 6.28: 'a more stable path' with a scheduler",
        ),
        (
            "distance to the optimum, Nesterov: no scheduler / StepLR / CyclicLR",
            " / ".join(f"{distances[f'Nesterov + {s}']:.3f}" for s in schedules),
            "Figure 6.28: 'a more stable path' with a scheduler",
        ),
        (
            "Nesterov + CyclicLR: training loss lower every epoch",
            falls_every_epoch["Nesterov + CyclicLR"],
            "Figure 6.29: 'a smoother reduction in the training loss'",
        ),
    ],
)
# sphinx_gallery_end_ignore

# %%
# Exercises
# ---------
#
# .. _ex-cyclic-momentum-fixed:
#
# CyclicLR without its momentum cycle
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Change one thing and explain.* Rerun the two ``CyclicLR`` runs with
# ``cycle_momentum=False``, so that the momentum stays at 0.9. Do they still end closer to
# the least-squares optimum than the constant-rate runs? Draw the momentum run's path next
# to the page's.

# %%
# .. rpsbook-solution::


def ex_cyclic_fixed(opt):
    return CyclicLR(opt, 0.025, 0.1, step_size_up=10, mode="triangular2", cycle_momentum=False)


ex_configs = [  # the page's two CyclicLR runs, their momentum fixed
    OptimizerConfig(f"{c.name}, momentum fixed", c.optimizer, ex_cyclic_fixed)
    for c in configs
    if c.name.endswith("CyclicLR")
]
ex_fixed = compare_optimizers(ex_configs, data=data)
ex_fixed_distances = {}
for flavour in ("Momentum", "Nesterov"):
    ex_path = ex_fixed[f"{flavour} + CyclicLR, momentum fixed"].path
    ex_fixed_distances[flavour] = math.dist(ex_path[-1].tolist(), surface.optimum)
    print(
        f"{flavour}: distance {ex_fixed_distances[flavour]:.4f} with the momentum fixed, "
        f"{distances[f'{flavour} + CyclicLR']:.4f} cycled, "
        f"{distances[f'{flavour} + no scheduler']:.4f} without a scheduler"
    )
fig = plot_paths(
    [results["Momentum + CyclicLR"], ex_fixed["Momentum + CyclicLR, momentum fixed"]], surface
)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    None,
    "Paths of (b, w) on the loss surface for SGD with momentum and CyclicLR: the page's "
    "run, its momentum cycled (left), and the same run with the momentum fixed at 0.9 "
    "(right).",
)
# sphinx_gallery_end_ignore

# %%
# Both now end *farther* from the optimum than with a constant rate, and the momentum run
# several times farther than with the momentum cycled. With the cycle (left) the path
# spirals in; with the momentum fixed at 0.9 (right) its first loop is wider and it shoots
# past the optimum. Momentum's top speed is :math:`\eta / (1 - \beta)`: at the first
# cycle's top :math:`0.1 / 0.2 = 0.5` with the momentum cycled down to 0.8, twice that with
# 0.9. The page's gain from ``CyclicLR`` came from the cycled momentum as much as the rate.
#
# .. _ex-cyclic-per-epoch:
#
# CyclicLR stepped once per epoch
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Predict, then measure.* A training loop that steps the page's ``CyclicLR`` (momentum
# run) once per *epoch* instead of after every mini-batch: which rate does each epoch use?
# Predict, then train both loops alike (seed 42, ``make_model()``, ``data.train_loader``
# only: without the page's validation pass the shuffles differ from its run) and compare
# the length of each path in ``(b, w)`` over its last two epochs (its last 10 steps).

# %%
# .. rpsbook-solution::


def ex_train(per_epoch):
    """SGD with momentum and the page's CyclicLR: the rates used and the (b, w) reached."""
    torch.manual_seed(42)  # the trainer's seed: both loops see the same mini-batches
    model = make_model()
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = CyclicLR(optimizer, 0.025, 0.1, step_size_up=10, mode="triangular2")
    lrs, path = [], [torch.cat([model.linear.bias, model.linear.weight.reshape(1)]).detach()]
    for _epoch in range(10):
        for x_batch, y_batch in data.train_loader:
            nn.functional.mse_loss(model(x_batch), y_batch).backward()
            optimizer.step()
            optimizer.zero_grad()
            lrs.append(optimizer.param_groups[0]["lr"])
            path.append(torch.cat([model.linear.bias, model.linear.weight.reshape(1)]).detach())
            if not per_epoch:
                scheduler.step()
        if per_epoch:
            scheduler.step()
    return lrs, torch.stack(path)


ex_runs = {per_epoch: ex_train(per_epoch) for per_epoch in (False, True)}
ex_travel = {}
for per_epoch, (ex_lrs, ex_path) in ex_runs.items():
    ex_travel[per_epoch] = ex_path[-11:].diff(dim=0).norm(dim=1).sum().item()
    ex_firsts = [f"{lr:.4g}" for lr in ex_lrs[:: len(data.train_loader)]]
    print(f"per {'epoch' if per_epoch else 'mini-batch'}, each epoch's first rate: {ex_firsts}")
    print(f"  distance travelled over the last 10 updates {ex_travel[per_epoch]:.3f}")

# %%
# Stepped per epoch, the scheduler takes every epoch for a step: ``step_size_up=10`` then
# makes the climb last all ten epochs, 0.0075 higher each, from 0.025 to 0.0925. The run
# is half a warm-up that never comes down, ending on its longest steps: over its last two
# epochs its path is roughly twice as long as the per-mini-batch loop's, whose third, lower
# cycle only climbs from 0.025 to 0.042. ``step_size_up`` counts the scheduler's steps; the
# book's values assume one after every mini-batch.

# %%
# Notes
# -----
#
# The range tests draw their mini-batches from the regression's loader, which shuffles
# with torch's global random generator: the page seeds it before each test, as the book
# does, so both tests see the same mini-batches.
# :func:`~rpsbook.paths.compare_optimizers` seeds every run itself, as the book's trainer
# does at each ``train()`` call.

# sphinx_gallery_thumbnail_number = 2
