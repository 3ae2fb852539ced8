"""Gradients, parameters and activations captured through hooks.

Every capture is a context manager that owns its hook handles::

    with capture_gradients(model, "linear") as grads:
        trainer.train(10)
    grads.gradients["linear"]["weight"]  # Tensor (n_steps, 1, 1)

Captured tensors are detached CPU copies, accumulated in lists while hooks fire and stacked
along a new leading dimension when read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from .._utils import cpu_copy

__all__ = [
    "ActivationCapture",
    "Capture",
    "ForwardHooks",
    "GradientCapture",
    "ParameterCapture",
    "capture_activations",
    "capture_gradients",
    "capture_parameters",
    "resolve_layers",
]

HookFn = Callable[[str, nn.Module, tuple[Any, ...], Any], Any]
ForwardHookFn = Callable[[nn.Module, tuple[Any, ...], Any], Any]


def resolve_layers(model: nn.Module, layers: str | Sequence[str]) -> dict[str, nn.Module]:
    """Map layer names to modules, in the order given, without duplicates; unknown names raise
    ``ValueError`` listing the valid ones."""
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise ValueError("layers is empty: pass a layer name or a sequence of layer names.")
    modules = dict(model.named_modules())
    unknown = [name for name in names if name not in modules]
    if unknown:
        valid = ", ".join(repr(name) for name in modules)
        raise ValueError(
            f"layers: unknown layer name(s) {unknown}; "
            f"valid names (from model.named_modules()) are: {valid}."
        )
    return {name: modules[name] for name in dict.fromkeys(names)}


def _stack(values: list[Tensor], like: Tensor) -> Tensor:
    """Stack captured copies; ``(0, *like.shape)`` when nothing was captured yet."""
    if not values:
        return torch.empty((0, *like.shape), dtype=like.dtype)
    return torch.stack(values)


class Capture(ABC):
    """Base class: owns hook handles and removes them on ``remove()`` or on leaving ``with``.

    Parameters
    ----------
    model : nn.Module
        The model whose layers are hooked.
    layers : str or sequence of str
        Names from ``model.named_modules()``.
    """

    def __init__(self, model: nn.Module, layers: str | Sequence[str]) -> None:
        self.model = model
        self.modules = resolve_layers(model, layers)
        # keyed as the book's ``handles``: "layer", or "layer.param.grad"
        self._handles: dict[str, RemovableHandle] = {}

    @property
    def layers(self) -> tuple[str, ...]:
        """Names of the hooked layers."""
        return tuple(self.modules)

    @property
    def attached(self) -> bool:
        """Whether the hooks are currently registered."""
        return bool(self._handles)

    def attach(self) -> Self:
        """Register the hooks (once; attaching twice does nothing) and return ``self``.

        If registering one hook fails, the hooks registered before it are removed again.
        """
        if not self._handles:
            handles: dict[str, RemovableHandle] = {}
            try:
                for key, handle in self._register():
                    handles[key] = handle
            except BaseException:
                for handle in handles.values():
                    handle.remove()
                raise
            self._handles = handles
        return self

    def remove(self) -> None:
        """Remove the hooks; captured values are kept. Safe to call more than once."""
        while self._handles:
            self._handles.popitem()[1].remove()

    @abstractmethod
    def clear(self) -> None:
        """Forget the captured values (hooks stay as they are)."""

    @abstractmethod
    def _register(self) -> Iterator[tuple[str, RemovableHandle]]:
        """Register the hooks one by one, yielding each one's key and handle."""

    def __enter__(self) -> Self:
        return self.attach()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "attached" if self.attached else "detached"
        return f"{type(self).__name__}(layers={list(self.layers)}, {state})"


class _PerParameterCapture(Capture):
    """A capture that logs one tensor per parameter of each layer, per event."""

    def __init__(
        self, model: nn.Module, layers: str | Sequence[str], trainable_only: bool = False
    ) -> None:
        super().__init__(model, layers)
        self._params = {
            layer: {
                name: p
                for name, p in module.named_parameters()
                if p.requires_grad or not trainable_only
            }
            for layer, module in self.modules.items()
        }
        self._values: dict[str, dict[str, list[Tensor]]] = {
            layer: {name: [] for name in params} for layer, params in self._params.items()
        }

    def clear(self) -> None:
        # In place: the hooks hold references to these lists.
        for store in self._values.values():
            for values in store.values():
                values.clear()

    def _stacked(self) -> dict[str, dict[str, Tensor]]:
        return {
            layer: {name: _stack(self._values[layer][name], p) for name, p in params.items()}
            for layer, params in self._params.items()
        }


class GradientCapture(_PerParameterCapture):
    """Gradients of the layers' parameters, one entry per backward pass.

    Tensor hooks (``param.register_hook``) see the gradient of each backward pass before it is
    accumulated into ``param.grad``; they return ``None``, so gradients are never altered.
    Parameters with ``requires_grad=False`` are skipped, also those frozen after the capture
    was made: they get no gradient, and torch refuses their hooks.
    """

    def __init__(self, model: nn.Module, layers: str | Sequence[str]) -> None:
        super().__init__(model, layers, trainable_only=True)

    def _register(self) -> Iterator[tuple[str, RemovableHandle]]:
        for layer, params in self._params.items():
            for name, param in params.items():
                if not param.requires_grad:
                    continue
                store = self._values[layer][name]

                def hook(grad: Tensor, store: list[Tensor] = store) -> None:
                    store.append(grad.detach().to("cpu", copy=True))

                yield f"{layer}.{name}.grad", param.register_hook(hook)

    @property
    def gradients(self) -> dict[str, dict[str, Tensor]]:
        """``{layer: {param_name: Tensor (n_steps, *param.shape)}}`` on the CPU."""
        return self._stacked()


class ParameterCapture(_PerParameterCapture):
    """Values of the layers' parameters, logged by a forward hook each time a layer runs.

    Parameters
    ----------
    model, layers
        As in :class:`Capture`.
    training_only : bool
        Log only while the layer is in training mode, so that validation passes do not log the
        same values again.
    """

    def __init__(
        self, model: nn.Module, layers: str | Sequence[str], training_only: bool = True
    ) -> None:
        super().__init__(model, layers)
        self.training_only = training_only

    def _register(self) -> Iterator[tuple[str, RemovableHandle]]:
        for layer, module in self.modules.items():
            params, store = self._params[layer], self._values[layer]

            def hook(
                module: nn.Module,
                inputs: tuple[Any, ...],
                output: Any,
                params: dict[str, nn.Parameter] = params,
                store: dict[str, list[Tensor]] = store,
            ) -> None:
                if self.training_only and not module.training:
                    return
                for name, param in params.items():
                    store[name].append(param.detach().to("cpu", copy=True))

            yield layer, module.register_forward_hook(hook)

    @property
    def parameters(self) -> dict[str, dict[str, Tensor]]:
        """``{layer: {param_name: Tensor (n_calls, *param.shape)}}`` on the CPU."""
        return self._stacked()


class ActivationCapture(Capture):
    """The outputs of each layer (detached, on the CPU): the latest, or all of them.

    Parameters
    ----------
    model, layers
        As in :class:`Capture`.
    hook_fn : callable, optional
        ``hook_fn(layer_name, module, inputs, output)`` computes what is stored instead of the
        output itself; it runs without autograd and its tensors are copied to the CPU.
    accumulate : bool
        Concatenate what each forward pass stores (tensors or NumPy arrays) along the batch
        dimension, as the book's ``attach_hooks`` does, instead of keeping the latest only.
    store : dict, optional
        The dict written to (by layer name) instead of a private one: the trainer's
        ``visualization``.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: str | Sequence[str],
        hook_fn: HookFn | None = None,
        *,
        accumulate: bool = False,
        store: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model, layers)
        self.hook_fn = hook_fn
        self.accumulate = accumulate
        self._outputs: dict[str, Any] = {} if store is None else store

    def clear(self) -> None:
        for layer in self.layers:
            self._outputs.pop(layer, None)

    def _register(self) -> Iterator[tuple[str, RemovableHandle]]:
        for layer, module in self.modules.items():

            def hook(
                module: nn.Module, inputs: tuple[Any, ...], output: Any, layer: str = layer
            ) -> None:
                if self.hook_fn is not None:
                    with torch.no_grad():
                        output = self.hook_fn(layer, module, inputs, output)
                value = cpu_copy(output)
                previous = self._outputs.get(layer)
                if self.accumulate and previous is not None:
                    join = torch.cat if torch.is_tensor(value) else np.concatenate
                    value = join([previous, value])
                self._outputs[layer] = value

            yield layer, module.register_forward_hook(hook)

    @property
    def outputs(self) -> dict[str, Any]:
        """``{layer: Tensor}``: what each layer that ran stored (see ``accumulate``)."""
        return {
            layer: self._outputs[layer]
            for layer in self.layers
            if self._outputs.get(layer) is not None
        }


class ForwardHooks(Capture):
    """``hook_fn(module, inputs, output)`` registered as the forward hook of each layer.

    The book's ``attach_hooks(layers, hook_fn)``: the function is the hook itself (a value it
    returns replaces the output, as in PyTorch); nothing is stored.
    """

    def __init__(
        self, model: nn.Module, layers: str | Sequence[str], hook_fn: ForwardHookFn
    ) -> None:
        super().__init__(model, layers)
        self.hook_fn = hook_fn

    def clear(self) -> None:
        """Nothing is stored."""

    def _register(self) -> Iterator[tuple[str, RemovableHandle]]:
        for layer, module in self.modules.items():
            yield layer, module.register_forward_hook(self.hook_fn)


def capture_gradients(model: nn.Module, layers: str | Sequence[str]) -> GradientCapture:
    """An attached :class:`GradientCapture` of ``layers``' parameter gradients."""
    return GradientCapture(model, layers).attach()


def capture_parameters(
    model: nn.Module, layers: str | Sequence[str], training_only: bool = True
) -> ParameterCapture:
    """An attached :class:`ParameterCapture` logging ``layers``' parameters at each forward."""
    return ParameterCapture(model, layers, training_only=training_only).attach()


def capture_activations(
    model: nn.Module, layers: str | Sequence[str], hook_fn: HookFn | None = None
) -> ActivationCapture:
    """An attached :class:`ActivationCapture` keeping the latest output of ``layers``."""
    return ActivationCapture(model, layers, hook_fn=hook_fn).attach()
