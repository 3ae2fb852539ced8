"""The errors and warnings of :mod:`rpsbook.data`: each names the file or setting and the fix."""

from __future__ import annotations

__all__ = [
    "ChecksumError",
    "DataCacheWarning",
    "DataNotFoundError",
    "DatasetLayoutError",
    "ImageDecodeWarning",
    "UnsafeArchiveError",
]


class DataNotFoundError(FileNotFoundError):
    """The dataset is not where rpsbook looked and could not be downloaded."""


class DatasetLayoutError(ValueError):
    """A dataset folder is not laid out as ``<split>/<class>/<image>``."""


class ChecksumError(ValueError):
    """A downloaded archive or the embedded copy does not have the expected SHA-256."""


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder."""


class DataCacheWarning(UserWarning):
    """The decoded-tensor cache could not be read or written; rpsbook went on without it."""


class ImageDecodeWarning(UserWarning):
    """An image decoded, but not faithfully (e.g. a 16-bit PNG clipped to 8 bits)."""
