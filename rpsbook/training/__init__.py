"""Training: the book's trainer and the parts it delegates to.

``StepByStep`` (module ``trainer``) holds the configuration, runs the loop and evaluates; its
state goes to and from files through ``checkpoint`` (read, check and write, nothing more).
The other modules, each with one job:

* ``step``: one training step (forward, finiteness check, backward, optimizer step), shared by
  the trainer's loop and the range test;
* ``snapshot``: :class:`Snapshot`, which saves and restores a model, its optimizer, a
  scheduler, the random generators and the train/eval modes;
* ``capture``: gradients, parameters and activations captured through hooks;
* ``schedulers``: when a scheduler steps (:class:`SchedulerStepper`), the learning rates it
  produces, and their plots;
* ``lr_finder``: the learning-rate range test (:func:`lr_range_test`), its result and the
  suggestion rules, plain functions; ``range_search`` holds its machinery.

Import the names from here (``from rpsbook.training import StepByStep``) or, for the book's,
from ``rpsbook``.
"""

from __future__ import annotations

from .._exports import rehome
from .capture import (
    ActivationCapture,
    Capture,
    ForwardHooks,
    GradientCapture,
    ParameterCapture,
    capture_activations,
    capture_gradients,
    capture_parameters,
)
from .hooks import HookRegistry
from .lr_finder import (
    SUGGESTION_METHODS,
    LRRangeTestResult,
    lr_range_test,
    make_lr_fn,
    suggest_lr,
    suggest_lrs,
)
from .schedulers import (
    SchedulerKind,
    SchedulerStepper,
    cosine_warm_restarts_epoch,
    plot_lr_sequences,
    record_lrs,
    scheduler_kind,
    scheduler_lrs,
)
from .trainer import StepByStep, eval_mode

__all__ = [
    "SUGGESTION_METHODS",
    "ActivationCapture",
    "Capture",
    "ForwardHooks",
    "GradientCapture",
    "HookRegistry",
    "LRRangeTestResult",
    "ParameterCapture",
    "SchedulerKind",
    "SchedulerStepper",
    "StepByStep",
    "capture_activations",
    "capture_gradients",
    "capture_parameters",
    "cosine_warm_restarts_epoch",
    "eval_mode",
    "lr_range_test",
    "make_lr_fn",
    "plot_lr_sequences",
    "record_lrs",
    "scheduler_kind",
    "scheduler_lrs",
    "suggest_lr",
    "suggest_lrs",
]

rehome(__name__, globals(), __all__)
