"""The chapter's convolutional model."""

from __future__ import annotations

import numbers

import torch.nn.functional as F
from torch import Tensor, nn

from ._utils import is_real

__all__ = ["CNN2"]


class CNN2(nn.Module):
    """Two convolutional blocks and a two-layer classifier for 3@28x28 images.

    Shapes: ``(N, 3, 28, 28)`` -> conv1 ``(N, n, 26, 26)`` -> pool ``(N, n, 13, 13)`` ->
    conv2 ``(N, n, 11, 11)`` -> pool ``(N, n, 5, 5)`` -> flatten ``(N, 25 n)`` -> fc1 ``(N, 50)``
    -> fc2 ``(N, 3)`` logits. Dropout (probability ``p``) is applied before each linear layer
    only when ``p > 0``. With ``n_filters=5`` the model has 6,823 parameters.

    Parameters
    ----------
    n_filters
        Channels produced by each convolution.
    p
        Dropout probability in the classifier, ``0 <= p < 1``.
    n_feature
        The book's notebook name for ``n_filters`` (its text calls ``CNN2(n_feature=5, p=0.3)``);
        give one of the two.
    """

    def __init__(
        self, n_filters: int | None = None, p: float = 0.0, *, n_feature: int | None = None
    ) -> None:
        super().__init__()
        if n_filters is not None and n_feature is not None:
            raise ValueError(
                f"CNN2 got n_filters={n_filters} and n_feature={n_feature}: they are the same "
                "argument (n_feature is the book notebook's name); pass only one."
            )
        name = "n_feature" if n_feature is not None else "n_filters"
        n_filters = n_feature if n_feature is not None else 5 if n_filters is None else n_filters
        if not (isinstance(n_filters, numbers.Integral) and not isinstance(n_filters, bool)):
            raise ValueError(f"{name} must be a positive integer, got {n_filters!r}")
        if n_filters < 1:
            raise ValueError(f"{name} must be a positive integer, got {n_filters}")
        if not (is_real(p) and 0.0 <= p < 1.0):
            raise ValueError(f"dropout probability p must be a number in [0, 1), got {p!r}")
        n_filters, p = int(n_filters), float(p)
        self.n_filters = n_filters
        self.p = p
        self.conv1 = nn.Conv2d(3, n_filters, kernel_size=3)
        self.conv2 = nn.Conv2d(n_filters, n_filters, kernel_size=3)
        self.fc1 = nn.Linear(n_filters * 5 * 5, 50)
        self.fc2 = nn.Linear(50, 3)
        # Built only when used, so a p=0 model has no dropout module at all; the book always
        # builds self.drop and only skips calling it when p=0 (the outputs are the same).
        if p > 0:
            self.drop = nn.Dropout(p)

    @property
    def n_feature(self) -> int:
        """The book notebook's name for ``n_filters``."""
        return self.n_filters

    def featurizer(self, x: Tensor) -> Tensor:
        """``(N, 3, 28, 28)`` images -> ``(N, 25 * n_filters)`` features."""
        x = F.max_pool2d(F.relu(self.conv1(x)), kernel_size=2)
        x = F.max_pool2d(F.relu(self.conv2(x)), kernel_size=2)
        return x.flatten(start_dim=1)

    def classifier(self, x: Tensor) -> Tensor:
        """``(N, 25 * n_filters)`` features -> ``(N, 3)`` logits."""
        if self.p > 0:
            x = self.drop(x)
        x = F.relu(self.fc1(x))
        if self.p > 0:
            x = self.drop(x)
        return self.fc2(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, 3, 28, 28)`` -> ``(N, 3)`` logits."""
        return self.classifier(self.featurizer(x))
