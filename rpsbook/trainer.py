"""``StepByStep``: the chapter's trainer, as one class."""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, LRScheduler, ReduceLROnPlateau
from torch.utils.data import DataLoader
from tqdm.auto import trange

from ._utils import progress_enabled, resolve_device
from .capture import (
    ActivationCapture,
    GradientCapture,
    ParameterCapture,
    capture_activations,
    capture_gradients,
    capture_parameters,
)
from .lr_finder import LRRangeTestResult, lr_range_test
from .schedulers import cosine_warm_restarts_epoch, scheduler_kind

if TYPE_CHECKING:
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
        Per-epoch training / validation loss: the mean over samples (batches weighted by size).
    learning_rates : list of float
        The learning rate (first parameter group) used by every optimizer step.
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
        self.learning_rates: list[float] = []
        self.total_epochs = 0
        self._captures: list[GradientCapture | ParameterCapture | ActivationCapture] = []
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
        """Seed torch, numpy, random and the training loader's generator (if it has one)."""
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.manual_seed(seed)
        np.random.seed(seed)  # noqa: NPY002 (code written like the book uses the legacy API)
        random.seed(seed)
        generator = getattr(getattr(self.train_loader, "sampler", None), "generator", None)
        if generator is not None:
            generator.manual_seed(seed)

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

    def _batch_loss(self, x: Tensor, y: Tensor) -> Tensor:
        return self.loss_fn(self.model(x.to(self.device)), y.to(self.device))

    def _train_epoch(self) -> float:
        assert self.optimizer is not None and self.train_loader is not None
        kind = scheduler_kind(self.scheduler) if self.scheduler is not None else None
        n_batches = len(self.train_loader)
        epoch = self.total_epochs  # 0-based index of the epoch being trained
        total, count = 0.0, 0
        self.model.train()
        for i, (x, y) in enumerate(self.train_loader):
            loss = self._batch_loss(x, y)
            loss.backward()
            self.learning_rates.append(float(self.optimizer.param_groups[0]["lr"]))
            self.optimizer.step()
            self.optimizer.zero_grad()
            if kind == "batch":
                if isinstance(self.scheduler, CosineAnnealingWarmRestarts):
                    # Batch i of epoch e then trains with the lr of fractional epoch
                    # e + i / n_batches, the first batch of all with that of exactly 0.
                    self.scheduler.step(cosine_warm_restarts_epoch(epoch, i + 1, n_batches))
                else:
                    self.scheduler.step()
            total += loss.item() * len(y)
            count += len(y)
        return total / count

    def _validate(self) -> float:
        assert self.val_loader is not None
        total, count = 0.0, 0
        with eval_mode(self.model):
            for x, y in self.val_loader:
                total += self._batch_loss(x, y).item() * len(y)
                count += len(y)
        return total / count

    def train(self, n_epochs: int, seed: int | None = 42, progress: bool | None = None) -> None:
        """Train for ``n_epochs``, validating after each epoch when a validation loader is set.

        ``seed`` reseeds every random generator first (as the book does at every call), so
        the same call on the same initial model gives the same losses; ``None`` continues the
        current random streams.
        """
        self._check_ready()
        if seed is not None:
            self.set_seed(seed)
        kind = scheduler_kind(self.scheduler) if self.scheduler is not None else None
        bar = trange(n_epochs, desc="epochs", disable=not progress_enabled(progress))
        for _ in bar:
            loss = self._train_epoch()
            self.losses.append(loss)
            val_loss = None
            if self.val_loader is not None:
                val_loss = self._validate()
                self.val_losses.append(val_loss)
            self.total_epochs += 1
            if kind == "epoch":
                self.scheduler.step()
            elif kind == "plateau":
                self.scheduler.step(val_loss)
            bar.set_postfix(loss=f"{loss:.4f}", val_loss=f"{val_loss:.4f}" if val_loss else "-")

    # ------------------------------------------------------------------ evaluation

    def predict(self, x: Tensor) -> Tensor:
        """Logits for a batch ``x`` ``(N, ...)``, computed in eval mode, returned on the CPU."""
        with eval_mode(self.model):
            return self.model(x.to(self.device)).cpu()

    def correct(self, x: Tensor, y: Tensor, threshold: float = 0.5) -> Tensor:
        """Per-class ``[correct, total]`` counts for a batch: an ``(n_classes, 2)`` tensor.

        Multi-class outputs use the arg-max; a single output column is read as a binary
        logit (probability above ``threshold`` means class 1).
        """
        logits = self.predict(x)
        y = y.cpu()
        if logits.ndim == 1 or logits.shape[1] == 1:
            predicted = (torch.sigmoid(logits.reshape(-1)) > threshold).long()
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

    def count_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def plot_losses(self, ax: Any = None, label: str | None = None) -> Figure:
        """Training and validation losses per epoch (log scale); returns the Figure."""
        from . import plotting  # matplotlib is imported only when something is drawn

        return plotting.plot_losses(self.losses, self.val_losses, ax=ax, label=label)

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Write model, optimizer, scheduler and history to ``path`` atomically."""
        if self.optimizer is None:
            raise RuntimeError("nothing to resume without an optimizer: call set_optimizer first.")
        checkpoint = {
            "epoch": self.total_epochs,
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "scheduler_state_dict": self.scheduler.state_dict() if self.scheduler else None,
            "losses": self.losses,
            "val_losses": self.val_losses,
            "learning_rates": self.learning_rates,
        }
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            torch.save(checkpoint, tmp)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore what :meth:`save_checkpoint` wrote (``torch.load(weights_only=True)``).

        Set the optimizer (and the scheduler, if one was saved) first: their states are loaded
        into the objects the trainer already has.
        """
        checkpoint = torch.load(path, map_location=self.device, weights_only=True)
        if self.optimizer is None:
            raise RuntimeError(f"{path}: call set_optimizer(...) before load_checkpoint().")
        if checkpoint["scheduler_state_dict"] is not None and self.scheduler is None:
            raise RuntimeError(
                f"{path} holds a scheduler state: call set_lr_scheduler(...) with the same kind "
                "of scheduler before load_checkpoint()."
            )
        self.model.load_state_dict(checkpoint["model_state_dict"])
        self.optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
        if self.scheduler is not None and checkpoint["scheduler_state_dict"] is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
        self.total_epochs = checkpoint["epoch"]
        self.losses = list(checkpoint["losses"])
        self.val_losses = list(checkpoint["val_losses"])
        self.learning_rates = list(checkpoint["learning_rates"])
        self.model.train()

    # ------------------------------------------------------------------ hooks

    def _keep(self, capture: Any) -> Any:
        self._captures.append(capture)
        return capture

    def attach_hooks(
        self, layers: str | Sequence[str], hook_fn: Callable[..., Any] | None = None
    ) -> ActivationCapture:
        """Store the outputs of ``layers`` at every forward pass (see :attr:`visualization`)."""
        return self._keep(capture_activations(self.model, layers, hook_fn=hook_fn))

    def capture_gradients(self, layers: str | Sequence[str]) -> GradientCapture:
        """Record the gradients of the parameters of ``layers`` at every backward pass."""
        return self._keep(capture_gradients(self.model, layers))

    def capture_parameters(
        self, layers: str | Sequence[str], training_only: bool = True
    ) -> ParameterCapture:
        """Record the parameters of ``layers`` at every (training) forward pass."""
        return self._keep(capture_parameters(self.model, layers, training_only=training_only))

    def remove_hooks(self) -> None:
        """Remove every hook this trainer attached; captured values stay in their captures."""
        for capture in self._captures:
            capture.remove()
        self._captures.clear()

    @property
    def visualization(self) -> dict[str, Tensor]:
        """Latest outputs stored by the hooks of :meth:`attach_hooks`, by layer name."""
        outputs: dict[str, Tensor] = {}
        for capture in self._captures:
            if isinstance(capture, ActivationCapture):
                outputs.update(capture.outputs)
        return outputs

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
        missing = [name for name in layers if name not in outputs]
        if missing:
            raise ValueError(
                f"no stored outputs for {missing}: call attach_hooks(...) and predict"
            )
        from . import plotting

        return plotting.plot_feature_maps(
            {name: outputs[name] for name in layers},
            n_images=n_images,
            y=y,
            yhat=yhat,
            classes=classes,
        )

    # ------------------------------------------------------------------ learning rates

    def lr_range_test(
        self,
        end_lr: float,
        num_iter: int = 100,
        step_mode: str = "exp",
        alpha: float = 0.05,
        **kwargs: Any,
    ) -> LRRangeTestResult:
        """Run :func:`rpsbook.lr_finder.lr_range_test` on this trainer's model and loaders.

        Model and optimizer are restored afterwards. Extra keyword arguments (``val_loader``,
        ``diverge_th``, ``start_lr``, ``progress``...) are passed on.
        """
        if self.optimizer is None or self.train_loader is None:
            raise RuntimeError(
                "lr_range_test needs set_optimizer(...) and set_loaders(...) first."
            )
        kwargs.setdefault("device", self.device)
        return lr_range_test(
            self.model,
            self.optimizer,
            self.loss_fn,
            self.train_loader,
            end_lr,
            num_iter=num_iter,
            step_mode=step_mode,
            alpha=alpha,
            **kwargs,
        )
