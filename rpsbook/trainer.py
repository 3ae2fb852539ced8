"""``StepByStep``: the chapter's trainer, as one class."""

from __future__ import annotations

import copy
import datetime
import os
import pickle
import random
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, LRScheduler, ReduceLROnPlateau
from torch.utils.data import DataLoader
from torch.utils.hooks import RemovableHandle
from tqdm.auto import trange

from ._utils import (
    empty_loader_message,
    global_rng_states,
    loader_generators,
    progress_enabled,
    resolve_device,
    set_global_rng_states,
    snapshot_optimizer,
)
from .capture import (
    Capture,
    GradientCapture,
    ParameterCapture,
    capture_gradients,
    capture_parameters,
)
from .lr_finder import LRRangeTestResult, lr_range_test
from .schedulers import cosine_warm_restarts_epoch, scheduler_kind

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["StepByStep", "eval_mode"]

Scheduler = LRScheduler | ReduceLROnPlateau


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


BookHookFn = Callable[[nn.Module, tuple[Any, ...], Any], Any]


class _ForwardHooks(Capture):
    """The forward hooks of :meth:`StepByStep.attach_hooks`, registered as the book does.

    Without ``hook_fn`` each layer's output is appended, as a NumPy array, to
    ``store[layer_name]`` (concatenated along the batch dimension across forward passes);
    with it, ``hook_fn(module, inputs, outputs)`` is registered as the forward hook itself.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: str | Sequence[str],
        store: dict[str, Any],
        hook_fn: BookHookFn | None = None,
    ) -> None:
        super().__init__(model, layers)
        self.store = store
        self.hook_fn = hook_fn

    def clear(self) -> None:
        for name in self.modules:
            self.store[name] = None

    def _register(self) -> list[RemovableHandle]:
        handles = []
        for name, module in self.modules.items():
            hook = self.hook_fn if self.hook_fn is not None else self._storing_hook(name)
            handles.append(module.register_forward_hook(hook))
        return handles

    def _storing_hook(self, name: str) -> BookHookFn:
        def hook(module: nn.Module, inputs: tuple[Any, ...], outputs: Tensor) -> None:
            values = outputs.detach().cpu().numpy()
            previous = self.store.get(name)
            self.store[name] = values if previous is None else np.concatenate([previous, values])

        return hook


def _layer_names(
    layers_to_hook: str | Sequence[str] | None, layers: str | Sequence[str] | None
) -> str | Sequence[str]:
    """The book's ``layers_to_hook`` or rpsbook's ``layers``: exactly one of them."""
    if (layers_to_hook is None) == (layers is None):
        raise TypeError("pass the layer names once, as layers_to_hook (the book's name) or layers")
    return layers_to_hook if layers_to_hook is not None else layers


def _ends_with_sigmoid(model: nn.Module) -> bool:
    """Whether the model's last layer is ``nn.Sigmoid`` (looking into nested Sequentials)."""
    while isinstance(model, nn.Sequential) and len(model):
        model = model[-1]
    return isinstance(model, nn.Sigmoid)


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
        Per-epoch training / validation loss: the mean of the epoch's mini-batch losses, as in
        the book (a smaller last mini-batch counts as much as the others).
    learning_rates : list of list of float
        As in the book: after every scheduler step, the learning rate of each parameter group
        (empty without a scheduler). Entry ``k`` is the rate set by the ``k``-th step, used by
        the updates that follow it.
    step_lrs : list of float
        The learning rate (first parameter group) used by every optimizer step, with or
        without a scheduler.
    total_epochs : int
        Epochs trained so far, across :meth:`train` calls and checkpoints.
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
        self._captures: list[Capture] = []
        # The book's hook state: outputs stored by attach_hooks' default hook (NumPy arrays),
        # the latest gradient / parameter captures, and an optional TensorBoard writer.
        self.visualization: dict[str, Any] = {}
        self._gradient_capture: GradientCapture | None = None
        self._parameter_capture: ParameterCapture | None = None
        self.writer: Any = None
        if optimizer is not None:
            self.set_optimizer(optimizer)

    # ------------------------------------------------------------------ configuration

    def to(self, device: str | torch.device) -> StepByStep:
        """Move the model and the optimizer's state to ``device``."""
        self.device = torch.device(device)
        self.model.to(self.device)
        if self.optimizer is not None:
            for state in self.optimizer.state.values():
                for key, value in state.items():
                    # Adam keeps its scalar step counter on the CPU unless capturable.
                    if torch.is_tensor(value) and not (key == "step" and value.ndim == 0):
                        state[key] = value.to(self.device)
        return self

    def set_loaders(self, train_loader: DataLoader, val_loader: DataLoader | None = None) -> None:
        """Set the loaders used by :meth:`train` (and by :meth:`lr_range_test`)."""
        self.train_loader = train_loader
        self.val_loader = val_loader

    def set_optimizer(self, optimizer: Optimizer) -> None:
        """Use ``optimizer``; it must optimize this trainer's model parameters."""
        model_params = {id(p) for p in self.model.parameters()}
        foreign = [
            p for g in optimizer.param_groups for p in g["params"] if id(p) not in model_params
        ]
        if foreign:
            raise ValueError(
                f"optimizer holds {len(foreign)} tensor(s) that are not parameters of the "
                "trainer's model: build it from trainer.model.parameters()."
            )
        if self.scheduler is not None and self.scheduler.optimizer is not optimizer:
            self.scheduler = None  # it would keep driving the old optimizer
        self.optimizer = optimizer

    def set_lr_scheduler(self, scheduler: Scheduler | None) -> None:
        """Use ``scheduler`` (or none). It must wrap this trainer's optimizer.

        Epoch schedulers step after each epoch's validation, ``ReduceLROnPlateau`` steps with
        the validation loss, and mini-batch schedulers (``CyclicLR``, ``OneCycleLR``,
        ``CosineAnnealingWarmRestarts``) step after every optimizer step;
        ``CosineAnnealingWarmRestarts`` is stepped with fractional epochs counted from 0, so that
        batch ``i`` of epoch ``e`` (both 0-based) trains with the learning rate of
        ``e + i / n_batches``.
        """
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

        It also drops the random state that :meth:`load_checkpoint` kept for the next
        ``train(seed=None)``: an explicit seed wins.
        """
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.manual_seed(seed)
        np.random.seed(seed)  # noqa: NPY002 (code written like the book uses the legacy API)
        random.seed(seed)
        for generator in loader_generators(self.train_loader):
            generator.manual_seed(seed)
        self._resume_rng = None

    def set_tensorboard(self, name: str, folder: str | os.PathLike[str] = "runs") -> None:
        """Write TensorBoard logs to ``{folder}/{name}_{timestamp}`` (``self.writer``).

        Needs the optional ``tensorboard`` package (``pip install tensorboard``); rpsbook does
        not depend on it.
        """
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise ImportError(
                "set_tensorboard needs the optional 'tensorboard' package: pip install tensorboard"
            ) from error
        suffix = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
        self.writer = SummaryWriter(str(Path(folder) / f"{name}_{suffix}"))

    def add_graph(self) -> None:
        """Log the model's graph, traced on one training mini-batch, to TensorBoard."""
        if self.writer is None:
            raise RuntimeError("add_graph needs a writer: call set_tensorboard(name) first.")
        if self.train_loader is None:
            raise RuntimeError("add_graph traces one mini-batch: call set_loaders(...) first.")
        x, _ = next(iter(self.train_loader))
        with eval_mode(self.model):
            self.writer.add_graph(self.model, x.to(self.device))

    # ------------------------------------------------------------------ training

    def _check_ready(self) -> None:
        if self.optimizer is None:
            raise RuntimeError("no optimizer: call set_optimizer(...) before train().")
        if self.train_loader is None:
            raise RuntimeError("no training data: call set_loaders(train_loader, ...) first.")
        if isinstance(self.scheduler, ReduceLROnPlateau) and self.val_loader is None:
            raise RuntimeError(
                "ReduceLROnPlateau steps with the validation loss, but there is no validation "
                "loader: call set_loaders(train_loader, val_loader)."
            )
        for name, loader in (("train_loader", self.train_loader), ("val_loader", self.val_loader)):
            # Checked before the first epoch, so that an empty validation loader does not
            # surface only after a whole epoch of training.
            try:
                empty = loader is not None and len(loader) == 0
            except TypeError:  # no length (an IterableDataset): checked when it runs out
                empty = False
            if empty:
                raise ValueError(empty_loader_message(loader, name))

    def _batch_loss(self, x: Tensor, y: Tensor) -> Tensor:
        return self.loss_fn(self.model(x.to(self.device)), y.to(self.device))

    def _record_lrs(self) -> None:
        """The book's ``learning_rates`` entry, taken right after a scheduler step."""
        assert self.optimizer is not None
        self.learning_rates.append([float(group["lr"]) for group in self.optimizer.param_groups])

    def _train_epoch(self) -> float:
        """One pass over the training loader; the mean of its mini-batch losses.

        The loss of every mini-batch is checked before ``backward()``: that check is one host
        synchronization per step, as ``loss.item()`` was (measured: see :meth:`train`).
        """
        assert self.optimizer is not None and self.train_loader is not None
        kind = scheduler_kind(self.scheduler) if self.scheduler is not None else None
        n_batches = len(self.train_loader)
        epoch = self.total_epochs  # 0-based index of the epoch being trained
        batch_losses: list[Tensor] = []
        self.model.train()
        for i, (x, y) in enumerate(self.train_loader):
            # The forward pass updates buffers (BatchNorm statistics); keep them to put back
            # if this mini-batch fails before backward(). No copy when there are none.
            buffers = [(b, b.clone()) for b in self.model.buffers()]
            try:
                loss = self._batch_loss(x, y)
                if not bool(torch.isfinite(loss.detach()).all()):
                    raise FloatingPointError(
                        f"the training loss is {loss.detach().cpu().tolist()} at epoch {epoch}, "
                        f"mini-batch {i} of {n_batches} (both counted from 0). Training stopped "
                        "before backward(): model, optimizer and scheduler are as they were "
                        "after the previous mini-batch. Lower the learning rate, or check that "
                        "mini-batch for NaN/inf inputs."
                    )
            except BaseException:  # KeyboardInterrupt too
                with torch.no_grad():
                    for buffer, value in buffers:
                        buffer.copy_(value)
                raise
            loss.backward()
            self.step_lrs.append(float(self.optimizer.param_groups[0]["lr"]))
            self.optimizer.step()
            self.optimizer.zero_grad()
            if kind == "batch":
                if isinstance(self.scheduler, CosineAnnealingWarmRestarts):
                    # Batch i of epoch e then trains with the lr of fractional epoch
                    # e + i / n_batches, the first batch of all with that of exactly 0.
                    self.scheduler.step(cosine_warm_restarts_epoch(epoch, i + 1, n_batches))
                else:
                    self.scheduler.step()
                self._record_lrs()
            batch_losses.append(loss.detach())
        return _mean_loss(batch_losses, self.train_loader, "train_loader")

    def _validate(self) -> float:
        """The mean of the validation loader's mini-batch losses, in eval mode."""
        assert self.val_loader is not None
        with eval_mode(self.model):
            batch_losses = [self._batch_loss(x, y) for x, y in self.val_loader]
        return _mean_loss(batch_losses, self.val_loader, "val_loader")

    def train(self, n_epochs: int, seed: int | None = 42, progress: bool | None = None) -> None:
        """Train for ``n_epochs``, validating after each epoch when a validation loader is set.

        ``seed`` reseeds every random generator first, as the book does at every call: the
        same call on the same initial model gives the same losses, and ``train(2); train(2)``
        repeats the random draws of the first two epochs (it is not ``train(4)``). ``None``
        continues the current random streams; right after :meth:`load_checkpoint` it first
        restores the streams saved in the checkpoint, so that ``train(2)``, save, load,
        ``train(2, seed=None)`` gives the losses of ``train(4)``, bit for bit on the CPU.

        Raises
        ------
        FloatingPointError
            When a mini-batch loss is NaN or infinite. The message names the epoch and the
            mini-batch. The trainer is left as it was just before that mini-batch: parameters,
            buffers, gradients, optimizer and scheduler hold the values of the last finite
            step (``step_lrs`` and ``learning_rates`` include the steps taken in the
            interrupted epoch), while ``losses``, ``val_losses`` and ``total_epochs`` count
            complete epochs only. The random generators have advanced.

        Notes
        -----
        Finiteness is checked on the host before ``backward()``, one synchronization per
        mini-batch (``loss.item()`` cost the same before). A check deferred to the end of the
        epoch would have no synchronization, but by then the non-finite step would have been
        applied; undoing it needs a copy of the model and the optimizer state at every step,
        which costs more than the synchronization on the chapter's models. The epoch losses
        themselves stay on the device until the epoch ends (one transfer per epoch).
        """
        if isinstance(n_epochs, bool) or not isinstance(n_epochs, int) or n_epochs < 0:
            raise ValueError(f"n_epochs must be an integer >= 0, got {n_epochs!r}")
        self._check_ready()
        if seed is not None:
            self.set_seed(seed)
        elif self._resume_rng is not None:
            self._restore_rng(self._resume_rng)
            self._resume_rng = None
        kind = scheduler_kind(self.scheduler) if self.scheduler is not None else None
        bar = trange(n_epochs, desc="epochs", disable=not progress_enabled(progress))
        for _ in bar:
            loss = self._train_epoch()
            val_loss = None
            if self.val_loader is not None:
                val_loss = self._validate()
            self.losses.append(loss)
            if val_loss is not None:
                self.val_losses.append(val_loss)
            self.total_epochs += 1
            if kind == "epoch":
                self.scheduler.step()
                self._record_lrs()
            elif kind == "plateau":
                self.scheduler.step(val_loss)
                self._record_lrs()
            shown = "-" if val_loss is None else f"{val_loss:.4f}"
            bar.set_postfix(loss=f"{loss:.4f}", val_loss=shown)

    # ------------------------------------------------------------------ evaluation

    def predict(self, x: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """The model's outputs for a batch ``x`` ``(N, ...)``, computed in eval mode.

        As in the book, a NumPy array in gives a NumPy array out (``x`` is converted to
        float32 first); a tensor in gives a CPU tensor out, with its dtype kept. NumPy
        functions (``np.argmax(out, 1)``...) accept either.
        """
        is_tensor = isinstance(x, Tensor)
        x_tensor = x if is_tensor else torch.as_tensor(np.asarray(x)).float()
        with eval_mode(self.model):
            out = self.model(x_tensor.to(self.device)).cpu()
        return out if is_tensor else out.numpy()

    def correct(self, x: Tensor, y: Tensor, threshold: float = 0.5) -> Tensor:
        """Per-class ``[correct, total]`` counts for a batch: an ``(n_classes, 2)`` tensor.

        Multi-class outputs use the arg-max. A single output column is binary: read as a
        logit (probability ``sigmoid(out)`` above ``threshold`` means class 1), or, when the
        model's last layer is ``nn.Sigmoid``, as the probability itself.
        """
        logits = self.predict(torch.as_tensor(x))
        y = torch.as_tensor(y).cpu()
        if logits.ndim == 1 or logits.shape[1] == 1:
            scores = logits.reshape(-1)
            if not _ends_with_sigmoid(self.model):
                scores = torch.sigmoid(scores)
            predicted = (scores > threshold).long()
            n_classes = 2
        else:
            predicted = logits.argmax(dim=1)
            n_classes = logits.shape[1]
        y = y.reshape(-1).long()
        hits = torch.bincount(y[predicted == y], minlength=n_classes)
        totals = torch.bincount(y, minlength=n_classes)
        return torch.stack([hits, totals], dim=1)

    def accuracy(self, loader: DataLoader) -> float:
        """Fraction of correctly classified samples over ``loader``."""
        counts = self.loader_apply(loader, self.correct)
        return float(counts[:, 0].sum() / counts[:, 1].sum())

    @staticmethod
    def loader_apply(
        loader: DataLoader, func: Callable[[Tensor, Tensor], Tensor], reduce: str = "sum"
    ) -> Tensor:
        """The book's ``StepByStep.loader_apply``: :func:`rpsbook.data.loader_apply`."""
        # Imported here: rpsbook.data imports torchvision, which training does not need.
        from .data import loader_apply

        return loader_apply(loader, func, reduce)

    @staticmethod
    def statistics_per_channel(images: Tensor, labels: Tensor | None = None) -> Tensor:
        """The book's ``StepByStep.statistics_per_channel``: see
        :func:`rpsbook.data.statistics_per_channel`. Returns ``(3, C)``."""
        from .data import statistics_per_channel

        return statistics_per_channel(images, labels)

    @staticmethod
    def make_normalizer(loader: DataLoader) -> Any:
        """The book's ``StepByStep.make_normalizer``: see :func:`rpsbook.data.make_normalizer`."""
        from .data import make_normalizer

        return make_normalizer(loader)

    def count_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def plot_losses(self, ax: Any = None, label: str | None = None) -> Figure:
        """Training and validation losses per epoch (log scale); returns the Figure."""
        from . import plotting  # matplotlib is imported only when something is drawn

        return plotting.plot_losses(self.losses, self.val_losses, ax=ax, label=label)

    # ------------------------------------------------------------------ checkpoints

    def _rng_state(self) -> dict[str, Any]:
        """The random streams a resumed run needs: global generators and loader generators."""
        loaders = {"train_loader": self.train_loader, "val_loader": self.val_loader}
        return {
            "global": global_rng_states(self.device),
            "loaders": {
                name: [g.get_state() for g in loader_generators(loader)]
                for name, loader in loaders.items()
            },
        }

    def _restore_rng(self, state: dict[str, Any]) -> None:
        set_global_rng_states(state["global"])
        loaders = {"train_loader": self.train_loader, "val_loader": self.val_loader}
        for name, saved in state["loaders"].items():
            generators = loader_generators(loaders[name])
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

    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Write everything needed to resume training to ``path``, atomically.

        The book's keys (``epoch``, ``model_state_dict``, ``optimizer_state_dict``, ``loss``,
        ``val_loss``) plus the scheduler's state and class name, ``learning_rates``,
        ``step_lrs`` and the random state (torch CPU and accelerator generators, NumPy, Python
        ``random``, the loaders' generators). The file is written next to ``path`` under a
        temporary name and renamed over it, so ``path`` is either the old file or the complete
        new one, never half written.
        """
        if self.optimizer is None:
            raise RuntimeError("nothing to resume without an optimizer: call set_optimizer first.")
        checkpoint = {
            "epoch": self.total_epochs,
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "loss": list(self.losses),
            "val_loss": list(self.val_losses),
            "scheduler_class": type(self.scheduler).__name__ if self.scheduler else None,
            "scheduler_state_dict": self.scheduler.state_dict() if self.scheduler else None,
            "learning_rates": [list(lrs) for lrs in self.learning_rates],
            "step_lrs": list(self.step_lrs),
            "rng_state": self._rng_state(),
        }
        path = Path(path)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        except OSError as error:
            raise OSError(
                f"cannot write the checkpoint {path}: its folder {path.parent} does not exist or "
                f"is not writable ({error.strerror})."
            ) from error
        try:
            with os.fdopen(fd, "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore what :meth:`save_checkpoint` wrote, all or nothing.

        Set the optimizer (and the same kind of scheduler, if one was saved) first: their
        states are loaded into the objects the trainer already has. The file is read with
        ``torch.load(weights_only=True)``, which unpickles tensors and plain Python values
        only; everything rpsbook saves is of that kind. A checkpoint written by the book's
        trainer holds NumPy floats as losses: load it inside
        ``torch.serialization.safe_globals([...])`` with the NumPy types the error names, and
        only if you trust the file.

        The whole checkpoint is read and checked against the model, the optimizer and the
        scheduler before anything changes; if applying it still fails, model, optimizer and
        scheduler are put back as they were. The saved random state is kept for the next
        ``train(seed=None)`` (see :meth:`train`); the model is left in train mode.
        """
        path = Path(path)
        if self.optimizer is None:
            raise RuntimeError(f"{path}: call set_optimizer(...) before load_checkpoint().")
        checkpoint = _read_checkpoint(path)
        self._check_checkpoint(checkpoint, path)
        model_values = [(t, t.detach().clone()) for t in self.model.state_dict().values()]
        restore_optimizer = snapshot_optimizer(self.optimizer)
        scheduler_state = copy.deepcopy(self.scheduler.state_dict()) if self.scheduler else None
        try:
            self.model.load_state_dict(checkpoint["model_state_dict"])
            self.optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
            if self.scheduler is not None and checkpoint.get("scheduler_state_dict") is not None:
                self.scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
        except Exception as error:
            with torch.no_grad():
                for tensor, value in model_values:
                    tensor.copy_(value)
            restore_optimizer()
            if self.scheduler is not None:
                self.scheduler.load_state_dict(scheduler_state)
            raise RuntimeError(
                f"{path} could not be applied ({error}); the trainer is unchanged."
            ) from error
        self.total_epochs = int(checkpoint["epoch"])
        self.losses = [float(v) for v in checkpoint["loss"]]
        self.val_losses = [float(v) for v in checkpoint["val_loss"]]
        self.learning_rates = [list(lrs) for lrs in checkpoint.get("learning_rates", [])]
        self.step_lrs = list(checkpoint.get("step_lrs", []))
        self._resume_rng = checkpoint.get("rng_state")
        self.model.train()

    def _check_checkpoint(self, checkpoint: Any, path: Path) -> None:
        """Raise, naming ``path``, if ``checkpoint`` does not fit this trainer."""
        assert self.optimizer is not None
        required = ("epoch", "model_state_dict", "optimizer_state_dict", "loss", "val_loss")
        if not isinstance(checkpoint, dict):
            checkpoint = {}
        missing = [key for key in required if key not in checkpoint]
        if missing:
            raise ValueError(
                f"{path} is not a StepByStep checkpoint: it lacks {missing} (written by "
                "save_checkpoint?)."
            )
        own = self.model.state_dict()
        saved = checkpoint["model_state_dict"]
        problems = [f"missing {k}" for k in own if k not in saved]
        problems += [f"unexpected {k}" for k in saved if k not in own]
        problems += [
            f"{k}: {tuple(saved[k].shape)} in the file, {tuple(v.shape)} in the model"
            for k, v in own.items()
            if k in saved and torch.is_tensor(saved[k]) and saved[k].shape != v.shape
        ]
        if problems:
            raise ValueError(f"{path} holds weights of another model: {'; '.join(problems)}.")
        saved_groups = checkpoint["optimizer_state_dict"].get("param_groups", [])
        own_sizes = [len(g["params"]) for g in self.optimizer.param_groups]
        saved_sizes = [len(g["params"]) for g in saved_groups]
        if own_sizes != saved_sizes:
            raise ValueError(
                f"{path} holds the state of an optimizer with param groups of sizes "
                f"{saved_sizes}; this trainer's optimizer has {own_sizes}: build it the same way."
            )
        saved_class = checkpoint.get("scheduler_class")
        if checkpoint.get("scheduler_state_dict") is not None:
            if self.scheduler is None:
                raise RuntimeError(
                    f"{path} holds a {saved_class or 'scheduler'} state: call "
                    "set_lr_scheduler(...) with the same kind of scheduler before "
                    "load_checkpoint()."
                )
            if saved_class is not None and saved_class != type(self.scheduler).__name__:
                raise ValueError(
                    f"{path} holds a {saved_class} state, but the trainer's scheduler is a "
                    f"{type(self.scheduler).__name__}: set the same kind of scheduler."
                )

    # ------------------------------------------------------------------ hooks

    def _keep(self, capture: Any) -> Any:
        self._captures.append(capture)
        return capture

    def attach_hooks(
        self,
        layers_to_hook: str | Sequence[str] | None = None,
        hook_fn: BookHookFn | None = None,
        *,
        layers: str | Sequence[str] | None = None,
    ) -> Capture:
        """Register a forward hook on each of ``layers_to_hook`` (``layers`` is an alias).

        Without ``hook_fn``, every forward pass appends each layer's output, as a NumPy array,
        to ``self.visualization[name]`` (outputs of several passes are concatenated along
        the batch dimension; ``None`` until the layer runs). With ``hook_fn``, the book's
        ``hook_fn(layer, inputs, outputs)`` is registered as the hook itself (a value it
        returns replaces the output, as in PyTorch). Each call empties ``visualization``
        first. Hooks stay until :meth:`remove_hooks`; their handles are in :attr:`handles`.
        Returns the attached :class:`~rpsbook.capture.Capture`.
        """
        names = _layer_names(layers_to_hook, layers)
        self.visualization.clear()  # in place: earlier hooks keep writing to this dict
        hooks = _ForwardHooks(self.model, names, self.visualization, hook_fn)
        hooks.clear()
        return self._keep(hooks.attach())

    def capture_gradients(
        self,
        layers_to_hook: str | Sequence[str] | None = None,
        *,
        layers: str | Sequence[str] | None = None,
    ) -> GradientCapture:
        """Record the gradients of the parameters of ``layers_to_hook`` at every backward pass.

        Read them from the returned capture (``.gradients``: stacked tensors) or, as in the
        book, from ``sbs._gradients`` (lists), also after :meth:`remove_hooks`.
        """
        capture = self._keep(capture_gradients(self.model, _layer_names(layers_to_hook, layers)))
        self._gradient_capture = capture
        return capture

    def capture_parameters(
        self,
        layers_to_hook: str | Sequence[str] | None = None,
        training_only: bool = True,
        *,
        layers: str | Sequence[str] | None = None,
    ) -> ParameterCapture:
        """Record the parameters of ``layers_to_hook`` at every (training) forward pass.

        Read them from the returned capture (``.parameters``) or from ``sbs._parameters``.
        ``training_only=False`` also logs during validation passes, as the book does.
        """
        names = _layer_names(layers_to_hook, layers)
        capture = capture_parameters(self.model, names, training_only=training_only)
        self._parameter_capture = self._keep(capture)
        return capture

    def remove_hooks(self) -> None:
        """Remove every hook this trainer attached; captured values stay readable."""
        for capture in self._captures:
            capture.remove()
        self._captures.clear()

    @property
    def handles(self) -> dict[str, RemovableHandle]:
        """The attached hooks' handles, keyed as in the book.

        ``"layer"`` for forward hooks (:meth:`attach_hooks`, :meth:`capture_parameters`) and
        ``"layer.param.grad"`` for gradient hooks; a repeated key gets a ``#n`` suffix
        instead of hiding the earlier hook. Empty after :meth:`remove_hooks`.
        """
        handles: dict[str, RemovableHandle] = {}
        for capture in self._captures:
            if isinstance(capture, GradientCapture):
                keys = [
                    f"{layer}.{name}.grad"
                    for layer, module in capture.modules.items()
                    for name, p in module.named_parameters()
                    if p.requires_grad
                ]
            else:
                keys = list(capture.layers)
            for key, handle in zip(keys, capture._handles, strict=False):
                unique, n = key, 1
                while unique in handles:
                    n += 1
                    unique = f"{key}#{n}"
                handles[unique] = handle
        return handles

    @property
    def _gradients(self) -> dict[str, dict[str, list[Tensor]]]:
        """The book's view of the latest :meth:`capture_gradients`.

        ``{layer: {param_name: [gradient of step 1, step 2, ...]}}``, CPU tensors;
        ``np.array(sbs._gradients[layer][name])`` stacks them as the book does.
        """
        capture = self._gradient_capture
        if capture is None:
            return {}
        return {
            layer: {name: list(values) for name, values in params.items()}
            for layer, params in capture.gradients.items()
        }

    @property
    def _parameters(self) -> dict[str, dict[str, list[Tensor]]]:
        """The book's view of the latest :meth:`capture_parameters`, one entry per forward."""
        capture = self._parameter_capture
        if capture is None:
            return {}
        return {
            layer: {name: list(values) for name, values in params.items()}
            for layer, params in capture.parameters.items()
        }

    def visualize_filters(self, layer_name: str, cmap: str = "gray") -> Figure:
        """Weights of convolution ``layer_name``: one row per filter, one column per channel."""
        layer = dict(self.model.named_modules()).get(layer_name)
        if not isinstance(layer, nn.Conv2d):
            convs = [n for n, m in self.model.named_modules() if isinstance(m, nn.Conv2d)]
            raise ValueError(f"{layer_name!r} is not a Conv2d layer of the model; try {convs}")
        from . import plotting

        return plotting.plot_filters(layer.weight.detach().cpu(), title=layer_name, cmap=cmap)

    def visualize_outputs(
        self,
        layers: Sequence[str],
        n_images: int = 10,
        y: Tensor | None = None,
        yhat: Tensor | None = None,
        classes: Sequence[str] | None = None,
    ) -> Figure:
        """Feature maps stored by :meth:`attach_hooks` for the first ``n_images`` images.

        With ``y`` (and ``yhat``) the columns are titled with labels (and predictions), by
        name when ``classes`` is given.
        """
        outputs = self.visualization
        missing = [name for name in layers if outputs.get(name) is None]
        if missing:
            raise ValueError(
                f"no stored outputs for {missing}: call attach_hooks(...) and predict"
            )
        from . import plotting

        return plotting.plot_feature_maps(
            {name: torch.as_tensor(outputs[name]) for name in layers},
            n_images=n_images,
            y=y,
            yhat=yhat,
            classes=classes,
        )

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
        """Run :func:`rpsbook.lr_finder.lr_range_test` on this trainer's model and optimizer.

        The book's call ``tracking, fig = sbs.lr_range_test(train_loader, end_lr=0.1)`` works:
        the result unpacks as the book's ``({"lr": [...], "loss": [...]}, figure)`` and keeps
        its attributes (``lr``, ``loss``, ``raw_loss``, ``suggestion``...). ``data_loader``
        defaults to the training loader of :meth:`set_loaders`. With ``ax`` the curve is drawn
        there at once; otherwise the figure is drawn when the result is first unpacked.

        Model, optimizer and RNG are restored afterwards, gradients included, and the hooks of
        :meth:`attach_hooks` / :meth:`capture_gradients` / :meth:`capture_parameters` are
        paused during the test, so nothing is recorded. Extra keyword arguments
        (``val_loader``, ``diverge_th``, ``start_lr``, ``progress``...) are passed on.
        """
        if data_loader is not None and not isinstance(data_loader, Iterable):
            raise TypeError(
                f"lr_range_test's first argument is the data loader (as in the book), got "
                f"{data_loader!r}; pass the learning rate as end_lr={data_loader!r}."
            )
        loader = data_loader if data_loader is not None else self.train_loader
        if end_lr is None:
            raise TypeError("lr_range_test needs end_lr, the learning rate the range ends at.")
        if self.optimizer is None or loader is None:
            raise RuntimeError(
                "lr_range_test needs set_optimizer(...) and a loader: pass data_loader or "
                "call set_loaders(...) first."
            )
        kwargs.setdefault("device", self.device)
        paused = [capture for capture in self._captures if capture.attached]
        for capture in paused:
            capture.remove()
        try:
            result = lr_range_test(
                self.model,
                self.optimizer,
                self.loss_fn,
                loader,
                end_lr,
                num_iter=num_iter,
                step_mode=step_mode,
                alpha=alpha,
                **kwargs,
            )
        finally:
            for capture in paused:
                capture.attach()
        if ax is not None:
            result.figure = result.plot(ax, skip_start=0, skip_end=0, mark_suggestion=False)
        return result


def _mean_loss(batch_losses: list[Tensor], loader: Any, name: str) -> float:
    """The mean of mini-batch losses held on the device: one transfer to the host."""
    if not batch_losses:
        raise ValueError(empty_loader_message(loader, name))
    values = torch.stack([loss.detach().reshape(()) for loss in batch_losses]).cpu().tolist()
    # The book's np.mean of Python floats, to the last bit.
    return float(np.mean(values))


def _read_checkpoint(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with errors that name the file."""
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
