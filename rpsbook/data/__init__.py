"""Find, download, decode and load the Rock Paper Scissors dataset.

The dataset (Laurence Moroney, CC BY 2.0) comes as two zip archives: ``rps.zip`` (training
set, 2,520 images) and ``rps-test-set.zip`` (372 images, used as the validation set). Each
extracts to a folder with one sub-folder per class: ``paper``, ``rock``, ``scissors``.
rpsbook also ships a 28x28 copy of both splits inside the package (``rpsbook/_data/rps28.npz``,
see its README), which is used when no folder is named, so everything works offline.

Two pipelines produce the same tensors:

* the *naive* one (:func:`image_folder`): torchvision's ``ImageFolder`` decodes and resizes
  every PNG every time an image is requested, as the book does;
* the *preloaded* one (:func:`load_split`, used by :func:`load_rps`): every PNG is decoded once,
  resized, stored as one ``uint8`` tensor and cached on disk, keyed by the files' content
  (the embedded copy needs no decoding: :func:`load_embedded`).

The modules of the package, in the order data flows through them:

* ``errors``: the errors and warnings, each naming the file and the fix;
* ``files``: locks, temporary names and all-at-once folder installs;
* ``layout``: what a dataset folder looks like (splits, classes, scanning);
* ``sources``: which copy to use (:func:`locate`, :func:`find_data`), from
  ``embedded`` (the shipped copy) or ``download``;
* ``decoding``: images decoded as ``ImageFolder`` does, and ``checked_folder``, the
  ``ImageFolder`` subclass (both torchvision, imported when called);
* ``cache``: each split decoded once, cached on disk (:func:`load_split`);
* ``statistics``: the normalizer, in plain torch;
* ``datasets`` and ``loaders``: tensors served in
  mini-batches (:func:`load_rps`);
* ``cli``: ``python -m rpsbook.data {locate,download,extract}``.

torchvision is imported only by what needs it (``image_folder``, ``make_normalizer``,
``load_split``'s decoding and :attr:`RPSData.normalizer`): ``load_rps()`` on the embedded copy
does without it.
"""

from __future__ import annotations

from .._exports import rehome
from .cache import CACHE_DIR_ENV, load_split
from .cli import main
from .datasets import ImageTensorDataset, collate
from .decoding import image_folder
from .download import MIRROR_ENV, SHA256, URLS, download_rps
from .embedded import EMBEDDED_FILE, extract_embedded, load_embedded
from .errors import (
    ChecksumError,
    DataCacheWarning,
    DataNotFoundError,
    DatasetLayoutError,
    ImageDecodeWarning,
    UnsafeArchiveError,
)
from .files import default_cache_dir
from .layout import CLASSES, IMAGE_SIZE, SPLITS
from .loaders import RPSData, load_rps
from .sources import DATA_DIR_ENV, SOURCE_ENV, SOURCES, DataSource, find_data, locate
from .statistics import (
    loader_apply,
    make_normalizer,
    normalize,
    normalizer_statistics,
    statistics_per_channel,
    to_float,
)

__all__ = [
    "CACHE_DIR_ENV",
    "CLASSES",
    "DATA_DIR_ENV",
    "EMBEDDED_FILE",
    "IMAGE_SIZE",
    "MIRROR_ENV",
    "SHA256",
    "SOURCES",
    "SOURCE_ENV",
    "SPLITS",
    "URLS",
    "ChecksumError",
    "DataCacheWarning",
    "DataNotFoundError",
    "DataSource",
    "DatasetLayoutError",
    "ImageDecodeWarning",
    "ImageTensorDataset",
    "RPSData",
    "UnsafeArchiveError",
    "collate",
    "default_cache_dir",
    "download_rps",
    "extract_embedded",
    "find_data",
    "image_folder",
    "load_embedded",
    "load_rps",
    "load_split",
    "loader_apply",
    "locate",
    "main",
    "make_normalizer",
    "normalize",
    "normalizer_statistics",
    "statistics_per_channel",
    "to_float",
]

rehome(__name__, globals(), __all__)
