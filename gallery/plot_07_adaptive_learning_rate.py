"""
Adaptive learning rate: MA, EWMA and Adam
=========================================

Adam, the optimizer that trained every model so far in this chapter, does not use the
gradient it is given as it is: it replaces it by a smoothed version, divided by a running
measure of the gradient's size. Both are exponentially weighted moving averages (EWMAs). This
page builds that idea from the ground up: the plain moving average, the EWMA and how far back
it "remembers", why an EWMA that starts from zero is biased and how one division fixes it,
and finally Adam itself, recomputed by hand on a two-parameter regression and compared, bit
for bit, with ``torch.optim.Adam``. The last figures show what the adapted gradient does to
the path the parameters take, next to plain SGD.
"""

# %%
# The simple moving average
# -------------------------
#
# A moving average over ``p`` periods (MA) is the mean of the last ``p`` values: each of them
# gets the same weight ``1/p`` and anything older gets nothing. A useful way to describe how
# much an average lags behind is the *average age* of what it contains, counting the current
# value as age 1. For an MA the ages 1, 2, ..., p are equally weighted, so the average age is
# ``(p + 1) / 2``: a 5-period MA is, on average, 3 steps old.

from functools import partial

import torch
from torch.optim import SGD, Adam, AdamW

from rpsbook.ewma import (
    adapted_gradients,
    alpha_from_periods,
    bias_correction,
    calc_corrected_ewma,
    calc_ewma,
    ewma_average_age,
    ewma_weights,
    ma_average_age,
    ma_weights,
    periods_from_alpha,
    periods_from_beta,
    plot_adapted_gradients,
    plot_ewma_series,
    plot_ewma_weights,
    temperature_series,
)
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

SECTION = "Adaptive learning rate: MA, EWMA and Adam"

print("MA(5) weights of ages 1..7:", ma_weights(5, 7).tolist())
print("MA(5) average age:", ma_average_age(5))

# %%
# The exponentially weighted moving average
# -----------------------------------------
#
# An EWMA needs no window. It keeps a single number and folds every new value into it:
#
# .. math:: \mathrm{EWMA}_t = \alpha\, x_t + (1 - \alpha)\, \mathrm{EWMA}_{t-1}
#
# Unrolling the recursion shows the weight of the value ``k`` steps back:
# :math:`\alpha (1-\alpha)^k`. The weights never reach zero, they shrink geometrically, so
# recent values dominate but nothing is ever completely forgotten. Optimizers write the
# recursion with :math:`\beta = 1 - \alpha`, the weight kept by the *old* average.
#
# :func:`rpsbook.ewma.ewma_weights` lists those weights; over 20 lags they add up to
# :math:`1 - \beta^{20}`, just short of one.

weights = ewma_weights(1 / 3, 20)
print("EWMA(alpha=1/3) weights of ages 1..5:", [round(w, 4) for w in weights[:5].tolist()])
print(f"sum over 20 lags: {weights.sum().item():.6f}  (1 - beta**20 = {1 - (2 / 3) ** 20:.6f})")

# %%
# Periods, alpha and beta
# ~~~~~~~~~~~~~~~~~~~~~~~
#
# An EWMA is often described by the MA it resembles: choosing :math:`\alpha = 2/(p+1)`
# gives an EWMA whose weights have the same centre of mass as a ``p``-period MA. That is how
# Adam's defaults read: ``beta1 = 0.9`` averages over about 19 steps, ``beta2 = 0.999`` over
# about 1999.

print(f"alpha for 5 periods: {alpha_from_periods(5):.6f}")
print(f"periods for alpha = 1/3: {periods_from_alpha(1 / 3):g}")
print(f"periods for beta = 0.9: {periods_from_beta(0.9):g}")
print(f"periods for beta = 0.999: {periods_from_beta(0.999):g}")

# %%
# How old is an EWMA?
# ~~~~~~~~~~~~~~~~~~~
#
# Weighting each age ``k + 1`` by :math:`\alpha(1-\alpha)^k` gives the EWMA's average age.
# Over infinitely many values it is exactly :math:`1/\alpha`; truncated at ``T`` values it is
# slightly less, because the oldest values are missing. With :math:`\alpha = 1/3` and 20
# values, :func:`rpsbook.ewma.ewma_average_age` gives almost exactly the 3 steps of the
# 5-period MA: the two averages lag by the same amount, they just spread their weights
# differently.

age = ewma_average_age(1 / 3, 20)
print("EWMA(alpha=1/3) average age over 20 values:", age)
print("limit 1/alpha:", ewma_average_age(1 / 3))
print(
    compare_with_book(
        "EWMA average age (alpha=1/3, T=20)", repr(age), "2.9930832408241015", section=SECTION
    )
)

# %%
# Figure 6.15 in the book puts the two weightings side by side: the MA's flat block of five
# bars against the EWMA's geometric decay, with both average ages marked. The x-axis is the
# age of a value (1 for the current one, so lag ``k`` is age ``k + 1``).

fig = plot_ewma_weights(1 / 3, 5, 20)

# %%
# Starting from zero: the bias of an EWMA
# ---------------------------------------
#
# The recursion needs a value before the first one, and the natural choice (the one torch
# makes for Adam) is zero. That start is not harmless: the first average is only
# :math:`\alpha x_1`, far below :math:`x_1`. With :math:`\beta = 0.9` the first
# :func:`rpsbook.ewma.calc_ewma` of a constant series of 10s is 1, and it takes dozens of
# steps to climb to 10.
#
# The cure follows from the weights: after ``t`` steps they add up to
# :math:`1 - \beta^t` instead of one, so dividing by that sum
# (:func:`rpsbook.ewma.bias_correction`) turns the EWMA back into a proper weighted mean. The
# correction matters early and fades away, because :math:`\beta^t \to 0`.
# :func:`rpsbook.ewma.calc_corrected_ewma` applies it at every step.

constant = torch.full((50,), 10.0, dtype=torch.float64)
steps = [0, 1, 4, 19, 49]
print("step:               ", [s + 1 for s in steps])
print("EWMA (beta=0.9):    ", [round(v, 3) for v in calc_ewma(constant, beta=0.9)[steps].tolist()])
print("1 - beta**t:        ", [round(bias_correction(0.9, s + 1), 3) for s in steps])
print(
    "corrected EWMA:     ",
    [round(v, 3) for v in calc_corrected_ewma(constant, beta=0.9)[steps].tolist()],
)

# %%
# Figure 6.16 in the book shows the three averages on a month of daily temperatures. The
# series here is *synthetic*: :func:`rpsbook.ewma.temperature_series` draws a seasonal swing
# plus a random walk and noise from its own seeded generator, so every build shows the same
# curve. With 19 periods the MA only exists from day 19 on, the uncorrected EWMA spends the
# first two weeks climbing up from zero and stays below the others to the end, and the
# corrected EWMA follows the data from day one and ends up close to the MA.

temperatures = temperature_series(30)
fig = plot_ewma_series(temperatures, 19)

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
# step length in parameter units. These are torch's defaults:

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
# running *maximum*, so the denominator never shrinks and the effective step of a
# parameter never grows. The chapter describes it as also dropping the bias correction;
# torch's implementation (2.14) keeps the correction and applies it to the maximum. We
# check the maximum on the regression below.

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
# :func:`rpsbook.paths.compare_optimizers` trains that model for 10 epochs (50 updates) with
# each optimizer it is given, through :class:`rpsbook.trainer.StepByStep`, while the same
# two kinds of hooks, packaged by :mod:`rpsbook.capture` (``capture_gradients`` and
# ``capture_parameters``), record every gradient and every ``(b, w)`` visited. The model is so
# small that the CPU is the right device; it also makes the bit-for-bit checks below exact.

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
print(f"differences: {ewma_g - exp_avg:g}, {ewma_g2 - exp_avg_sq:g}")
print(f"relative difference of exp_avg_sq: {abs(ewma_g2 / exp_avg_sq - 1):.2g}")

# %%
# The first average is identical to the last bit: :func:`~rpsbook.ewma.calc_ewma` updates a
# tensor with ``torch.lerp``, the very operation Adam uses for ``exp_avg``. For the squares,
# Adam uses a multiply and a fused multiply-add instead of ``lerp``: the same formula rounded
# differently in float32, which leaves a relative difference of the order of float32's
# precision (printed above).
#
# The book's notebook computes these EWMAs in float64 from its captured gradients, with 19
# and 1999 periods. Doing the same here lands on the notebook's numbers (run on this
# torch) to six or seven significant digits, float32's precision: the captured gradients,
# and so the whole training run, are the notebook's, up to the rounding of the float32
# arithmetic of the runs:

ewma_g_64 = calc_ewma(weight_grads.double(), 19)[-1].item()
ewma_g2_64 = calc_ewma(weight_grads.double() ** 2, 1999)[-1].item()
print(
    compare_with_book(
        "EWMA(19) of the weight's gradients, step 50 (float64)",
        repr(ewma_g_64),
        "-0.006161451964757599 (notebook on this torch) / -0.008938... (book, exp_avg -0.0089)",
        section=SECTION,
    )
)
print(
    compare_with_book(
        "EWMA(1999) of the weight's squared gradients, step 50 (float64)",
        repr(ewma_g2_64),
        "0.0033084673689081014 (notebook on this torch) / 0.0031747... (book, exp_avg_sq 0.0032)",
        section=SECTION,
    )
)

# %%
# The book printed a different pair of values: its run, with an older torch, drew other
# random numbers (for instance in the shuffling of the mini-batches), so its gradients
# were not these. Run the book's own notebook on this torch and it prints our numbers.
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

# %%
# The two maxima agree to float32 precision (the EWMA recomputed by ``lerp`` rounds a little
# differently, as above), and the final ``exp_avg_sq`` has fallen below its maximum: from
# there on, ``amsgrad`` divides by a larger number than plain Adam would.

# %%
# The state is not just equal at the end: replaying every one of the 50 updates as
# ``param -= lr * adapted`` with :func:`rpsbook.ewma.adapted_gradients` reproduces the
# path of both parameters.

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

# %%
# The largest difference is a single float32 rounding step: torch divides and multiplies in a
# slightly different order (``addcdiv`` with ``lr`` folded into the first correction), so
# now and then the last bit of a parameter differs.

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
# The losses (Figure 6.19 in the book) say the same: Adam's losses jump around during the
# overshoot in the first epochs, then fall below SGD's.

# sphinx_gallery_thumbnail_number = 4
fig = plot_losses(results, title="SGD vs Adam (lr 0.1): training (solid) and validation (dashed)")
for name, result in results.items():
    print(
        f"{name:>4}: final training loss {result.losses[-1]:.4f}, "
        f"validation loss {result.val_losses[-1]:.4f}"
    )

# %%
# Recap
# -----
#
# * An MA weighs the last ``p`` values equally (average age ``(p + 1)/2``); an EWMA weighs
#   them geometrically (average age tending to :math:`1/\alpha`), with
#   :math:`\alpha = 2/(p + 1)` making the two comparable.
# * An EWMA started from zero is biased low; dividing by :math:`1 - \beta^t` removes the bias.
# * Adam combines momentum (the first moment, an EWMA of the gradients) with RMSProp (the
#   second moment, an EWMA of their squares): it divides the corrected first by the root of
#   the corrected second, which puts adapted gradients mostly in :math:`[-3, 3]`.
#   ``weight_decay`` adds ``weight_decay * w`` to the gradients (``AdamW`` decouples it);
#   ``amsgrad`` divides by the running maximum of the second moment.
# * Gradients are captured with tensor hooks (``register_hook``, returning ``None``) and
#   parameters with forward hooks. Adam's ``exp_avg`` and ``exp_avg_sq`` are exactly the
#   uncorrected EWMAs of the captured gradients, and replaying the adapted gradients
#   reproduces its path.
# * Per-parameter scaling lets Adam move quickly along directions where gradients are small,
#   at the price of overshooting where the smoothed gradient is slow to turn. It reaches a
#   minimum fast; SGD with momentum and a schedule explores more in search of a better one.
#
# The next page looks at the other way of giving SGD memory: momentum.
