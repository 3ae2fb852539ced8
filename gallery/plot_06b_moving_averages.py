"""
Moving averages: MA, EWMA and bias correction
=============================================

Adam, the optimizer that trained every model so far in this chapter, does not use the
gradient it is given as it is: it smooths it with an average, and scales it by another one.
Both are exponentially weighted moving averages (EWMAs). Following the chapter, this page
builds that tool on its own before the next page puts it inside Adam: the simple moving
average, the EWMA and how far back it "remembers", and why an EWMA that starts from zero
must be corrected (Figures 6.15 and 6.16 in the book).
"""

# %%
# The simple moving average
# -------------------------
#
# A moving average (MA) over a number of *periods* is the mean of the last ``periods``
# values, from the current one back to the one observed ``periods - 1`` steps ago (the
# chapter's Equation 6.1):
#
# .. math:: \mathrm{MA}_t(\text{periods}, x) = \frac{1}{\text{periods}}
#           \left(x_t + x_{t-1} + \dots + x_{t-\text{periods}+1}\right)
#
# Every value in the window weighs the same. To compare averages, the chapter counts the
# *average age* of what they contain, the current value being one unit of time old: for an
# MA the ages 1 to ``periods`` weigh the same, so the average age is
# :math:`(\text{periods} + 1)/2`, three for a five-period MA (Equation 6.2).
#
# Written out for a series, with one choice for the first days: while fewer than
# ``periods`` values exist, average those there are (as the book's Figure 6.16 does with
# pandas' ``rolling(min_periods=0)``):

import torch

import rpsbook.ewma
from rpsbook.ewma import plot_ewma_series, plot_ewma_weights

# sphinx_gallery_start_ignore
from rpsbook.report import book_figure

# sphinx_gallery_end_ignore


def moving_average(values, periods):
    # day t averages the last `periods` values, or all of them while there are fewer
    days = range(len(values))
    return torch.stack([values[max(0, t + 1 - periods) : t + 1].mean() for t in days])


print(moving_average(torch.arange(1.0, 8.0), 5))

# %%
# The exponentially weighted moving average
# -----------------------------------------
#
# An EWMA needs no window: it keeps one number and folds every new value into it, with a
# weight :math:`\alpha` for the new value, or equivalently :math:`\beta = 1 - \alpha` for the
# old average (the form used when Adam is discussed; Equation 6.3):
#
# .. math:: \mathrm{EWMA}_t(\alpha, x)
#           = \alpha\, x_t + (1 - \alpha)\, \mathrm{EWMA}_{t-1}(\alpha, x)
#
# Replacing :math:`\mathrm{EWMA}_{t-1}` by its own definition, again and again, expands it
# (Equation 6.4):
#
# .. math:: \mathrm{EWMA}_t(\alpha, x)
#           = \alpha \left( (1-\alpha)^0 x_t + (1-\alpha)^1 x_{t-1}
#             + (1-\alpha)^2 x_{t-2} + \dots \right)
#
# so the value at *lag* ``lag`` (that many steps back) is discounted by
# :math:`(1-\alpha)^\text{lag}`, and over :math:`T` observed values (Equation 6.5):
#
# .. math:: \mathrm{EWMA}_t(\alpha, x) = \alpha \sum_{\text{lag}=0}^{T-1}
#           (1-\alpha)^{\text{lag}}\, x_{t-\text{lag}}
#
# Every value ever seen is in the sum, but the older it is, the less it counts. The larger
# :math:`\alpha`, the faster the weights shrink, and the sooner old values stop mattering:

for alpha in (0.1, 1 / 3, 0.5):
    weights = alpha * (1 - alpha) ** torch.arange(6)
    print(f"alpha = {alpha:.3f}, weights of lags 0-5:", weights.numpy().round(4))

# %%
# Figure 6.15 in the book sets the weights of an EWMA with :math:`\alpha = 1/3` beside those
# of a five-period MA: a flat block of five bars against a geometric decay. The x-axis is the
# *age* of a value, one more than its lag.

fig = plot_ewma_weights(1 / 3, 5, 20)
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.15",
    "Bars of the weight given to each age from 1 to 20: five equal bars of 0.2 for the "
    "5-period moving average, geometrically shrinking ones for the EWMA with alpha 1/3, "
    "both average ages marked.",
    verdict="differs: ages 1 to 20 (lag + 1) where the book shows lags 0 to 9, side-by-side "
    "bars, and the two average ages marked",
)
# sphinx_gallery_end_ignore

# %%
# How old is an EWMA?
# ~~~~~~~~~~~~~~~~~~~
#
# An EWMA has no number of periods, but its values have an average age: weigh the age
# ``lag + 1`` of each value by its weight (Equation 6.6). As :math:`T` grows, it approaches
# :math:`1/\alpha`. Twenty values are enough to see it with :math:`\alpha = 1/3`:

alpha, T = 1 / 3, 20
age = torch.arange(1, T + 1, dtype=torch.float64)
average_age = (alpha * (1 - alpha) ** (age - 1) * age).sum().item()
print("average age of an EWMA, alpha = 1/3, T = 20:", average_age)
same_age = average_age == rpsbook.ewma.ewma_average_age(alpha, T)
print("same as rpsbook's ewma.ewma_average_age:", same_age)

# %%
# Just under three, the average age of a five-period MA. Setting the two average ages equal,
# :math:`(\text{periods} + 1)/2 = 1/\alpha`, ties an EWMA to the MA it resembles (Equation
# 6.7): :math:`\alpha = 2/(\text{periods} + 1)`. One third gives five periods; 19 periods
# give :math:`\alpha = 0.1` (:math:`\beta = 0.9`) and 1999 periods :math:`\alpha = 0.001`
# (:math:`\beta = 0.999`): Adam's two default betas.

for periods in (5, 19, 1999):
    alpha = 2 / (periods + 1)
    print(f"{periods:>4} periods: alpha = {alpha:.4g}, beta = {1 - alpha:.4g}")

# %%
# In code, one EWMA step and a whole series, in the book's shape; the average before the
# first value is zero:


def EWMA(past_value, current_value, alpha):
    return (1 - alpha) * past_value + alpha * current_value


def calc_ewma(values, period):
    alpha = 2 / (period + 1)
    result = []
    for v in values:
        prev_value = result[-1] if result else 0
        result.append(EWMA(prev_value, v, alpha))
    return torch.stack(result)


# %%
# Starting from zero: the bias of an EWMA
# ---------------------------------------
#
# That zero start is a problem in the first steps: with :math:`\alpha = 0.1` the first
# "average" is a tenth of the first value. After :math:`t` steps the weights of Equation 6.5
# add up to :math:`1 - \beta^t` instead of one, so dividing by that sum gives back a proper
# weighted mean, the *bias-corrected* EWMA (Equation 6.8):
#
# .. math:: \text{corrected EWMA}_t(\beta, x) = \frac{\mathrm{EWMA}_t(\beta, x)}{1 - \beta^t}
#
# The correction matters early and fades as :math:`\beta^t` goes to zero. In code:


def correction(averaged_value, beta, steps):
    return averaged_value / (1 - beta**steps)


def calc_corrected_ewma(values, period):
    ewma = calc_ewma(values, period)
    beta = 1 - 2 / (period + 1)
    return torch.stack([correction(v, beta, step + 1) for step, v in enumerate(ewma)])


# %%
# The chapter applies the three averages to a month of daily temperatures, the 30 values of
# its notebook, with 19 periods. The lines below also show that :mod:`rpsbook.ewma`'s
# functions give the same values (the EWMAs to float64 rounding only: rpsbook updates with
# ``torch.lerp``, the operation Adam uses, which rounds differently from the book's
# formula):

temperatures = torch.tensor(
    [5, 11, 15, 6, 5, 3, 3, 0, 0, 3, 4, 2, 1, -1, -2, 2, 2, -2, -1, -1, 3, 4, -1, 2, 6, 4, 9,
     11, 9, -2],
    dtype=torch.float64,
)  # fmt: skip
ma = moving_average(temperatures, 19)
ewma = calc_ewma(temperatures, 19)
corrected = calc_corrected_ewma(temperatures, 19)

same_ma = torch.equal(ma, rpsbook.ewma.calc_ma(temperatures, 19, min_periods=0))
print("same as rpsbook's ewma.calc_ma:", same_ma)
same_ewma = torch.allclose(ewma, rpsbook.ewma.calc_ewma(temperatures, 19), rtol=1e-14, atol=0)
print("same as rpsbook's ewma.calc_ewma:", same_ewma)
rps_corrected = rpsbook.ewma.calc_corrected_ewma(temperatures, 19)
same_corrected = torch.allclose(corrected, rps_corrected, rtol=1e-14, atol=0)
print("same as rpsbook's ewma.calc_corrected_ewma:", same_corrected)

# %%
# Figure 6.16 in the book draws them. The uncorrected EWMA starts at a tenth of the first
# temperature and is still below a third of the moving average on the third day, while the
# moving average, an honest mean of the few values it has, stays with the data. The
# corrected EWMA tracks the temperatures from the first day: over the first five days it is
# within half a degree of the moving average (printed below the rows).

fig = plot_ewma_series(temperatures, 19, label="temperature")
# sphinx_gallery_start_ignore
book_figure(
    fig,
    "6.16",
    "Thirty days of the notebook's temperatures with their 19-period moving average, EWMA "
    "and corrected EWMA: the EWMA starts at a tenth of the first value and stays below the "
    "data for five days, above it on days 6 to 9 as the temperatures drop; the moving average "
    "and the corrected EWMA follow the data from day one, and the two EWMAs nearly meet in "
    "the last ten days.",
)
# sphinx_gallery_end_ignore
for day in (1, 3, 10, 19, 30):
    print(
        f"day {day:>2}: temperature {temperatures[day - 1]:5.1f}, MA {ma[day - 1]:5.2f}, "
        f"EWMA {ewma[day - 1]:5.2f}, corrected {corrected[day - 1]:5.2f}"
    )
print(f"largest |corrected EWMA - MA|, days 1-5: {(corrected - ma)[:5].abs().max():.2f}")
gap = (corrected - ewma).abs()
print(f"largest gap between the EWMAs, days 1-18: {gap[:18].max():.2f}")
print(f"largest gap between the EWMAs, days 19-30: {gap[18:].max():.2f}")

# %%
# The uncorrected EWMA is the corrected one times :math:`1 - \beta^t`. Early on the two
# are degrees apart (the largest gap printed above, on day 3); by day 19 the factor is
# :math:`1 - 0.9^{19} \approx 0.86`, and the gap has shrunk to a fraction of a degree for
# the rest of the month: after 19 days, as the book remarks, one can hardly tell the two
# curves apart. With Adam's :math:`\beta_2 = 0.999` the factor stays far from one for
# thousands of steps, which is why Adam corrects its averages.
#
# Recap
# -----
#
# * An MA weighs the last ``periods`` values equally (average age
#   :math:`(\text{periods} + 1)/2`); an EWMA weighs every value it has seen by
#   :math:`\alpha (1-\alpha)^\text{lag}` (average age close to :math:`1/\alpha`), and
#   :math:`\alpha = 2/(\text{periods} + 1)` makes the two comparable: 19 periods for
#   :math:`\beta = 0.9`, 1999 for 0.999.
# * An EWMA started from zero is biased low; dividing by :math:`1 - \beta^t` removes the bias.
# * :ref:`sphx_glr_auto_examples_plot_07_adaptive_learning_rate.py` puts two corrected EWMAs
#   together into Adam.

# %%
# Checked against the book
# ------------------------
#
# The values below are this page's run next to the numbers the book prints; the
# temperatures and their averages have no printed values in the book, only Figure 6.16.

# sphinx_gallery_start_ignore
from rpsbook.report import checked_against_book

checked_against_book(
    "Adaptive learning rate: MA, EWMA and Adam",
    [
        ("average age of a 5-period MA", (5 + 1) / 2, "3 (book)"),
        ("EWMA average age (alpha=1/3, T=20)", repr(average_age), "2.9930832408241015 (book)"),
        ("alpha of a 19-period EWMA", 2 / (19 + 1), "0.1 (book)"),
    ],
)
# sphinx_gallery_end_ignore

# %%
# Exercises
# ---------
#
# .. _ex-ewma-correction:
#
# When does the correction stop mattering?
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
#
# *Predict, then measure.* The uncorrected EWMA is the corrected one times
# :math:`1 - \beta^t`. From which step on is that factor above 0.99, for :math:`\beta = 0.9`
# and for Adam's :math:`\beta_2 = 0.999`? Guess the ratio of the two answers first.

# %%
# .. rpsbook-solution::

import itertools

first_step_above = {
    beta: next(t for t in itertools.count(1) if 1 - beta**t > 0.99) for beta in (0.9, 0.999)
}
print(first_step_above)

# %%
# :math:`\beta^t < 0.01` from :math:`t > \ln 0.01 / \ln \beta`, and :math:`\ln 0.999` is about
# a hundredth of :math:`\ln 0.9`: a hundred times as many steps (44 and 4603). All 50 updates
# of the next page need the correction of Adam's second average.
#
# .. _ex-ewma-periods:
#
# A shorter memory
# ~~~~~~~~~~~~~~~~
#
# *Change one thing and explain.* Average the temperatures over 5 periods instead of 19.
# Does the uncorrected EWMA catch up with the corrected one sooner or later, and from which
# day on does it stay within a tenth of a degree of it?

# %%
# .. rpsbook-solution::

close_from = {}
for n_periods in (5, 19):
    ewma_n = rpsbook.ewma.calc_ewma(temperatures, n_periods)
    gap_n = (rpsbook.ewma.calc_corrected_ewma(temperatures, n_periods) - ewma_n).abs()
    close_days = [day for day in range(1, 31) if gap_n[day - 1 :].max() < 0.1]
    close_from[n_periods] = close_days[0] if close_days else None
print("within 0.1 degree from day:", close_from)

# %%
# Sooner: with 5 periods :math:`\beta = 2/3`, and :math:`(2/3)^t` falls much faster than
# :math:`0.9^t`: from day 9 on the two are within a tenth of a degree. With 19 periods, never
# this month (``None``): :math:`1 - 0.9^{30}` is still 0.96. A short memory forgets fast.
#
# .. _ex-ewma-adam-state:
#
# Adam keeps an EWMA
# ~~~~~~~~~~~~~~~~~~
#
# *Implement, then compare with torch.* Feed ``torch.optim.Adam(lr=0)`` the temperatures as
# a parameter's gradients (set ``.grad``, call ``step()``). Which average is its
# ``exp_avg`` after each step, bit for bit? (``rpsbook.ewma.calc_ewma`` takes ``beta=`` as
# well as a number of periods.) Where is the bias correction?

# %%
# .. rpsbook-solution::

param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
adam = torch.optim.Adam([param], lr=0.0)
exp_avgs = []
for temperature in temperatures:
    param.grad = temperature.reshape(1)
    adam.step()
    exp_avgs.append(adam.state[param]["exp_avg"].clone())
exp_avgs = torch.cat(exp_avgs)
uncorrected = rpsbook.ewma.calc_ewma(temperatures, beta=0.9)
print("Adam's exp_avg, steps 1-3: ", exp_avgs[:3].tolist())
print("uncorrected EWMA, days 1-3:", uncorrected[:3].tolist())
print("corrected EWMA, days 1-3:  ", corrected[:3].tolist())
print("Adam's step count:", adam.state[param]["step"].item())
# sphinx_gallery_start_ignore
same_as_ewma = torch.equal(exp_avgs, uncorrected)
assert same_as_ewma, "Adam's exp_avg must be the uncorrected EWMA, bit for bit"
# sphinx_gallery_end_ignore

# %%
# The *uncorrected* EWMA from zero, bit for bit (``beta=0.9``, not ``period=19``: see the
# Notes). Adam stores it with the step count and divides by :math:`1 - \beta_1^t` only when it
# computes an update, as the next page shows.

# %%
# Notes
# -----
#
# :mod:`rpsbook.ewma` also keeps a running average as an object,
# :class:`~rpsbook.ewma.RunningEWMA`, and accepts ``alpha`` or ``beta`` instead of a number
# of periods; ``calc_ewma(values, beta=0.9)`` matches an optimizer's ``betas`` exactly,
# where ``period=19`` gives :math:`\alpha = 2/20`, which differs from :math:`1 - 0.9` in the
# last bits of a float64.
