"""
Adaptive learning rate: Adam
============================

Adam, the optimizer that trained every model so far in this chapter, does not use the
gradient it is given as it is: it replaces it by a bias-corrected EWMA of the gradients,
divided by the root of a bias-corrected EWMA of their squares (the tools of
:ref:`sphx_glr_auto_examples_plot_06b_moving_averages.py`). This page recomputes Adam by
hand on a two-parameter regression, with gradients captured by hooks, compares it with
``torch.optim.Adam``, and shows what the adapted gradient does to the path the parameters
take, next to plain SGD (Figures 6.17 to 6.19 in the book).
"""

from functools import partial

import torch
from torch.optim import SGD, Adam, AdamW

from rpsbook.capture import GradientCapture, ParameterCapture
from rpsbook.ewma import adapted_gradients, bias_correction, calc_ewma, plot_adapted_gradients
from rpsbook.listing import show_source
from rpsbook.paths import (
    OptimizerConfig,
    compare_optimizers,
    loss_surface,
    make_model,
    make_regression_data,
    plot_losses,
    plot_paths,
)
from rpsbook.report import book_figure, compare_with_book

SECTION = "Adaptive learning rate: MA, EWMA and Adam"

# %%
# Adam
# ----
#
# Adam (adaptive moment estimation) is two older ideas in one optimizer. It keeps two EWMAs
# per parameter, both started from zero and bias-corrected:
#
# * the gradients themselves, with :math:`\beta_1` (0.9, about 19 steps): a smoothed
#   direction, the *first moment* of the gradients. Smoothing the gradients is what SGD
#   with momentum does (next page), with an average instead of a sum;
# * the squared gradients, with :math:`\beta_2` (0.999, about 1999 steps): the *second
#   moment*, an uncentered variance (the mean is not subtracted), a slowly varying measure
#   of how large this parameter's gradients tend to be. Dividing by its root is RMSProp's
#   idea.
#
# The *adapted gradient* is the first divided by the square root of the second (plus a tiny
# ``eps`` against division by zero), and the update is ``param -= lr * adapted``. Dividing by
# the gradient's own typical size makes the step roughly scale-free: a parameter with tiny
# gradients moves about as fast as one with large gradients, and ``lr`` becomes close to a
# step length in parameter units.
#
# Note what is adapted. The name "adaptive learning rate" suggests that Adam changes the
# learning rate; it does not: ``lr`` stays what it was set to, and it is the *gradient*
# that Adam replaces by the adapted one. (Its effect on a parameter's step is the same as a
# per-parameter learning rate, hence the name.) These are torch's defaults:

defaults = Adam([torch.zeros(1, requires_grad=True)]).defaults
print({key: defaults[key] for key in ("lr", "betas", "eps", "weight_decay", "amsgrad")})

# %%
# Two of those arguments change the recipe.
#
# ``weight_decay`` adds an L2 penalty, ``weight_decay / 2 * w**2``, to the loss. Its
# gradient is ``weight_decay * w``, so the optimizer simply adds that to the gradient of
# every weight before using it; the update then pulls every weight towards zero by a
# fraction of itself, hence "decay". In Adam the extra gradient goes through the adaptive
# scaling like any other, which weakens the decay of weights whose gradients are large.
# ``AdamW`` *decouples* it: it shrinks the weight by ``lr * weight_decay`` times itself
# directly and adapts only the loss's gradient. One step on a weight of 1 whose loss has no
# gradient at all shows the three behaviours:


def one_step(optimizer_class: type, **kwargs) -> float:
    """The weight after one step from 1.0 with a zero loss gradient."""
    weight = torch.ones(1, requires_grad=True)
    optimizer = optimizer_class([weight], lr=0.1, weight_decay=0.1, **kwargs)
    weight.grad = torch.zeros(1)
    optimizer.step()
    return weight.item()


print(f"SGD,   weight_decay=0.1: {one_step(SGD):.4f}  (1 - lr * wd = 0.99)")
print(f"Adam,  weight_decay=0.1: {one_step(Adam):.4f}  (the decay's gradient, adapted to ~1)")
print(f"AdamW, weight_decay=0.1: {one_step(AdamW):.4f}  (decoupled: 1 - lr * wd)")

# %%
# In Adam the decay's gradient, alone in the EWMAs, is adapted to almost exactly 1 and
# the weight moves by a full ``lr``, as if the penalty were a real loss term; SGD and AdamW
# shrink it by 1%.
#
# ``amsgrad=True`` replaces the EWMA of squared gradients, in the denominator, by its
# running *maximum*. That maximum, uncorrected, never shrinks. The chapter describes
# AMSGrad as also dropping the bias correction; torch's implementation (2.14) keeps it and
# divides the maximum by :math:`1 - \beta_2^t` like the plain average, and since that
# factor grows with every step, the corrected denominator can shrink after all. We check
# both on the regression below.

# %%
# The regression playground
# -------------------------
#
# To *see* an optimizer we need a model with two parameters. The rest of the chapter uses a
# one-feature linear regression, :math:`y = 1 + 2x + \varepsilon` with 100 points
# (:func:`rpsbook.paths.make_regression_data`, 80 for training in 5 mini-batches of 16), and
# the model ``Sequential(linear=Linear(1, 1))`` seeded as in the book
# (:func:`rpsbook.paths.make_model`). The mean squared error over all ``(b, w)`` pairs of a
# grid is the loss surface (:func:`rpsbook.paths.loss_surface`); its minimum, the least-squares
# solution, is where any optimizer should end up.

data = make_regression_data()
surface = loss_surface(data.x_train, data.y_train)
initial = make_model().linear
print(f"starting point: b = {initial.bias.item():.4f}, w = {initial.weight.item():.4f}")
print("least-squares optimum (b, w): ({:.4f}, {:.4f})".format(*surface.optimum))

# %%
# Capturing gradients and parameters with hooks
# ---------------------------------------------
#
# To recompute Adam by hand we need every gradient it was given. PyTorch offers two kinds of
# hooks for that, and this is how rpsbook's captures work inside:
#
# * a *tensor hook*, ``parameter.register_hook(fn)``: autograd calls ``fn(grad)`` every
#   time it computes the gradient of that parameter, before storing it in ``.grad``. The
#   function must return ``None``: whatever else it returns *replaces* the gradient;
# * a *forward hook*, ``module.register_forward_hook(fn)``: called as
#   ``fn(module, inputs, output)`` after every forward pass, a good moment to log the
#   parameters' current values (those the update of this step starts from).
#
# Both return a handle whose ``remove()`` detaches the hook. Two training steps by hand:

hook_model = make_model()
logged_grads: dict[str, list] = {"weight": [], "bias": []}
logged_params: list[tuple[float, float]] = []


def log_gradient(name: str, grad: torch.Tensor) -> None:
    logged_grads[name].append(grad.detach().clone())  # returns None: grad is kept as is


def log_parameters(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
    logged_params.append((module.bias.item(), module.weight.item()))


handles = [
    parameter.register_hook(partial(log_gradient, name))
    for name, parameter in hook_model.linear.named_parameters()
]
handles.append(hook_model.linear.register_forward_hook(log_parameters))
hook_optimizer = SGD(hook_model.parameters(), lr=0.1)
x_batch, y_batch = data.x_train[:16], data.y_train[:16]
for _ in range(2):
    loss = torch.nn.functional.mse_loss(hook_model(x_batch), y_batch)
    loss.backward()
    print(
        f"(b, w) = ({logged_params[-1][0]:.4f}, {logged_params[-1][1]:.4f}), "
        f"logged grad of w {logged_grads['weight'][-1].item():+.4f}, "
        f".grad {hook_model.linear.weight.grad.item():+.4f}"
    )
    hook_optimizer.step()
    hook_optimizer.zero_grad()
for handle in handles:
    handle.remove()

# A hook that returns a value changes the gradient autograd stores:
handle = hook_model.linear.weight.register_hook(lambda grad: 2 * grad)
torch.nn.functional.mse_loss(hook_model(x_batch), y_batch).backward()
handle.remove()
doubled = hook_model.linear.weight.grad.item()
hook_model.zero_grad()
torch.nn.functional.mse_loss(hook_model(x_batch), y_batch).backward()
print(
    f"gradient of w with a hook returning 2 * grad: {doubled:+.4f}, without: "
    f"{hook_model.linear.weight.grad.item():+.4f}"
)

# %%
# rpsbook packages the same two kinds of hooks in :mod:`rpsbook.capture`. The book's
# ``capture_gradients`` registers one tensor hook per parameter of the chosen layers; this
# is rpsbook's, whose hook appends a copy of the gradient to that parameter's list and
# returns ``None``:

show_source(GradientCapture._register)

# %%
# and ``capture_parameters`` one forward hook per layer, which logs the values of the
# layer's parameters while it is in training mode (so validation passes log nothing):

show_source(ParameterCapture._register)

# %%
# :func:`rpsbook.paths.compare_optimizers` trains the regression model for 10 epochs (50
# updates) with each optimizer it is given, through :class:`rpsbook.trainer.StepByStep`,
# with both captures attached: every gradient and every ``(b, w)`` visited is recorded. The
# model is so small that the CPU is the right device; it also makes the bit-for-bit checks
# below exact.

adam_results = compare_optimizers(
    [OptimizerConfig("Adam", partial(Adam, lr=0.1))], device="cpu", data=data
)
adam = adam_results["Adam"]
weight_grads = adam.gradients["weight"]
print("captured weight gradients:", tuple(weight_grads.shape))

# %%
# Figure 6.17 in the book takes Adam apart for the weight ``w``. Left, *smoothing*: the
# corrected EWMA of the gradients lags behind them and irons out the step-to-step jitter of
# mini-batches. Middle, *scaling*: one over the root of the corrected EWMA of squared
# gradients. Early gradients were large, and the long memory of :math:`\beta_2` keeps them
# in the average, so the factor grows only slowly as the gradients shrink. Right, the product:
# the adapted gradient starts at -1 (on the first step smoothing and scaling cancel to the
# gradient's sign), then follows the smoothed curve of the left panel stretched by the growing
# factor of the middle one, so late in training Adam's steps are larger than the raw
# gradients alone would make them.

fig = plot_adapted_gradients(weight_grads)
book_figure(
    fig,
    "6.17",
    "Three panels over the 50 steps for the weight: its gradients with their corrected EWMA, "
    "the scaling factor one over the root of the corrected EWMA of squared gradients, and "
    "the gradients against the adapted gradients.",
)

adapted = {
    name: adapted_gradients(adam.gradients[name]).reshape(-1) for name in ("weight", "bias")
}
for name, values in adapted.items():
    print(f"adapted gradients of the {name}: from {values.min():+.3f} to {values.max():+.3f}")

# %%
# Whatever the size of the raw gradients, the adapted ones stay within a few units (the
# ranges printed above): dividing by the root of the second moment works like
# standardizing the gradients, without centering them, so they mostly fall in
# :math:`[-3, 3]`, and the learning rate alone sets the length of a step.

# %%
# Adam's state is nothing but two EWMAs
# -------------------------------------
#
# ``torch.optim.Adam`` stores, per parameter, ``exp_avg`` and ``exp_avg_sq``: the
# *uncorrected* EWMAs (it applies the correction on the fly). Recomputing them from the
# captured gradients with :func:`rpsbook.ewma.calc_ewma` must give the same numbers. Here is
# the weight (parameter 0 of the optimizer), in float32 like the optimizer:

state = adam.optimizer_state["state"][0]
exp_avg, exp_avg_sq = state["exp_avg"].item(), state["exp_avg_sq"].item()
ewma_g = calc_ewma(weight_grads, beta=0.9)[-1].item()
ewma_g2 = calc_ewma(weight_grads**2, beta=0.999)[-1].item()
print(f"EWMA(g):    ours {ewma_g!r:<24} torch exp_avg    {exp_avg!r}")
print(f"EWMA(g**2): ours {ewma_g2!r:<24} torch exp_avg_sq {exp_avg_sq!r}")
print(
    f"relative differences: {abs(ewma_g / exp_avg - 1):.2g}, {abs(ewma_g2 / exp_avg_sq - 1):.2g}"
)

# %%
# Equal, up to the rounding of float32 arithmetic (the Notes say where the last bits come
# from). The book's notebook computes these EWMAs in float64 from its captured gradients,
# with 19 and 1999 periods. Doing the same here gives numbers to set beside the notebook's
# stored output; the last line counts the significant digits on which they agree:

ewma_g_64 = calc_ewma(weight_grads.double(), 19)[-1].item()
ewma_g2_64 = calc_ewma(weight_grads.double() ** 2, 1999)[-1].item()
print(
    compare_with_book(
        "EWMA(19) of the weight's gradients, step 50 (float64)",
        repr(ewma_g_64),
        "-0.006161476466002255 (notebook, stored) / -0.008938... (book, exp_avg -0.0089)",
        section=SECTION,
    )
)
print(
    compare_with_book(
        "EWMA(1999) of the weight's squared gradients, step 50 (float64)",
        repr(ewma_g2_64),
        "0.003308466907084168 (notebook, stored) / 0.0031747... (book, exp_avg_sq 0.0032)",
        section=SECTION,
    )
)
notebook = (-0.006161476466002255, 0.003308466907084168)  # its stored output
agreement = [
    -torch.tensor(abs(ours / theirs - 1) + 1e-17).log10().item()
    for ours, theirs in zip((ewma_g_64, ewma_g2_64), notebook, strict=True)
]
print("significant digits in common with the notebook:", [int(d) for d in agreement])

# %%
# Five digits or more (the count printed above): the captured gradients, and so the whole
# training run, are the notebook's. How many more digits agree depends on the CPU's float32
# kernels: an Intel Xeon reproduces the notebook's stored values to fifteen digits, an AMD
# EPYC to five or six (see :ref:`numbers-variation`). The book printed a different pair of
# values: its run, with an older torch, drew other random numbers (for instance in the
# shuffling of the mini-batches), so its gradients were not these.
#
# ``amsgrad``, checked: with ``amsgrad=True`` Adam also keeps ``max_exp_avg_sq``, the
# running maximum of ``exp_avg_sq``. The same 50 updates with it (one more short run):

amsgrad = compare_optimizers(
    [OptimizerConfig("Adam, amsgrad", partial(Adam, lr=0.1, amsgrad=True))],
    device="cpu",
    data=data,
)["Adam, amsgrad"]
ams_grads = amsgrad.gradients["weight"]
ams_state = amsgrad.optimizer_state["state"][0]
running_max = calc_ewma(ams_grads**2, beta=0.999).cummax(dim=0).values[-1].item()
print(
    f"max_exp_avg_sq {ams_state['max_exp_avg_sq'].item()!r}, "
    f"running max of EWMA(g**2) {running_max!r}"
)
print(f"final exp_avg_sq {ams_state['exp_avg_sq'].item()!r}")

# What torch divides by: the running maximum, bias-corrected as in plain Adam (the
# denominator of torch 2.14's amsgrad: sqrt(max_exp_avg_sq) / sqrt(1 - beta2 ** t) + eps)
maxima = calc_ewma(ams_grads**2, beta=0.999).cummax(dim=0).values.reshape(-1)
corrections = torch.tensor([bias_correction(0.999, t) for t in range(1, len(maxima) + 1)])
denominators = (maxima / corrections).sqrt()
shrank = int((denominators[1:] < denominators[:-1]).sum())
print(f"uncorrected maximum shrank at {int((maxima[1:] < maxima[:-1]).sum())} of 49 steps")
print(f"corrected denominator shrank at {shrank} of 49 steps")
print(f"corrected denominator, steps 10/30/50: {denominators[[9, 29, 49]].numpy().round(4)}")

# %%
# The two maxima agree to float32 precision, and the final ``exp_avg_sq`` has fallen below
# its maximum: from there on, ``amsgrad`` divides by a larger number than plain Adam would.
# But while the uncorrected maximum never shrinks, the *corrected* denominator does (the
# counts above): torch keeps the bias correction, and :math:`1 - \beta_2^t` grows at every
# step, so a maximum that stays put is divided by a growing number. Dropping the
# correction, as the book describes AMSGrad, would give a denominator that never shrinks.

# %%
# SGD versus Adam
# ---------------
#
# Now the same 50 updates with plain SGD at the same learning rate, 0.1. Both runs start from
# the same model and see the same mini-batches, so any difference in the paths (Figure 6.18
# in the book) comes from the update rule alone.

results = compare_optimizers(
    [OptimizerConfig("SGD", partial(SGD, lr=0.1))], device="cpu", data=data
)
results |= adam_results
for name, result in results.items():
    step = result.path[1] - result.path[0]
    print(f"{name:>4} first step: b {step[0].item():+.4f}, w {step[1].item():+.4f}")

fig = plot_paths(results, surface)
book_figure(
    fig,
    "6.18",
    "The paths of SGD and Adam over the loss contour of b and w: SGD drops into the valley "
    "and creeps along it, Adam starts at 45 degrees, overshoots across the valley and curls "
    "towards the minimum.",
)

# %%
# The shapes tell the story of the two rules:
#
# * **SGD** steps along the negative gradient, scaled by ``lr`` only. The loss surface is a
#   long, narrow valley, so the gradient points mostly across it, towards its floor, and only
#   weakly along it. SGD drops into the valley and then creeps along it; after 50 steps it is
#   still far from the red dot.
# * **Adam** normalizes each parameter separately. On the first step the adapted gradient is
#   just the sign of the gradient, so both ``b`` and ``w`` move by ``lr``, whatever the
#   gradient's direction: the 45-degree first segment (see the printed first steps). Both
#   keep moving by nearly ``lr`` per step, across the valley's floor and up its far side,
#   because the smoothed gradient needs several steps to change sign. Then ``b`` turns back
#   while ``w`` keeps climbing (each parameter has its own adapted step), and the path travels
#   along the valley at a speed set by ``lr`` rather than by the small gradient there,
#   curling towards the minimum.
#
# Adam's path is not the shortest one, but it covers far more ground in the flat direction,
# which is the hard part of this problem.
#
# Adam or SGD with momentum?
# ~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# Adam is very good at one thing: getting to *a* minimum quickly, with little tuning. That
# is not the same as getting to a *good* one. The loss surface of a deep model has a great
# many minima, and the one closest to where the optimizer starts is not necessarily the
# one that generalizes best. SGD with momentum, together with a learning-rate schedule
# that keeps the rate large for a while, wanders over more of the surface before settling,
# and often ends up in a better place; the next pages build that alternative, and the
# last one trains the chapter's model with it.
#
# The losses (Figure 6.19 in the book) are the executive summary of those paths, the only
# view we get of a model with more than two parameters: Adam's losses jump around during
# the overshoot in the first epochs, then fall below SGD's.

# sphinx_gallery_thumbnail_number = 2
fig = plot_losses(results, title="SGD vs Adam (lr 0.1): training (solid) and validation (dashed)")
book_figure(
    fig,
    "6.19",
    "Training and validation losses of SGD and Adam over 10 epochs: Adam's jump around early, "
    "then end below SGD's.",
)
for name, result in results.items():
    print(
        f"{name:>4}: final training loss {result.losses[-1]:.4f}, "
        f"validation loss {result.val_losses[-1]:.4f}"
    )

# %%
# Recap
# -----
#
# * Adam combines momentum (the first moment, an EWMA of the gradients) with RMSProp (the
#   second moment, an EWMA of their squares): it divides the corrected first by the root of
#   the corrected second, which puts adapted gradients mostly in :math:`[-3, 3]`.
#   Adam adapts the gradients, not the learning rate.
#   ``weight_decay`` adds ``weight_decay * w`` to the gradients (``AdamW`` decouples it);
#   ``amsgrad`` divides by the running maximum of the second moment, which torch still
#   bias-corrects.
# * Gradients are captured with tensor hooks (``register_hook``, returning ``None``) and
#   parameters with forward hooks. Adam's ``exp_avg`` and ``exp_avg_sq`` are exactly the
#   uncorrected EWMAs of the captured gradients, and replaying the adapted gradients
#   reproduces its path.
# * Per-parameter scaling lets Adam move quickly along directions where gradients are small,
#   at the price of overshooting where the smoothed gradient is slow to turn. It reaches a
#   minimum fast; SGD with momentum and a schedule explores more in search of a better one.
#
# The next page looks at the other way of giving SGD memory: momentum.
#
# Notes
# -----
#
# **Where the last bits come from.** :func:`~rpsbook.ewma.calc_ewma` updates a tensor with
# ``torch.lerp``, the very operation Adam uses for ``exp_avg``, so the first average above
# is identical to the last bit. For the squares Adam uses a multiply and a fused
# multiply-add instead: the same formula rounded differently in float32, which leaves a
# relative difference of the order of float32's precision.
#
# **Replaying the updates.** The state is not just equal at the end: replaying every one of
# the 50 updates as ``param -= lr * adapted`` with :func:`rpsbook.ewma.adapted_gradients`
# reproduces the path of both parameters, up to float32 rounding (torch divides and
# multiplies in a slightly different order: ``addcdiv`` with ``lr`` folded into the first
# correction):

path = adam.path  # (51, 2): (b, w) before each of the 50 steps, then the final values
replayed = torch.stack(
    [
        path[:-1, 0] - 0.1 * adapted_gradients(adam.gradients["bias"])[:, 0],
        path[:-1, 1] - 0.1 * adapted_gradients(weight_grads)[:, 0, 0],
    ],
    dim=1,
)
print(f"max |replayed - Adam's path|: {(replayed - path[1:]).abs().max().item():.3g}")
print(f"float32 spacing at 1.0:        {torch.finfo(torch.float32).eps:.3g}")
