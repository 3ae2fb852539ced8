"""
SGD flavours: momentum and Nesterov
===================================

Adam gives every parameter its own step size. Stochastic gradient descent has a simpler way
to stop being short-sighted: *momentum*, a running sum of past gradients that keeps the
parameters moving in the direction they have been going. This page defines momentum the way
``torch.optim.SGD`` computes it (including two details that are easy to get wrong: it is a
sum, not an average, and torch seeds it with the first gradient), checks the hand-made version
against the optimizer's own buffer, and then watches plain SGD, momentum and Nesterov's
look-ahead variant walk across the loss surface of the regression playground from the
previous page. Momentum gets there much faster but overshoots; Nesterov keeps most of the
speed and, by looking one step ahead, brakes earlier and oscillates less.
"""

# %%
# Momentum is a discounted sum
# ----------------------------
#
# With momentum factor :math:`\beta`, SGD keeps a buffer
#
# .. math:: \mathrm{mo}_t = g_t + \beta\, \mathrm{mo}_{t-1}
#
# and updates ``param -= lr * mo``. It looks like an EWMA, but the new gradient enters with
# weight 1, not :math:`1 - \beta`: the weights :math:`\beta^k` of past gradients add up to
# :math:`1/(1-\beta)`, not to one. If the gradient stays the same, the buffer grows towards
# ten times the gradient for :math:`\beta = 0.9`, so in a steady direction momentum behaves
# like a learning rate ten times larger. :func:`rpsbook.ewma.calc_momentum` computes the
# buffer for a whole sequence of gradients:

from functools import partial

import torch
from torch.optim import SGD

from rpsbook.ewma import calc_ewma, calc_momentum, calc_nesterov, plot_sgd_terms
from rpsbook.paths import (
    OptimizerConfig,
    compare_optimizers,
    loss_surface,
    make_regression_data,
    plot_losses,
    plot_paths,
)
from rpsbook.report import book_figure, compare_with_book

SECTION = "SGD flavours: momentum and Nesterov"

ones = torch.ones(50, dtype=torch.float64)
steps = [0, 1, 2, 9, 49]
print("step:                      ", [s + 1 for s in steps])
print(
    "momentum (beta=0.9), g = 1:", [round(v, 3) for v in calc_momentum(ones, 0.9)[steps].tolist()]
)
print(f"limit 1 / (1 - beta):        {1 / (1 - 0.9):g}")

# %%
# Dampening, and how torch starts the buffer
# ------------------------------------------
#
# ``SGD(dampening=d)`` scales the *new* gradient by :math:`1 - d`:
# :math:`\mathrm{mo}_t = (1-d)\, g_t + \beta\, \mathrm{mo}_{t-1}`. With :math:`d = \beta` this
# is exactly the EWMA recursion of the previous page, so dampening turns the sum back into an
# average.
#
# The other detail is the first step. torch does not start the buffer at zero: on step 1 it
# *copies* the gradient into it, with no dampening. Without dampening the two starts agree
# (:math:`0 \cdot \beta + g_1 = g_1`), but with dampening they do not: an EWMA started from
# zero begins at :math:`(1-d)\, g_1` and is biased low, exactly the bias Adam has to correct,
# while torch's buffer begins at :math:`g_1` and needs no correction. On a constant gradient:

print("step:                             ", [s + 1 for s in steps])
print(
    "torch-style buffer, d = 0.9:      ",
    [round(v, 3) for v in calc_momentum(ones, 0.9, dampening=0.9)[steps].tolist()],
)
print(
    "same recursion started from zero: ",
    [round(v, 3) for v in calc_ewma(ones, beta=0.9)[steps].tolist()],
)

# %%
# The same playground as before
# -----------------------------
#
# The regression of the previous page (:func:`rpsbook.paths.make_regression_data`: 80
# training points in 5 mini-batches, two parameters ``b`` and ``w``) trained for 10 epochs,
# i.e. 50 updates, at the same learning rate 0.1 for every flavour.
# :func:`rpsbook.paths.compare_optimizers` starts each run from the same model and feeds it the
# same mini-batches, capturing gradients and the ``(b, w)`` path through hooks.

data = make_regression_data()
surface = loss_surface(data.x_train, data.y_train)
configs = [
    OptimizerConfig("SGD", partial(SGD, lr=0.1)),
    OptimizerConfig("Momentum", partial(SGD, lr=0.1, momentum=0.9)),
    OptimizerConfig("Nesterov", partial(SGD, lr=0.1, momentum=0.9, nesterov=True)),
]
# Two parameters gain nothing from a GPU, and on the CPU the checks below are bit for bit.
results = compare_optimizers(configs, device="cpu", data=data)
print("least-squares optimum (b, w): ({:.4f}, {:.4f})".format(*surface.optimum))

# %%
# The buffer torch keeps is ``calc_momentum``
# -------------------------------------------
#
# ``torch.optim.SGD`` stores the buffer of each parameter as ``momentum_buffer``. The last
# value of :func:`~rpsbook.ewma.calc_momentum` over the captured gradients of the weight must
# equal it (the Notes check the same with dampening):


def check_buffer(name: str, run, dampening: float) -> float:
    """Print torch's momentum_buffer of the weight next to calc_momentum's; return it."""
    buffer = run.optimizer_state["state"][0]["momentum_buffer"].item()
    ours = calc_momentum(run.gradients["weight"], 0.9, dampening)[-1].item()
    print(
        f"{name:>8}: torch momentum_buffer {buffer!r:<22} calc_momentum {ours!r:<22} "
        f"difference {ours - buffer:g}"
    )
    return buffer


_ = check_buffer("Momentum", results["Momentum"], 0.0)

# %%
# Against the book: its run (300x300 images do not matter here, but an older torch and its
# own random draws do) printed ``momentum_buffer`` values of about -0.0053 for the weight
# and -0.1568 for the bias. Ours, from the run above:

for index, parameter in enumerate(("weight", "bias")):
    buffer = results["Momentum"].optimizer_state["state"][index]["momentum_buffer"].item()
    book = {"weight": "-0.0053", "bias": "-0.1568"}[parameter]
    print(
        compare_with_book(
            f"SGD momentum_buffer of the {parameter}, after 50 steps",
            f"{buffer:.4f}",
            f"{book} (book)",
            section=SECTION,
        )
    )

# %%
# The bias buffers are close; the weight's buffer is the tail end of an oscillation (the
# momentum run is still swinging at step 50, see the figures below), so a small difference
# in the path shows up as a large relative difference there.
#
# Nesterov: look before you leap
# ------------------------------
#
# Think of what momentum is missing. Its update at step ``t`` is the buffer, a sum of every
# gradient seen so far; the only gradient that is *not* in it is the next one, the gradient
# at the point the update is about to land on. Nesterov's accelerated gradient (NAG) fills
# that gap with the best guess available without computing anything new: the next
# gradient will look like the current one. Adding that guess to the buffer is adding one
# more momentum step, which gives the look-ahead term
#
# .. math:: \mathrm{nesterov}_t = g_t + \beta\, \mathrm{mo}_t
#           = (1 + \beta)\, g_t + \beta^2\, \mathrm{mo}_{t-1}
#
# so the update is ``-lr * g - beta * lr * mo``. The second form shows the difference from
# plain momentum (:math:`g_t + \beta\,\mathrm{mo}_{t-1}`): the fresh gradient counts almost
# twice as much and the history a bit less. When the gradient changes sign, because the
# parameters have passed the bottom of the valley, the Nesterov term reacts sooner, and
# the run brakes before it has swung as far.
# :func:`rpsbook.ewma.calc_nesterov` computes that term; replaying every update as
# ``param -= lr * term`` must reproduce each run's path exactly:

update_terms = {
    "SGD": lambda grads: grads,
    "Momentum": partial(calc_momentum, beta=0.9),
    "Nesterov": partial(calc_nesterov, beta=0.9),
}
for name, result in results.items():
    term = update_terms[name]
    steps_taken = torch.stack(
        [term(result.gradients["bias"])[:, 0], term(result.gradients["weight"])[:, 0, 0]], dim=1
    )
    replayed = result.path[:-1].add(steps_taken, alpha=-0.1)
    print(
        f"{name:>8}: max |replayed - path| = {(replayed - result.path[1:]).abs().max().item():g}"
    )

# %%
# Momentum versus plain SGD
# -------------------------
#
# Figure 6.20 in the book. The book's picture for momentum is a ball rolling down a hilly
# landscape: it gathers speed going downhill, keeps rolling over small bumps, and does not
# stop the moment the ground flattens out. Plain SGD drops into the long valley and crawls
# along its nearly flat floor. Momentum builds up speed from gradients that keep pointing
# the same way, so it covers far more ground, but that speed also carries it: first across
# the valley and up the far side, then back, zig-zagging while it travels up the valley,
# and finally past the minimum (the red dot), around which it loops before settling.

fig = plot_paths({name: results[name] for name in ("SGD", "Momentum")}, surface)
book_figure(
    fig,
    "6.20",
    "The paths of SGD and SGD with momentum over the loss contour: SGD crawls along the "
    "valley floor, momentum zig-zags up the valley and loops around the minimum.",
)

# %%
# The update terms of each run
# ----------------------------
#
# Figure 6.21 in the book: for the weight ``w``, each run's own gradients and the update
# term that run actually used. The three runs start from the same point and see the same
# mini-batches, but their gradients differ from the first update on, because each run
# evaluates them where *its own* updates took it. In the SGD run the gradient is the update
# term. In the momentum run the gradient turns positive after three steps, yet the term,
# carrying the history of large negative gradients, keeps pushing ``w`` up for several
# steps more: that lag *is* the overshoot, and the term then swings back and forth with a
# slowly shrinking amplitude. In the Nesterov run the term starts larger (the fresh
# gradient counts nearly twice), but it shrinks quickly, barely crosses zero and stays
# small: looking ahead dampens the oscillations. (This is not the ``dampening`` argument of
# ``SGD``, which scales the new gradient by ``1 - dampening``; both runs here use
# ``dampening=0``.)

own_gradients = {name: result.gradients["weight"] for name, result in results.items()}
fig = plot_sgd_terms(own_gradients, beta=0.9)
book_figure(
    fig,
    "6.21",
    "Three panels, one per run (SGD, momentum, Nesterov), each with that run's gradients of w "
    "and the update term it used over the 50 steps: momentum's term swings widely, "
    "Nesterov's settles quickly.",
)

own_terms = {name: update_terms[name](grads).reshape(-1) for name, grads in own_gradients.items()}
print(f"{'':>8}  {'sign changes':>12}  {'sum |change|':>12}  {'max |term|, steps 11-50':>24}")
for name, term in own_terms.items():
    sign_changes = (term[1:] * term[:-1] < 0).sum().item()
    variation = term.diff().abs().sum().item()
    largest = term[10:].abs().max().item()
    print(f"{name:>8}  {sign_changes:>12}  {variation:>12.2f}  {largest:>24.2f}")

# %%
# The table measures the oscillation of each run's own term: how often it changes sign,
# its total variation (the sum of step-to-step changes) and its largest size once the first
# ten steps are over. Nesterov's term swings less than momentum's on every count.

# %%
# All three flavours
# ------------------
#
# Figures 6.22 and 6.23 in the book: the paths and the losses. Nesterov also swings across
# the valley at first, but not as far, then runs up the valley about as fast as momentum,
# stops a short way past the minimum and settles next to it instead of looping around it.

# sphinx_gallery_thumbnail_number = 3
fig = plot_paths(results, surface)
book_figure(
    fig,
    "6.22",
    "The paths of SGD, momentum and Nesterov over the loss contour: Nesterov swings less far "
    "across the valley and settles next to the minimum instead of looping around it.",
)

# %%
# The losses agree: momentum's training loss falls slowly during its first swings and its
# validation loss jumps back up while it overshoots; Nesterov's losses fall fastest and stay
# low; SGD improves slowly but steadily.
# The table measures the overshoot as the highest ``w`` reached above the optimum's ``w``
# (negative: never got there), and the distance from the optimum after the last step.

fig = plot_losses(results, title="SGD flavours: training (solid) and validation (dashed) losses")
book_figure(
    fig,
    "6.23",
    "Training and validation losses of SGD, momentum and Nesterov over 10 epochs: Nesterov's "
    "fall fastest, momentum's bounce back up while it overshoots.",
)

w_optimum = surface.optimum[1]
optimum = torch.tensor(surface.optimum, dtype=torch.float32)
print(f"{'':>8}  {'train loss':>10}  {'val loss':>8}  {'w overshoot':>11}  {'final distance':>14}")
for name, result in results.items():
    overshoot = result.path[:, 1].max().item() - w_optimum
    distance = (result.path[-1] - optimum).norm().item()
    print(
        f"{name:>8}  {result.losses[-1]:>10.4f}  {result.val_losses[-1]:>8.4f}  "
        f"{overshoot:>+11.3f}  {distance:>14.3f}"
    )

# %%
# Recap
# -----
#
# * Momentum is a discounted *sum* of gradients (weights adding up to :math:`1/(1-\beta)`),
#   not an average; dampening :math:`d = \beta` turns it into an EWMA.
# * torch seeds the buffer with the first gradient, so a dampened buffer is not biased low;
#   :func:`~rpsbook.ewma.calc_momentum` reproduces ``momentum_buffer`` exactly, and replaying
#   the momentum and Nesterov terms reproduces the optimizers' paths.
# * Momentum speeds up progress along flat, consistent directions, and overshoots because
#   its history keeps pushing after the gradient has turned.
# * Nesterov guesses the one gradient momentum is missing, the next one, from the current
#   one, adding one more momentum step to it: the fresh gradient weighs more, the term turns
#   earlier, and the look-ahead dampens the oscillations (nothing to do with the
#   ``dampening`` argument).
# * Each run's gradients are its own: they are evaluated where that run's updates took the
#   parameters, which is why Figure 6.21 plots every flavour from its own run.

# %%
# Notes
# -----
#
# **Dampening and the buffer's start, checked.** A fourth run, with ``dampening=0.9``,
# checks what the section on dampening said: torch's buffer is ``calc_momentum`` with
# dampening, and a dampened recursion started from zero is not. The zero start's error
# shrinks by :math:`\beta` each step, so after 50 steps it is :math:`-\beta^{50}` times
# the first gradient, small but not negligible because the first gradient is the largest
# of the run.

dampened = compare_optimizers(
    [OptimizerConfig("Dampened", partial(SGD, lr=0.1, momentum=0.9, dampening=0.9))],
    device="cpu",
    data=data,
)["Dampened"]
buffer = check_buffer("Dampened", dampened, 0.9)
# With d = beta = 0.9 the zero-started recursion is calc_ewma with beta 0.9.
dampened_grads = dampened.gradients["weight"]
first_gradient = dampened_grads[0].item()
print(f"first gradient {first_gradient:.4f}, largest |gradient| {dampened_grads.abs().max():.4f}")
from_zero = calc_ewma(dampened_grads, beta=0.9)[-1].item()
print(f"Dampened, started from zero instead: {from_zero!r}")
print(f"zero start - torch: {from_zero - buffer:.6f}")
print(f"-beta**50 x first gradient: {-(0.9**50) * first_gradient:.6f}")
