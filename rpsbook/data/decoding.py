"""Decoding images as ``ImageFolder`` does, and the book's ``ImageFolder`` pipeline.

torchvision is imported by the functions that use it, not by this module: pages that only
serve preloaded tensors never pay for it. The ``ImageFolder`` subclass lives in
``rpsbook.data.checked_folder``, which :func:`image_folder` imports when called.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from .errors import DatasetLayoutError, ImageDecodeWarning
from .layout import IMAGE_SIZE, _split_dir

if TYPE_CHECKING:  # pragma: no cover
    import torchvision.datasets
    import torchvision.transforms.v2
    from PIL import Image

# Modes whose values go beyond 0-255: ``convert("RGB")`` clips them (65535 becomes 255).
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _load_rgb(path: str) -> Image.Image:
    """Decode an image as RGB, like ``ImageFolder``'s loader (the PNGs are RGBA), naming the
    file when it cannot be decoded. Any mode Pillow reads (L, P, LA, I;16, CMYK...) goes
    through the same ``convert("RGB")`` as torchvision's; a 16- or 32-bit one is clipped to
    255 by it, which costs an :class:`ImageDecodeWarning` naming the file."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.mode in _WIDE_MODES:
                warnings.warn(
                    f"{path} has {image.mode!r} pixels (more than 8 bits): converted to RGB as "
                    "ImageFolder does, which clips every value above 255 to 255 instead of "
                    "scaling it. Save the image as 8-bit to keep its contrast.",
                    ImageDecodeWarning,
                    stacklevel=2,
                )
            return image.convert("RGB")
    except Image.DecompressionBombError as exc:
        raise DatasetLayoutError(
            f"cannot decode image {path}: {exc} If you trust the file, raise "
            "PIL.Image.MAX_IMAGE_PIXELS; otherwise remove it from the dataset folder."
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetLayoutError(f"cannot decode image {path}: {exc}") from exc


def _base_transforms() -> list[torchvision.transforms.v2.Transform]:
    from torchvision.transforms import v2

    return [v2.Resize(IMAGE_SIZE), v2.ToImage()]


def _decode(path: str) -> Tensor:
    """One image file as a ``uint8`` tensor ``(3, 28, 28)``, as ``image_folder`` reads it."""
    from torchvision.transforms import v2

    transform = v2.Compose(_base_transforms())
    image = transform(_load_rgb(path))
    if tuple(image.shape) != (3, IMAGE_SIZE, IMAGE_SIZE):
        raise DatasetLayoutError(
            f"{path} is not square: Resize({IMAGE_SIZE}) makes it {tuple(image.shape)}, but a "
            f"preloaded split needs every image 3x{IMAGE_SIZE}x{IMAGE_SIZE}. Crop it to a "
            "square, or use image_folder(...), which decodes each image as ImageFolder does."
        )
    return image


def image_folder(
    root: str | os.PathLike[str],
    split: Literal["train", "val"] = "train",
    normalizer: torchvision.transforms.v2.Normalize | None = None,
) -> torchvision.datasets.ImageFolder:
    """The book's ``ImageFolder`` pipeline: decodes every PNG on every access.

    Transforms: ``Resize(28)``, ``ToImage()``, ``ToDtype(float32, scale=True)`` and, when given,
    ``normalizer``. Without a normalizer this is the chapter's *temporary dataset* used to
    compute the statistics. Items are ``(image (3, 28, 28) float32, label int)``.
    """
    from torchvision.transforms import v2

    from .checked_folder import CheckedImageFolder

    steps = [*_base_transforms(), v2.ToDtype(torch.float32, scale=True)]
    if normalizer is not None:
        steps.append(normalizer)
    return CheckedImageFolder(
        str(_split_dir(root, split)), transform=v2.Compose(steps), loader=_load_rgb
    )
