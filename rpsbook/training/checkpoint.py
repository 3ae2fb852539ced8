"""Checkpoint files of a :class:`~rpsbook.training.StepByStep`: read, validate, write.

The trainer owns its state (``state_dict()`` / ``load_state_dict()``); this module only moves
it to and from files and checks it. A checkpoint is a dict of tensors and plain Python values,
so ``torch.load(weights_only=True)`` reads it back: the book's keys (``epoch``,
``model_state_dict``, ``optimizer_state_dict``, ``loss``, ``val_loss``) plus
``optimizer_class``, ``scheduler_class``, ``scheduler_state_dict``, ``learning_rates``,
``step_lrs`` and ``rng_state`` (torch's CPU and accelerator generators, NumPy's, Python's
``random``, the loaders' generators). :func:`write` stores NumPy scalars (an lr from
``np.logspace``) as Python numbers, reads the file back as :func:`read` will before it
replaces anything, and writes it atomically: the file is either the old one or the complete
new one, with the mode the umask gives.

:func:`validate` checks every entry against the trainer's model, optimizer, scheduler and
loaders before anything changes: the model's keys and shapes, the optimizer's class and
param-group sizes, the scheduler's class, the history (losses as lists of numbers, as
:func:`write` stores them; the PyTorch tutorials' single ``loss`` value is refused) and every
random state. A checkpoint saved on another kind of machine loads: the accelerator random
states this one cannot use (a Mac's ``mps``, ``cuda`` on a CPU-only machine) are set aside
with a warning that names them. A checkpoint without ``optimizer_class`` (the book's, or
rpsbook's before 0.2) is refused when its param groups belong to another family than the
trainer's optimizer: ``momentum`` (SGD, RMSprop) against ``betas`` (Adam and its relatives).

The file is read with ``torch.load(weights_only=True)``, which unpickles tensors and plain
Python values only. A checkpoint written by the book's trainer holds NumPy floats as losses:
load it inside ``torch.serialization.safe_globals([...])`` with the NumPy types the error names,
and only if you trust the file.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer

from .._utils import check_int, is_real, map_tensors, usable_rng_states, write_atomically

__all__ = ["BOOK_KEYS", "read", "validate", "write"]

BOOK_KEYS = ("epoch", "model_state_dict", "optimizer_state_dict", "loss", "val_loss")
# Hyper-parameters that tell optimizer families apart in a checkpoint that names no class.
_FAMILY_KEYS = ("momentum", "betas")


def write(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a trainer's ``state_dict()`` to ``path`` atomically.

    The checkpoint goes to a temporary file beside ``path`` that is renamed over it: ``path``
    holds either its old content or the whole new checkpoint, and the file's mode follows the
    umask, as ``open`` would make it. NumPy scalars in the optimizer's or scheduler's state
    are saved as Python numbers; anything else that ``torch.load(weights_only=True)`` would
    refuse raises ``ValueError`` here, and ``path`` keeps its old content.
    """
    # weights_only=True unpickles no NumPy scalar: an lr from np.logspace would be unloadable
    checkpoint = map_tensors(state, lambda number: number.item(), np.generic)

    def write_and_check(file: Any) -> None:
        torch.save(checkpoint, file)
        file.flush()
        try:
            torch.load(file.name, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
            raise ValueError(
                f"cannot save a checkpoint to {path}: it would hold "
                f"{found[1] if found else 'an object'}, which torch.load(weights_only=True) "
                "refuses; keep tensors and plain Python values in the optimizer's and the "
                "scheduler's state. The file was not changed."
            ) from error

    write_atomically(path, write_and_check, "checkpoint")


def validate(
    checkpoint: Any,
    model: nn.Module,
    optimizer: Optimizer,
    scheduler: Any,
    loader_names: Iterable[str],
    source: str,
) -> dict[str, Any]:
    """Raise, naming ``source``, if ``checkpoint`` does not fit a trainer with ``model``,
    ``optimizer``, ``scheduler`` and loaders ``loader_names``; else its history.

    The history (``epoch``, ``loss``, ``val_loss``, ``learning_rates``, ``step_lrs``,
    ``rng_state``) comes back as the values the trainer will hold, so that nothing can fail
    once the first state is loaded. Accelerator random states this machine cannot use are
    left out, with a warning that names them.
    """
    history = _check(checkpoint, model, optimizer, scheduler, set(loader_names), source)
    if history["set_aside"]:
        reasons = "; ".join(f"{kind}: {why}" for kind, why in history["set_aside"].items())
        warnings.warn(
            f"{source} holds random states this machine cannot use, set aside ({reasons}): "
            "everything else is loaded, but a resumed run does not draw the same random "
            f"numbers on {' and '.join(history['set_aside'])} as the saved run would have.",
            stacklevel=4,
        )
    return history


def read(path: str | os.PathLike[str]) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "Unsupported global" not in str(error):
            raise ValueError(
                f"{path} is not a readable checkpoint (truncated or corrupt?): {error}"
            ) from error
        raise ValueError(
            f"{path} holds objects that torch.load(weights_only=True) refuses to unpickle. If "
            f"you trust the file, allow-list them (torch.serialization.safe_globals). "
            f"torch said: {error}"
        ) from error
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise ValueError(
            f"{path} is not a readable checkpoint (truncated or corrupt?): {error}"
        ) from error


def _check(
    checkpoint: Any,
    model: nn.Module,
    optimizer: Optimizer,
    scheduler: Any,
    loader_names: set[str],
    path: str,
) -> dict[str, Any]:
    if not isinstance(checkpoint, dict):
        checkpoint = {}
    missing = [key for key in BOOK_KEYS if key not in checkpoint]
    if missing:
        raise ValueError(
            f"{path} is not a StepByStep checkpoint: it lacks {missing} (written by "
            "save_checkpoint?)."
        )
    _check_model(checkpoint["model_state_dict"], model.state_dict(), path)
    _check_optimizer(checkpoint, optimizer, path)
    _check_scheduler(checkpoint, scheduler, path)
    history = {
        "epoch": _entry(path, "epoch", lambda: check_int(checkpoint["epoch"], "epoch", 0)),
        "loss": _numbers(checkpoint, "loss", path),
        "val_loss": _numbers(checkpoint, "val_loss", path),
        "step_lrs": _numbers(checkpoint, "step_lrs", path),
        "learning_rates": _entry(
            path,
            "learning_rates",
            lambda: [_floats(lrs) for lrs in checkpoint.get("learning_rates", [])],
        ),
    }
    history["rng_state"], history["set_aside"] = _check_rng(
        checkpoint.get("rng_state"), loader_names, path
    )
    return history


def _check_rng(state: Any, loader_names: set[str], path: str) -> tuple[Any, dict[str, str]]:
    """The saved random state as ``set_rng_state`` will use it, and the accelerator states
    set aside (``{device type: why}``); raise, naming ``path``, if anything cannot be set."""
    if state is None:
        return None, {}
    valid = (
        isinstance(state, dict)
        and isinstance(state.get("global"), dict)
        and isinstance(state.get("loaders"), dict)
        and set(state["loaders"]) <= loader_names
        and all(isinstance(saved, list | tuple) for saved in state["loaders"].values())
    )
    if not valid:
        raise ValueError(f"{path}: its 'rng_state' is not one that save_checkpoint writes.")
    try:
        usable, set_aside = usable_rng_states(state["global"])
        for saved in state["loaders"].values():
            for generator_state in saved:
                if not torch.is_tensor(generator_state):
                    raise ValueError(f"a loader's generator state is a {type(generator_state)}")
                torch.Generator().set_state(generator_state.cpu())
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: its 'rng_state' cannot be restored ({error}).") from error
    return {**state, "global": usable}, set_aside


def _entry(path: Any, key: str, convert: Any) -> Any:
    try:
        return convert()
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: its {key!r} entry cannot be read ({error}).") from error


def _floats(values: Any) -> list[float]:
    """``values`` as a list of floats: a list or tuple of numbers or one-element tensors."""
    if not isinstance(values, list | tuple):
        raise TypeError(f"expected a list of numbers, got {type(values).__name__} {values!r}")
    if not all(is_real(v) or (torch.is_tensor(v) and v.numel() == 1) for v in values):
        raise TypeError(f"expected a list of numbers, got {values!r}")
    return [float(v) for v in values]


def _numbers(checkpoint: dict[str, Any], key: str, path: Any) -> list[float]:
    value = checkpoint.get(key, [])
    if not isinstance(value, list | tuple):
        # The PyTorch tutorials save the last loss alone; a trainer needs the whole history.
        raise ValueError(
            f"{path}: {key!r} holds {value!r}, not a list with one value per epoch as "
            "save_checkpoint writes it; nothing was loaded. Save losses as lists."
        )
    return _entry(path, key, lambda: _floats(value))


def _check_model(saved: Any, own: dict[str, torch.Tensor], path: Any) -> None:
    if not isinstance(saved, dict):
        raise ValueError(
            f"{path}: its 'model_state_dict' is a {type(saved).__name__}, not a dict."
        )
    problems = [f"missing {k}" for k in own if k not in saved]
    problems += [f"unexpected {k}" for k in saved if k not in own]
    problems += [
        f"{k}: {tuple(saved[k].shape)} in the file, {tuple(v.shape)} in the model"
        for k, v in own.items()
        if k in saved and torch.is_tensor(saved[k]) and saved[k].shape != v.shape
    ]
    if problems:
        raise ValueError(f"{path} holds weights of another model: {'; '.join(problems)}.")


def _check_optimizer(checkpoint: dict[str, Any], optimizer: Optimizer, path: Any) -> None:
    saved = checkpoint["optimizer_state_dict"]
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise ValueError(f"{path}: its 'optimizer_state_dict' has no list of param_groups.")
    own_sizes = [len(g["params"]) for g in optimizer.param_groups]
    saved_sizes = [len(g.get("params", ())) for g in groups]
    if own_sizes != saved_sizes:
        raise ValueError(
            f"{path} holds the state of an optimizer with param groups of sizes "
            f"{saved_sizes}; this trainer's optimizer has {own_sizes}: build it the same way."
        )
    own_class = type(optimizer).__name__
    saved_class = checkpoint.get("optimizer_class")
    if saved_class is None:
        # The book's checkpoints name no class. Their hyper-parameters tell the families
        # apart: SGD and RMSprop have a momentum, Adam and its relatives betas.
        def family(param_groups: list[dict[str, Any]]) -> set[str]:
            return {key for g in param_groups for key in g if key in _FAMILY_KEYS}

        saved_family, own_family = family(groups), family(optimizer.param_groups)
        if saved_family != own_family:
            saved_class = f"optimizer with {sorted(saved_family) or 'neither momentum nor betas'}"
    if saved_class is not None and saved_class != own_class:
        raise ValueError(
            f"{path} holds the state of a {saved_class}, but the trainer's optimizer is a "
            f"{own_class}: set_optimizer(...) with the kind of optimizer that was saved."
        )


def _check_scheduler(checkpoint: dict[str, Any], scheduler: Any, path: Any) -> None:
    saved_class = checkpoint.get("scheduler_class")
    if checkpoint.get("scheduler_state_dict") is None:
        return
    if scheduler is None:
        raise RuntimeError(
            f"{path} holds a {saved_class or 'scheduler'} state: call "
            "set_lr_scheduler(...) with the same kind of scheduler before load_checkpoint()."
        )
    if saved_class is not None and saved_class != type(scheduler).__name__:
        raise ValueError(
            f"{path} holds a {saved_class} state, but the trainer's scheduler is a "
            f"{type(scheduler).__name__}: set the same kind of scheduler."
        )
