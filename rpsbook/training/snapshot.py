"""Save and restore what training changes: one object, :class:`Snapshot`.

Parameter and buffer values, gradients and the train/eval mode of every module; an optimizer's
param groups and state; a scheduler's state; the global random generators, the cuDNN flags
that ``StepByStep.set_seed`` sets and the loaders' generators. Like torch-lr-finder's
``StateCacher``, it is what the range test, a checkpoint load that fails half-way, a training
step that raises and the optimizer comparisons use to put things back.

The random state a checkpoint carries (:func:`rng_state`, :func:`set_rng_state`) is the same
state in a form ``torch.load(weights_only=True)`` reads back.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from .._utils import global_rng_states, loader_generators, set_global_rng_states

__all__ = ["Snapshot", "load_states", "rng_state", "set_rng_state"]

# LambdaLR replaces ``optimizer.step`` by a counting wrapper stored on the instance and sets
# ``optimizer._opt_called``: a restored optimizer has neither unless it had them.
_OPTIMIZER_ATTRIBUTES = ("step", "_opt_called")


class Snapshot:
    """The state of ``model``, ``optimizer``, ``scheduler``, ``tensors`` and, with ``rng``, the
    random generators of the CPU and of ``rng``'s device type (NumPy's, Python's, the cuDNN
    flags and the generators of ``loaders`` too), taken now;
    :meth:`~rpsbook.training.Snapshot.restore` puts it back.

    Used as a context manager it restores on exit, whatever happens;
    :meth:`restored_on_error` restores only when the block raises.
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        optimizer: Optimizer | None = None,
        scheduler: Any = None,
        *,
        tensors: Iterable[torch.Tensor] = (),
        rng: str | torch.device | None = None,
        loaders: Iterable[Any] = (),
    ) -> None:
        found = {id(t): t for t in tensors}
        if model is not None:
            found.update((id(t), t) for t in [*model.parameters(), *model.buffers()])
        if optimizer is not None:
            found.update((id(p), p) for g in optimizer.param_groups for p in g["params"])
        self._values = [(t, t.detach().clone()) for t in found.values()]
        self._grads = [
            (t, None if t.grad is None else t.grad.detach().clone())
            for t in found.values()
            if model is not None or optimizer is not None
        ]
        self._modes = [] if model is None else [(m, m.training) for m in model.modules()]
        self._optimizer = optimizer
        if optimizer is not None:
            self._groups = list(optimizer.param_groups)
            self._group_items = [
                {k: v if k == "params" else copy.deepcopy(v) for k, v in g.items()}
                for g in self._groups
            ]
            self._optimizer_state = {p: copy.deepcopy(s) for p, s in optimizer.state.items()}
            self._attributes = {
                k: vars(optimizer)[k] for k in _OPTIMIZER_ATTRIBUTES if k in vars(optimizer)
            }
        self._scheduler = scheduler
        self._scheduler_state = (
            None if scheduler is None else copy.deepcopy(scheduler.state_dict())
        )
        self._rng = None if rng is None else _random_state(torch.device(rng))
        unique = {id(g): g for loader in loaders for g in loader_generators(loader)}
        self._generators = [(g, g.get_state()) for g in unique.values()]

    def restore(self) -> None:
        """Put everything back as it was when the snapshot was taken."""
        with torch.no_grad():
            for tensor, value in self._values:
                tensor.copy_(value)
        for tensor, grad in self._grads:
            tensor.grad = grad
        for module, training in self._modes:
            module.training = training
        if self._optimizer is not None:
            self._restore_optimizer(self._optimizer)
        if self._scheduler is not None:
            self._scheduler.load_state_dict(self._scheduler_state)
        if self._rng is not None:
            _set_random_state(self._rng)
        for generator, state in self._generators:
            generator.set_state(state)

    def _restore_optimizer(self, optimizer: Optimizer) -> None:
        # The param-group dicts are restored in place: a scheduler holds them too.
        optimizer.param_groups[:] = self._groups
        for group, items in zip(self._groups, self._group_items, strict=True):
            group.clear()
            group.update(items)
        optimizer.state.clear()
        optimizer.state.update(self._optimizer_state)
        for key in _OPTIMIZER_ATTRIBUTES:
            if key in self._attributes:
                vars(optimizer)[key] = self._attributes[key]
            else:
                vars(optimizer).pop(key, None)

    @contextmanager
    def restored_on_error(self) -> Iterator[Snapshot]:
        """Restore if the block raises (``KeyboardInterrupt`` too), then re-raise."""
        try:
            yield self
        except BaseException:
            self.restore()
            raise

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.restore()


def load_states(
    model: tuple[nn.Module, Any],
    optimizer: tuple[Optimizer, Any],
    scheduler: tuple[Any, Any],
    source: str,
) -> None:
    """Load each ``(object, state_dict)`` pair (the scheduler's when both are not ``None``),
    all or nothing: on a failure everything is put back and ``RuntimeError`` names ``source``
    (a ``KeyboardInterrupt`` is re-raised as it is)."""
    try:
        with Snapshot(model[0], optimizer[0], scheduler[0]).restored_on_error():
            model[0].load_state_dict(model[1])
            optimizer[0].load_state_dict(optimizer[1])
            if scheduler[0] is not None and scheduler[1] is not None:
                scheduler[0].load_state_dict(scheduler[1])
    except Exception as error:
        raise RuntimeError(
            f"{source} could not be applied ({error}); the trainer is unchanged."
        ) from error


def _random_state(device: torch.device) -> dict[str, Any]:
    """The global generators (all of ``device``'s type, as ``torch.random.fork_rng`` saves
    them) and the cuDNN flags that seeding sets."""
    states = global_rng_states(device)
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state_all()  # initialized or not
    cudnn = torch.backends.cudnn
    return {"global": states, "cudnn": (cudnn.deterministic, cudnn.benchmark)}


def _set_random_state(state: dict[str, Any]) -> None:
    set_global_rng_states(state["global"])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = state["cudnn"]


def rng_state(device: torch.device, loaders: Mapping[str, Any]) -> dict[str, Any]:
    """The random streams a resumed run needs, as a checkpoint stores them: the global
    generators and ``{name: [generator states]}`` of the loaders."""
    return {
        "global": global_rng_states(device),
        "loaders": {
            name: [g.get_state() for g in loader_generators(loader)]
            for name, loader in loaders.items()
        },
    }


def set_rng_state(state: Mapping[str, Any], loaders: Mapping[str, Any]) -> None:
    """Put back what :func:`rng_state` returned; warn for a loader built differently."""
    set_global_rng_states(state["global"])
    for name, saved in state["loaders"].items():
        generators = loader_generators(loaders.get(name))
        if len(generators) != len(saved):
            warnings.warn(
                f"the checkpoint holds {len(saved)} generator state(s) for {name}, which "
                f"now has {len(generators)} generator(s): its shuffling is not resumed "
                "exactly (use a loader built like the saved run's).",
                stacklevel=3,
            )
            continue
        for generator, generator_state in zip(generators, saved, strict=True):
            generator.set_state(generator_state.cpu())
