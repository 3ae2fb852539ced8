"""
SGD flavours: momentum and Nesterov
===================================

Adam gives every parameter its own step size. Stochastic gradient descent has a simpler way
to stop being short-sighted: *momentum*, a discounted sum of past gradients that keeps the
parameters moving the way they have been going. Following the chapter, this page writes
momentum and Nesterov's look-ahead variant out, finds them in ``torch.optim.SGD``'s state,
and watches plain SGD, momentum and Nesterov cross the loss surface of the regression
playground from the previous page (Figures 6.20 to 6.23 in the book).
"""

# %%
# Momentum is a discounted sum
# ----------------------------
#
# With a momentum factor :math:`\beta`, SGD keeps, for every parameter,
#
# .. math:: \mathrm{mo}_t = g_t + \beta\, \mathrm{mo}_{t-1}
#           = \beta^0 g_t + \beta^1 g_{t-1} + \beta^2 g_{t-2} + \dots
#
# and updates :math:`\text{param}_t = \text{param}_{t-1} - \eta\, \mathrm{mo}_t`. It looks like
# an EWMA, but the new gradient enters whole, not times :math:`1 - \beta`: it is not an
# average but a sum in which older gradients count less and less. Its weights add up to
# :math:`1/(1-\beta)`, ten for :math:`\beta = 0.9`, so gradients that keep pointing the same
# way add up to a step ten times as long. The sum is exactly :math:`1/(1-\beta)` times the
# EWMA (from zero, uncorrected) of the gradients: momentum steps with that scaled-up sum,
# Adam (previous page) with the average itself. The chapter's two functions, in its shape:

from functools import partial

import matplotlib.pyplot as plt
import torch
from torch.optim import SGD

import rpsbook.ewma
from rpsbook.ewma import plot_sgd_terms
from rpsbook.paths import (
    OptimizerConfig,
    compare_optimizers,
    loss_surface,
    make_regression_data,
    plot_losses,
    plot_paths,
)

# sphinx_gallery_start_ignore
from rpsbook.report import book_figure

# sphinx_gallery_end_ignore


def momentum(past_value, current_value, beta):
    return beta * past_value + current_value


def calc_momentum(values, beta):
    result = []
    for v in values:
        prev_value = result[-1] if result else 0
        result.append(momentum(prev_value, v, beta))
    return torch.stack(result)


ones = torch.ones(50, dtype=torch.float64)
print("momentum of a constant gradient 1, steps 1, 2, 3, 10, 50:")
print(calc_momentum(ones, 0.9)[[0, 1, 2, 9, 49]].numpy().round(3))

# %%
# ``SGD``'s ``dampening`` argument scales the new gradient by :math:`1 - \text{dampening}`;
# with dampening equal to :math:`\beta` the sum becomes a true EWMA.
#
# The same playground as before
# -----------------------------
#
# The regression of the previous page (80 training points in 5 mini-batches, two parameters
# ``b`` and ``w``) trained for 10 epochs, 50 updates, at the same learning rate 0.1 for every
# flavour. :func:`rpsbook.paths.compare_optimizers` starts each run from the same model,
# feeds it the same mini-batches, and captures gradients and the ``(b, w)`` path.

data = make_regression_data()
surface = loss_surface(data.x_train, data.y_train)
configs = [
    OptimizerConfig("SGD", partial(SGD, lr=0.1)),
    OptimizerConfig("Momentum", partial(SGD, lr=0.1, momentum=0.9)),
    OptimizerConfig("Nesterov", partial(SGD, lr=0.1, momentum=0.9, nesterov=True)),
]
results = compare_optimizers(configs, device="cpu", data=data)
print("least-squares optimum (b, w): ({:.4f}, {:.4f})".format(*surface.optimum))

# %%
# ``torch.optim.SGD`` keeps the momentum of each parameter in its state, as
# ``momentum_buffer``. Our ``calc_momentum`` over the weight's captured gradients ends on it,
# and :func:`rpsbook.ewma.calc_momentum` gives the same values:

grads = results["Momentum"].gradients["weight"]  # float32, as the optimizer saw them
momenta = calc_momentum(grads, 0.9)
momentum_buffer = results["Momentum"].optimizer_state["state"][0]["momentum_buffer"]
print(f"last momentum: {momenta[-1].item()!r}; momentum_buffer: {momentum_buffer.item()!r}")
same_momentum = torch.equal(momenta, rpsbook.ewma.calc_momentum(grads, 0.9))
print("same as rpsbook's ewma.calc_momentum:", same_momentum)
# sphinx_gallery_start_ignore
same_buffer = torch.equal(momenta[-1], momentum_buffer)
assert same_buffer, "torch's momentum_buffer must be the last momentum"
# sphinx_gallery_end_ignore

# %%
# Nesterov: look before you leap
# ------------------------------
#
# Momentum's sum holds every gradient seen so far; the only one missing is the next, at the
# point the update is about to land on. Nesterov's accelerated gradient (NAG) fills that gap
# with the naive guess that the next gradient will be the current one, which amounts to
# computing momentum one step ahead:
#
# .. math:: \mathrm{nesterov}_t = g_t + \beta\, \mathrm{mo}_t
#
# It replaces the gradient in the update, and expanding it shows how the three flavours
# differ (the chapter's Equation 6.19):
#
# .. math::
#    \text{SGD:}\quad & \text{param}_t = \text{param}_{t-1} - \eta\, g_t \\
#    \text{momentum:}\quad & \text{param}_t = \text{param}_{t-1} - \eta\, \mathrm{mo}_t \\
#    \text{Nesterov:}\quad & \text{param}_t = \text{param}_{t-1} - \eta\, g_t
#    - \beta\, \eta\, \mathrm{mo}_t
#
# Plain SGD uses the gradient alone, momentum the discounted sum, and Nesterov both: the
# fresh gradient counts almost twice, so the Nesterov term follows the gradient more
# closely. Written out, then replayed: each run's updates, with its own term, rebuild its path:


def calc_nesterov(values, beta):
    return beta * calc_momentum(values, beta) + values


update_terms = {
    "SGD": lambda values: values,
    "Momentum": partial(calc_momentum, beta=0.9),
    "Nesterov": partial(calc_nesterov, beta=0.9),
}
for name, result in results.items():
    term = update_terms[name]
    steps = torch.cat([term(result.gradients["bias"]), term(result.gradients["weight"])[:, 0]], 1)
    replayed = result.path[:-1] - 0.1 * steps
    print(f"{name:>8}: max |replayed - path| = {(replayed - result.path[1:]).abs().max():g}")

nesterov_grads = results["Nesterov"].gradients["weight"]
same_nesterov = torch.allclose(
    calc_nesterov(nesterov_grads, 0.9),
    rpsbook.ewma.calc_nesterov(nesterov_grads, 0.9),
    rtol=1e-6,
    atol=1e-8,
)
print("same as rpsbook's ewma.calc_nesterov:", same_nesterov)

# %%
# Exactly for SGD and momentum; for Nesterov to float32 rounding, because torch (and rpsbook
# with it) adds :math:`\beta\, \mathrm{mo}_t` to the gradient in one operation, which
# rounds differently from the book's formula.
#
# Momentum versus plain SGD
# -------------------------
#
# Figure 6.20 in the book. Plain SGD drops into the long valley and crawls along its nearly
# flat floor. Momentum is a ball rolling downhill: it gathers speed from gradients that keep
# pointing the same way and covers far more ground, but the speed carries it across the
# valley and up the far side, back again, and finally past the minimum (the red dot), so it
# has to backtrack to approach it from another direction.

fig = plot_paths({name: results[name] for name in ("SGD", "Momentum")}, surface)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.20",
    "The paths of SGD and SGD with momentum over the loss contour: SGD crawls along the "
    "valley floor, momentum zig-zags up the valley and loops around the minimum.",
)
# sphinx_gallery_end_ignore

# %%
# The update terms of each run
# ----------------------------
#
# Figure 6.21 in the book: for the weight ``w``, each run's own gradients and the update term it
# used (for plain SGD the term is the gradient itself, so its panel has one line). The three runs
# start from the same point, but their gradients differ from the first update on, because each run
# evaluates them where *its own* updates took it. In the momentum run the gradient turns positive
# on step 4, yet the term, full of large negative gradients, stays negative and keeps pushing ``w``
# up for three more steps: that lag *is* the overshoot, and the term then swings back and forth. In
# the Nesterov run the term starts almost twice as large, but it shrinks from the first step on
# without swinging past zero; it dips back once, around step 12, and crosses zero for the first
# time only after twenty steps. The look-ahead dampens the oscillations (not to be confused with
# the ``dampening`` argument, 0 in both runs). The table below measures each run's term.

own_gradients = {name: result.gradients["weight"] for name, result in results.items()}
fig = plot_sgd_terms(own_gradients, beta=0.9)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.21",
    "Three panels, one per run (SGD, momentum, Nesterov), each with that run's gradients of w "
    "and the update term it used over the 50 steps: momentum's term swings widely, "
    "Nesterov's changes sign less often and swings less far.",
    verdict="differs: the Nesterov panel shows the Nesterov term only, where the book also "
    "draws that run's momentum",
)
# sphinx_gallery_end_ignore

own_terms = {name: update_terms[name](g).reshape(-1) for name, g in own_gradients.items()}
sign_changes = {name: (t[1:] * t[:-1] < 0).sum().item() for name, t in own_terms.items()}
variation = {name: t.diff().abs().sum().item() for name, t in own_terms.items()}
largest_late = {name: t[10:].abs().max().item() for name, t in own_terms.items()}
print(f"{'':>8}  {'sign changes':>12}  {'sum |change|':>12}  {'max |term|, steps 11-50':>24}")
for name in own_terms:
    print(
        f"{name:>8}  {sign_changes[name]:>12}  {variation[name]:>12.2f}  "
        f"{largest_late[name]:>24.2f}"
    )

# %%
# The table counts how often each term changes sign, its total variation (the sum of its
# step-to-step changes) and its largest size once the first ten steps are over. Nesterov's
# term changes sign far less often than momentum's and varies about half as much in total.
# It does not stay small, though: its dip around step 12 reaches about half of momentum's
# largest swing after step 10 (the last column). The look-ahead damps the oscillation; it
# does not remove it.
#
# All three flavours
# ------------------
#
# Figures 6.22 and 6.23 in the book: the paths and the losses. Nesterov also swings across
# the valley at first, but not as far as momentum (the largest ``b`` below), still passes
# the minimum and backtracks a little (``w`` goes above the optimum's), and ends much closer
# to it instead of looping around it.

# sphinx_gallery_thumbnail_number = 3
fig = plot_paths(results, surface)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.22",
    "The paths of SGD, momentum and Nesterov over the loss contour: Nesterov swings less far "
    "across the valley and settles next to the minimum instead of looping around it.",
)
# sphinx_gallery_end_ignore
optimum = torch.tensor(surface.optimum, dtype=torch.float32)
swing = {name: result.path[:, 0].max().item() for name, result in results.items()}
w_overshoot = {
    name: result.path[:, 1].max().item() - optimum[1].item() for name, result in results.items()
}
distance = {name: (result.path[-1] - optimum).norm().item() for name, result in results.items()}
print(f"{'':>8}  {'largest b':>9}  {'w overshoot':>11}  {'final distance':>14}")
for name in results:
    print(f"{name:>8}  {swing[name]:>9.3f}  {w_overshoot[name]:>+11.3f}  {distance[name]:>14.3f}")

# %%
# In the losses, Nesterov's training loss is the lowest at every epoch, and SGD's falls
# slowly but steadily. Momentum's is the intriguing one: despite the wild swings of its path,
# its training loss falls every epoch, while Adam's went up on the previous page; only its
# validation loss jumps back up during the overshoot. As the book warns, that calm is a
# property of this easy, bowl-shaped loss surface, not behaviour to expect from momentum on
# a real model.

fig, axs = plt.subplots(1, 3, figsize=(11, 3.6), sharey=True, layout="constrained")
plot_losses(results, ax=axs, title=None)
for ax, name in zip(axs, results, strict=True):
    ax.set_title(name)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.23",
    "Three panels, SGD, momentum and Nesterov, each with its training and validation losses "
    "over 10 epochs on a shared log axis: Nesterov's training loss is the lowest at every "
    "epoch, momentum's falls every epoch while its validation loss jumps up during the "
    "overshoot.",
)
# sphinx_gallery_end_ignore
for name, result in results.items():
    print(f"{name:>8} training losses:", [round(loss, 4) for loss in result.losses])
    print(f"{'':>8} validation losses:", [round(loss, 4) for loss in result.val_losses])

# %%
# Recap
# -----
#
# * Momentum is a discounted *sum* of gradients, :math:`1/(1-\beta)` times their EWMA;
#   ``momentum_buffer`` is exactly ``calc_momentum`` of the gradients.
# * Nesterov adds one more momentum step built from the current gradient: the fresh gradient
#   weighs more, the term turns sooner, and the oscillations are damped.
# * Each run's gradients are its own, evaluated where its updates took the parameters.

# %%
# Checked against the book
# ------------------------
#
# This page's momentum state next to the book notebook's stored ``state_dict`` and the book's
# printed one (an older run whose random draws, and so gradients, differ).

# sphinx_gallery_start_ignore
from rpsbook.report import checked_against_book

bias_buffer = results["Momentum"].optimizer_state["state"][1]["momentum_buffer"]
checked_against_book(
    "SGD flavours: momentum and Nesterov",
    [
        (
            "momentum_buffer of the weight",
            f"{momentum_buffer.item():.4f}",
            "-0.0308 (book's notebook); -0.0053 (book)",
        ),
        (
            "momentum_buffer of the bias",
            f"{bias_buffer.item():.4f}",
            "-0.1423 (book's notebook); -0.1568 (book)",
        ),
    ],
)
# sphinx_gallery_end_ignore

# %%
# Exercises
# ---------
#
# .. _ex-momentum-build-up:
#
# How fast does momentum build up?
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Predict, then measure.* A gradient of 1 that never changes: after how many steps does
# momentum's term reach 90% of its limit :math:`1/(1-\beta)`, for :math:`\beta = 0.9` and
# for :math:`\beta = 0.99`? (Hint: the bias correction of
# :ref:`sphx_glr_auto_examples_plot_06b_moving_averages.py`.)

# %%
# .. rpsbook-solution::

build_up = {}
for beta in (0.9, 0.99):
    mo_term = calc_momentum(torch.ones(500, dtype=torch.float64), beta)
    build_up[beta] = int((mo_term < 0.9 / (1 - beta)).sum()) + 1
    print(f"beta = {beta}: limit {1 / (1 - beta):g}, 90% of it from step {build_up[beta]}")

# %%
# The sum of :math:`t` terms is :math:`(1 - \beta^t)/(1 - \beta)`: the limit times the factor
# an EWMA's bias correction divides by. It reaches 90% once :math:`\beta^t < 0.1`: 22
# steps for 0.9, 230 for 0.99. A larger :math:`\beta` gives a ten times higher top speed,
# and takes ten times as long to get there (and to slow down).
#
# .. _ex-nesterov-by-hand:
#
# Nesterov's step by hand
# ~~~~~~~~~~~~~~~~~~~~~~~
#
# *Implement, then compare with torch.* Feed the Nesterov run's 50 captured gradients of
# ``w`` (``nesterov_grads``) to a copy of its starting weight twice: once through
# ``SGD(lr=0.1, momentum=0.9, nesterov=True)`` (set ``.grad``, call ``step()``), once
# through your own update with a momentum buffer. Do both retrace the run's ``w``?

# %%
# .. rpsbook-solution::

start = results["Nesterov"].path[0, 1].reshape(1, 1)
w_torch, w_hand = start.clone().requires_grad_(True), start.clone()
nesterov_sgd = SGD([w_torch], lr=0.1, momentum=0.9, nesterov=True)
buffer, torch_path, hand_path = None, [], []
for g in nesterov_grads:
    w_torch.grad = g.clone()
    nesterov_sgd.step()
    buffer = g.clone() if buffer is None else 0.9 * buffer + g
    w_hand = w_hand - 0.1 * (g + 0.9 * buffer)
    torch_path.append(w_torch.detach().clone().reshape(()))
    hand_path.append(w_hand.reshape(()))
run_w = results["Nesterov"].path[1:, 1]
for name, path in (("SGD(nesterov=True)", torch_path), ("by hand", hand_path)):
    print(f"{name:>18}, max |w - run's w|: {(torch.stack(path) - run_w).abs().max():.1e}")

# %%
# torch's replay is the run, bit for bit: an optimizer's step depends on nothing but its
# state and the gradients. The hand-written update follows it to float32 rounding (the
# difference printed above is of the order of one unit in the last place of ``w``, or
# zero): torch adds :math:`\beta\, \mathrm{mo}_t` to the gradient in one operation.
#
# .. _ex-momentum-half:
#
# Less momentum
# ~~~~~~~~~~~~~
#
# *Change one thing and explain.* Train the playground with ``momentum=0.5`` instead of 0.9.
# Predict: does ``b`` swing as far (its largest value), does ``w`` overshoot the optimum's
# ``w``? Does it end closer to the optimum after 50 steps?

# %%
# .. rpsbook-solution::

half = compare_optimizers(
    [OptimizerConfig("Momentum 0.5", partial(SGD, lr=0.1, momentum=0.5))], device="cpu", data=data
)["Momentum 0.5"]
half_swing = half.path[:, 0].max().item()
half_overshoot = half.path[:, 1].max().item() - optimum[1].item()
half_distance = (half.path[-1] - optimum).norm().item()
print(f"largest b {half_swing:.3f}, w overshoot {half_overshoot:+.3f}")
table = ", ".join(f"{name} {d:.3f}" for name, d in distance.items())
print(f"final distance {half_distance:.3f} (the table above: {table})")

# %%
# With :math:`\beta = 0.5` the weights add up to 2, not 10: the term gathers little speed,
# ``b`` swings less far and ``w`` never passes the optimum's (a negative overshoot), but after
# 50 steps it is still several times farther from the optimum than momentum 0.9, if closer
# than plain SGD. Lowering :math:`\beta` damps the swings and costs speed along the valley;
# Nesterov damps them and keeps the speed.

# %%
# Notes
# -----
#
# **How torch starts the buffer.** On the first step ``torch.optim.SGD`` copies the gradient
# into ``momentum_buffer`` rather than applying the update to a buffer of zeros. Without
# dampening the two agree (:math:`\beta \cdot 0 + g_1 = g_1`), which is why
# ``calc_momentum`` above matches it; with dampening they do not: torch's buffer starts at
# :math:`g_1` and the zero start at :math:`(1 - \text{dampening})\, g_1`, the low bias Adam
# corrects. :func:`rpsbook.ewma.calc_momentum` takes a ``dampening`` argument and starts as
# torch does.
