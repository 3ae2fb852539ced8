"""The linear-regression playground: how optimizers and schedulers move ``(b, w)``.

A one-feature regression (``y = 1 + 2x + noise``) small enough to draw: the loss surface over
``(b, w)``, the least-squares optimum, and the path each optimizer takes across it, trained by
:class:`rpsbook.training.StepByStep` with the parameters and gradients captured by hooks.

>>> from functools import partial
>>> data = make_regression_data()
>>> surface = loss_surface(data.x_train, data.y_train)
>>> results = compare_optimizers(
...     [OptimizerConfig("SGD", partial(torch.optim.SGD, lr=0.1)),
...      OptimizerConfig("Adam", partial(torch.optim.Adam, lr=0.1))], data=data)
>>> fig = plot_paths(results, surface)

Its modules: ``regression`` (the data, the model, the loss surface),
``compare`` (one training run per configuration, its path and captures)
and ``plots`` (the figures).
"""

from __future__ import annotations

from .._exports import rehome
from .compare import OptimizerConfig, PathResult, compare_optimizers
from .plots import plot_losses, plot_paths
from .regression import (
    LossSurface,
    RegressionData,
    least_squares,
    loss_surface,
    make_model,
    make_regression_data,
)

__all__ = [
    "LossSurface",
    "OptimizerConfig",
    "PathResult",
    "RegressionData",
    "compare_optimizers",
    "least_squares",
    "loss_surface",
    "make_model",
    "make_regression_data",
    "plot_losses",
    "plot_paths",
]

rehome(__name__, globals(), __all__)
