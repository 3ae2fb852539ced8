"""``StepByStep``: the chapter's trainer, a facade over its collaborators.

The trainer keeps the state (model, optimizer, scheduler, loaders, history) and the book's
methods; the work is done by functions and objects of this package: ``step`` (the training
step and epoch), ``evaluation``, ``snapshot`` (save and restore), ``checkpoint`` (files),
``hooks``, ``schedulers`` (when a scheduler steps), ``lr_finder`` (the range test) and
``tensorboard_log``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from torch.utils.data import DataLoader
from torch.utils.hooks import RemovableHandle
from tqdm.auto import trange

from .._utils import (
    check_int,
    loader_generators,
    move_optimizer_state,
    progress_enabled,
    resolve_device,
)
from ..data.statistics import loader_apply, make_normalizer, statistics_per_channel
from . import checkpoint, tensorboard_log
from .capture import Capture, ForwardHookFn, GradientCapture, ParameterCapture
from .evaluation import class_counts, ends_with_sigmoid, eval_mode, predict, validate
from .hooks import HookRegistry, Layers
from .lr_finder import LRRangeTestResult, book_loader, lr_range_test
from .schedulers import SchedulerStepper, check_scheduler, scheduler_kind
from .snapshot import load_states, rng_state, set_rng_state
from .step import check_loaders, train_epoch, train_step

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["StepByStep", "eval_mode"]

Scheduler = LRScheduler | ReduceLROnPlateau


class StepByStep:
    """Train, evaluate, inspect and checkpoint a model, as in the book.

    Parameters
    ----------
    model, loss_fn
        The model (moved to ``device``); ``loss_fn(logits, targets)``, a scalar tensor.
    optimizer
        Optional now; set it later with :meth:`set_optimizer`.
    device
        ``"cuda"``, ``"mps"``, ``"cpu"`` or ``None`` for the best available.

    Attributes
    ----------
    losses, val_losses : list of float
        Per epoch, the mean of its mini-batch losses, as in the book.
    learning_rates : list of list of float
        As in the book: each parameter group's lr after every scheduler step.
    step_lrs : list of float
        The lr (first parameter group) of every optimizer step, with or without a scheduler.
    total_epochs : int
        Epochs trained so far, across :meth:`train` calls and checkpoints.
    visualization : dict
        The outputs stored by :meth:`attach_hooks`' default hook, by layer name.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        optimizer: Optimizer | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.loss_fn = loss_fn
        self.optimizer: Optimizer | None = None
        self.scheduler: Scheduler | None = None
        self.train_loader: DataLoader | None = None
        self.val_loader: DataLoader | None = None
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.learning_rates: list[list[float]] = []
        self.step_lrs: list[float] = []
        self.total_epochs = 0
        self._resume_rng: dict[str, Any] | None = None
        self._hooks = HookRegistry(self.model)
        self.visualization = self._hooks.visualization
        self.writer: Any = None  # a TensorBoard SummaryWriter (set_tensorboard)
        if optimizer is not None:
            self.set_optimizer(optimizer)

    def to(self, device: str | torch.device) -> StepByStep:
        """Move the model and the optimizer's state to ``device``."""
        self.device = torch.device(device)
        self.model.to(self.device)
        if self.optimizer is not None:
            move_optimizer_state(self.optimizer, self.device)
        return self

    def set_loaders(self, train_loader: DataLoader, val_loader: DataLoader | None = None) -> None:
        """Set the loaders used by :meth:`train` (and by :meth:`lr_range_test`)."""
        self.train_loader, self.val_loader = train_loader, val_loader

    def set_optimizer(self, optimizer: Optimizer) -> None:
        """Use ``optimizer``; it must optimize this trainer's model parameters."""
        own = {id(p) for p in self.model.parameters()}
        foreign = [p for g in optimizer.param_groups for p in g["params"] if id(p) not in own]
        if foreign:
            raise ValueError(
                f"optimizer holds {len(foreign)} tensor(s) that are not parameters of the "
                "trainer's model: build it from trainer.model.parameters()."
            )
        if self.scheduler is not None and self.scheduler.optimizer is not optimizer:
            self.scheduler = None  # it would keep driving the old optimizer
        self.optimizer = optimizer

    def set_lr_scheduler(self, scheduler: Scheduler | None) -> None:
        """Use ``scheduler`` (or none), built on this trainer's optimizer. When it steps:
        :class:`~rpsbook.training.SchedulerStepper`."""
        if scheduler is not None:
            check_scheduler(scheduler, self.optimizer)
        self.scheduler = scheduler

    def set_seed(self, seed: int = 42) -> None:
        """Seed torch, numpy, random and the training loader's generator (if it has one); it
        wins over the random state a checkpoint saved (:meth:`train`)."""
        seed = check_int(seed, "seed", 0)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        torch.manual_seed(seed)
        np.random.seed(seed)  # noqa: NPY002 (code written like the book uses the legacy API)
        random.seed(seed)
        for generator in loader_generators(self.train_loader):
            generator.manual_seed(seed)
        self._resume_rng = None

    def set_tensorboard(self, name: str, folder: str | os.PathLike[str] = "runs") -> None:
        """Log to TensorBoard in ``{folder}/{name}_{timestamp}`` (``self.writer``): :meth:`train`
        logs the ``loss`` scalars ``training`` and ``validation`` every epoch, as the book does.
        Needs the optional ``tensorboard`` package."""
        self.writer = tensorboard_log.summary_writer(folder, name)

    def add_graph(self) -> None:
        """Log the model's graph, traced on one training mini-batch, to TensorBoard."""
        tensorboard_log.add_graph(self.writer, self.model, self.train_loader, self.device)

    def _train_step(self, x: Tensor, y: Tensor, where: str) -> Tensor:
        """One update (``rpsbook.training.step.train_step``); its loss."""
        assert self.optimizer is not None
        batch = [(x.to(self.device), y.to(self.device))]
        loss = train_step(self.model, self.loss_fn, self.optimizer, batch, where)
        self.step_lrs.append(float(self.optimizer.param_groups[0]["lr"]))
        return loss

    def train(self, n_epochs: int, seed: int | None = 42, progress: bool | None = None) -> None:
        """Train for ``n_epochs``, validating after each epoch when a validation loader is set.

        ``seed`` reseeds every random generator first, as the book does at every call (so
        ``train(2); train(2)`` is not ``train(4)``). ``None`` continues the current random
        streams, or those a checkpoint saved right after :meth:`load_checkpoint`: ``train(2)``,
        save, load, ``train(2, seed=None)`` equals ``train(4)``, bit for bit on the CPU. With
        :meth:`set_tensorboard`, each epoch's losses are logged as the ``loss`` scalars.

        A NaN or infinite mini-batch loss raises ``FloatingPointError`` naming the epoch and the
        mini-batch. Then, and on any other exception (``KeyboardInterrupt`` too), the model,
        optimizer and scheduler hold the last finished step, with no gradients (``step_lrs``
        and ``learning_rates`` include that epoch's steps; ``losses``, ``val_losses`` and
        ``total_epochs`` count complete epochs).
        """
        n_epochs = check_int(n_epochs, "n_epochs", 0)
        if self.optimizer is None:
            raise RuntimeError("no optimizer: call set_optimizer(...) before train().")
        stepper = SchedulerStepper(self.scheduler, self.learning_rates)
        check_loaders(self.train_loader, self.val_loader, stepper)
        if seed is not None:
            self.set_seed(seed)
        elif self._resume_rng is not None:
            set_rng_state(self._resume_rng, self._loaders())
            self._resume_rng = None
        bar = trange(n_epochs, desc="epochs", disable=not progress_enabled(progress))
        for _ in bar:
            epoch = self.total_epochs  # 0-based index of the epoch being trained
            loss = train_epoch(self.model, self.train_loader, self._train_step, stepper, epoch)
            val_loss = validate(self.model, self.loss_fn, self.val_loader, self.device)
            self.losses.append(loss)
            if val_loss is not None:
                self.val_losses.append(val_loss)
            self.total_epochs += 1
            stepper.after_epoch(val_loss)
            tensorboard_log.add_losses(self.writer, loss, val_loss, epoch)
            shown = "-" if val_loss is None else f"{val_loss:.4f}"
            bar.set_postfix(loss=f"{loss:.4f}", val_loss=shown)
        if self.writer is not None:
            self.writer.flush()

    # The book's step functions and scheduler flag, for the loop its notebook attaches.
    def train_step_fn(self, x: Tensor, y: Tensor) -> float:
        """The book's ``train_step_fn(x, y)``: one update in train mode; the loss as a float."""
        if self.optimizer is None:
            raise RuntimeError("no optimizer: call set_optimizer(...) before train_step_fn.")
        self.model.train()
        return self._train_step(x, y, "a train_step_fn call").item()

    def val_step_fn(self, x: Tensor, y: Tensor) -> float:
        """The book's ``val_step_fn(x, y)``: the loss in eval mode, without gradients."""
        with eval_mode(self.model):
            return self.loss_fn(self.model(x.to(self.device)), y.to(self.device)).item()

    @property
    def is_batch_lr_scheduler(self) -> bool:
        """As in the book: whether the scheduler steps after every mini-batch."""
        return self.scheduler is not None and scheduler_kind(self.scheduler) == "batch"

    def predict(self, x: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """Outputs for a batch in eval mode; NumPy in (as float32), NumPy out, as in the book."""
        return predict(self.model, x, self.device)

    def correct(self, x: Tensor, y: Tensor, threshold: float = 0.5) -> Tensor:
        """Per-class ``[correct, total]`` counts for a batch, ``(n_classes, 2)``: the arg-max,
        or one binary logit (a probability after ``nn.Sigmoid``) against ``threshold``."""
        outputs = self.predict(torch.as_tensor(x))
        return class_counts(outputs, y, threshold, probabilities=ends_with_sigmoid(self.model))

    def accuracy(self, loader: DataLoader) -> float:
        """Fraction of correctly classified samples over ``loader``."""
        hits, total = self.loader_apply(loader, self.correct).sum(dim=0).tolist()
        return hits / total  # Python ints: exact, not a float32 division

    # The book's static methods, rpsbook.data's functions.
    loader_apply = staticmethod(loader_apply)
    statistics_per_channel = staticmethod(statistics_per_channel)
    make_normalizer = staticmethod(make_normalizer)

    def count_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def plot_losses(self, ax: Any = None, label: str | None = None) -> Figure:
        """Training and validation losses per epoch (log scale); returns the Figure."""
        from .. import plotting  # matplotlib is imported only when something is drawn

        return plotting.plot_run_losses(self.losses, self.val_losses, ax=ax, label=label)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume training: the book's checkpoint keys and more (see
        ``rpsbook.training.checkpoint``), which ``torch.load(weights_only=True)`` reads back."""
        if self.optimizer is None:
            raise RuntimeError("nothing to resume without an optimizer: call set_optimizer first.")
        scheduler = self.scheduler
        return {
            "epoch": self.total_epochs,
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "loss": list(self.losses),
            "val_loss": list(self.val_losses),
            "optimizer_class": type(self.optimizer).__name__,
            "scheduler_class": type(scheduler).__name__ if scheduler else None,
            "scheduler_state_dict": scheduler.state_dict() if scheduler else None,
            "learning_rates": [list(lrs) for lrs in self.learning_rates],
            "step_lrs": list(self.step_lrs),
            "rng_state": rng_state(self.device, self._loaders()),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, all or nothing, as :meth:`load_checkpoint`."""
        self._load(lambda: state_dict, "the state_dict")

    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`state_dict` to ``path``, atomically (``rpsbook.training.checkpoint``)."""
        checkpoint.write(self.state_dict(), path)

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore what :meth:`save_checkpoint` wrote, all or nothing.

        Set the optimizer (and the same kind of scheduler, if one was saved) first: every entry
        is checked against them before anything changes (``rpsbook.training.checkpoint``). A
        book checkpoint's NumPy losses need ``torch.serialization.safe_globals`` (only for a
        file you trust). The saved random state is kept for the next ``train(seed=None)``; the
        model is left in train mode.
        """
        self._load(lambda: checkpoint.read(path), str(path))

    def _load(self, read: Callable[[], Any], source: str) -> None:
        if self.optimizer is None:
            raise RuntimeError(f"{source}: call set_optimizer(...) before loading a checkpoint.")
        state = read()
        history = checkpoint.validate(
            state, self.model, self.optimizer, self.scheduler, self._loaders(), source
        )
        load_states(
            (self.model, state["model_state_dict"]),
            (self.optimizer, state["optimizer_state_dict"]),
            (self.scheduler, state.get("scheduler_state_dict")),
            source=source,
        )
        self.total_epochs = history["epoch"]
        self.losses, self.val_losses = history["loss"], history["val_loss"]
        self.learning_rates, self.step_lrs = history["learning_rates"], history["step_lrs"]
        self._resume_rng = history["rng_state"]
        self.model.train()

    def _loaders(self) -> dict[str, Any]:
        return {"train_loader": self.train_loader, "val_loader": self.val_loader}

    def attach_hooks(
        self,
        layers_to_hook: Layers = None,
        hook_fn: ForwardHookFn | None = None,
        *,
        layers: Layers = None,
    ) -> Capture:
        """The book's forward hooks (:meth:`HookRegistry.attach_hooks
        <rpsbook.training.HookRegistry.attach_hooks>`), storing into ``visualization``."""
        return self._hooks.attach_hooks(layers_to_hook, hook_fn, layers=layers)

    def capture_gradients(
        self, layers_to_hook: Layers = None, *, layers: Layers = None
    ) -> GradientCapture:
        """:meth:`HookRegistry.capture_gradients
        <rpsbook.training.HookRegistry.capture_gradients>`; the book reads ``sbs._gradients``."""
        return self._hooks.capture_gradients(layers_to_hook, layers=layers)

    def capture_parameters(
        self, layers_to_hook: Layers = None, training_only: bool = True, *, layers: Layers = None
    ) -> ParameterCapture:
        """:meth:`HookRegistry.capture_parameters
        <rpsbook.training.HookRegistry.capture_parameters>`; the book reads ``sbs._parameters``."""
        return self._hooks.capture_parameters(layers_to_hook, training_only, layers=layers)

    def remove_hooks(self) -> None:
        """Remove every hook this trainer attached; captured values stay readable."""
        self._hooks.remove()

    @property
    def handles(self) -> dict[str, RemovableHandle]:
        """The attached hooks' handles, keyed as in the book (``"layer"``, ``"layer.param.grad"``;
        a repeated key gets a ``#n`` suffix). Empty after :meth:`remove_hooks`."""
        return self._hooks.handles

    @property
    def _gradients(self) -> dict[str, dict[str, list[Tensor]]]:
        """The book's view of the latest :meth:`capture_gradients`: ``{layer: {name: [...]}}``."""
        return self._hooks.gradients

    @property
    def _parameters(self) -> dict[str, dict[str, list[Tensor]]]:
        """The book's view of the latest :meth:`capture_parameters`, one entry per forward."""
        return self._hooks.parameters

    def visualize_filters(self, layer_name: str, cmap: str = "gray") -> Figure:
        """Weights of convolution ``layer_name``: one row per filter, one column per channel."""
        return _plot_filters(self.model, layer_name, cmap)

    def visualize_outputs(
        self,
        layers: Sequence[str],
        n_images: int = 10,
        y: Tensor | None = None,
        yhat: Tensor | None = None,
        classes: Sequence[str] | None = None,
    ) -> Figure:
        """Feature maps stored by :meth:`attach_hooks` for the first ``n_images`` images,
        titled with labels ``y`` and predictions ``yhat`` (by name with ``classes``)."""
        return self._hooks.plot_outputs(layers, n_images, y=y, yhat=yhat, classes=classes)

    def lr_range_test(
        self,
        data_loader: DataLoader | None = None,
        end_lr: float | None = None,
        num_iter: int = 100,
        step_mode: str = "exp",
        alpha: float = 0.05,
        ax: Axes | None = None,
        **kwargs: Any,
    ) -> LRRangeTestResult:
        """:func:`rpsbook.training.lr_range_test` on this trainer's model and optimizer, with its
        hooks paused; ``tracking, fig = sbs.lr_range_test(train_loader, end_lr=0.1)`` as in the
        book. ``data_loader`` defaults to the training loader; with ``ax`` the curve is drawn
        there at once. Extra keyword arguments are passed on."""
        loader = book_loader(data_loader, self.train_loader, end_lr, self.optimizer)
        kwargs.update(num_iter=num_iter, step_mode=step_mode, alpha=alpha)
        kwargs.setdefault("device", self.device)
        with self._hooks.paused():
            result = lr_range_test(
                self.model, self.optimizer, self.loss_fn, loader, end_lr, **kwargs
            )
        if ax is not None:
            result.figure = result.plot(ax, skip_start=0, skip_end=0, mark_suggestion=False)
        return result


def _plot_filters(model: nn.Module, layer_name: str, cmap: str) -> Figure:
    """:func:`rpsbook.plotting.plot_filters` of the weights of ``model``'s ``layer_name``."""
    layer = dict(model.named_modules()).get(layer_name)
    if not isinstance(layer, nn.Conv2d):
        convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        raise ValueError(f"{layer_name!r} is not a Conv2d layer of the model; try {convs}")
    from .. import plotting  # matplotlib is imported only when something is drawn

    return plotting.plot_filters(layer.weight.detach().cpu(), title=layer_name, cmap=cmap)
