"""The decode cache: every image of a split decoded once into one ``uint8`` tensor, on disk.

The cache file is keyed by the files' content (not their size and modification time), the
decoding code and the torchvision/Pillow versions; it is written atomically and checked
(checksum, shape, labels) when read. A cache that cannot be used costs a
:class:`~rpsbook.data.DataCacheWarning`, never the load.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .._utils import file_sha256, installed_version, progress_enabled
from . import decoding
from .datasets import ImageTensorDataset
from .errors import DataCacheWarning
from .files import _temp_path, default_cache_dir, user_path
from .layout import CLASSES, IMAGE_SIZE, SPLITS, _scan, _split_dir

#: Environment variable for the decoded-tensor cache (default: ``<cache>/decoded``).
CACHE_DIR_ENV = "RPSBOOK_CACHE_DIR"
# Bump when the decoded tensors would change for the same files (decoding, resizing, layout).
_CACHE_FORMAT = 2


def _cache_key(split_dir: Path, samples: list[tuple[str, int]]) -> str:
    """Changes whenever a file's bytes, the decoding code or the decoder's versions change.

    Hashing the files' content (not their size and modification time) means a file replaced
    by another of the same size and time, or a copy with reset times, is never confused with
    the one that was decoded; reading the PNGs costs a small fraction of decoding them. The
    decoding code is the source of :mod:`rpsbook.data.decoding` and the versions are the
    installed distributions': a cache hit must not import torchvision (with it
    ``torch._dynamo``, ~1.1 s), which only decoding needs.
    """
    digest = hashlib.sha256()
    header = (
        _CACHE_FORMAT,
        IMAGE_SIZE,
        file_sha256(decoding.__file__),
        installed_version("torchvision"),
        installed_version("pillow"),
    )
    digest.update(repr(header).encode())
    for path, label in samples:
        # The name as the file system's bytes: a name that is not valid UTF-8 (an undecodable
        # byte kept as a surrogate) cannot be str.encode()d, but is a valid file all the same.
        rel = os.fsencode(os.path.relpath(path, split_dir))
        digest.update(rel + f"\0{label}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()[:20]


def _tensor_digest(images: Tensor, targets: Tensor) -> str:
    digest = hashlib.sha256(images.numpy().tobytes())
    digest.update(targets.numpy().tobytes())
    return digest.hexdigest()


def _read_cache(cache_file: Path, key: str, targets: Tensor) -> ImageTensorDataset | None:
    """The cached split, or ``None`` (after warning and deleting it) when it does not check out."""
    try:
        stored = torch.load(cache_file, weights_only=True)
        images = stored["images"]
        ok = (
            stored["format"] == _CACHE_FORMAT
            and stored["key"] == key
            and images.dtype == torch.uint8
            and tuple(images.shape) == (len(targets), 3, IMAGE_SIZE, IMAGE_SIZE)
            and torch.equal(stored["targets"], targets)
            and stored["sha256"] == _tensor_digest(images, stored["targets"])
        )
        problem = "its content does not match its checksum or its key"
    except Exception as exc:  # torch.load raises many types on damaged files
        ok, problem = False, f"{type(exc).__name__}: {exc}"
    if ok:
        return ImageTensorDataset(images, targets, CLASSES)
    warnings.warn(
        f"decoded-tensor cache {cache_file} is damaged ({problem}); decoding the images again",
        DataCacheWarning,
        stacklevel=3,
    )
    with suppress(OSError):  # a read-only cache: the new result cannot replace it either
        cache_file.unlink(missing_ok=True)
    return None


def _write_cache(cache_file: Path, images: Tensor, targets: Tensor) -> None:
    """Store the split atomically; a folder that cannot be written only costs a warning."""
    tmp = None
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_path(cache_file.parent, cache_file.name)
        payload = {
            "format": _CACHE_FORMAT,
            "key": cache_file.stem.rsplit("-", 1)[-1],
            "images": images,
            "targets": targets,
            "sha256": _tensor_digest(images, targets),
        }
        with open(tmp, "xb") as handle:  # opened normally: the umask applies (mkstemp: 0600)
            torch.save(payload, handle)
        os.replace(tmp, cache_file)
    except OSError as exc:
        warnings.warn(
            f"could not write the decoded-tensor cache in {cache_file.parent} ({exc}); going on "
            f"without it. Set ${CACHE_DIR_ENV} to a writable folder, or pass cache_dir=False.",
            DataCacheWarning,
            stacklevel=3,
        )
    finally:
        if tmp is not None:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)


def _cache_folder(cache_dir: Any) -> Path | None:
    if cache_dir is False:
        return None
    if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
        raise TypeError(
            f"cache_dir must be a folder, None (the default cache) or False (no cache), "
            f"got {cache_dir!r}"
        )
    return user_path(cache_dir or os.environ.get(CACHE_DIR_ENV) or default_cache_dir() / "decoded")


def load_split(
    root: str | os.PathLike[str],
    split: Literal["train", "val"] = "train",
    *,
    cache_dir: str | os.PathLike[str] | Literal[False] | None = None,
    progress: bool | None = None,
) -> ImageTensorDataset:
    """Decode every image of a split once into a ``uint8`` tensor ``(N, 3, 28, 28)``.

    The tensor is cached in ``cache_dir`` (default ``$RPSBOOK_CACHE_DIR`` or
    ``<user cache>/decoded``) under a key built from each file's path, label and content
    (SHA-256) and from the decoding code and the installed torchvision/Pillow versions, so a
    changed file or decoder invalidates it. A damaged cache file is detected (checksum, shape,
    labels) and rebuilt; a cache folder that cannot be written costs a
    :class:`DataCacheWarning`, not the load. ``cache_dir=False`` disables the disk cache.
    Decoding runs in a thread pool.
    """
    split_dir = _split_dir(root, split)
    samples = _scan(split_dir)
    targets = torch.tensor([label for _, label in samples], dtype=torch.int64)
    folder = _cache_folder(cache_dir)
    cache_file = None
    if folder is not None:
        cache_file = folder / f"{SPLITS[split]}-{_cache_key(split_dir, samples)}.pt"
        if cache_file.is_file():
            cached = _read_cache(cache_file, cache_file.stem.rsplit("-", 1)[-1], targets)
            if cached is not None:
                return cached
    paths = [path for path, _ in samples]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        decoded = list(
            tqdm(
                pool.map(decoding._decode, paths),
                total=len(paths),
                desc=f"decoding {SPLITS[split]}",
                disable=not progress_enabled(progress),
            )
        )
    images = torch.stack(decoded)
    if cache_file is not None:
        _write_cache(cache_file, images, targets)
    return ImageTensorDataset(images, targets, CLASSES)
