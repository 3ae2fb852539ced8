"""Training the same model once per optimizer (and scheduler) and recording its path."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any, overload

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from torch.utils.data import DataLoader

from .._utils import as_lists, cpu_copy, resolve_device
from ..training import GradientCapture, ParameterCapture, Snapshot, StepByStep
from ..training.capture import resolve_layers
from .regression import RegressionData, make_model, make_regression_data

Scheduler = LRScheduler | ReduceLROnPlateau


@dataclass(frozen=True)
class OptimizerConfig:
    """One run of :func:`compare_optimizers`.

    Attributes
    ----------
    name : str
        Label in results and plots.
    optimizer : callable
        ``optimizer(params) -> Optimizer``, e.g. ``partial(torch.optim.SGD, lr=0.1)``.
    scheduler : callable, optional
        ``scheduler(optimizer) -> scheduler``, e.g. ``partial(StepLR, step_size=4, gamma=0.5)``.
    """

    name: str
    optimizer: Callable[[Iterable[nn.Parameter]], Optimizer]
    scheduler: Callable[[Optimizer], Scheduler] | None = None


@dataclass
class PathResult:
    """What one configuration did.

    The book's keys work too: ``"parms"`` and ``"grads"`` give the hooked values as
    ``{layer: {param_name: list}}`` (one entry per step), ``"losses"`` and ``"val_losses"``
    NumPy arrays, ``"state"`` the optimizer state and ``"lrs"`` the learning rates.

    Attributes
    ----------
    name : str
    path : Tensor (n_steps + 1, 2)
        ``(b, w)`` before every training step, then the final values.
    gradients : dict of str to Tensor
        ``{"bias": (n_steps, 1), "weight": (n_steps, 1, 1)}`` on the CPU, one row per step.
    losses, val_losses : list of float
        Per-epoch training and validation losses.
    learning_rates : list of float
        Learning rate used by every step.
    optimizer_state : dict
        A copy of the optimizer's final ``state_dict()``, its tensors on the CPU.
    model : nn.Module
        The trained model.
    hooked_parameters, hooked_gradients : dict
        ``{layer: {param_name: Tensor (n_steps, *shape)}}`` for the hooked layers (the
        book's ``layers_to_hook``, else the path's layer).
    """

    name: str
    path: Tensor
    gradients: dict[str, Tensor]
    losses: list[float]
    val_losses: list[float]
    learning_rates: list[float]
    optimizer_state: dict[str, Any]
    model: nn.Module = field(repr=False)
    hooked_parameters: dict[str, dict[str, Tensor]] = field(default_factory=dict, repr=False)
    hooked_gradients: dict[str, dict[str, Tensor]] = field(default_factory=dict, repr=False)

    _BOOK_KEYS = ("parms", "grads", "losses", "val_losses", "state", "lrs")

    def keys(self) -> tuple[str, ...]:
        """The keys of the book's result dicts."""
        return self._BOOK_KEYS

    def __getitem__(self, key: str) -> Any:
        """The book's view: ``result["parms"]``, ``["grads"]``, ``["losses"]``..."""
        if key == "parms":
            return as_lists(self.hooked_parameters)
        if key == "grads":
            return as_lists(self.hooked_gradients)
        if key in ("losses", "val_losses"):
            return np.array(getattr(self, key))
        if key == "state":
            return self.optimizer_state
        if key == "lrs":
            if self.learning_rates:
                return list(self.learning_rates)
            # The book's fallback without a scheduler: the groups' lrs, once per epoch.
            lrs = [group["lr"] for group in self.optimizer_state["param_groups"]]
            return [lrs] * len(self.losses)
        raise KeyError(f"{key!r}: the book's keys are {list(self._BOOK_KEYS)}")


def _point(params: Mapping[str, Tensor]) -> Tensor:
    """``(..., 2)``: ``(b, w)`` from ``bias`` ``(..., 1)`` and ``weight`` ``(..., 1, 1)``."""
    return torch.stack([params["bias"][..., 0], params["weight"][..., 0, 0]], dim=-1)


@overload
def compare_optimizers(
    configs: Sequence[OptimizerConfig],
    n_epochs: int = 10,
    *,
    data: RegressionData | None = None,
    model_fn: Callable[[], nn.Module] = make_model,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    layer: str = "linear",
    seed: int = 42,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> dict[str, PathResult]: ...


@overload
def compare_optimizers(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizers: Mapping[str, Mapping[str, Any]],
    train_loader: torch.utils.data.DataLoader,
    val_loader: torch.utils.data.DataLoader | None = None,
    schedulers: Mapping[str, Mapping[str, Any]] | None = None,
    layers_to_hook: str | Sequence[str] = "",
    n_epochs: int = 50,
    *,
    seed: int = 42,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> dict[str, PathResult]: ...


def compare_optimizers(*args: Any, **kwargs: Any) -> dict[str, PathResult]:
    """Train the same initial model once per configuration and record its path.

    Two call forms, told apart by the first argument:

    * ``compare_optimizers(configs, n_epochs=10, *, data=None, model_fn=make_model,
      loss_fn=None, layer="linear", seed=42, device=None, progress=None)``;
    * the book's ``compare_optimizers(model, loss_fn, optimizers, train_loader,
      val_loader=None, schedulers=None, layers_to_hook='', n_epochs=50)``, where
      ``optimizers`` maps names to ``{"class": optim.SGD, "parms": {"lr": 0.1}}`` and
      ``schedulers`` (optional, by the same names) to ``{"class": StepLR, "parms": {...}}``.
      Every run starts from a copy of ``model`` (which is left as it was given, unlike in
      the book); the path follows its single ``nn.Linear(1, 1)`` layer, and the book's keys
      (``"parms"``, ``"grads"``...) hold the captures of ``layers_to_hook``.

    Parameters
    ----------
    configs : sequence of OptimizerConfig
        Names must be distinct.
    n_epochs : int
        Epochs per run (10 epochs of 5 batches = 50 steps with the default data).
    data : RegressionData, optional
        Defaults to :func:`make_regression_data`.
    model_fn : callable
        Builds a fresh model each time; ``layer`` must be a ``Linear(1, 1)`` in it.
    loss_fn : callable, optional
        Defaults to ``nn.MSELoss()``.
    seed : int
        Passed to :meth:`~rpsbook.training.StepByStep.train`, so every run sees the same batches.

    Returns
    -------
    dict of str to PathResult
        In the order of ``configs``. The global random state is restored afterwards.
    """
    first = args[0] if args else kwargs.get("model", kwargs.get("configs"))
    if isinstance(first, nn.Module):
        return _compare_book(*args, **kwargs)
    return _compare_configs(*args, **kwargs)


def _compare_configs(
    configs: Sequence[OptimizerConfig],
    n_epochs: int = 10,
    *,
    data: RegressionData | None = None,
    model_fn: Callable[[], nn.Module] = make_model,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    layer: str = "linear",
    seed: int = 42,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> dict[str, PathResult]:
    data = data if data is not None else make_regression_data()
    loaders = (data.train_loader, data.val_loader)
    return _compare(configs, n_epochs, loaders, model_fn, loss_fn, layer, seed, device, progress)


def _compare(
    configs: Sequence[OptimizerConfig],
    n_epochs: int,
    loaders: tuple[DataLoader, DataLoader | None],
    model_fn: Callable[[], nn.Module],
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None,
    layer: str,
    seed: int,
    device: str | torch.device | None,
    progress: bool | None,
    hook_layers: Sequence[str] | None = None,
) -> dict[str, PathResult]:
    names = [config.name for config in configs]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"configs must be a non-empty sequence with distinct names, got {names}.")
    loss_fn = loss_fn if loss_fn is not None else nn.MSELoss()
    device = resolve_device(device)
    results: dict[str, PathResult] = {}
    # StepByStep.train reseeds the global generators and sets the cuDNN flags: put them back.
    with Snapshot(rng=device):
        for config in configs:
            results[config.name] = _run(
                config,
                n_epochs,
                loaders,
                model_fn(),
                loss_fn,
                layer,
                seed,
                device,
                progress,
                hook_layers,
            )
    return results


def _compare_book(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizers: Mapping[str, Mapping[str, Any]],
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    schedulers: Mapping[str, Mapping[str, Any]] | None = None,
    layers_to_hook: str | Sequence[str] = "",
    n_epochs: int = 50,
    *,
    seed: int = 42,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> dict[str, PathResult]:
    """The book's form of :func:`compare_optimizers`, mapped onto configurations."""
    schedulers = schedulers or {}
    unknown = [name for name in schedulers if name not in optimizers]
    if unknown:
        raise ValueError(f"schedulers {unknown} name no entry of optimizers {list(optimizers)}.")
    configs = []
    for name, spec in optimizers.items():
        if not {"class", "parms"} <= set(spec):
            raise ValueError(f"optimizers[{name!r}] must be {{'class': ..., 'parms': {{...}}}}.")
        sched = schedulers.get(name)
        configs.append(
            OptimizerConfig(
                name,
                partial(spec["class"], **spec["parms"]),
                partial(sched["class"], **sched["parms"]) if sched is not None else None,
            )
        )
    lines = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and module.weight.shape == (1, 1)
    ]
    if len(lines) != 1:
        raise ValueError(
            "compare_optimizers draws the path of one nn.Linear(1, 1) layer; the model has "
            f"{len(lines)} ({lines})."
        )
    initial = copy.deepcopy(model)
    hooked = list(resolve_layers(model, layers_to_hook))  # names checked as the captures do
    return _compare(
        configs,
        n_epochs,
        (train_loader, val_loader),
        lambda: copy.deepcopy(initial),
        loss_fn,
        lines[0],
        seed,
        device,
        progress,
        hooked,
    )


def _run(
    config: OptimizerConfig,
    n_epochs: int,
    loaders: tuple[DataLoader, DataLoader | None],
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    layer: str,
    seed: int,
    device: torch.device,
    progress: bool | None,
    hook_layers: Sequence[str] | None = None,
) -> PathResult:
    linear = dict(model.named_modules()).get(layer)
    if not (
        isinstance(linear, nn.Linear) and linear.weight.shape == (1, 1) and linear.bias is not None
    ):
        raise ValueError(f"model_fn must build a model whose {layer!r} layer is nn.Linear(1, 1).")
    optimizer = config.optimizer(model.parameters())
    trainer = StepByStep(model, loss_fn, optimizer, device=device)
    trainer.set_loaders(*loaders)
    if config.scheduler is not None:
        trainer.set_lr_scheduler(config.scheduler(optimizer))
    # The captures hook the model itself, and only the book's train(n_epochs, seed) is
    # called: the chapter's notebook replaces StepByStep's capture methods and its train
    # loop with the book's own (setattr), which must not change what is recorded here.
    options = {} if progress is None else {"progress": progress}
    with ExitStack() as hooks:
        gradients = hooks.enter_context(GradientCapture(model, layer))
        parameters = hooks.enter_context(ParameterCapture(model, layer, training_only=True))
        hooked = (
            (
                hooks.enter_context(GradientCapture(model, hook_layers)),
                hooks.enter_context(ParameterCapture(model, hook_layers)),
            )
            if hook_layers is not None
            else (gradients, parameters)
        )
        trainer.train(n_epochs, seed=seed, **options)
    final = {name: p.detach().cpu()[None] for name, p in linear.named_parameters()}
    path = torch.cat([_point(parameters.parameters[layer]), _point(final)])
    return PathResult(
        name=config.name,
        path=path,
        gradients=gradients.gradients[layer],
        losses=list(trainer.losses),
        val_losses=list(trainer.val_losses),
        learning_rates=list(trainer.step_lrs),
        optimizer_state=cpu_copy(optimizer.state_dict()),
        model=model,
        hooked_parameters=hooked[1].parameters,
        hooked_gradients=hooked[0].gradients,
    )
