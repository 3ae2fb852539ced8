"""Moving averages, bias correction, and the update terms of Adam and SGD recomputed by hand.

Series are tensors of shape ``(n_steps, *shape)``, the format of
:class:`rpsbook.training.GradientCapture`; one-dimensional sequences and NumPy arrays work too
(they come back as NumPy arrays). The recurrences use the same tensor operations as
``torch.optim``, so the uncorrected EWMAs of captured gradients reproduce Adam's ``exp_avg``
and the momentum terms reproduce SGD's ``momentum_buffer``.

Its modules, in the style of ``torch.optim``'s functional maths beside its classes:
``averages`` (moving averages, their weights and ages, bias correction), ``updates`` (the
optimizers' update terms, built on the averages) and ``plots`` (the figures, the only module
that imports matplotlib).
"""

from __future__ import annotations

from .._exports import rehome
from .averages import (
    EWMA,
    RunningEWMA,
    alpha_from_periods,
    beta_from_periods,
    bias_correction,
    calc_corrected_ewma,
    calc_ewma,
    calc_ma,
    correction,
    ewma_average_age,
    ewma_weights,
    ma_average_age,
    ma_weights,
    periods_from_alpha,
    periods_from_beta,
)
from .plots import plot_adapted_gradients, plot_ewma_series, plot_ewma_weights, plot_sgd_terms
from .updates import adapted_gradients, calc_momentum, calc_nesterov, momentum

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

rehome(__name__, globals(), __all__)
