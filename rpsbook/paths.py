"""The linear-regression playground: how optimizers and schedulers move ``(b, w)``.

A one-feature regression (``y = 1 + 2x + noise``) small enough to draw: the loss surface over
``(b, w)``, the least-squares optimum, and the path each optimizer takes across it, trained by
:class:`rpsbook.trainer.StepByStep` with the parameters and gradients captured by hooks.

>>> from functools import partial
>>> data = make_regression_data()
>>> surface = loss_surface(data.x_train, data.y_train)
>>> results = compare_optimizers(
...     [OptimizerConfig("SGD", partial(torch.optim.SGD, lr=0.1)),
...      OptimizerConfig("Adam", partial(torch.optim.Adam, lr=0.1))], data=data)
>>> fig = plot_paths(results, surface)
"""

from __future__ import annotations

import copy
import random
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, overload

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from torch.utils.data import DataLoader, Subset, TensorDataset, random_split

from . import plotting
from ._utils import cpu_copy, forked_rng, resolve_device, seeded_cpu_rng
from .trainer import StepByStep

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

Scheduler = LRScheduler | ReduceLROnPlateau


# ---------------------------------------------------------------------------------------------
# data and model


@dataclass(frozen=True)
class RegressionData:
    """The synthetic dataset, its 80/20 split and loaders.

    Attributes
    ----------
    x, y : Tensor (N, 1) float32
        All points, in generation order.
    train_dataset, val_dataset : Subset
        The ``random_split`` of ``TensorDataset(x, y)``.
    train_loader, val_loader : DataLoader
        Batches of ``batch_size``; the training loader shuffles.
    """

    x: Tensor
    y: Tensor
    train_dataset: Subset
    val_dataset: Subset
    train_loader: DataLoader
    val_loader: DataLoader

    @property
    def x_train(self) -> Tensor:
        """Training features ``(n_train, 1)``, in split order."""
        return self.x[self.train_dataset.indices]

    @property
    def y_train(self) -> Tensor:
        """Training targets ``(n_train, 1)``, in split order."""
        return self.y[self.train_dataset.indices]


def make_regression_data(
    n: int = 100,
    *,
    true_b: float = 1.0,
    true_w: float = 2.0,
    noise: float = 0.1,
    seed: int = 42,
    split_seed: int = 13,
    train_ratio: float = 0.8,
    batch_size: int = 16,
    generator: torch.Generator | None = None,
) -> RegressionData:
    """``y = true_b + true_w * x + noise * N(0, 1)`` with ``x ~ U(0, 1)``, split and batched.

    The draws equal the book's ``np.random.seed(seed)`` followed by ``rand`` then ``randn``,
    and its ``torch.manual_seed(split_seed)`` before ``random_split``, without touching
    the global random state. The training loader shuffles with ``generator``; ``None`` draws
    from torch's global RNG, which :meth:`~rpsbook.trainer.StepByStep.train` seeds, as in the book.
    """
    if not 0 < train_ratio < 1:
        raise ValueError(f"train_ratio must be strictly between 0 and 1, got {train_ratio}.")
    rng = np.random.RandomState(seed)
    x = rng.rand(n, 1)
    y = true_b + true_w * x + noise * rng.randn(n, 1)
    x_tensor = torch.as_tensor(x).float()
    y_tensor = torch.as_tensor(y).float()
    dataset = TensorDataset(x_tensor, y_tensor)
    n_train = int(n * train_ratio)
    train_dataset, val_dataset = random_split(
        dataset, [n_train, n - n_train], generator=torch.Generator().manual_seed(split_seed)
    )
    return RegressionData(
        x=x_tensor,
        y=y_tensor,
        train_dataset=train_dataset,
        val_dataset=val_dataset,
        train_loader=DataLoader(
            train_dataset, batch_size=batch_size, shuffle=True, generator=generator
        ),
        val_loader=DataLoader(val_dataset, batch_size=batch_size),
    )


def make_model(seed: int = 42) -> nn.Sequential:
    """``Sequential(linear=Linear(1, 1))`` initialised as after ``torch.manual_seed(seed)``.

    The global random state is restored afterwards.
    """
    with seeded_cpu_rng(seed):
        return nn.Sequential(OrderedDict(linear=nn.Linear(1, 1)))


# ---------------------------------------------------------------------------------------------
# loss surface


def least_squares(x: Tensor, y: Tensor) -> tuple[float, float]:
    """The ``(b, w)`` minimising the MSE of ``b + w * x`` on ``x, y`` of shape ``(N, 1)``."""
    x_np = x.detach().cpu().double().numpy().reshape(-1)
    y_np = y.detach().cpu().double().numpy().reshape(-1)
    if len(x_np) != len(y_np):
        raise ValueError(f"x and y must hold as many points, got {len(x_np)} and {len(y_np)}.")
    design = np.column_stack([np.ones_like(x_np), x_np])
    (b, w), *_ = np.linalg.lstsq(design, y_np, rcond=None)
    return float(b), float(w)


@dataclass(frozen=True)
class LossSurface:
    """MSE over a grid of ``(b, w)``.

    Attributes
    ----------
    b : Tensor (n_b,) float64
    w : Tensor (n_w,) float64
    losses : Tensor (n_w, n_b) float64
        ``losses[i, j]`` is the MSE of ``b[j] + w[i] * x`` (rows follow ``w``, as ``contour``
        expects).
    optimum : tuple of float
        Least-squares ``(b, w)``.
    """

    b: Tensor
    w: Tensor
    losses: Tensor
    optimum: tuple[float, float]


def loss_surface(
    x: Tensor,
    y: Tensor,
    b_range: tuple[float, float] = (0.7, 2.3),
    w_range: tuple[float, float] = (0.7, 2.3),
    n: int = 101,
) -> LossSurface:
    """MSE of ``b + w * x`` on ``(x, y)`` (shape ``(N, 1)``) over an ``n x n`` grid."""
    b = torch.linspace(*b_range, n, dtype=torch.float64)
    w = torch.linspace(*w_range, n, dtype=torch.float64)
    x64 = x.detach().cpu().double().reshape(-1, 1, 1)
    y64 = y.detach().cpu().double().reshape(-1, 1, 1)
    # (N, n_w, n_b): every point's prediction under every (b, w) of the grid.
    predictions = b[None, None, :] + w[None, :, None] * x64
    losses = ((predictions - y64) ** 2).mean(dim=0)
    return LossSurface(b=b, w=w, losses=losses, optimum=least_squares(x, y))


# ---------------------------------------------------------------------------------------------
# comparing optimizers


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

    The book's keys work too: ``"parms"`` and ``"grads"`` give the hooked values as
    ``{layer: {param_name: list}}`` (one entry per step), ``"losses"`` and ``"val_losses"``
    NumPy arrays, ``"state"`` the optimizer state and ``"lrs"`` the learning rates.
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
            return _as_lists(self.hooked_parameters)
        if key == "grads":
            return _as_lists(self.hooked_gradients)
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


def _as_lists(captured: Mapping[str, Mapping[str, Tensor]]) -> dict[str, dict[str, list]]:
    return {
        layer: {name: list(values) for name, values in params.items()}
        for layer, params in captured.items()
    }


@contextmanager
def _preserved_global_state(device: torch.device) -> Iterator[None]:
    """Restore the random generators and cuDNN flags that ``StepByStep.train`` reseeds/sets."""
    # The trainer seeds NumPy's legacy global generator, so that is the state to restore.
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    try:
        with forked_rng(device):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


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
        Passed to :meth:`~rpsbook.trainer.StepByStep.train`, so every run sees the same batches.

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
    with _preserved_global_state(device):
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
    names = dict(model.named_modules())
    hooked = [layers_to_hook] if isinstance(layers_to_hook, str) else list(layers_to_hook)
    missing = [name for name in hooked if name not in names]
    if missing:
        raise ValueError(f"layers_to_hook {missing} are not layers of the model: {list(names)}.")
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
    gradients = trainer.capture_gradients(layer)
    parameters = trainer.capture_parameters(layer, training_only=True)
    hooked = (
        (trainer.capture_gradients(hook_layers), trainer.capture_parameters(hook_layers))
        if hook_layers is not None
        else (gradients, parameters)
    )
    try:
        trainer.train(n_epochs, seed=seed, progress=progress)
    finally:
        trainer.remove_hooks()
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


# ---------------------------------------------------------------------------------------------
# plots


def _as_results(results: Mapping[str, PathResult] | Sequence[PathResult]) -> list[PathResult]:
    items = list(results.values()) if isinstance(results, Mapping) else list(results)
    if not items:
        raise ValueError("results is empty: pass the output of compare_optimizers(...).")
    return items


def _panels(ax: Axes | Sequence[Axes] | None, n: int, ncols: int, single: bool) -> list[Axes]:
    """One Axes per result: ``ax`` repeated, the given sequence, or a new grid."""
    if isinstance(ax, Axes):
        return [ax] * n
    if ax is not None:
        axes = list(ax)
        if len(axes) != n:
            raise ValueError(f"ax must be one Axes or {n} Axes (one per result), got {len(axes)}.")
        return axes
    if single:
        _, one = plt.subplots(figsize=(7, 4.5))
        return [one] * n
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    # The site's content column is about 1,100 px (11 inches at the default 100 dpi): wider
    # figures are scaled down, and their text with them.
    width = min(4.5, 11 / ncols)
    fig, grid = plt.subplots(
        nrows, ncols, figsize=(width * ncols, 0.93 * width * nrows), squeeze=False
    )
    for extra in grid.flat[n:]:
        fig.delaxes(extra)
    return list(grid.flat[:n])


def plot_paths(
    results: Mapping[str, PathResult] | Sequence[PathResult],
    surface: LossSurface,
    ax: Axes | Sequence[Axes] | None = None,
    ncols: int = 3,
) -> Figure:
    """Figs 6.18/6.20/6.22/6.28: each path over the loss contour, the optimum as a red dot.

    Every path starts at a square. ``ax``: one Axes draws every path there (legend of the
    paths); a sequence draws one per panel; ``None`` makes a grid of ``ncols`` columns, one
    panel per result. With panels, the first one carries the legend of the markers.
    """
    items = _as_results(results)
    axes = _panels(ax, len(items), ncols, single=False)
    losses = surface.losses.numpy()
    levels = np.geomspace(losses.min() * 1.5, losses.max(), 12)
    # Greys from white would hide the innermost rings, the ones around the optimum that
    # matter most; a mid-grey range keeps every level visible under the coloured paths.
    level_colors = plt.get_cmap("Greys")(np.linspace(0.4, 0.85, len(levels)))
    shared = len(set(map(id, axes))) == 1
    for i, (result, panel) in enumerate(zip(items, axes, strict=True)):
        if i == 0 or not shared:
            panel.contour(
                surface.b.numpy(),
                surface.w.numpy(),
                losses,
                levels=levels,
                colors=level_colors,
                linewidths=0.8,
            )
            b, w = surface.b.tolist(), surface.w.tolist()
            panel.set(xlabel="b", ylabel="w", xlim=(b[0], b[-1]), ylim=(w[0], w[-1]))
        path = result.path.numpy()
        color = f"C{i}" if shared else "C0"
        # One Axes: the legend names the paths. Panels: titles name them and the legend
        # explains the markers instead.
        path_label, start_label = (result.name, "_nolegend_") if shared else ("_path", "start")
        panel.plot(path[:, 0], path[:, 1], "-o", ms=2.5, lw=1, color=color, label=path_label)
        panel.plot(*path[0], "s", color=color, ms=6, label=start_label)
        if not shared:
            panel.set_title(result.name)
    for panel in dict.fromkeys(axes):
        panel.plot(*surface.optimum, "o", color="red", ms=7, label="least squares")
    if shared:
        axes[0].legend()
    else:
        axes[0].legend(loc="lower right", fontsize="small")
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_losses(
    results: Mapping[str, PathResult] | Sequence[PathResult],
    ax: Axes | Sequence[Axes] | None = None,
    log: bool = True,
    title: str | None = "Training (solid) and validation (dashed) losses",
) -> Figure:
    """Figs 6.19/6.23/6.29: training (solid) and validation (dashed) losses per configuration.

    ``ax``: one Axes (the default is a new one) holds every curve; a sequence holds one
    configuration per panel. ``title`` goes on every Axes drawn on (``None``: leave them).
    """
    items = _as_results(results)
    axes = _panels(ax, len(items), ncols=3, single=True)
    for result, panel in zip(items, axes, strict=True):
        plotting.plot_losses(
            result.losses, result.val_losses, ax=panel, label=result.name, log=log
        )
    if title is not None:
        for panel in dict.fromkeys(axes):
            panel.set_title(title)
    return axes[0].figure
