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
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import operator
import os
import shutil
import stat
import sys
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import PIL
import torch
import torchvision
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, default_collate
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2
from tqdm.auto import tqdm

from ._utils import progress_enabled

__all__ = [
    "CLASSES",
    "DATA_DIR_ENV",
    "EMBEDDED_FILE",
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
    "make_normalizer",
    "statistics_per_channel",
]

#: Environment variable naming a folder that holds ``rps/`` and ``rps-test-set/``.
DATA_DIR_ENV = "RPSBOOK_DATA_DIR"
#: Environment variable choosing the source when no folder is named: ``embedded`` (default)
#: or ``download`` (the full-size originals, downloaded into the user cache on first use).
SOURCE_ENV = "RPSBOOK_DATA"
#: The sources :func:`locate` accepts besides a folder.
SOURCES: tuple[str, ...] = ("embedded", "download")
#: Environment variable replacing the base URL of both archives (a mirror).
MIRROR_ENV = "RPSBOOK_MIRROR"
#: Environment variable for the decoded-tensor cache (default: ``<cache>/decoded``).
CACHE_DIR_ENV = "RPSBOOK_CACHE_DIR"

_BASE_URL = "https://storage.googleapis.com/download.tensorflow.org/data/"
#: Folder name of each split, as the archives extract it.
SPLITS: dict[str, str] = {"train": "rps", "val": "rps-test-set"}
#: Where each split's archive is published.
URLS: dict[str, str] = {folder: f"{_BASE_URL}{folder}.zip" for folder in SPLITS.values()}
#: SHA-256 of each published archive (the same values TensorFlow Datasets records).
SHA256: dict[str, str] = {
    "rps": "c2403444395842ad04c53612bad54b574443eae17a0723117a2ff87b9d72194f",
    "rps-test-set": "c27ab9fa43ce40b2e453de711365b477f4424586edf0388116674fd320f07503",
}
#: Class names in ``ImageFolder`` order (sorted folder names): paper=0, rock=1, scissors=2.
CLASSES: tuple[str, ...] = ("paper", "rock", "scissors")
IMAGE_SIZE = 28
#: The 28x28 copy shipped with rpsbook; its SHA-256 sits beside it in ``rps28.sha256``.
EMBEDDED_FILE = Path(__file__).with_name("_data") / "rps28.npz"
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
_MARKER = ".rpsbook-complete"
_LOCK = ".rpsbook.lock"
# Every temporary file or folder rpsbook creates starts with this, so leftovers of a killed
# run can be recognised (and removed under the lock) by the next one.
_TMP_PREFIX = ".rpsbook-tmp-"
# Bump when the decoded tensors would change for the same files (decoding, resizing, layout).
_CACHE_FORMAT = 2
_REBUILD_HINT = (
    "Reinstall rpsbook (pip install --force-reinstall --no-deps rpsbook) or, in a clone, "
    "rebuild it with `python tools/pack_dataset.py` (see rpsbook/_data/README.md)."
)


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


# --------------------------------------------------------------------------- small helpers


def _positive_int(value: Any, name: str) -> int:
    """``value`` as a Python int (numpy integers accepted), or a ``TypeError``/``ValueError``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a positive integer, got {value!r} ({type(value).__name__}); "
            f"pass e.g. {name}=16"
        ) from None
    if number <= 0:
        raise ValueError(f"{name} must be a positive integer, got {number}")
    return number


def _check_device(device: str | torch.device | None) -> torch.device | None:
    """``device`` as a ``torch.device`` that can hold tensors here, or a ``ValueError``."""
    if device is None:
        return None
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a device ({exc}); pass 'cpu', 'cuda', 'cuda:1', 'mps', "
            "a torch.device, or None"
        ) from None
    try:
        torch.empty(0, device=resolved)
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(
            f"device={device!r} cannot be used on this machine ({exc}); pass device=None "
            "(CPU tensors) or a device that torch reports as available"
        ) from None
    return resolved


def _temp_path(folder: Path, label: str) -> Path:
    """A fresh name in ``folder`` for a temporary file or folder (unique across processes)."""
    return folder / f"{_TMP_PREFIX}{label}-{os.getpid()}-{os.urandom(6).hex()}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (other processes wait), released even when killed.

    Inside the lock nobody else writes into ``folder``, so every temporary entry found there
    is a leftover of an interrupted run and is removed.
    """
    with open(folder / _LOCK, "a+b") as handle:  # opened normally: the umask applies
        if os.name == "nt":  # pragma: no cover - exercised on Windows only
            import msvcrt

            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            for leftover in folder.glob(f"{_TMP_PREFIX}*"):
                _remove(leftover)
            yield
        finally:
            if os.name == "nt":  # pragma: no cover
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
            else:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _visible_files(folder: Path) -> list[Path]:
    """Files below ``folder``, skipping hidden entries (``.DS_Store``, markers) at any depth."""
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]


def _is_complete(split_dir: Path, origin: str | None = None) -> bool:
    """Whether ``split_dir`` was written completely (and, if ``origin`` is given, from it)."""
    marker = split_dir / _MARKER
    if not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text())
        expected = recorded["files"]
    except (ValueError, KeyError, TypeError):
        return False
    if origin is not None and recorded.get("origin") != origin:
        return False
    return len(_visible_files(split_dir)) == expected


def _install_split(
    root: Path, folder: str, fill: Callable[[Path], None], origin: str | None = None
) -> None:
    """Create ``root/folder`` all at once: ``fill(tmp)`` writes ``tmp/folder``, then a rename.

    The caller holds :func:`_locked` on ``root``. An incomplete earlier ``root/folder`` is set
    aside and removed only after the new one is complete.
    """
    tmp = _temp_path(root, folder)
    tmp.mkdir()  # mkdir, not mkdtemp: the umask applies (mkdtemp makes it 0700)
    try:
        fill(tmp)
        built = tmp / folder
        if not built.is_dir():
            raise DatasetLayoutError(
                f"expected a top-level folder {folder}/; "
                f"found {sorted(p.name for p in tmp.iterdir())}."
            )
        record = {"files": len(_visible_files(built)), "origin": origin}
        (built / _MARKER).write_text(json.dumps(record))
        target = root / folder
        if target.exists():
            stale = _temp_path(root, f"{folder}-stale")
            target.rename(stale)
            _remove(stale)
        built.rename(target)
    finally:
        _remove(tmp)


# --------------------------------------------------------------------------- locating


def default_cache_dir() -> Path:
    """Per-user cache folder: ``$XDG_CACHE_HOME/rpsbook`` or ``~/.cache/rpsbook``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rpsbook"


def _layout_problems(root: Path) -> list[str]:
    """What is missing from ``root`` for it to hold both splits (empty list: nothing)."""
    problems = []
    for folder in SPLITS.values():
        split_dir = root / folder
        if not split_dir.is_dir():
            problems.append(f"no folder {split_dir}")
            continue
        for name in CLASSES:
            class_dir = split_dir / name
            if not class_dir.is_dir() or not any(class_dir.iterdir()):
                problems.append(f"no images in {class_dir}")
    return problems


@dataclass(frozen=True)
class DataSource:
    """Where the images come from, as :func:`locate` decided.

    ``kind`` is ``"folder"`` (a folder you named), ``"embedded"`` (the 28x28 copy inside the
    package; ``path`` is its ``.npz`` file) or ``"download"`` (the full-size originals in the
    user cache; ``path`` is that folder, which may not hold them yet). ``reason`` says which
    setting chose it.
    """

    kind: Literal["folder", "embedded", "download"]
    path: Path
    reason: str

    def describe(self) -> str:
        if self.kind == "embedded":
            return f"the 28x28 copy shipped with rpsbook ({self.reason})"
        if self.kind == "download":
            state = "downloaded" if not _layout_problems(self.path) else "downloaded on first use"
            return f"the full-size originals, {state} into this folder ({self.reason})"
        return f"the folder from {self.reason}"


def locate(root: str | os.PathLike[str] | None = None, *, source: str | None = None) -> DataSource:
    """Decide where the images come from, without downloading or writing anything.

    In order: ``root`` (a folder holding ``rps/`` and ``rps-test-set/``), ``source``
    (``"embedded"`` or ``"download"``), ``$RPSBOOK_DATA_DIR`` (a folder), ``$RPSBOOK_DATA``
    (``embedded`` or ``download``), and otherwise the embedded 28x28 copy.

    Raises
    ------
    DataNotFoundError
        When a named folder does not hold both splits (naming what is missing and the fix).
    ValueError
        When both ``root`` and ``source`` are given, or a source name is unknown.
    """
    if root is not None and source is not None:
        raise ValueError("pass either root=... (a folder) or source=..., not both")
    if root is not None:
        return _folder_source(Path(root).expanduser(), "the root argument")
    if source is None and os.environ.get(DATA_DIR_ENV):
        return _folder_source(Path(os.environ[DATA_DIR_ENV]).expanduser(), f"${DATA_DIR_ENV}")
    reason = "the source argument"
    if source is None:
        source, reason = os.environ.get(SOURCE_ENV) or "embedded", f"${SOURCE_ENV}"
        if SOURCE_ENV not in os.environ or not os.environ[SOURCE_ENV]:
            reason = f"the default: neither ${DATA_DIR_ENV} nor ${SOURCE_ENV} is set"
    if source == "embedded":
        return DataSource("embedded", EMBEDDED_FILE, reason)
    if source == "download":
        return DataSource("download", default_cache_dir(), reason)
    raise ValueError(
        f"unknown data source {source!r} (from {reason}); use one of {list(SOURCES)}, "
        f"or name a folder with root=... / ${DATA_DIR_ENV}"
    )


def _folder_source(path: Path, reason: str) -> DataSource:
    problems = _layout_problems(path)
    if problems:
        raise DataNotFoundError(
            f"{path} (from {reason}) does not hold the dataset: "
            + "; ".join(problems)
            + f".\nFix: point {reason} at a folder that holds rps/ and rps-test-set/ (each with "
            f"paper/, rock/ and scissors/), or unset it to use the copy shipped with rpsbook "
            f"(or {SOURCE_ENV}=download for the full-size originals)."
        )
    return DataSource("folder", path, reason)


def find_data(
    root: str | os.PathLike[str] | None = None,
    *,
    source: str | None = None,
    download: bool = True,
    progress: bool | None = None,
) -> Path:
    """Return a folder that holds ``rps/`` and ``rps-test-set/`` as image files.

    The source is chosen by :func:`locate`. A folder you named is returned as is. The
    embedded 28x28 copy is written out once as PNGs into ``<user cache>/rps28`` (atomically;
    concurrent callers wait for each other), so that :func:`image_folder` can read it. The
    full-size originals are downloaded into the user cache on first use (``download=True``).

    Raises
    ------
    DataNotFoundError
        Naming the place that was looked at, why it was rejected, and how to fix it.
    """
    found = locate(root, source=source)
    if found.kind == "folder":
        return found.path
    if found.kind == "embedded":
        target = default_cache_dir() / "rps28"
        try:
            return extract_embedded(target, progress=progress)
        except OSError as exc:
            raise DataNotFoundError(
                f"could not write the embedded 28x28 copy as PNGs into {target}: {exc}.\n"
                f"Fix: make it writable, set XDG_CACHE_HOME to a writable folder, or call "
                f"rpsbook.data.extract_embedded(folder) and pass root=folder."
            ) from exc
    if not _layout_problems(found.path):
        return found.path
    why = "; ".join(_layout_problems(found.path))
    if download:
        try:
            return download_rps(found.path, progress=progress)
        except (OSError, ValueError) as exc:
            why = f"download failed: {exc}"
    raise DataNotFoundError(
        f"Could not find the full-size Rock Paper Scissors dataset (from {found.reason}). "
        f"Looked at:\n  - {found.path} (default cache): {why}\n"
        f"Fix: set {DATA_DIR_ENV} to a folder that holds rps/ and rps-test-set/ "
        "(each with paper/, rock/ and scissors/), pass root=..., allow the download "
        f"of {URLS['rps']} and {URLS['rps-test-set']}, or unset {SOURCE_ENV} to use the "
        "28x28 copy shipped with rpsbook."
    )


# --------------------------------------------------------------------------- embedded copy


def _read_embedded() -> dict[str, Any]:
    """The arrays of the embedded copy, after checking the file's SHA-256."""
    import numpy as np

    checksum_file = EMBEDDED_FILE.with_suffix(".sha256")
    try:
        payload = EMBEDDED_FILE.read_bytes()
        expected = checksum_file.read_text().split()[0]
    except (OSError, IndexError) as exc:
        raise DataNotFoundError(
            f"the embedded dataset {EMBEDDED_FILE} or its checksum {checksum_file.name} is "
            f"missing or unreadable ({exc}). {_REBUILD_HINT}"
        ) from exc
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise ChecksumError(
            f"the embedded dataset {EMBEDDED_FILE} has SHA-256 {actual}, but "
            f"{checksum_file.name} records {expected}: the file is damaged or was replaced. "
            + _REBUILD_HINT
        )
    with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def load_embedded(split: Literal["train", "val"] = "train") -> ImageTensorDataset:
    """The embedded 28x28 copy of a split as ``uint8`` images ``(N, 3, 28, 28)``.

    The pixels are exactly what :func:`load_split` decodes from the copy's PNGs (RGBA
    converted to RGB, as :func:`image_folder` does), in ``ImageFolder`` order.
    """
    folder = _split_folder(split)
    arrays = _read_embedded()
    index = (arrays["split"] == list(SPLITS.values()).index(folder)).nonzero()[0]
    images = torch.from_numpy(arrays["images"][index]).permute(0, 3, 1, 2).contiguous()
    targets = torch.from_numpy(arrays["targets"][index].astype("int64"))
    return ImageTensorDataset(images, targets, [str(c) for c in arrays["classes"]])


def extract_embedded(root: str | os.PathLike[str], *, progress: bool | None = None) -> Path:
    """Write the embedded copy as ``root/rps/<class>/<file>.png`` (and ``rps-test-set/``).

    Done once: a complete split written from this same array (its recorded SHA-256) is left
    alone; one written from another version of the array is replaced. Each split is written
    into a temporary folder and renamed into place under a lock, so concurrent or interrupted
    calls never leave a half-written split. The PNGs are RGB; they decode to exactly the
    embedded pixels.
    """
    root = Path(root).expanduser()
    try:
        origin = EMBEDDED_FILE.with_suffix(".sha256").read_text().split()[0]
    except (OSError, IndexError):
        origin = None  # _read_embedded below explains what is missing
    if origin and all(_is_complete(root / folder, origin) for folder in SPLITS.values()):
        return root
    arrays = _read_embedded()
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        for code, folder in enumerate(SPLITS.values()):
            if _is_complete(root / folder, origin):
                continue

            def fill(tmp: Path, code: int = code) -> None:
                index = (arrays["split"] == code).nonzero()[0]
                for i in tqdm(
                    index, desc=f"writing {tmp.name}", disable=not progress_enabled(progress)
                ):
                    path = tmp / str(arrays["files"][i])
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(arrays["images"][i], mode="RGB").save(path, format="PNG")

            _install_split(root, folder, fill, origin)
    return root


# --------------------------------------------------------------------------- downloading


def _urls_from_env() -> dict[str, str]:
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return dict(URLS)
    return {folder: f"{mirror.rstrip('/')}/{folder}.zip" for folder in URLS}


def _fetch(url: str, dest: Path, expected_sha256: str, progress: bool | None) -> None:
    """Stream ``url`` into the new file ``dest`` and check its SHA-256."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=60) as response, dest.open("xb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=PurePosixPath(url).name,
            disable=not progress_enabled(progress),
        ) as bar:
            while chunk := response.read1(1 << 20):  # what has arrived, up to 1 MiB
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    actual = digest.hexdigest()
    if actual != expected_sha256:
        raise ChecksumError(
            f"{url} has SHA-256 {actual}, expected {expected_sha256}. The download is "
            "corrupt or the mirror serves another file; nothing was kept. Try again, or "
            "pass sha256=... if you intentionally use a different archive."
        )


def _check_members(archive: zipfile.ZipFile, archive_name: str) -> None:
    """Refuse absolute paths, ``..`` components and symlinks before anything is written."""
    for info in archive.infolist():
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        is_link = stat.S_ISLNK(info.external_attr >> 16)
        if name.startswith(("/", "\\")) or (parts and ":" in parts[0]) or ".." in parts or is_link:
            kind = "a symbolic link" if is_link else "a path outside the target folder"
            raise UnsafeArchiveError(
                f"{archive_name}: member {name!r} is {kind}; refusing to extract anything. "
                "Use the official archive or a trusted mirror."
            )


def _extract_split(zip_path: Path, root: Path, folder: str, archive_name: str) -> None:
    """Extract ``folder/`` from ``zip_path`` into ``root`` atomically (temp dir, then rename)."""

    def fill(tmp: Path) -> None:
        with zipfile.ZipFile(zip_path) as archive:
            _check_members(archive, archive_name)
            archive.extractall(tmp)

    try:
        _install_split(root, folder, fill)
    except DatasetLayoutError as exc:
        raise DatasetLayoutError(f"{archive_name}: {exc}") from None


def download_rps(
    localfolder: str | os.PathLike[str] = "",
    *,
    urls: Mapping[str, str] | None = None,
    sha256: Mapping[str, str] | None = None,
    progress: bool | None = None,
) -> Path:
    """Download and extract both archives into ``localfolder``; return that folder.

    The book's signature: without an argument the archives go into the current folder
    (``rps/`` and ``rps-test-set/`` appear next to your notebook).

    Idempotent and safe to run from several processes at once: a split extracted completely
    by an earlier call is reused (hidden files such as ``.DS_Store`` do not count); a split
    folder without rpsbook's completeness marker, or with files missing, is downloaded again.
    Writers take a lock on the folder; each archive streams into a uniquely named temporary
    file, is checked against its SHA-256, and is extracted into a temporary folder that is
    renamed into place, so an interrupted call never leaves a half-written split behind, and
    its leftovers are removed by the next call.

    Parameters
    ----------
    localfolder
        Folder to create ``rps/`` and ``rps-test-set/`` in (default: the current folder).
    urls, sha256
        Per-folder overrides (keys ``"rps"`` and ``"rps-test-set"``). By default the
        published URLs (or ``$RPSBOOK_MIRROR/<folder>.zip``) and their known checksums.
    """
    root = Path(localfolder).expanduser()
    if all(_is_complete(root / folder) for folder in SPLITS.values()):
        return root  # nothing to write: also works in a read-only folder
    root.mkdir(parents=True, exist_ok=True)
    urls = {**_urls_from_env(), **(urls or {})}
    checksums = {**SHA256, **(sha256 or {})}
    with _locked(root):
        for folder in SPLITS.values():
            if _is_complete(root / folder):
                continue  # also when another process completed it while we waited
            part = _temp_path(root, f"{folder}.zip")
            try:
                _fetch(urls[folder], part, checksums[folder], progress)
                _extract_split(part, root, folder, PurePosixPath(urls[folder]).name)
            except urllib.error.URLError as exc:
                raise OSError(f"could not download {urls[folder]}: {exc.reason}") from exc
            except zipfile.BadZipFile as exc:
                raise DatasetLayoutError(
                    f"{urls[folder]} is not a valid zip archive: {exc}"
                ) from exc
            finally:
                part.unlink(missing_ok=True)
    return root


# --------------------------------------------------------------------------- scanning


def _split_folder(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    return SPLITS[split]


def _split_dir(root: str | os.PathLike[str], split: str) -> Path:
    path = Path(root).expanduser() / _split_folder(split)
    if not path.is_dir():
        raise DatasetLayoutError(
            f"missing split folder {path}: the data folder must hold {SPLITS[split]}/ "
            f"(see rpsbook.data.find_data / ${DATA_DIR_ENV})."
        )
    return path


def _scan(split_dir: Path) -> list[tuple[str, int]]:
    """``(path, class index)`` of every image, in ImageFolder order, validating the layout.

    Hidden files (such as ``.DS_Store`` or rpsbook's marker) are ignored; anything else that
    is not an image raises instead of being skipped.
    """
    found = sorted(
        p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    if tuple(found) != CLASSES:
        raise DatasetLayoutError(
            f"{split_dir} has class folders {found}, expected {list(CLASSES)}: "
            "point rpsbook at the original layout."
        )
    samples = []
    for index, name in enumerate(CLASSES):
        files = sorted(p for p in (split_dir / name).iterdir() if not p.name.startswith("."))
        if not files:
            raise DatasetLayoutError(f"class folder {split_dir / name} holds no images.")
        for path in files:
            if path.suffix.lower() not in _IMAGE_SUFFIXES or not path.is_file():
                raise DatasetLayoutError(
                    f"{path} is not an image file ({', '.join(sorted(_IMAGE_SUFFIXES))}); "
                    "remove it from the dataset folder."
                )
            samples.append((str(path), index))
    return samples


def _load_rgb(path: str) -> Image.Image:
    """Decode an image as RGB, like ``ImageFolder``'s loader (the PNGs are RGBA), naming the
    file when it cannot be decoded. Any mode Pillow reads (L, P, LA, I;16, CMYK...) goes
    through the same ``convert("RGB")`` as torchvision's."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetLayoutError(f"cannot decode image {path}: {exc}") from exc


def _base_transforms() -> list[v2.Transform]:
    return [v2.Resize(IMAGE_SIZE), v2.ToImage()]


class _CheckedImageFolder(ImageFolder):
    """``ImageFolder`` whose file list comes from :func:`_scan` (nothing silently skipped)."""

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        return list(CLASSES), {name: i for i, name in enumerate(CLASSES)}

    @staticmethod
    def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None, **kwargs):
        return _scan(Path(directory))


def image_folder(
    root: str | os.PathLike[str],
    split: Literal["train", "val"] = "train",
    normalizer: v2.Normalize | None = None,
) -> ImageFolder:
    """The book's ``ImageFolder`` pipeline: decodes every PNG on every access.

    Transforms: ``Resize(28)``, ``ToImage()``, ``ToDtype(float32, scale=True)`` and, when given,
    ``normalizer``. Without a normalizer this is the chapter's *temporary dataset* used to
    compute the statistics. Items are ``(image (3, 28, 28) float32, label int)``.
    """
    steps = [*_base_transforms(), v2.ToDtype(torch.float32, scale=True)]
    if normalizer is not None:
        steps.append(normalizer)
    return _CheckedImageFolder(
        str(_split_dir(root, split)), transform=v2.Compose(steps), loader=_load_rgb
    )


# --------------------------------------------------------------------------- statistics


def statistics_per_channel(images: Tensor, labels: Tensor | None = None) -> Tensor:
    """Per-channel sums over a batch, to be added up over a loader.

    Parameters
    ----------
    images
        ``(N, C, H, W)`` float tensor.
    labels
        Ignored; accepted so the function can be given to :func:`loader_apply`.

    Returns
    -------
    Tensor
        ``(3, C)``: row 0 the number of images, row 1 the sum of per-image channel means,
        row 2 the sum of per-image channel standard deviations (unbiased).
    """
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor (N, C, H, W), got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(
            f"images must be floating point, got {images.dtype}: convert uint8 images with "
            "torchvision.transforms.v2.ToDtype(torch.float32, scale=True) first"
        )
    n_samples, n_channels = images.shape[:2]
    flat = images.reshape(n_samples, n_channels, -1)
    sum_means = flat.mean(dim=2).sum(dim=0)
    sum_stds = flat.std(dim=2).sum(dim=0)
    counts = torch.full(
        (n_channels,), float(n_samples), dtype=sum_means.dtype, device=images.device
    )
    return torch.stack([counts, sum_means, sum_stds])


def loader_apply(
    loader: DataLoader, func: Callable[[Tensor, Tensor], Tensor], reduce: str = "sum"
) -> Tensor:
    """Apply ``func(x, y)`` to every mini-batch and reduce the stacked results over batches.

    ``reduce`` is ``"sum"`` or ``"mean"``; the result has the shape of one ``func`` output.
    """
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    results = [func(x, y) for x, y in loader]
    if not results:
        raise ValueError("loader yielded no batches: its dataset is empty")
    results = torch.stack(results)
    return results.sum(dim=0) if reduce == "sum" else results.float().mean(dim=0)


def make_normalizer(loader: DataLoader) -> v2.Normalize:
    """``Normalize`` with the mean of per-image means and the mean of per-image stds.

    Always compute it on the training set. Note that the std is the *average per-image*
    standard deviation, not the pooled standard deviation of all pixels.
    """
    total = loader_apply(loader, statistics_per_channel)
    n, sum_means, sum_stds = total
    return v2.Normalize(mean=(sum_means / n).tolist(), std=(sum_stds / n).tolist())


# --------------------------------------------------------------------------- preloading


class _GatheredBatch(list):
    """The samples of one mini-batch, plus the stacked tensors they are views of.

    It is a list of ``(image, label)`` pairs, so ``default_collate`` accepts it; :func:`collate`
    returns the stacked tensors directly instead of stacking the pairs a second time.
    """

    def __init__(self, images: Tensor, targets: Tensor) -> None:
        super().__init__(zip(images.unbind(0), targets.unbind(0), strict=True))
        self.images = images
        self.targets = targets


def collate(batch: Sequence[Any]) -> Any:
    """``collate_fn`` for :class:`ImageTensorDataset` loaders: uses the gathered batch as is.

    Any other batch goes to :func:`torch.utils.data.default_collate`, so the function is safe
    for any dataset.
    """
    if isinstance(batch, _GatheredBatch):
        return [batch.images, batch.targets]
    return default_collate(batch)


class _CollateTo:
    """:func:`collate`, then the batch moved to ``device`` (a class so workers can pickle it)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __call__(self, batch: Sequence[Any]) -> list[Tensor]:
        return [tensor.to(self.device) for tensor in collate(batch)]


class ImageTensorDataset(Dataset):
    """Images already decoded into one tensor.

    Parameters
    ----------
    images
        ``(N, 3, H, W)`` tensor (``uint8`` as decoded, or float after normalization), N > 0.
    targets
        ``(N,)`` integer class indices.
    classes
        Class names, indexed by target.
    """

    def __init__(self, images: Tensor, targets: Tensor, classes: Sequence[str]) -> None:
        if not isinstance(images, Tensor) or not isinstance(targets, Tensor):
            raise TypeError(
                "images and targets must be torch.Tensors, got "
                f"{type(images).__name__} and {type(targets).__name__}; wrap arrays with "
                "torch.as_tensor(...)"
            )
        if images.ndim != 4 or targets.ndim != 1 or images.shape[0] != targets.shape[0]:
            raise ValueError(
                f"images must be (N, C, H, W) and targets (N,); got {tuple(images.shape)} "
                f"and {tuple(targets.shape)}"
            )
        if images.shape[0] == 0:
            raise ValueError("images is empty: an ImageTensorDataset needs at least one image")
        if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
            raise TypeError(
                f"targets must hold integer class indices, got {targets.dtype}; "
                "pass targets.long()"
            )
        self.images = images
        self.targets = targets
        self.classes = list(classes)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.targets[index]

    def __getitems__(self, indices: Sequence[int]) -> _GatheredBatch:
        """A whole mini-batch gathered at once (``DataLoader`` passes a batch of indices)."""
        index = torch.as_tensor(indices, device=self.images.device)
        # Tensor indexing, not index_select: the latter measured ~50x slower on CPU here.
        return _GatheredBatch(self.images[index], self.targets[index.to(self.targets.device)])

    def to(self, device: str | torch.device) -> ImageTensorDataset:
        """A copy whose tensors live on ``device``."""
        return ImageTensorDataset(self.images.to(device), self.targets.to(device), self.classes)

    def map_images(self, transform: Callable[[Tensor], Tensor]) -> ImageTensorDataset:
        """A new dataset with ``transform`` applied to the whole ``(N, C, H, W)`` tensor once."""
        return ImageTensorDataset(transform(self.images), self.targets, self.classes)


def _cache_key(split_dir: Path, samples: list[tuple[str, int]]) -> str:
    """Changes whenever a file's bytes, the resizing code or the decoder changes.

    Hashing the files' content (not their size and modification time) means a file replaced
    by another of the same size and time, or a copy with reset times, is never confused with
    the one that was decoded; reading the PNGs costs a small fraction of decoding them.
    """
    digest = hashlib.sha256()
    header = (
        _CACHE_FORMAT,
        IMAGE_SIZE,
        repr(_base_transforms()),
        torchvision.__version__,
        PIL.__version__,
    )
    digest.update(repr(header).encode())
    for path, label in samples:
        rel = os.path.relpath(path, split_dir)
        with open(path, "rb") as handle:
            content = hashlib.file_digest(handle, "sha256").hexdigest()
        digest.update(f"{rel}\0{label}\0{content}\n".encode())
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


def _decode(path: str) -> Tensor:
    transform = v2.Compose(_base_transforms())
    image = transform(_load_rgb(path))
    if tuple(image.shape) != (3, IMAGE_SIZE, IMAGE_SIZE):
        raise DatasetLayoutError(
            f"{path} is not square: Resize({IMAGE_SIZE}) makes it {tuple(image.shape)}, but a "
            f"preloaded split needs every image 3x{IMAGE_SIZE}x{IMAGE_SIZE}. Crop it to a "
            "square, or use image_folder(...), which decodes each image as ImageFolder does."
        )
    return image


def _cache_folder(cache_dir: Any) -> Path | None:
    if cache_dir is False:
        return None
    if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
        raise TypeError(
            f"cache_dir must be a folder, None (the default cache) or False (no cache), "
            f"got {cache_dir!r}"
        )
    return Path(cache_dir or os.environ.get(CACHE_DIR_ENV) or default_cache_dir() / "decoded")


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
    (SHA-256) and from the transforms and torchvision/Pillow versions, so a changed file or
    decoder invalidates it. A damaged cache file is detected (checksum, shape, labels) and
    rebuilt; a cache folder that cannot be written costs a :class:`DataCacheWarning`, not the
    load. ``cache_dir=False`` disables the disk cache. Decoding runs in a thread pool.
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
                pool.map(_decode, paths),
                total=len(paths),
                desc=f"decoding {SPLITS[split]}",
                disable=not progress_enabled(progress),
            )
        )
    images = torch.stack(decoded)
    if cache_file is not None:
        _write_cache(cache_file, images, targets)
    return ImageTensorDataset(images, targets, CLASSES)


# --------------------------------------------------------------------------- loaders


@dataclass
class RPSData:
    """Everything the chapter's training needs: normalized datasets, loaders, normalizer."""

    train_dataset: Dataset
    val_dataset: Dataset
    train_loader: DataLoader
    val_loader: DataLoader
    normalizer: v2.Normalize
    classes: list[str]


def load_rps(
    root: str | os.PathLike[str] | None = None,
    *,
    source: str | None = None,
    batch_size: int = 16,
    preload: bool = True,
    device: str | torch.device | None = None,
    generator: torch.Generator | None = None,
    cache_dir: str | os.PathLike[str] | Literal[False] | None = None,
    progress: bool | None = None,
) -> RPSData:
    """Normalized training/validation datasets and loaders, as in the chapter.

    The normalizer is computed on the training set only (:func:`make_normalizer` over the
    un-normalized images, batches of 16, no shuffling). The training loader shuffles; with
    ``generator=None`` it draws from torch's global RNG, which
    :meth:`rpsbook.trainer.StepByStep.train` seeds, reproducing the book's runs; pass a
    ``torch.Generator`` for an independent stream (the trainer seeds it too).

    Parameters
    ----------
    root, source
        Where the images come from (see :func:`locate`): by default the 28x28 copy shipped
        with rpsbook (no files, no network); ``root`` or ``$RPSBOOK_DATA_DIR`` name a folder
        holding ``rps/`` and ``rps-test-set/``; ``source="download"`` (or
        ``RPSBOOK_DATA=download``) uses the full-size originals, downloaded on first use.
    batch_size
        Mini-batch size of both loaders (a positive integer).
    preload
        ``True`` (default): decode once (:func:`load_split`) and serve tensors.
        ``False``: the naive ``ImageFolder`` pipeline that decodes PNGs on every access.
        Both yield identical tensors.
    device
        Where the batches are delivered. With ``preload=True`` the datasets themselves live
        there (e.g. ``"cuda"``), so batches need no host-to-device copies; with
        ``preload=False`` images are decoded on the CPU and each batch is moved.
    """
    batch_size = _positive_int(batch_size, "batch_size")
    target_device = _check_device(device)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
            "pass torch.Generator().manual_seed(seed)"
        )
    found = locate(root, source=source)
    if preload and found.kind == "embedded":
        raw = {s: load_embedded(s) for s in SPLITS}
    elif preload:
        folder = find_data(root, source=source, progress=progress)
        raw = {s: load_split(folder, s, cache_dir=cache_dir, progress=progress) for s in SPLITS}
    collate_fn: Callable[[Sequence[Any]], Any] = collate
    if preload:
        to_float = v2.ToDtype(torch.float32, scale=True)
        temporary = raw["train"].map_images(to_float)
        normalizer = make_normalizer(DataLoader(temporary, batch_size=16))
        datasets = {s: raw[s].map_images(lambda x: normalizer(to_float(x))) for s in SPLITS}
        if target_device is not None:
            datasets = {s: d.to(target_device) for s, d in datasets.items()}
    else:
        folder = find_data(root, source=source, progress=progress)
        normalizer = make_normalizer(DataLoader(image_folder(folder, "train"), batch_size=16))
        datasets = {s: image_folder(folder, s, normalizer) for s in SPLITS}
        if target_device is not None:
            collate_fn = _CollateTo(target_device)
    return RPSData(
        train_dataset=datasets["train"],
        val_dataset=datasets["val"],
        train_loader=DataLoader(
            datasets["train"],
            batch_size=batch_size,
            shuffle=True,
            generator=generator,
            collate_fn=collate_fn,
        ),
        val_loader=DataLoader(datasets["val"], batch_size=batch_size, collate_fn=collate_fn),
        normalizer=normalizer,
        classes=list(CLASSES),
    )


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rpsbook.data {locate,download,extract}``.

    ``locate`` prints the path that will be used (a folder, or the embedded ``.npz``) and, on
    stderr, why; it writes nothing. ``download`` fetches the full-size originals (into
    ``--root`` or the user cache). ``extract`` writes the embedded copy as PNGs (into
    ``--root`` or ``<user cache>/rps28``) and prints the folder.
    """
    parser = argparse.ArgumentParser(prog="python -m rpsbook.data", description=main.__doc__)
    parser.add_argument("command", choices=["locate", "download", "extract"])
    parser.add_argument("--root", help="folder to use instead of the default lookup")
    parser.add_argument("--source", choices=SOURCES, help="embedded (default) or download")
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            path = download_rps(args.root or default_cache_dir())
        elif args.command == "extract":
            path = extract_embedded(args.root or default_cache_dir() / "rps28")
        else:
            found = locate(args.root, source=args.source)
            print(f"rpsbook: using {found.describe()}", file=sys.stderr)
            path = found.path
    except (DataNotFoundError, OSError, ValueError) as exc:
        print(f"rpsbook: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
