"""rpsbook: Chapter 6 ("Rock, Paper, Scissors") of *Deep Learning with PyTorch Step-by-Step*.

A small library (data, model, training with its learning-rate tools) and the gallery built on it.
Submodules are imported on first use so that ``import rpsbook`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_SUBMODULES = (
    "data",
    "diagrams",
    "ewma",
    "models",
    "paths",
    "plotting",
    "report",
    "training",
)
_EXPORTS = {
    "CNN2": "models",
    "StepByStep": "training",
    "load_rps": "data",
    "find_data": "data",
    "download_rps": "data",
    "lr_range_test": "training",
    "make_lr_fn": "training",
    # the functions the book's chapter defines or imports from plots.chapter6
    "EWMA": "ewma",
    "calc_ewma": "ewma",
    "correction": "ewma",
    "calc_corrected_ewma": "ewma",
    "momentum": "ewma",
    "calc_momentum": "ewma",
    "calc_nesterov": "ewma",
    "compare_optimizers": "paths",
}

__all__ = [*_SUBMODULES, *_EXPORTS, "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .data import download_rps, find_data, load_rps  # noqa: F401
    from .ewma import (  # noqa: F401
        EWMA,
        calc_corrected_ewma,
        calc_ewma,
        calc_momentum,
        calc_nesterov,
        correction,
        momentum,
    )
    from .models import CNN2  # noqa: F401
    from .paths import compare_optimizers  # noqa: F401
    from .training import StepByStep, lr_range_test, make_lr_fn  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'rpsbook' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
