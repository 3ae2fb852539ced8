"""Training: the book's trainer and the parts it delegates to, one job per module.

* ``trainer``: :class:`StepByStep`, which keeps the state (model, optimizer, scheduler,
  loaders, history) and the book's methods, with ``state_dict()`` / ``load_state_dict()``;
* ``checkpoint``: a trainer's ``state_dict()`` read from, validated and written to files;
* ``step``: one training step, shared by the trainer's loop and the range test, and the epoch;
* ``evaluation``: eval mode, the validation loss, predictions, per-class counts;
* ``snapshot``: :class:`Snapshot`, which saves and restores a model, its optimizer, a
  scheduler, the random generators and the train/eval modes;
* ``capture``: gradients, parameters and activations captured through hooks; ``hooks``:
  :class:`HookRegistry`, the trainer's hooks with the book's views of them;
* ``schedulers``: when a scheduler steps (:class:`SchedulerStepper`), the learning rates it
  produces, and their plots;
* ``lr_finder``: the learning-rate range test (:func:`lr_range_test`) and its result;
  ``range_search`` holds its machinery; ``suggestions``: the rules that read an lr off its
  curve, plain functions (:func:`steepest`, :func:`valley`, :func:`slide`, :func:`minimum`);
* ``tensorboard_log``: the trainer's TensorBoard logging.

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
from .evaluation import eval_mode
from .hooks import HookRegistry
from .lr_finder import LRRangeTestResult, lr_range_test, make_lr_fn
from .schedulers import (
    SchedulerKind,
    SchedulerStepper,
    cosine_warm_restarts_epoch,
    plot_lr_sequences,
    record_lrs,
    scheduler_kind,
    scheduler_lrs,
)
from .snapshot import Snapshot
from .suggestions import (
    SUGGESTION_METHODS,
    minimum,
    slide,
    steepest,
    suggest_lr,
    suggest_lrs,
    valley,
)
from .trainer import StepByStep

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
    "Snapshot",
    "StepByStep",
    "capture_activations",
    "capture_gradients",
    "capture_parameters",
    "cosine_warm_restarts_epoch",
    "eval_mode",
    "lr_range_test",
    "make_lr_fn",
    "minimum",
    "plot_lr_sequences",
    "record_lrs",
    "scheduler_kind",
    "scheduler_lrs",
    "slide",
    "steepest",
    "suggest_lr",
    "suggest_lrs",
    "valley",
]

rehome(__name__, globals(), __all__)
