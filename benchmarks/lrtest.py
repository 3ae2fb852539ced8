"""rpsbook's ``lr_range_test`` against torch-lr-finder's ``LRFinder``, same model and loader."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader

from rpsbook.training import lr_range_test

from .pipelines import make_model

__all__ = ["END_LR", "lr_variants"]

END_LR = 0.1


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """torch-lr-finder prints, draws a tqdm bar and warns on import; keep all of it local."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        yield


def lr_variants(
    loader: DataLoader, device: torch.device, num_iter: int
) -> tuple[dict[str, Callable[[], None]], dict[str, list[int]]]:
    """One range test per call for each tool, each on its own copy of the chapter's model.

    Both start from Adam's lr 3e-4 and end at :data:`END_LR`; the global RNG is seeded (42)
    before each call so both tools see the same batches. Both restore model and optimizer,
    so every call repeats the same test.

    Returns
    -------
    variants
        ``{"rpsbook": fn, "torch-lr-finder": fn}``.
    iterations
        ``{name: [optimizer steps taken by each call]}`` (torch-lr-finder stops early when
        its loss exceeds 5x the best one).
    """
    with _silenced():
        from torch_lr_finder import LRFinder

    loss_fn = nn.CrossEntropyLoss()
    ours_model, ours_optimizer = make_model(device)
    their_model, their_optimizer = make_model(device)
    iterations: dict[str, list[int]] = {"rpsbook": [], "torch-lr-finder": []}

    def ours() -> None:
        torch.manual_seed(42)
        result = lr_range_test(
            ours_model,
            ours_optimizer,
            loss_fn,
            loader,
            END_LR,
            num_iter=num_iter,
            device=device,
            progress=False,
        )
        iterations["rpsbook"].append(len(result.lr))

    def theirs() -> None:
        torch.manual_seed(42)
        with _silenced():
            finder = LRFinder(their_model, their_optimizer, loss_fn, device=device)
            finder.range_test(loader, end_lr=END_LR, num_iter=num_iter)
            finder.reset()
        iterations["torch-lr-finder"].append(len(finder.history["lr"]))

    return {"rpsbook": ours, "torch-lr-finder": theirs}, iterations
