"""The training-epoch variants that the benchmarks compare.

All variants train ``CNN2(5, p=0.3)`` with Adam (lr 3e-4) and cross-entropy on mini-batches
of 16 for one epoch; they differ only in where the batches come from:

* ``naive``: the book's pipeline, ``load_rps(preload=False)``: ``ImageFolder`` decodes,
  resizes and normalizes every PNG at every access;
* ``preloaded``: rpsbook's default, ``load_rps()``: decoded once, normalized once, served by a
  ``DataLoader`` that indexes one sample at a time and collates 16 of them;
* ``floor``: the compute floor: the same normalized tensors, pre-shuffled, sliced into
  batches and consumed by a bare Python loop (no ``DataLoader``);
* ``trainer floor``: the same pre-sliced batches fed to ``StepByStep`` (no ``DataLoader``),
  which separates the trainer's bookkeeping from the loader's overhead;
* ``batched``: a prototype of a loader that fetches a mini-batch with one gather
  (:class:`BatchedTensorDataset`), proposed for ``rpsbook.data``.

``naive``, ``preloaded``, ``trainer floor`` and ``batched`` run through
``StepByStep.train(1)`` (no validation loader), exactly as the trainer is used; ``floor``
does the same per-step work (forward, backward, step, ``zero_grad``, ``loss.item()``)
without the trainer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from rpsbook.data import ImageTensorDataset, image_folder
from rpsbook.models import CNN2
from rpsbook.training import StepByStep

__all__ = [
    "BATCH_SIZE",
    "BatchedTensorDataset",
    "batched_loader",
    "drain",
    "floor_epoch",
    "make_model",
    "repeated_folder",
    "repeated_tensors",
    "synchronizer",
    "trainer_epoch",
    "trainer_floor_epoch",
]

BATCH_SIZE = 16


def make_model(device: torch.device) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The chapter's model and optimizer: seed 13, ``CNN2(5, p=0.3)``, Adam lr 3e-4."""
    torch.manual_seed(13)
    model = CNN2(5, p=0.3).to(device)
    return model, torch.optim.Adam(model.parameters(), lr=3e-4)


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for ``device``'s queued work (nothing to wait for on the CPU)."""
    if device.type == "cpu":
        return lambda: None
    return lambda: torch.accelerator.synchronize(device)


def trainer_epoch(
    loader: DataLoader | list[tuple[Tensor, Tensor]], device: torch.device
) -> Callable[[], None]:
    """``StepByStep.train(1)`` over ``loader``, on one model built by :func:`make_model`."""
    model, optimizer = make_model(device)
    trainer = StepByStep(model, nn.CrossEntropyLoss(), optimizer, device=device)
    trainer.set_loaders(loader)
    return lambda: trainer.train(1, seed=None, progress=False)


def _preshuffled_batches(images: Tensor, targets: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Batches of :data:`BATCH_SIZE` sliced from one fixed shuffled copy of the tensors."""
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(42))
    order = order.to(images.device)
    images, targets = images[order], targets[order]
    return [
        (images[start : start + BATCH_SIZE], targets[start : start + BATCH_SIZE])
        for start in range(0, len(targets), BATCH_SIZE)
    ]


def floor_epoch(images: Tensor, targets: Tensor, device: torch.device) -> Callable[[], None]:
    """One epoch over tensors already in memory, batches sliced from a pre-shuffled copy.

    Parameters
    ----------
    images
        ``(N, 3, 28, 28)`` normalized float32 images on ``device``.
    targets
        ``(N,)`` int64 labels on ``device``.
    """
    model, optimizer = make_model(device)
    loss_fn = nn.CrossEntropyLoss()
    batches = _preshuffled_batches(images, targets)

    def epoch() -> None:
        model.train()
        for x, y in batches:
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            loss.item()  # the trainer reads every loss too; on an accelerator this syncs

    return epoch


def trainer_floor_epoch(
    images: Tensor, targets: Tensor, device: torch.device
) -> Callable[[], None]:
    """``StepByStep.train(1)`` over the pre-sliced batches of :func:`floor_epoch`.

    No ``DataLoader``: the difference with :func:`floor_epoch` is the trainer's own per-step
    bookkeeping, the difference with the preloaded loader is the ``DataLoader``.
    """
    return trainer_epoch(_preshuffled_batches(images, targets), device)


def drain(loader: DataLoader) -> Callable[[], None]:
    """Iterate ``loader`` once without computing anything: the data path alone."""

    def epoch() -> None:
        for _ in loader:
            pass

    return epoch


class BatchedTensorDataset(ImageTensorDataset):
    """An :class:`~rpsbook.data.ImageTensorDataset` that serves a mini-batch with one gather.

    ``DataLoader`` calls ``__getitems__(indices)`` (when a dataset has it) instead of
    ``__getitem__`` once per index; with :func:`batched_loader`'s pass-through ``collate_fn``
    the gathered ``(images (B, 3, 28, 28), targets (B,))`` pair *is* the batch. The sampler is
    the same ``RandomSampler`` as with the default loader, so batches (and the random
    numbers drawn) are identical.
    """

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        index = torch.as_tensor(indices, dtype=torch.int64, device=self.images.device)
        return self.images.index_select(0, index), self.targets.index_select(0, index)


def _as_batch(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """``collate_fn`` for :class:`BatchedTensorDataset`: the batch is already stacked."""
    return batch


def batched_loader(
    dataset: ImageTensorDataset, generator: torch.Generator | None = None
) -> DataLoader:
    """A shuffled loader of batches of 16 gathered in one step from ``dataset``'s tensors."""
    batched = BatchedTensorDataset(dataset.images, dataset.targets, dataset.classes)
    return DataLoader(
        batched, batch_size=BATCH_SIZE, shuffle=True, generator=generator, collate_fn=_as_batch
    )


def repeated_folder(root: str, normalizer: v2.Normalize, factor: int) -> ImageFolder:
    """The naive training set with its file list repeated ``factor`` times."""
    dataset = image_folder(root, "train", normalizer)
    dataset.samples = dataset.samples * factor
    dataset.imgs = dataset.samples
    dataset.targets = dataset.targets * factor
    return dataset


def repeated_tensors(dataset: ImageTensorDataset, factor: int) -> ImageTensorDataset:
    """``dataset`` with its images and targets repeated ``factor`` times along dim 0."""
    return ImageTensorDataset(
        dataset.images.repeat(factor, 1, 1, 1), dataset.targets.repeat(factor), dataset.classes
    )
