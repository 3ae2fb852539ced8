"""Moving averages, bias correction, and the update terms of Adam and SGD recomputed by hand.

Series are tensors of shape ``(n_steps, *shape)``, the format of
:class:`rpsbook.capture.GradientCapture`; one-dimensional sequences and NumPy arrays work too
(they come back as NumPy arrays). The recurrences use the same tensor operations as
``torch.optim``, so the uncorrected EWMAs of captured gradients reproduce Adam's ``exp_avg``
and the momentum terms reproduce SGD's ``momentum_buffer``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from ._figures import axes_list

__all__ = [
    "EWMA",
    "RunningEWMA",
    "adapted_gradients",
    "alpha_from_periods",
    "beta_from_periods",
    "bias_correction",
    "calc_corrected_ewma",
    "calc_ewma",
    "calc_ma",
    "calc_momentum",
    "calc_nesterov",
    "correction",
    "ewma_average_age",
    "ewma_weights",
    "ma_average_age",
    "ma_weights",
    "momentum",
    "periods_from_alpha",
    "periods_from_beta",
    "plot_adapted_gradients",
    "plot_ewma_series",
    "plot_ewma_weights",
    "plot_sgd_terms",
]


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


def momentum(past_value: Any, current_value: Any, beta: float) -> Any:
    """One momentum update, the book's function: ``beta * past_value + current_value``.

    A discounted sum, not an average; :func:`calc_momentum` runs it over a series.
    """
    return beta * past_value + current_value


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


# ---------------------------------------------------------------------------------------------
# optimizer terms


def _check_grads(grads: Tensor) -> Tensor:
    if not isinstance(grads, Tensor) or grads.ndim == 0:
        raise ValueError("grads must be a tensor of shape (n_steps, *param.shape).")
    return grads.detach()


def calc_momentum(values: Any, beta: float, dampening: float = 0.0) -> Tensor | np.ndarray:
    """SGD's momentum buffer after each step, shape ``(n_steps, *shape)``.

    ``momentum_t = beta * momentum_{t-1} + (1 - dampening) * g_t``, a discounted sum (not an
    average). As in ``torch.optim.SGD``, the buffer starts as the first gradient itself, so
    dampening does not apply on step 1 (without dampening this is the book's
    :func:`momentum` started from 0). Gradients are the raw ones (no weight decay).
    ``values``: a tensor ``(n_steps, *shape)`` comes back as a tensor, anything else (the
    book passes NumPy arrays) as a NumPy array.
    """
    grads, is_tensor = _as_series(values)
    buffers: list[Tensor] = []
    for g in grads:
        if not buffers:
            buffers.append(g.clone())
        else:
            buffers.append(buffers[-1].mul(beta).add(g, alpha=1 - dampening))
    return _like_input(torch.stack(buffers) if buffers else grads.clone(), is_tensor)


def calc_nesterov(values: Any, beta: float, dampening: float = 0.0) -> Tensor | np.ndarray:
    """Nesterov's update term ``g_t + beta * momentum_t`` per step, shape ``(n_steps, *shape)``.

    Same arguments and return type as :func:`calc_momentum`.
    """
    grads, is_tensor = _as_series(values)
    momenta = calc_momentum(grads, beta, dampening)
    return _like_input(grads.add(momenta, alpha=beta), is_tensor)


def adapted_gradients(
    grads: Tensor, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
) -> Tensor:
    """Adam's adapted gradients, shape ``(n_steps, *shape)``.

    ``corrected_ewma(beta1, g) / (sqrt(corrected_ewma(beta2, g ** 2)) + eps)``; Adam updates
    ``param -= lr * adapted``.
    """
    grads = _check_grads(grads)
    if not len(grads):  # no steps, no updates: as calc_ewma does
        return grads.clone()
    beta1, beta2 = betas
    smoothed = calc_corrected_ewma(grads, beta=beta1)
    squares = calc_ewma(grads * grads, beta=beta2)
    # sqrt(v / c) computed as sqrt(v) / sqrt(c), the order torch.optim.Adam uses.
    scale = torch.stack(
        [v.sqrt() / bias_correction(beta2, t) ** 0.5 for t, v in enumerate(squares, start=1)]
    )
    return smoothed / (scale + eps)


# ---------------------------------------------------------------------------------------------
# plots


def plot_ewma_weights(
    alpha: float = 1 / 3, periods: int = 5, lags: int = 20, ax: Axes | None = None
) -> Figure:
    """Fig 6.15: the weight of each past value in an EWMA and in a simple moving average."""
    (ax,) = axes_list(ax, 1, panel=(7, 4))
    ages = np.arange(1, lags + 1)
    width = 0.4
    ewma_age = ewma_average_age(alpha, lags)
    ma_age = ma_average_age(periods)
    ax.bar(ages - width / 2, ewma_weights(alpha, lags).numpy(), width, label=f"EWMA α={alpha:.3g}")
    ax.bar(ages + width / 2, ma_weights(periods, lags).numpy(), width, label=f"MA {periods}")
    ax.axvline(ewma_age, color="C0", ls="--", label=f"EWMA average age {ewma_age:.4f}")
    ax.axvline(ma_age, color="C1", ls=":", label=f"MA average age {ma_age:g}")
    ax.set(
        xlabel="age of the value (1 = current)",
        ylabel="weight",
        title="Weight of a value by its age",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # ages are whole steps
    ax.legend()
    return ax.figure


def plot_ewma_series(
    values: Any,
    period: int = 19,
    ax: Axes | None = None,
    *,
    min_periods: int | None = 0,
    label: str = "value",
) -> Figure:
    """Fig 6.16: a series with its moving average, EWMA and bias-corrected EWMA.

    ``min_periods`` goes to :func:`calc_ma`: 0, the book's choice, draws the moving average
    from the first value on; ``None`` only where a full window exists. ``label`` names the
    values on the y-axis and in the legend (e.g. ``"temperature"``).
    """
    series, _ = _as_series(values)
    if series.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {tuple(series.shape)}.")
    (ax,) = axes_list(ax, 1, panel=(8, 4))
    days = np.arange(1, len(series) + 1)
    ax.plot(days, series.numpy(), "o", color="0.5", ms=4, label=label)
    moving_average = calc_ma(series, period, min_periods=min_periods)
    ax.plot(days, moving_average.numpy(), label=f"MA {period}")
    ax.plot(days, calc_ewma(series, period).numpy(), label=f"EWMA {period}")
    ax.plot(days, calc_corrected_ewma(series, period).numpy(), label=f"corrected EWMA {period}")
    ax.set(xlabel="day", ylabel=label, title=f"Moving averages of {period} periods")
    ax.legend()
    return ax.figure


def _scalar_series(grads: Tensor) -> Tensor:
    grads = _check_grads(grads)
    if not len(grads):
        raise ValueError("grads is empty: there is nothing to plot without at least one step.")
    if grads[0].numel() != 1:
        raise ValueError(
            f"grads must hold one value per step, got shape {tuple(grads.shape)}; "
            "select one element, e.g. grads[:, 0, 0]."
        )
    return grads.reshape(len(grads))


def plot_adapted_gradients(
    grads: Tensor,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Fig 6.17: how Adam smooths, scales and adapts the gradients of one parameter.

    Parameters
    ----------
    grads : Tensor (n_steps,) or (n_steps, *shape) with one element per step
        Gradients of a single parameter value, e.g. ``capture.gradients["linear"]["weight"]``.
    axes : three Axes, optional
        Smoothing, scaling and adapted-gradient panels.
    """
    grads = _scalar_series(grads)
    beta1, beta2 = betas
    steps = np.arange(1, len(grads) + 1)
    scaling = 1 / (calc_corrected_ewma(grads**2, beta=beta2).sqrt() + eps)
    smooth_ax, scale_ax, adapt_ax = axes_list(axes, 3, name="axes")
    smooth_ax.plot(steps, grads.numpy(), "o-", ms=3, label="gradients")
    smooth_ax.plot(steps, calc_corrected_ewma(grads, beta=beta1).numpy(), label="corrected EWMA")
    smooth_ax.set(title=f"Smoothing (β1={beta1})", xlabel="step")
    scale_ax.plot(steps, scaling.numpy(), color="C2")
    # the factor uses the *corrected* EWMA of the squares, as Adam does
    scale_ax.set(title=f"Scaling (β2={beta2})", xlabel="step", ylabel="1/(√corrected EWMA(g²)+ε)")
    adapt_ax.plot(steps, grads.numpy(), "o-", ms=3, label="gradients")
    adapt_ax.plot(steps, adapted_gradients(grads, betas, eps).numpy(), label="adapted gradients")
    adapt_ax.set(title="Adapted gradients", xlabel="step")
    smooth_ax.legend()
    adapt_ax.legend()
    if axes is None:
        # three panels in a row waste a third of the width with the default margins
        smooth_ax.figure.tight_layout()
    return smooth_ax.figure


_SGD_FLAVOURS = {
    "sgd": ("gradient (the update term)", None),
    "momentum": ("momentum term", calc_momentum),
    "nesterov": ("Nesterov term", calc_nesterov),
}


def plot_sgd_terms(
    grads: Tensor | Mapping[str, Tensor],
    beta: float = 0.9,
    dampening: float = 0.0,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Fig 6.21: SGD's update terms per step.

    Parameters
    ----------
    grads : Tensor or mapping of flavour to Tensor
        One value per step, as in :func:`plot_adapted_gradients`.

        * A mapping ``{"SGD": g_sgd, "Momentum": g_mom, "Nesterov": g_nag}`` (any subset; keys
          are case-insensitive) holds the gradients each flavour's *own* run computed, as the
          book's figure does: one panel per flavour, with that run's gradients and the term
          its update used (the gradient itself, :func:`calc_momentum` or
          :func:`calc_nesterov`). The panels share their y-axis, so oscillations compare.
        * A single tensor draws the three terms computed from the *same* gradients on one
          axes: what each rule would make of one sequence, not what the runs did (a run's
          gradients depend on where its own updates took it).
    ax : Axes or sequence of Axes, optional
        One Axes for a tensor; one per flavour, in the mapping's order, for a mapping.
    """
    if isinstance(grads, Mapping):
        return _plot_sgd_runs(grads, beta, dampening, ax)
    grads = _scalar_series(grads)
    if ax is not None and not isinstance(ax, Axes):
        raise ValueError("ax must be a single Axes when grads is one tensor.")
    (ax,) = axes_list(ax, 1, panel=(8, 4))
    steps = np.arange(1, len(grads) + 1)
    ax.plot(steps, grads.numpy(), "o-", ms=3, label="gradient")
    ax.plot(steps, calc_momentum(grads, beta, dampening).numpy(), label=f"momentum (β={beta})")
    ax.plot(steps, calc_nesterov(grads, beta, dampening).numpy(), label="Nesterov")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set(xlabel="step", ylabel="update term", title="SGD update terms, one set of gradients")
    ax.legend()
    return ax.figure


def _plot_sgd_runs(
    runs: Mapping[str, Tensor],
    beta: float,
    dampening: float,
    ax: Axes | Sequence[Axes] | None,
) -> Figure:
    unknown = [name for name in runs if name.lower() not in _SGD_FLAVOURS]
    if not runs or unknown:
        raise ValueError(
            f"grads must map flavours to gradients, with keys among 'SGD', 'Momentum' and "
            f"'Nesterov' (any case); got {list(runs)}."
        )
    axes = axes_list(ax, len(runs), per="flavour", sharey=True)
    for panel, (name, run_grads) in zip(axes, runs.items(), strict=True):
        series = _scalar_series(run_grads)
        label, term_fn = _SGD_FLAVOURS[name.lower()]
        steps = np.arange(1, len(series) + 1)
        panel.axhline(0, color="0.6", lw=0.8)
        panel.plot(steps, series.numpy(), "o-", ms=3, color="C0", label="gradient")
        if term_fn is not None:
            term = term_fn(series, beta, dampening)
            panel.plot(steps, term.numpy(), color="C1", lw=2, label=label)
        panel.set(xlabel="step", title=f"{name} run")
        panel.legend(loc="lower right", fontsize="small")
    axes[0].set_ylabel("update term (the step is -lr times it)")
    if ax is None:
        axes[0].figure.tight_layout()
    return axes[0].figure
