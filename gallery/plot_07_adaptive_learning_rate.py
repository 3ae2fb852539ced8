"""
Adaptive learning rate: Adam
============================

Adam, the optimizer that trained every model so far in this chapter, replaces the gradient
by a bias-corrected EWMA of the gradients divided by the root of a bias-corrected EWMA of
their squares (the tools of :ref:`sphx_glr_auto_examples_plot_06b_moving_averages.py`).
Following the chapter, this page captures a regression's gradients with hooks, computes
Adam's adapted gradients by hand, finds them in the optimizer's state, and sets Adam's path
beside plain SGD's (Figures 6.17 to 6.19 in the book).
"""

# %%
# Adam
# ----
#
# Adam (adaptive moment estimation) combines two older optimizers. Like SGD with momentum
# (next page), it follows a moving average of the gradients, the *first moment* (momentum
# steps with :math:`1/(1-\beta)` times that average, Adam with its bias-corrected value); like
# RMSProp it scales them by a moving average of the *squared* gradients, the *second
# moment* (an uncentered variance: the mean is not subtracted). Both are EWMAs started from
# zero and bias-corrected, one short (:math:`\beta_1 = 0.9`, about 19 periods) to smooth
# the gradients, one very long (:math:`\beta_2 = 0.999`, about 1999 periods) to scale them.
# Their ratio is the *adapted gradient* (the chapter's Equation 6.9):
#
# .. math:: \text{adapted gradient}_t = \frac{\text{corrected EWMA}_t(\beta_1, g)}
#           {\sqrt{\text{corrected EWMA}_t(\beta_2, g^2)} + \epsilon}
#
# and it replaces the gradient in the update, :math:`\text{param}_t = \text{param}_{t-1} -
# \eta\, \text{adapted gradient}_t`. The learning rate :math:`\eta` is left as it was: what
# Adam adapts is the gradient (its effect on each parameter's step is that of a learning
# rate of its own, why Adam is called an adaptive method). Dividing by the gradients'
# typical size works like standardizing them without centering, so adapted gradients fall
# mostly within :math:`[-3, 3]`. torch's defaults:

from functools import partial

import matplotlib.pyplot as plt
import torch
from torch.optim import SGD, Adam

import rpsbook.ewma
from rpsbook.ewma import plot_adapted_gradients
from rpsbook.paths import (
    OptimizerConfig,
    compare_optimizers,
    loss_surface,
    make_model,
    make_regression_data,
    plot_losses,
    plot_paths,
)

# sphinx_gallery_start_ignore
from rpsbook.report import book_figure

# sphinx_gallery_end_ignore

defaults = Adam([torch.zeros(1, requires_grad=True)]).defaults
print({key: defaults[key] for key in ("lr", "betas", "eps", "weight_decay", "amsgrad")})

# %%
# Two arguments are new. ``weight_decay`` is an L2 penalty: it adds ``weight_decay`` times
# the weight to the weight's gradient, so each update takes a little off the weight, and the
# smaller the weight the smaller the cut: it decays. ``amsgrad=True`` selects the AMSGrad
# variant, which divides by the largest EWMA of squared gradients seen so far instead of
# the current one and, as the chapter says, drops the bias correction, as the paper that
# introduced it does. torch's version keeps the correction (see the exercises).
#
# The regression playground
# -------------------------
#
# To *see* an optimizer we need a model with two parameters: the one-feature linear
# regression :math:`y = 1 + 2x + \varepsilon` with 100 points
# (:func:`rpsbook.paths.make_regression_data`: 80 for training in 5 mini-batches of 16) and
# a one-layer model, ``nn.Sequential(OrderedDict(linear=nn.Linear(1, 1)))``, seeded as in the book
# (:func:`rpsbook.paths.make_model`). The mean squared error over a grid of ``(b, w)`` is the
# loss surface; its minimum, the least-squares solution, is where any optimizer should end.

data = make_regression_data()
surface = loss_surface(data.x_train, data.y_train)
print("least-squares optimum (b, w): ({:.4f}, {:.4f})".format(*surface.optimum))

# %%
# Capturing gradients and parameters with hooks
# ---------------------------------------------
#
# Computing Adam by hand needs every gradient it was given. The chapter logs them with a
# *tensor hook*: ``parameter.register_hook(fn)`` makes autograd call ``fn(grad)`` each time
# it computes that parameter's gradient, before storing it in ``.grad``. ``fn`` must return
# ``None``: whatever else it returns *replaces* the gradient. (The chapter prefers it to the
# module's ``register_backward_hook``, which had an open issue; torch 2 deprecates it for
# ``register_full_backward_hook``, which gets the gradients of the module's inputs and
# outputs, not of its parameters.) Parameters are logged by a *forward hook*,
# ``module.register_forward_hook(fn)``, called as ``fn(module, inputs, output)`` after each
# forward pass. Both return a handle whose ``remove()`` detaches the hook:

hook_model = make_model()
logged_grads, logged_params = [], []
handles = [
    hook_model.linear.weight.register_hook(lambda grad: logged_grads.append(grad.clone())),
    hook_model.linear.register_forward_hook(
        lambda module, inputs, output: logged_params.append(module.weight.item())
    ),
]
hook_optimizer = SGD(hook_model.parameters(), lr=0.1)
x_batch, y_batch = data.x_train[:16], data.y_train[:16]
for _ in range(2):
    torch.nn.functional.mse_loss(hook_model(x_batch), y_batch).backward()
    print(
        f"w = {logged_params[-1]:.4f}: logged gradient {logged_grads[-1].item():+.4f}, "
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
doubled = hook_model.linear.weight.grad.clone()
hook_model.zero_grad()
torch.nn.functional.mse_loss(hook_model(x_batch), y_batch).backward()
plain = hook_model.linear.weight.grad
print(f"gradient of w with a hook returning 2 * grad: {doubled.item():+.4f}")
print(f"gradient of w without it:                     {plain.item():+.4f}")

# %%
# (``list.append`` returns ``None``: the logging hook leaves the gradient alone.)
# :mod:`rpsbook.training` packages the same two hooks, and
# :func:`rpsbook.paths.compare_optimizers` trains the model for 10 epochs, 50 updates, with
# each optimizer it is given, capturing every gradient and ``(b, w)`` visited (on the CPU:
# the model is tiny). Adam with ``lr=0.1``:

adam_results = compare_optimizers(
    [OptimizerConfig("Adam", partial(Adam, lr=0.1))], device="cpu", data=data
)
adam = adam_results["Adam"]
print("captured weight gradients:", tuple(adam.gradients["weight"].shape))

# %%
# Adam's state is nothing but two EWMAs
# -------------------------------------
#
# The chapter then computes the adapted gradients of the weight from the captured gradients,
# with the EWMAs of the previous page. Written out in float64, as the book's NumPy arrays
# are:


def calc_ewma(values, period):
    alpha = 2 / (period + 1)
    result = [alpha * values[0]]  # the first step from an average of zero
    for v in values[1:]:
        result.append((1 - alpha) * result[-1] + alpha * v)
    return torch.stack(result)


def calc_corrected_ewma(values, period):
    beta = 1 - 2 / (period + 1)
    steps = torch.arange(1, len(values) + 1, dtype=torch.float64)
    return calc_ewma(values, period) / (1 - beta**steps)


gradients = adam.gradients["weight"].reshape(-1).double()
corrected_gradients = calc_corrected_ewma(gradients, 19)
corrected_sq_gradients = calc_corrected_ewma(gradients**2, 1999)
adapted_gradients = corrected_gradients / (corrected_sq_gradients.sqrt() + 1e-8)

same_adapted = torch.allclose(
    adapted_gradients, rpsbook.ewma.adapted_gradients(gradients), rtol=1e-12, atol=0
)
print("same as rpsbook's ewma.adapted_gradients:", same_adapted)

# %%
# (To float64 rounding: rpsbook takes :math:`\beta_1 = 0.9` as the optimizer does, not
# :math:`1 - 2/20`, and divides in torch's order.) Under the hood, ``torch.optim.Adam``
# keeps two tensors per parameter, ``exp_avg`` and ``exp_avg_sq``: the *uncorrected* EWMAs
# of the gradients and of their squares (it applies the correction on the fly). The last
# values of our uncorrected EWMAs are therefore, up to rounding, the optimizer's state:

ewma_g = calc_ewma(gradients, 19)[-1].item()
ewma_g2 = calc_ewma(gradients**2, 1999)[-1].item()
print(f"last uncorrected EWMAs (float64): {ewma_g!r}, {ewma_g2!r}")

state = adam.optimizer_state["state"][0]  # the weight's
weight_grads = adam.gradients["weight"]
exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
print(f"torch's state (float32): exp_avg {exp_avg.item()!r}, exp_avg_sq {exp_avg_sq.item()!r}")
# sphinx_gallery_start_ignore
same_exp_avg = torch.equal(exp_avg, rpsbook.ewma.calc_ewma(weight_grads, beta=0.9)[-1])
same_exp_avg_sq = torch.allclose(
    exp_avg_sq, rpsbook.ewma.calc_ewma(weight_grads**2, beta=0.999)[-1], rtol=1e-5, atol=0
)
assert same_exp_avg and same_exp_avg_sq, "Adam's state must be rpsbook's EWMAs"
# sphinx_gallery_end_ignore

# %%
# The two pairs agree to about six significant digits (Adam computes in float32). The
# float64 pair is the notebook's own check; the comparison at the end of the page sets it
# beside the values the notebook stored.
#
# Figure 6.17 in the book takes the adapted gradients of the weight apart. Left, smoothing:
# the corrected EWMA of the gradients irons out the jitter of the mini-batches. Middle,
# scaling: one over the root of the corrected EWMA of the squared gradients (the factor the
# book's notebook plots), which grows as the gradients shrink, slowly, because the long
# average keeps the large early gradients.
# Right, the product: on the first step smoothing and scaling cancel to the gradient's sign,
# -1 here; afterwards the adapted gradient is the smoothed gradient stretched by the scaling.

fig = plot_adapted_gradients(weight_grads)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.17",
    "Three panels over the 50 steps for the weight: its gradients with their corrected EWMA, "
    "the scaling factor one over the root of the corrected EWMA of squared gradients, and "
    "the gradients against the adapted gradients.",
)
# sphinx_gallery_end_ignore
scaling = 1 / (corrected_sq_gradients.sqrt() + 1e-8)
print(f"first adapted gradient: {adapted_gradients[0]:+.4f}")
print(f"scaling factor, steps 1 / 25 / 50: {scaling[[0, 24, 49]].numpy().round(2)}")

# %%
# SGD versus Adam
# ---------------
#
# Now the same 50 updates with plain SGD at the same learning rate, 0.1. Both runs start
# from the same model and see the same mini-batches, so the difference in their paths
# (Figure 6.18 in the book) comes from the update rule alone.

sgd_config = OptimizerConfig("SGD", partial(SGD, lr=0.1))
results = compare_optimizers([sgd_config], device="cpu", data=data) | adam_results
first_steps = {name: result.path[1] - result.path[0] for name, result in results.items()}
for name, step in first_steps.items():
    print(f"{name:>4} first step: b {step[0].item():+.4f}, w {step[1].item():+.4f}")

fig = plot_paths(results, surface)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.18",
    "The paths of SGD and Adam over the loss contour of b and w: SGD drops into the valley "
    "and creeps along it, Adam starts at 45 degrees, overshoots across the valley and curls "
    "towards the minimum.",
)
# sphinx_gallery_end_ignore
optimum = torch.tensor(surface.optimum, dtype=torch.float32)
distances = {name: (result.path[-1] - optimum).norm().item() for name, result in results.items()}
print("distance from the optimum after 50 steps:", {k: round(v, 3) for k, v in distances.items()})

# %%
# **SGD** steps along the negative gradient. The loss surface is a long, narrow valley
# whose gradient points mostly across it: SGD drops to the floor, wiggling with the
# mini-batches, then creeps along it, and ends the 50 steps several times farther from the
# red dot than Adam (the distances above). **Adam** normalizes each parameter on its own.
# Its first adapted gradients are the gradients' signs, so ``b`` and ``w`` both move by the
# learning rate, a 45-degree first segment (the first steps printed above). Its smoothed
# gradient is slow to turn, so it overshoots across the valley and changes course back and
# forth, then travels along the valley at a speed set by the learning rate rather than by
# the small gradient there: it adapts to the loss surface.
#
# The losses (Figure 6.19 in the book) are the executive summary of those paths, and the
# only view we get of a real model. Adam's training loss goes up while it overshoots, then
# ends below SGD's, which falls every epoch.

# sphinx_gallery_thumbnail_number = 2
fig, axs = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, layout="constrained")
plot_losses(results, ax=axs, title=None)
for ax, name in zip(axs, results, strict=True):
    ax.set_title(f"{name} (lr 0.1)")
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.19",
    "Two panels, SGD and Adam, each with its training and validation losses over 10 epochs "
    "on a shared log axis: Adam's go up and down early, then end below SGD's.",
)
# sphinx_gallery_end_ignore
for name, result in results.items():
    print(f"{name:>4} training losses:", [round(loss, 4) for loss in result.losses])

# %%
# Adam converges quickly to *a* minimum. A linear regression has only one, but a deep
# model has many, some better than others, and the nearest is not necessarily a good one.
# SGD with momentum, combined with a learning-rate scheduler, explores more of the surface
# before settling: the next pages build that alternative.
#
# Recap
# -----
#
# * Adam follows a corrected EWMA of the gradients divided by the root of a corrected EWMA
#   of their squares; the learning rate stays as it was.
# * Gradients are captured with tensor hooks (``register_hook``, returning ``None``),
#   parameters with forward hooks; Adam's ``exp_avg`` and ``exp_avg_sq`` are the uncorrected
#   EWMAs of the captured gradients.

# %%
# Checked against the book
# ------------------------
#
# This page's run next to the book notebook's stored outputs (to at least five significant
# digits on every CPU measured) and the book's printed state (an older run, other gradients).

# sphinx_gallery_start_ignore
from rpsbook.report import checked_against_book

checked_against_book(
    "Adaptive learning rate: MA, EWMA and Adam",
    [
        (
            "EWMA(19) of the weight's gradients, step 50 (float64)",
            repr(ewma_g),
            "-0.006161476466002255 (book's notebook); -0.008938403644834258 (book)",
        ),
        (
            "EWMA(1999) of the weight's squared gradients, step 50 (float64)",
            repr(ewma_g2),
            "0.003308466907084168 (book's notebook); 0.0031747136253540394 (book)",
        ),
        (
            "Adam's exp_avg, exp_avg_sq of the weight",
            f"{exp_avg.item():.4f}, {exp_avg_sq.item():.4f}",
            "-0.0062, 0.0033 (book's notebook); -0.0089, 0.0032 (book)",
        ),
        (
            "Adam's exp_avg, exp_avg_sq of the bias",
            f"{adam.optimizer_state['state'][1]['exp_avg'].item():.4f}, "
            f"{adam.optimizer_state['state'][1]['exp_avg_sq'].item():.4f}",
            "0.0405, 0.0097 (book's notebook); 0.0295, 0.0096 (book)",
        ),
    ],
)
# sphinx_gallery_end_ignore

# %%
# Exercises
# ---------
#
# .. _ex-adam-first-step:
#
# Adam's first step
# ~~~~~~~~~~~~~~~~~
#
# *Predict, then measure.* From the seeded model, take one Adam step with ``lr=0.01`` on the
# first mini-batch (``x_batch, y_batch``), once on the loss and once on ten times the loss.
# How far do ``w`` and ``b`` move each time?

# %%
# .. rpsbook-solution::

first_moves = {}
for scale in (1, 10):
    model = make_model()
    before = torch.cat([p.detach().reshape(-1) for p in model.parameters()])  # w, b
    (scale * torch.nn.functional.mse_loss(model(x_batch), y_batch)).backward()
    Adam(model.parameters(), lr=0.01).step()
    first_moves[scale] = torch.cat([p.detach().reshape(-1) for p in model.parameters()]) - before
    print(f"loss times {scale:>2}: w and b move by {first_moves[scale].numpy().round(6)}")

# %%
# Both move by the learning rate, 0.01, either way (to float32 rounding): on the first step the
# corrected averages are :math:`g` and :math:`g^2`, so the adapted gradient is
# :math:`g / (|g| + \epsilon)`, the gradient's sign, whatever its size. SGD's first step
# would have grown tenfold with the loss.
#
# .. _ex-adam-amsgrad:
#
# AMSGrad's denominator
# ~~~~~~~~~~~~~~~~~~~~~
#
# *Implement, then compare with torch.* Train the playground with
# ``Adam(lr=0.1, amsgrad=True)``, compute the running maximum of the EWMA of the weight's
# squared gradients and compare it with the optimizer's ``max_exp_avg_sq``. The AMSGrad
# paper divides by the root of that maximum; torch first divides the maximum by
# :math:`1 - \beta_2^t`, as plain Adam does. How often does each denominator shrink?

# %%
# .. rpsbook-solution::

amsgrad = compare_optimizers(
    [OptimizerConfig("AMSGrad", partial(Adam, lr=0.1, amsgrad=True))], device="cpu", data=data
)["AMSGrad"]
ams_sq = rpsbook.ewma.calc_ewma(amsgrad.gradients["weight"].reshape(-1) ** 2, beta=0.999)
running_max = ams_sq.cummax(dim=0).values
torch_max = amsgrad.optimizer_state["state"][0]["max_exp_avg_sq"].reshape(())
same_max = torch.allclose(running_max[-1], torch_max, rtol=1e-5, atol=0)
print(f"running maximum {running_max[-1].item():.6g}, max_exp_avg_sq {torch_max.item():.6g}")
steps = torch.arange(1, len(running_max) + 1)
denominators = {
    "paper": running_max.sqrt(),
    "torch": (running_max / (1 - 0.999**steps)).sqrt(),
}
for name, denominator in denominators.items():
    shrinks = (denominator.diff() < 0).sum().item()
    print(f"{name}: the denominator shrinks on {shrinks} of {len(steps) - 1} steps")

# %%
# The maximum never shrinks, so in the paper (Reddi, Kale and Kumar, 2018) a parameter's
# step can only get shorter for the same smoothed gradient, which is the point of AMSGrad.
# ``torch.optim.Adam(amsgrad=True)`` (2.14) keeps that maximum, uncorrected, in
# ``max_exp_avg_sq``, but its bias correction grows as :math:`1 - \beta_2^t` does, faster
# than the maximum over these first 50 steps: its denominator shrinks on every step after
# the first. The chapter describes the paper's version.

# %%
# Notes
# -----
#
# **Weight decay in Adam and AdamW.** In ``Adam`` the decay's extra gradient goes through
# the adaptive scaling like any other, which weakens the decay of weights whose gradients
# are large; ``torch.optim.AdamW`` *decouples* it, shrinking each weight by
# ``lr * weight_decay`` times itself directly and adapting only the loss's gradient.
