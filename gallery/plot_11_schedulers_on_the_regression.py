"""
Schedulers and SGD flavours on the regression
=============================================

What does a schedule change in practice? This page makes that one argument on the
two-parameter regression of :ref:`sphx_glr_auto_examples_plot_08_sgd_flavours.py`, where
every update can be seen. LR range tests of SGD with momentum and with Nesterov (Figure
6.27 in the book), shown whole, say where each flavour becomes unstable; then six runs,
{momentum, Nesterov} x {no scheduler, ``StepLR``, ``CyclicLR``}, walk across the loss
surface (Figures 6.28 and 6.29).
"""

# %%
# LR range tests on the regression
# --------------------------------
#
# The learning-rate range test of
# :ref:`sphx_glr_auto_examples_plot_06_learning_rates.py`,
# :func:`rpsbook.lr_finder.lr_range_test`, raises the rate of SGD with momentum 0.9 (with and
# without Nesterov) from 1e-3 to 1 over 100 mini-batches of the regression data and records
# the smoothed loss. The test puts the model and optimizer back as they were when it is
# done. This time the whole curve is drawn, raw losses included, on a log scale: the default
# plot leaves out the last five points, and on this problem that is where the story is.

import math
from functools import partial

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import CyclicLR, StepLR

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
from rpsbook.report import book_figure

data = make_regression_data()
torch.manual_seed(42)  # the training loader shuffles with torch's global generator
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout="constrained")
range_tests = {}
for panel, nesterov in zip(axes, (False, True), strict=True):
    name = "Nesterov" if nesterov else "Momentum"
    model = make_model()
    optimizer = SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=nesterov)
    result = lr_range_test(model, optimizer, nn.MSELoss(), data.train_loader, end_lr=1)
    range_tests[name] = result
    result.plot(ax=panel, skip_start=0, skip_end=0, show_raw=True)
    panel.set_title(f"SGD, momentum 0.9{', Nesterov' if nesterov else ''}: whole curve")
# the raw losses span three orders of magnitude: a log scale shows all of them (the axes
# share their y-axis, so this sets both)
raw = [loss for result in range_tests.values() for loss in result.raw_loss]
axes[0].set_yscale("log")
axes[0].set_ylim(min(raw) / 2, 2 * max(raw))
book_figure(
    fig,
    "6.27",
    "Two range tests of SGD with momentum 0.9 on the regression, from 1e-3 to 1, shown whole "
    "with their raw losses on log axes: both fall from the first step, and Nesterov's "
    "shoots up at the end.",
    verdict="differs: drawn whole with raw losses on a log scale, not with the last points "
    "skipped",
)

for name, result in range_tests.items():
    best = result.loss.index(min(result.loss))
    print(
        f"{name}: steepest descent at lr {result.suggestion:.2e}; lowest smoothed loss "
        f"{result.loss[best]:.4f} at lr {result.lr[best]:.2f}; last 5 raw losses "
        + ", ".join(f"{loss:.3g}" for loss in result.raw_loss[-5:])
        + f" (lr {result.lr[-5]:.2f} to {result.lr[-1]:.2f})"
    )

# %%
# Both curves fall from the first step, and for most of the range they are nearly the
# same. The end differs. With Nesterov the smoothed loss bottoms out around a rate of 0.7
# and then turns up sharply: the raw losses of the last steps (printed above) jump by two
# orders of magnitude, the run is diverging. With plain momentum the raw losses become
# erratic near the end of the range (a few of the last ones are twice their neighbours),
# the first sign of instability, but it has not blown up by a rate of 1. Leaving out the
# last five points, the default, would have hidden Nesterov's divergence and made both
# curves look as if they never turn up.
#
# Where does plain momentum blow up, then? Beyond this range. The same test extended to a
# rate of 10 finds it; the line below gives the first rate, after the smoothed minimum, at
# which a raw loss exceeds ten times the lowest smoothed loss:

model = make_model()
optimizer = SGD(model.parameters(), lr=1e-3, momentum=0.9)
extended = lr_range_test(model, optimizer, nn.MSELoss(), data.train_loader, end_lr=10)
lowest = min(extended.loss)
after = extended.loss.index(lowest)
blow_up = next(
    (i for i in range(after, len(extended.lr)) if extended.raw_loss[i] > 10 * lowest), None
)
if blow_up is None:
    print("momentum, extended to 10: no raw loss above ten times the lowest")
else:
    print(
        f"momentum, extended to 10: raw loss {extended.raw_loss[blow_up]:.3g} at lr "
        f"{extended.lr[blow_up]:.2f} (lowest smoothed loss {lowest:.4f})"
    )

# %%
# Which learning rate? The rule of the LR page (steepest point of the smoothed curve,
# divided by the lag factor, rounded down) assumes the U-shaped curve of a deep model,
# with a flat start. This convex problem has no flat start: the loss falls from the first
# step, so the steepest point only says where the descent is fastest for a model that has
# barely moved, and the rule would give a rate around 1e-3, at which 50 updates would
# hardly move the parameters. Here the informative end is the other one, where the curves
# turn unstable. We keep the book's 0.1 for every run, a factor of about 7 below where
# Nesterov's loss turns up, and a ``CyclicLR`` sweeping between 0.025 and 0.1, inside the
# falling part of both curves.
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
# and one column per schedule (Figure 6.28 in the book), with the learning rate of every
# update, as the trainer recorded it, in a third row.

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
results = compare_optimizers(configs, data=data)
surface = loss_surface(data.x_train, data.y_train)
# plot_paths lays its figure out with tight_layout, so every panel is created first
fig = plt.figure(figsize=(12, 11))
grid = fig.add_gridspec(3, 3, height_ratios=[1, 1, 0.55])
path_axes = [fig.add_subplot(grid[row, col]) for row in range(2) for col in range(3)]
lr_axes = [fig.add_subplot(grid[2, col]) for col in range(3)]
fig = plot_paths(results, surface, ax=path_axes)
for ax, schedule in zip(lr_axes, schedules, strict=True):
    lrs = results[f"Momentum + {schedule}"].learning_rates
    ax.plot(range(len(lrs)), lrs, color="C2")
    ax.set_title(f"learning rate, {schedule}")
    ax.set_xlabel("update")
    ax.set_ylim(0, 0.11)
lr_axes[0].set_ylabel("learning rate")
fig.tight_layout()
book_figure(
    fig,
    "6.28",
    "Six paths over the loss contour, momentum in the first row and Nesterov in the second, "
    "one column per schedule (none, StepLR, CyclicLR), above a row with each schedule's "
    "learning rate per update.",
)

# %%
# The losses of the same runs, one panel per optimizer so that the three schedules share
# an axes (Figure 6.29 in the book):

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True, layout="constrained")
plot_losses(results, ax=[axes[0]] * 3 + [axes[1]] * 3, title=None)
for panel, flavour in zip(axes, flavours, strict=True):
    panel.set_title(f"{flavour}: training (solid) and validation (dashed)")
    panel.legend(fontsize="small")
book_figure(
    fig,
    "6.29",
    "Training and validation losses of the six runs, momentum on the left and Nesterov on "
    "the right, three schedules per panel.",
)

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
#   smoothness comes from the momentum itself: as the previous page warned, ``CyclicLR``
#   cycled it too, and its runs end with the momentum printed in the table instead of the
#   0.9 their optimizers were built with.
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
# * Draw a range test whole: on this regression the last five points, which the default
#   plot skips, hold Nesterov's divergence (near a rate of 1) and momentum's first erratic
#   losses; momentum itself diverges beyond 1.
# * The lag-corrected steepest-point rule needs a curve with a flat start; on a convex
#   problem that falls from the first step, read the unstable end instead and stay well
#   below it (0.1 here).
# * A decaying schedule (``StepLR``) helps runs that are already near the minimum; a
#   cyclical one that starts at ``base_lr`` (and cycles the momentum) tames the first
#   overshoot; Nesterov needs the help least.

# sphinx_gallery_thumbnail_number = 2
