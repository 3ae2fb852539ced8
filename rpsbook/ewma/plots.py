"""Figs 6.15-6.17 and 6.21: moving averages, Adam's adapted gradients, SGD's update terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from .._figures import axes_list
from .averages import (
    _as_series,
    calc_corrected_ewma,
    calc_ewma,
    calc_ma,
    ewma_average_age,
    ewma_weights,
    ma_average_age,
    ma_weights,
)
from .updates import _check_grads, adapted_gradients, calc_momentum, calc_nesterov


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
