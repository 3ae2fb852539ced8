"""``StepByStep``: the chapter's trainer, a facade over its collaborators.

Configuration, the training loop and evaluation live here; checkpoints in
``rpsbook.checkpoint``, hooks in :class:`rpsbook.training.HookRegistry`, scheduler stepping
in :class:`rpsbook.training.SchedulerStepper` and the range test in :mod:`rpsbook.lr_finder`.
"""

from __future__ import annotations

import datetime
import os
import random
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
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
    empty_loader_message,
    loader_generators,
    move_optimizer_state,
    progress_enabled,
    resolve_device,
)
from . import checkpoint
from .capture import Capture, ForwardHookFn, GradientCapture, HookRegistry, ParameterCapture
from .lr_finder import LRRangeTestResult, lr_range_test
from .schedulers import SchedulerStepper, scheduler_kind
from .snapshot import Snapshot, rng_state, set_rng_state
from .step import train_step

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["StepByStep", "eval_mode"]

Scheduler = LRScheduler | ReduceLROnPlateau
Layers = str | Sequence[str] | None


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode and ``no_grad`` for the block, then restore its mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


class StepByStep:
    """Train, evaluate, inspect and checkpoint a model, as in the book.

    Parameters
    ----------
    model
        The model; it is moved to ``device``.
    loss_fn
        Called as ``loss_fn(logits, targets)``; returns a scalar tensor.
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

    # ------------------------------------------------------------------ configuration

    def to(self, device: str | torch.device) -> StepByStep:
        """Move the model and the optimizer's state to ``device``."""
        self.device = torch.device(device)
        self.model.to(self.device)
        if self.optimizer is not None:
            move_optimizer_state(self.optimizer, self.device)
        return self

    def set_loaders(self, train_loader: DataLoader, val_loader: DataLoader | None = None) -> None:
        """Set the loaders used by :meth:`train` (and by :meth:`lr_range_test`)."""
        self.train_loader = train_loader
        self.val_loader = val_loader

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
            scheduler_kind(scheduler)  # validates the type
            if scheduler.optimizer is not self.optimizer:
                raise ValueError(
                    "the scheduler wraps a different optimizer than the trainer's: build it "
                    "from trainer.optimizer (after set_optimizer)."
                )
        self.scheduler = scheduler

    def set_seed(self, seed: int = 42) -> None:
        """Seed torch, numpy, random and the training loader's generator (if it has one).

        An explicit seed wins over the random state a checkpoint saved (:meth:`train`).
        """
        seed = check_int(seed, "seed", 0)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.manual_seed(seed)
        np.random.seed(seed)  # noqa: NPY002 (code written like the book uses the legacy API)
        random.seed(seed)
        for generator in loader_generators(self.train_loader):
            generator.manual_seed(seed)
        self._resume_rng = None

    def set_tensorboard(self, name: str, folder: str | os.PathLike[str] = "runs") -> None:
        """Log to TensorBoard in ``{folder}/{name}_{timestamp}`` (``self.writer``).

        :meth:`train` then logs the ``loss`` scalars ``training`` and ``validation`` after
        every epoch, as the book does. Needs the optional ``tensorboard`` package.
        """
        self.writer = _summary_writer(Path(folder) / name)

    def add_graph(self) -> None:
        """Log the model's graph, traced on one training mini-batch, to TensorBoard."""
        if self.writer is None:
            raise RuntimeError("add_graph needs a writer: call set_tensorboard(name) first.")
        if self.train_loader is None:
            raise RuntimeError("add_graph traces one mini-batch: call set_loaders(...) first.")
        x, _ = next(iter(self.train_loader))
        _add_graph(self.writer, self.model, x.to(self.device))

    # ------------------------------------------------------------------ training

    def _check_ready(self, stepper: SchedulerStepper) -> None:
        if self.optimizer is None:
            raise RuntimeError("no optimizer: call set_optimizer(...) before train().")
        if self.train_loader is None:
            raise RuntimeError("no training data: call set_loaders(train_loader, ...) first.")
        stepper.check_loaders(_length(self.train_loader), self.val_loader is not None)
        # Empty loaders are refused before the first epoch, not after a whole epoch's training;
        # those without a length (an IterableDataset) when they run out.
        for name, loader in (("train_loader", self.train_loader), ("val_loader", self.val_loader)):
            if loader is not None and _length(loader) == 0:
                raise ValueError(empty_loader_message(loader, name))

    def _on_device(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        return batch[0].to(self.device), batch[1].to(self.device)

    def _batch_loss(self, x: Tensor, y: Tensor) -> Tensor:
        return self.loss_fn(self.model(x.to(self.device)), y.to(self.device))

    def _train_step(self, x: Tensor, y: Tensor, where: str) -> Tensor:
        """One update (:func:`~rpsbook.training.step.train_step`); its loss."""
        assert self.optimizer is not None
        loss = train_step(
            self.model, self.loss_fn, self.optimizer, [(x, y)], self._on_device, where
        )
        self.step_lrs.append(float(self.optimizer.param_groups[0]["lr"]))
        return loss

    def _train_epoch(self, stepper: SchedulerStepper) -> float:
        """One pass over the training loader; the mean of its mini-batch losses."""
        assert self.train_loader is not None
        n_batches = _length(self.train_loader)
        epoch = self.total_epochs  # 0-based index of the epoch being trained
        of = "" if n_batches is None else f" of {n_batches}"
        batch_losses: list[Tensor] = []
        self.model.train()
        for i, (x, y) in enumerate(self.train_loader):
            where = f"epoch {epoch}, mini-batch {i}{of} (both counted from 0)"
            batch_losses.append(self._train_step(x, y, where))
            stepper.after_batch(epoch, i, n_batches)
        return _mean_loss(batch_losses, self.train_loader, "train_loader")

    def _validate(self) -> float:
        """The mean of the validation loader's mini-batch losses, in eval mode."""
        assert self.val_loader is not None
        with eval_mode(self.model):
            batch_losses = [self._batch_loss(x, y) for x, y in self.val_loader]
        return _mean_loss(batch_losses, self.val_loader, "val_loader")

    def train(self, n_epochs: int, seed: int | None = 42, progress: bool | None = None) -> None:
        """Train for ``n_epochs``, validating after each epoch when a validation loader is set.

        ``seed`` reseeds every random generator first, as the book does at every call (so
        ``train(2); train(2)`` is not ``train(4)``). ``None`` continues the current random
        streams, or those a checkpoint saved right after :meth:`load_checkpoint`: ``train(2)``,
        save, load, ``train(2, seed=None)`` equals ``train(4)``, bit for bit on the CPU. With
        :meth:`set_tensorboard`, each epoch's losses are logged as the ``loss`` scalars.

        A NaN or infinite mini-batch loss raises ``FloatingPointError`` naming the epoch and the
        mini-batch. Then, and on any other exception (``KeyboardInterrupt`` too), the model,
        optimizer and scheduler hold the values of the last finished step, with no gradients
        (``step_lrs`` and ``learning_rates`` include that epoch's steps; ``losses``,
        ``val_losses`` and ``total_epochs`` count complete epochs): the next ``train()`` or a
        checkpoint can follow.
        """
        n_epochs = check_int(n_epochs, "n_epochs", 0)
        stepper = SchedulerStepper(self.scheduler, self.learning_rates)
        self._check_ready(stepper)
        if seed is not None:
            self.set_seed(seed)
        elif self._resume_rng is not None:
            set_rng_state(self._resume_rng, self._loaders())
            self._resume_rng = None
        bar = trange(n_epochs, desc="epochs", disable=not progress_enabled(progress))
        for _ in bar:
            loss = self._train_epoch(stepper)
            val_loss = None if self.val_loader is None else self._validate()
            self.losses.append(loss)
            scalars = {"training": loss}
            if val_loss is not None:
                self.val_losses.append(val_loss)
                scalars["validation"] = val_loss
            self.total_epochs += 1
            stepper.after_epoch(val_loss)
            if self.writer is not None:
                self.writer.add_scalars("loss", scalars, global_step=self.total_epochs - 1)
            shown = "-" if val_loss is None else f"{val_loss:.4f}"
            bar.set_postfix(loss=f"{loss:.4f}", val_loss=shown)
        if self.writer is not None:
            self.writer.flush()

    # The book's step functions and scheduler flag, for its loop (``train`` and ``_mini_batch``
    # attached with ``setattr``, as the chapter's notebook does): same calls, same meaning.
    def train_step_fn(self, x: Tensor, y: Tensor) -> float:
        """The book's ``train_step_fn(x, y)``: one update in train mode; the loss as a float."""
        if self.optimizer is None:
            raise RuntimeError("no optimizer: call set_optimizer(...) before train_step_fn.")
        self.model.train()
        return self._train_step(x, y, "a train_step_fn call").item()

    def val_step_fn(self, x: Tensor, y: Tensor) -> float:
        """The book's ``val_step_fn(x, y)``: the loss in eval mode, without gradients."""
        with eval_mode(self.model):
            return self._batch_loss(x, y).item()

    @property
    def is_batch_lr_scheduler(self) -> bool:
        """As in the book: whether the scheduler steps after every mini-batch."""
        return self.scheduler is not None and scheduler_kind(self.scheduler) == "batch"

    # ------------------------------------------------------------------ evaluation

    def predict(self, x: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """The model's outputs for a batch ``x`` ``(N, ...)``, computed in eval mode.

        As in the book, a NumPy array in (converted to float32) gives a NumPy array out; a
        tensor in gives a CPU tensor out, with its dtype kept.
        """
        is_tensor = isinstance(x, Tensor)
        x_tensor = x if is_tensor else torch.as_tensor(np.asarray(x)).float()
        with eval_mode(self.model):
            out = self.model(x_tensor.to(self.device)).cpu()
        return out if is_tensor else out.numpy()

    def correct(self, x: Tensor, y: Tensor, threshold: float = 0.5) -> Tensor:
        """Per-class ``[correct, total]`` counts for a batch: an ``(n_classes, 2)`` tensor.

        Multi-class outputs use the arg-max; a single output column is a binary logit (or a
        probability, when the model ends with ``nn.Sigmoid``) compared with ``threshold``.
        """
        outputs = self.predict(torch.as_tensor(x))
        return _class_counts(outputs, y, threshold, probabilities=_ends_with_sigmoid(self.model))

    def accuracy(self, loader: DataLoader) -> float:
        """Fraction of correctly classified samples over ``loader``."""
        hits, total = self.loader_apply(loader, self.correct).sum(dim=0).tolist()
        return hits / total  # Python ints: exact, not a float32 division

    # The book's static methods. rpsbook.data is imported when called: it imports
    # torchvision, which training does not need.
    @staticmethod
    def loader_apply(
        loader: DataLoader, func: Callable[[Tensor, Tensor], Tensor], reduce: str = "sum"
    ) -> Tensor:
        """:func:`rpsbook.data.loader_apply`."""
        from .. import data

        return data.loader_apply(loader, func, reduce)

    @staticmethod
    def statistics_per_channel(images: Tensor, labels: Tensor | None = None) -> Tensor:
        """:func:`rpsbook.data.statistics_per_channel`: ``(3, C)``."""
        from .. import data

        return data.statistics_per_channel(images, labels)

    @staticmethod
    def make_normalizer(loader: DataLoader) -> Any:
        """:func:`rpsbook.data.make_normalizer`."""
        from .. import data

        return data.make_normalizer(loader)

    def count_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def plot_losses(self, ax: Any = None, label: str | None = None) -> Figure:
        """Training and validation losses per epoch (log scale); returns the Figure."""
        from .. import plotting  # matplotlib is imported only when something is drawn

        return plotting.plot_losses(self.losses, self.val_losses, ax=ax, label=label)

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume training, as ``torch.load(weights_only=True)`` reads it.

        The book's keys (``epoch``, ``model_state_dict``, ``optimizer_state_dict``, ``loss``,
        ``val_loss``), the optimizer's and scheduler's classes, the scheduler's state,
        ``learning_rates``, ``step_lrs`` and ``rng_state`` (global and loaders' generators).
        """
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

        Set the optimizer (and the same kind of scheduler, if one was saved) first. Before
        anything changes, every entry is checked: the model's keys and shapes, the optimizer's
        class (for the book's checkpoints, which name none: ``momentum`` against ``betas``) and
        param groups, the scheduler's class, the losses (lists, one value per epoch). The file
        is read with ``torch.load(weights_only=True)``: a book checkpoint's NumPy losses need
        ``torch.serialization.safe_globals`` (only for a file you trust). The saved random state
        is kept for the next ``train(seed=None)``; the model is left in train mode.
        """
        self._load(lambda: checkpoint.read(path), str(path))

    def _load(self, read: Callable[[], Any], source: str) -> None:
        if self.optimizer is None:
            raise RuntimeError(f"{source}: call set_optimizer(...) before loading a checkpoint.")
        state = read()
        history = checkpoint.validate(
            state, self.model, self.optimizer, self.scheduler, self._loaders(), source
        )
        try:
            with Snapshot(self.model, self.optimizer, self.scheduler).restored_on_error():
                self.model.load_state_dict(state["model_state_dict"])
                self.optimizer.load_state_dict(state["optimizer_state_dict"])
                if self.scheduler is not None and state.get("scheduler_state_dict") is not None:
                    self.scheduler.load_state_dict(state["scheduler_state_dict"])
        except Exception as error:  # a KeyboardInterrupt is re-raised as it is
            raise RuntimeError(
                f"{source} could not be applied ({error}); the trainer is unchanged."
            ) from error
        self.total_epochs = history["epoch"]
        self.losses, self.val_losses = history["loss"], history["val_loss"]
        self.learning_rates, self.step_lrs = history["learning_rates"], history["step_lrs"]
        self._resume_rng = history["rng_state"]
        self.model.train()

    def _loaders(self) -> dict[str, Any]:
        return {"train_loader": self.train_loader, "val_loader": self.val_loader}

    # ------------------------------------------------------------------ hooks

    def attach_hooks(
        self,
        layers_to_hook: Layers = None,
        hook_fn: ForwardHookFn | None = None,
        *,
        layers: Layers = None,
    ) -> Capture:
        """Register a forward hook on each of ``layers_to_hook`` (``layers`` is an alias).

        Without ``hook_fn``, each forward pass appends the layers' outputs, as NumPy arrays, to
        ``self.visualization[name]`` (emptied first; ``None`` until the layer runs). With it,
        the book's ``hook_fn(layer, inputs, outputs)`` is the hook. Until :meth:`remove_hooks`.
        """
        return self._hooks.attach_hooks(_layer_names(layers_to_hook, layers), hook_fn)

    def capture_gradients(
        self, layers_to_hook: Layers = None, *, layers: Layers = None
    ) -> GradientCapture:
        """Record the gradients of ``layers_to_hook``'s parameters at every backward pass.

        Read them from the capture (``.gradients``) or, as in the book, ``sbs._gradients``.
        """
        return self._hooks.capture_gradients(_layer_names(layers_to_hook, layers))

    def capture_parameters(
        self, layers_to_hook: Layers = None, training_only: bool = True, *, layers: Layers = None
    ) -> ParameterCapture:
        """Record ``layers_to_hook``'s parameters at every (training) forward pass.

        Read them from the capture (``.parameters``) or ``sbs._parameters``;
        ``training_only=False`` also logs validation passes, as the book does.
        """
        names = _layer_names(layers_to_hook, layers)
        return self._hooks.capture_parameters(names, training_only=training_only)

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

    # ------------------------------------------------------------------ learning rates

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
        """Run :func:`rpsbook.training.lr_range_test` on this trainer's model and optimizer.

        ``tracking, fig = sbs.lr_range_test(train_loader, end_lr=0.1)`` works as in the book;
        the result also keeps its attributes (``lr``, ``loss``, ``suggestion``...).
        ``data_loader`` defaults to the training loader. With ``ax`` the curve is drawn there
        at once. Model, optimizer, gradients and RNG are restored afterwards, and the trainer's
        hooks are paused during the test. Extra keyword arguments are passed on.
        """
        loader = _range_test_loader(data_loader, self.train_loader, end_lr, self.optimizer)
        kwargs.update(num_iter=num_iter, step_mode=step_mode, alpha=alpha)
        kwargs.setdefault("device", self.device)
        with self._hooks.paused():
            result = lr_range_test(
                self.model, self.optimizer, self.loss_fn, loader, end_lr, **kwargs
            )
        if ax is not None:
            result.figure = result.plot(ax, skip_start=0, skip_end=0, mark_suggestion=False)
        return result


def _summary_writer(prefix: Path) -> Any:
    """A TensorBoard ``SummaryWriter`` logging to ``{prefix}_{timestamp}``."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ImportError(
            "set_tensorboard needs the optional 'tensorboard' package: pip install tensorboard"
        ) from error
    suffix = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
    return SummaryWriter(f"{prefix}_{suffix}")


def _add_graph(writer: Any, model: nn.Module, x: Tensor) -> None:
    """``writer.add_graph(model, x)`` in eval mode."""
    with eval_mode(model), warnings.catch_warnings():
        # tensorboard traces with torch.jit, which torch deprecates: not the reader's to fix.
        warnings.filterwarnings("ignore", r"`torch\.jit\.trace", FutureWarning)
        writer.add_graph(model, x)


def _plot_filters(model: nn.Module, layer_name: str, cmap: str) -> Figure:
    """:func:`rpsbook.plotting.plot_filters` of the weights of ``model``'s ``layer_name``."""
    layer = dict(model.named_modules()).get(layer_name)
    if not isinstance(layer, nn.Conv2d):
        convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        raise ValueError(f"{layer_name!r} is not a Conv2d layer of the model; try {convs}")
    from .. import plotting  # matplotlib is imported only when something is drawn

    return plotting.plot_filters(layer.weight.detach().cpu(), title=layer_name, cmap=cmap)


def _range_test_loader(
    data_loader: Any, train_loader: Any, end_lr: float | None, optimizer: Optimizer | None
) -> Any:
    """The loader of the book's ``sbs.lr_range_test(data_loader, end_lr)``, checked."""
    if data_loader is not None and not isinstance(data_loader, Iterable):
        raise TypeError(
            f"lr_range_test's first argument is the data loader (as in the book), got "
            f"{data_loader!r}; pass the learning rate as end_lr={data_loader!r}."
        )
    loader = data_loader if data_loader is not None else train_loader
    if end_lr is None:
        raise TypeError("lr_range_test needs end_lr, the learning rate the range ends at.")
    if optimizer is None or loader is None:
        raise RuntimeError(
            "lr_range_test needs set_optimizer(...) and a loader: pass data_loader or "
            "call set_loaders(...) first."
        )
    return loader


def _layer_names(layers_to_hook: Layers, layers: Layers) -> str | Sequence[str]:
    """The book's ``layers_to_hook`` or rpsbook's ``layers``: exactly one of them."""
    if (layers_to_hook is None) == (layers is None):
        raise TypeError("pass the layer names once, as layers_to_hook (the book's name) or layers")
    return layers_to_hook if layers_to_hook is not None else layers  # type: ignore[return-value]


def _class_counts(
    outputs: Tensor, y: Any, threshold: float = 0.5, *, probabilities: bool = False
) -> Tensor:
    """Per-class ``[correct, total]`` counts: ``(n_classes, 2)``, for outputs ``(N, C)``.

    ``C > 1``: the arg-max is the prediction. ``C == 1`` (or ``(N,)``) is binary: class 1
    when ``sigmoid(outputs)`` (``outputs`` itself if ``probabilities``) exceeds ``threshold``.
    ``y`` must hold ``N`` labels in ``[0, n_classes)``.
    """
    if outputs.ndim == 1 or outputs.shape[1] == 1:
        scores = outputs.reshape(-1)
        predicted = ((scores if probabilities else torch.sigmoid(scores)) > threshold).long()
        n_classes = 2
    else:
        predicted, n_classes = outputs.argmax(dim=1), outputs.shape[1]
    labels = _labels(y, len(predicted), n_classes)
    hits = torch.bincount(labels[predicted == labels], minlength=n_classes)
    return torch.stack([hits, torch.bincount(labels, minlength=n_classes)], dim=1)


def _ends_with_sigmoid(model: nn.Module) -> bool:
    """Whether the model's last layer is ``nn.Sigmoid`` (looking into nested Sequentials)."""
    while isinstance(model, nn.Sequential) and len(model):
        model = model[-1]
    return isinstance(model, nn.Sigmoid)


def _labels(y: Any, n_samples: int, n_classes: int) -> Tensor:
    """``y`` as a flat ``int64`` CPU tensor of ``n_samples`` labels in ``[0, n_classes)``."""
    labels = torch.as_tensor(y).cpu().reshape(-1).long()
    if len(labels) != n_samples:
        raise ValueError(
            f"y holds {len(labels)} labels for a batch of {n_samples} samples: pass one label "
            "per row of x."
        )
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError(
            f"y holds labels from {int(labels.min())} to {int(labels.max())}, but the model "
            f"has {n_classes} classes: labels must be in [0, {n_classes})."
        )
    return labels


def _length(loader: Any) -> int | None:
    """``len(loader)``, or ``None`` for a loader without a length (an IterableDataset)."""
    try:
        return len(loader)
    except TypeError:
        return None


def _mean_loss(batch_losses: list[Tensor], loader: Any, name: str) -> float:
    """The mean of mini-batch losses held on the device: one transfer to the host."""
    if not batch_losses:
        raise ValueError(empty_loader_message(loader, name))
    values = torch.stack([loss.detach().reshape(()) for loss in batch_losses]).cpu().tolist()
    # The book's np.mean of Python floats, to the last bit.
    return float(np.mean(values))
