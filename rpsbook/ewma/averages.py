"""Moving averages: simple and exponentially weighted, their weights and ages, bias correction.

Series are tensors of shape ``(n_steps, *shape)``, the format of
:class:`rpsbook.training.GradientCapture`; one-dimensional sequences and NumPy arrays work too
(they come back as NumPy arrays). The recurrences use the same tensor operations as
``torch.optim``, so the uncorrected EWMAs of captured gradients reproduce Adam's ``exp_avg``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

# ---------------------------------------------------------------------------------------------
# alpha, beta and periods


def alpha_from_periods(periods: float) -> float:
    """Smoothing factor ``alpha = 2 / (periods + 1)`` of an EWMA comparable to a ``periods`` MA."""
    if periods < 1:
        raise ValueError(f"periods must be >= 1, got {periods}.")
    return 2 / (periods + 1)


def periods_from_alpha(alpha: float) -> float:
    """Inverse of :func:`alpha_from_periods`: ``2 / alpha - 1`` (``alpha=1/3`` -> 5)."""
    _check_alpha(alpha)
    return 2 / alpha - 1


def beta_from_periods(periods: float) -> float:
    """``beta = 1 - alpha``, the weight of the previous average."""
    return 1 - alpha_from_periods(periods)


def periods_from_beta(beta: float) -> float:
    """Periods of an EWMA with decay ``beta`` (0.9 -> 19, 0.999 -> 1999, up to rounding)."""
    return periods_from_alpha(1 - beta)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}; beta = 1 - alpha.")


def _alpha_beta(
    period: float | None, alpha: float | None, beta: float | None
) -> tuple[float, float]:
    """``(alpha, beta)`` from exactly one of them; ``1 - beta`` is kept as torch computes it."""
    given = [n for n, v in (("period", period), ("alpha", alpha), ("beta", beta)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"pass exactly one of period, alpha or beta (got {given or 'none'}).")
    if beta is not None:
        alpha = 1 - beta
    elif period is not None:
        alpha = alpha_from_periods(period)
    else:
        beta = 1 - alpha
    _check_alpha(alpha)
    return alpha, beta if beta is not None else 1 - alpha


# ---------------------------------------------------------------------------------------------
# averages and their ages


def ma_average_age(periods: int) -> float:
    """Average age ``(periods + 1) / 2`` of the values in a simple moving average."""
    return (periods + 1) / 2


def ewma_weights(alpha: float, lags: int) -> Tensor:
    """Weights ``alpha * (1 - alpha) ** k`` of the values ``k`` steps back, shape ``(lags,)``."""
    _check_alpha(alpha)
    k = torch.arange(lags, dtype=torch.float64)
    return alpha * (1 - alpha) ** k


def ma_weights(periods: int, lags: int) -> Tensor:
    """Weights ``1 / periods`` of a simple moving average over ``lags`` lags, shape ``(lags,)``."""
    return (torch.arange(lags) < periods).to(torch.float64) / periods


def ewma_average_age(alpha: float, lags: int | None = None) -> float:
    """Average age of the values in an EWMA, truncated to ``lags`` values.

    The age of the value ``k`` steps back is ``k + 1``; without ``lags`` the limit ``1 / alpha``
    is returned. ``alpha=1/3, lags=20`` gives 2.9930832408241015.
    """
    if lags is None:
        _check_alpha(alpha)
        return 1 / alpha
    ages = torch.arange(1, lags + 1, dtype=torch.float64)
    return (ages * ewma_weights(alpha, lags)).sum().item()


def bias_correction(beta: float, steps: int) -> float:
    """Bias-correction divisor ``1 - beta ** steps`` of an EWMA started from zero."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1 (the first update is step 1), got {steps}.")
    return 1 - beta**steps


def correction(averaged_value: Any, beta: float, steps: int) -> Any:
    """The book's correction: ``averaged_value / (1 - beta ** steps)``, the corrected value.

    ``averaged_value`` is an EWMA started from zero after ``steps`` updates (a float, an
    array or a tensor); see :func:`bias_correction` for the divisor alone.
    """
    return averaged_value / bias_correction(beta, steps)


def EWMA(past_value: Any, current_value: Any, alpha: float) -> Any:
    """One EWMA update, the book's function: ``(1 - alpha) * past_value + alpha * current_value``.

    Works on floats, arrays and tensors alike. :class:`RunningEWMA` keeps the running value
    (and the step count the bias correction needs) for you.
    """
    _check_alpha(alpha)
    return (1 - alpha) * past_value + alpha * current_value


# ---------------------------------------------------------------------------------------------
# series


def _as_series(values: Any) -> tuple[Tensor, bool]:
    """``values`` as a floating tensor ``(n_steps, *shape)`` and whether it was a tensor."""
    is_tensor = isinstance(values, Tensor)
    series = values.detach() if is_tensor else torch.as_tensor(np.asarray(values, dtype=float))
    if series.ndim == 0:
        raise ValueError("values must have a leading steps dimension, got a scalar.")
    if not series.is_floating_point():
        series = series.to(torch.float64)
    return series, is_tensor


def _like_input(series: Tensor, is_tensor: bool) -> Any:
    return series if is_tensor else series.numpy()


class RunningEWMA:
    """A running exponentially weighted moving average, started from zero.

    Give exactly one of ``alpha``, ``beta`` or ``period``. ``update`` works on floats and on
    tensors (with ``torch.lerp``, as Adam updates ``exp_avg``).

    Examples
    --------
    >>> avg = RunningEWMA(alpha=0.5)
    >>> avg.update(2.0), avg.update(2.0), avg.corrected
    (1.0, 1.5, 2.0)
    """

    def __init__(
        self,
        alpha: float | None = None,
        *,
        beta: float | None = None,
        period: float | None = None,
    ) -> None:
        self.alpha, self.beta = _alpha_beta(period, alpha, beta)
        self.value: Any = 0.0
        self.steps = 0

    def update(self, x: Any) -> Any:
        """Fold ``x`` in and return the (uncorrected) average."""
        self.steps += 1
        if isinstance(x, Tensor):
            previous = self.value if isinstance(self.value, Tensor) else torch.zeros_like(x)
            self.value = torch.lerp(previous, x, self.alpha)
        else:
            self.value = self.value + self.alpha * (x - self.value)
        return self.value

    @property
    def corrected(self) -> Any:
        """The bias-corrected average ``value / (1 - beta ** steps)``."""
        if self.steps == 0:
            raise RuntimeError("RunningEWMA.corrected needs at least one update().")
        return correction(self.value, self.beta, self.steps)

    def reset(self) -> None:
        """Start again from zero."""
        self.value, self.steps = 0.0, 0

    def __repr__(self) -> str:
        return f"RunningEWMA(alpha={self.alpha}, beta={self.beta}, steps={self.steps})"


def calc_ewma(
    values: Any,
    period: float | None = None,
    *,
    alpha: float | None = None,
    beta: float | None = None,
) -> Tensor | np.ndarray:
    """Running EWMA of ``values`` (started from zero), same shape and dtype.

    Parameters
    ----------
    values : Tensor (n_steps, *shape) or 1-D array-like
        The series; tensors come back as tensors, anything else as a NumPy array.
    period, alpha, beta : float
        Exactly one: ``alpha = 2 / (period + 1)``, ``beta = 1 - alpha``. Pass ``beta`` to match
        an optimizer's ``betas`` exactly.
    """
    series, is_tensor = _as_series(values)
    avg = RunningEWMA(alpha, beta=beta, period=period)
    out = torch.stack([avg.update(x) for x in series]) if len(series) else series.clone()
    return _like_input(out, is_tensor)


def calc_corrected_ewma(
    values: Any,
    period: float | None = None,
    *,
    alpha: float | None = None,
    beta: float | None = None,
) -> Tensor | np.ndarray:
    """Bias-corrected running EWMA: ``calc_ewma(values)[t - 1] / (1 - beta ** t)``.

    Same arguments and return type as :func:`calc_ewma`.
    """
    series, is_tensor = _as_series(values)
    alpha, beta = _alpha_beta(period, alpha, beta)
    ewma = calc_ewma(series, alpha=alpha)
    if not len(ewma):
        return _like_input(ewma, is_tensor)
    # One Python-float divisor per step, as Adam divides by ``1 - beta ** step``.
    out = torch.stack([correction(avg, beta, t) for t, avg in enumerate(ewma, start=1)])
    return _like_input(out, is_tensor)


def calc_ma(values: Any, period: int, *, min_periods: int | None = None) -> Tensor | np.ndarray:
    """Simple moving average over the last ``period`` steps.

    As pandas' ``rolling(window=period, min_periods=min_periods).mean()``: a step with fewer
    than ``min_periods`` values so far is NaN (by default the first ``period - 1`` steps);
    with ``min_periods=0`` step ``t < period`` averages the ``t`` values seen so far, as the
    book's Figure 6.16 does. Same shapes and return type as :func:`calc_ewma`.
    """
    if period < 1:
        raise ValueError(f"period must be >= 1, got {period}.")
    min_periods = period if min_periods is None else min_periods
    if not 0 <= min_periods <= period:
        raise ValueError(f"min_periods must be between 0 and period={period}, got {min_periods}.")
    series, is_tensor = _as_series(values)
    n = len(series)
    out = torch.full_like(series, float("nan"))
    if n >= period:
        out[period - 1 :] = series.unfold(0, period, 1).mean(dim=-1)
    for t in range(max(min_periods, 1) - 1, min(period - 1, n)):
        out[t] = series[: t + 1].mean(dim=0)  # a partial window: the values so far
    return _like_input(out, is_tensor)
