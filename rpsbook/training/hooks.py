"""The hooks a :class:`~rpsbook.training.StepByStep` attaches, with the book's views of them.

:class:`HookRegistry` keeps the captures of ``rpsbook.training.capture`` that the trainer
attached: the book's ``attach_hooks`` outputs (``visualization``), ``handles``, ``_gradients``
and ``_parameters``, removed together, paused for a range test.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from .._utils import as_lists
from .capture import (
    ActivationCapture,
    Capture,
    ForwardHookFn,
    ForwardHooks,
    GradientCapture,
    ParameterCapture,
)

__all__ = ["HookRegistry", "Layers"]

Layers = str | Sequence[str] | None


def _one_of(layers_to_hook: Layers, layers: Layers) -> str | Sequence[str]:
    """The book's ``layers_to_hook`` or rpsbook's ``layers``: exactly one of them."""
    if (layers_to_hook is None) == (layers is None):
        raise TypeError("pass the layer names once, as layers_to_hook (the book's name) or layers")
    return layers_to_hook if layers_to_hook is not None else layers  # type: ignore[return-value]


def _as_numpy(layer: str, module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> Any:
    return output.detach().cpu().numpy()


def _add_unique(handles: dict[str, RemovableHandle], key: str, handle: RemovableHandle) -> None:
    """``handles[key] = handle``, as ``key#2``, ``key#3``... when the key is taken."""
    unique, n = key, 1
    while unique in handles:
        n += 1
        unique = f"{key}#{n}"
    handles[unique] = handle


class HookRegistry:
    """The hooks a :class:`~rpsbook.training.StepByStep` attached, and the book's views of them.

    Parameters
    ----------
    model : nn.Module
        The model the hooks go on.

    Attributes
    ----------
    captures : list of Capture
        Every capture attached since the last :meth:`remove`, in order.
    visualization : dict
        The book's stored outputs: ``{layer: NumPy array or None}`` (see :meth:`attach_hooks`).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.captures: list[Capture] = []
        self.visualization: dict[str, Any] = {}
        self._gradients: GradientCapture | None = None
        self._parameters: ParameterCapture | None = None
        # The last dict `handles` gave out and the handles it built into it: the book's
        # capture_gradients stores its own hooks there (self.handles[key] = ...).
        self._handles_view: dict[str, RemovableHandle] = {}
        self._built: set[int] = set()

    def _keep(self, capture: Any) -> Any:
        self.captures.append(capture.attach())
        return capture

    def attach_hooks(
        self,
        layers_to_hook: Layers = None,
        hook_fn: ForwardHookFn | None = None,
        *,
        layers: Layers = None,
    ) -> Capture:
        """Register a forward hook on each of ``layers_to_hook`` (``layers`` is an alias).

        Without ``hook_fn``, each forward pass appends the layers' outputs, as NumPy arrays, to
        ``visualization[name]`` (emptied first; ``None`` until the layer runs). With
        it, the book's ``hook_fn(layer, inputs, outputs)`` is the hook. Until :meth:`remove`.
        """
        layers = _one_of(layers_to_hook, layers)
        if hook_fn is not None:
            hooks: Capture = ForwardHooks(self.model, layers, hook_fn)
        else:
            hooks = ActivationCapture(
                self.model, layers, _as_numpy, accumulate=True, store=self.visualization
            )
        # only once the layers are known good; in place: earlier hooks keep writing to it
        self.visualization.clear()
        self.visualization.update(dict.fromkeys(hooks.layers))
        return self._keep(hooks)

    def capture_gradients(
        self, layers_to_hook: Layers = None, *, layers: Layers = None
    ) -> GradientCapture:
        """Record the gradients of ``layers_to_hook``'s parameters at every backward pass: an
        attached :class:`GradientCapture`, also seen by :attr:`gradients`."""
        capture = GradientCapture(self.model, _one_of(layers_to_hook, layers))
        self._gradients = self._keep(capture)
        return capture

    def capture_parameters(
        self, layers_to_hook: Layers = None, training_only: bool = True, *, layers: Layers = None
    ) -> ParameterCapture:
        """Record ``layers_to_hook``'s parameters at every (training) forward pass: an attached
        :class:`ParameterCapture`, also seen by :attr:`parameters`. ``training_only=False``
        also logs validation passes, as the book does."""
        names = _one_of(layers_to_hook, layers)
        capture = ParameterCapture(self.model, names, training_only=training_only)
        self._parameters = self._keep(capture)
        return capture

    def remove(self) -> None:
        """Remove every hook; captured values stay readable."""
        for capture in self.captures:
            capture.remove()
        self.captures.clear()
        for handle in self._handles_view.values():  # those stored by the caller too
            handle.remove()
        self._handles_view, self._built = {}, set()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Detach the attached captures for the block (a range test), then attach them again.

        Each capture is attached again even if another one fails to (it stays detached, with
        none of its hooks left behind); the first failure is raised after all were tried.
        """
        paused = [capture for capture in self.captures if capture.attached]
        for capture in paused:
            capture.remove()
        try:
            yield
        finally:
            failed: list[tuple[Capture, Exception]] = []
            for capture in paused:
                try:
                    capture.attach()
                except Exception as error:
                    failed.append((capture, error))
            if failed:
                reasons = "; ".join(f"{capture!r}: {error}" for capture, error in failed)
                raise RuntimeError(
                    f"hooks could not be attached again after the block: {reasons}"
                ) from failed[0][1]

    @property
    def handles(self) -> dict[str, RemovableHandle]:
        """The attached hooks' handles, keyed as in the book (see ``StepByStep.handles``).

        Handles the caller stores in the dict (as the book's ``capture_gradients`` does) stay
        in it and are removed by :meth:`remove`.
        """
        stored = [(k, h) for k, h in self._handles_view.items() if id(h) not in self._built]
        handles: dict[str, RemovableHandle] = {}
        for capture in self.captures:
            for key, handle in capture._handles.items():
                _add_unique(handles, key, handle)
        self._built = {id(h) for h in handles.values()}
        for key, handle in stored:
            _add_unique(handles, key, handle)
        self._handles_view = handles
        return handles

    def plot_outputs(self, layers: Sequence[str], n_images: int = 10, **kwargs: Any) -> Any:
        """:func:`rpsbook.plotting.plot_feature_maps` of the stored ``visualization``."""
        missing = [name for name in layers if self.visualization.get(name) is None]
        if missing:
            raise ValueError(
                f"no stored outputs for {missing}: call attach_hooks(...) and predict"
            )
        from .. import plotting  # matplotlib is imported only when something is drawn

        maps = {name: torch.as_tensor(self.visualization[name]) for name in layers}
        return plotting.plot_feature_maps(maps, n_images, **kwargs)

    @property
    def gradients(self) -> dict[str, dict[str, list[Tensor]]]:
        """The latest gradient capture as the book's lists (``{}`` before any)."""
        return {} if self._gradients is None else as_lists(self._gradients.gradients)

    @property
    def parameters(self) -> dict[str, dict[str, list[Tensor]]]:
        """The latest parameter capture as the book's lists (``{}`` before any)."""
        return {} if self._parameters is None else as_lists(self._parameters.parameters)
