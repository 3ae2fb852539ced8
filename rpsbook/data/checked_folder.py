"""``ImageFolder`` with rpsbook's file list: the class behind :func:`rpsbook.data.image_folder`.

This module imports torchvision; :mod:`rpsbook.data.decoding` imports it only when
:func:`~rpsbook.data.image_folder` is called, so importing :mod:`rpsbook.data` does not
(pages that serve preloaded tensors never pay for torchvision). Unpickling a dataset imports
it by its module name, as for any class.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchvision.datasets import ImageFolder

from .layout import CLASSES, _scan


class CheckedImageFolder(ImageFolder):
    """``ImageFolder`` whose file list comes from ``rpsbook.data.layout._scan``.

    The classes are the dataset's three, in ``ImageFolder`` order, and a file that
    ``ImageFolder`` would silently skip (a stray file, a missing class folder) is an error.
    """

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        return list(CLASSES), {name: i for i, name in enumerate(CLASSES)}

    @staticmethod
    def make_dataset(
        directory: str,
        class_to_idx: dict[str, int],
        extensions: tuple[str, ...] | None = None,
        is_valid_file: Callable[[str], bool] | None = None,
        **kwargs: Any,
    ) -> list[tuple[str, int]]:
        return _scan(Path(directory))
