"""
Moving averages: MA, EWMA and bias correction
=============================================

Adam, the optimizer that trained every model so far in this chapter, does not use the
gradient it is given as it is: it replaces it by a smoothed version, divided by a running
measure of the gradient's size. Both are exponentially weighted moving averages (EWMAs).
This page builds that tool on its own, before the next one puts it inside Adam: the plain
moving average, the EWMA and how far back it "remembers", and why an EWMA that starts from
zero is biased and how one division fixes it (Figures 6.15 and 6.16 in the book).
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

import torch

from rpsbook.ewma import (
    RunningEWMA,
    alpha_from_periods,
    bias_correction,
    calc_corrected_ewma,
    calc_ewma,
    correction,
    ewma_average_age,
    ewma_weights,
    ma_average_age,
    ma_weights,
    periods_from_alpha,
    periods_from_beta,
    plot_ewma_series,
    plot_ewma_weights,
    temperature_series,
)
from rpsbook.listing import show_source
from rpsbook.report import book_figure, compare_with_book

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
# rpsbook computes it as the book does, one update at a time from a start of zero. The
# running average lives in :class:`rpsbook.ewma.RunningEWMA`; its ``update`` is the
# recursion above, written as ``value + alpha * (x - value)`` for numbers and as
# ``torch.lerp`` for tensors (the operation Adam uses for its own average, which matters on
# the next page):

show_source(RunningEWMA.update)

# %%
# :func:`rpsbook.ewma.calc_ewma`, the book's function, runs it over a whole series
# (``period`` or ``alpha`` or ``beta`` picks the smoothing):

show_source(calc_ewma, docstring=False)

# %%
# :func:`rpsbook.ewma.ewma_weights` lists the weights; over 20 lags they add up to
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
book_figure(
    fig,
    "6.15",
    "Bars of the weight given to each age from 1 to 20: five equal bars of 0.2 for the "
    "5-period moving average, geometrically shrinking ones for the EWMA with alpha 1/3, "
    "both average ages marked.",
)

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
# :func:`rpsbook.ewma.calc_corrected_ewma` applies it at every step, with the book's
# ``correction`` function:

show_source(correction, docstring=False)

# %%
# Applied to a constant series of 10s:

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
# first weeks climbing up from zero, and the corrected EWMA follows the data from day one.

temperatures = temperature_series(30)
fig = plot_ewma_series(temperatures, 19)
book_figure(
    fig,
    "6.16",
    "Thirty days of temperatures with their 19-period moving average, EWMA and corrected "
    "EWMA: the EWMA starts near zero and climbs, the corrected one follows the data from day "
    "one.",
    verdict="differs: the temperatures are a synthetic series, not the book's data",
)
ewma = calc_ewma(temperatures, 19)
corrected = calc_corrected_ewma(temperatures, 19)
for day in (1, 5, 10, 20, 30):
    print(
        f"day {day:>2}: temperature {temperatures[day - 1]:5.1f}, "
        f"EWMA {ewma[day - 1]:5.1f}, corrected {corrected[day - 1]:5.1f}"
    )

# %%
# The uncorrected EWMA is the corrected one times :math:`1 - \beta^t`: a tenth of it on day
# one, and still about 4% short on day 30, since :math:`0.9^{30} \approx 0.04` (the printed
# 9.6 against 10.1). With Adam's :math:`\beta_2 = 0.999` the factor stays far from one for
# thousands of steps, which is why Adam applies the correction.
#
# Recap
# -----
#
# * An MA weighs the last ``p`` values equally (average age ``(p + 1)/2``); an EWMA weighs
#   them geometrically (average age tending to :math:`1/\alpha`), with
#   :math:`\alpha = 2/(p + 1)` making the two comparable: 19 periods for
#   :math:`\beta = 0.9`, 1999 for 0.999.
# * An EWMA started from zero is biased low; dividing by :math:`1 - \beta^t` removes the
#   bias.
# * :ref:`sphx_glr_auto_examples_plot_07_adaptive_learning_rate.py` puts two corrected
#   EWMAs together into Adam.
