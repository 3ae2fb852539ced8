"""Downloading the full-size originals: two zip archives, streamed, checked and extracted.

Writers take a lock on the target folder; each archive streams into a uniquely named
temporary file, is checked against its SHA-256, and is extracted into a temporary folder
that is renamed into place (:mod:`rpsbook.data.files`).
"""

from __future__ import annotations

import hashlib
import os
import stat
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from .._utils import progress_enabled
from .errors import ChecksumError, DatasetLayoutError, UnsafeArchiveError
from .files import (
    _MARKER,
    _install_split,
    _is_complete,
    _locked,
    _temp_path,
    _visible_files,
    user_path,
)
from .layout import CLASSES, SPLITS

#: Environment variable replacing the base URL of both archives (a mirror).
MIRROR_ENV = "RPSBOOK_MIRROR"
_BASE_URL = "https://storage.googleapis.com/download.tensorflow.org/data/"
#: Where each split's archive is published.
URLS: dict[str, str] = {folder: f"{_BASE_URL}{folder}.zip" for folder in SPLITS.values()}
#: SHA-256 of each published archive (the same values TensorFlow Datasets records).
SHA256: dict[str, str] = {
    "rps": "c2403444395842ad04c53612bad54b574443eae17a0723117a2ff87b9d72194f",
    "rps-test-set": "c27ab9fa43ce40b2e453de711365b477f4424586edf0388116674fd320f07503",
}


# Images per class folder in each published archive (2,520 for training, 372 for testing).
_IMAGES_PER_CLASS: dict[str, int] = {"rps": 840, "rps-test-set": 124}


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


def _holds_split(split_dir: Path) -> bool:
    """Whether ``split_dir`` is complete: extracted by rpsbook (its marker), or, like the
    folders the book's ``download_rps`` or another tool extracted, holding exactly the
    published archive's images per class (the 28x28 copy has as many)."""
    if _is_complete(split_dir):
        return True
    if (split_dir / _MARKER).exists():
        return False  # rpsbook's own extraction, with files missing since
    per_class = _IMAGES_PER_CLASS.get(split_dir.name)
    return per_class is not None and all(
        (split_dir / name).is_dir() and len(_visible_files(split_dir / name)) == per_class
        for name in CLASSES
    )


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
    by an earlier call is reused (hidden files such as ``.DS_Store`` do not count), and so is
    one extracted by other means (the book's ``download_rps``) that holds as many images per
    class as the published archive; either is left alone, with a line that says so, as the
    book's function does. Any other split folder is downloaded again.
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
    root = user_path(localfolder)
    present = [folder for folder in SPLITS.values() if _holds_split(root / folder)]
    for folder in present:
        print(f"{root / folder} already holds the images: not downloaded again.")
    if len(present) == len(SPLITS):
        return root  # nothing to write: also works in a read-only folder
    root.mkdir(parents=True, exist_ok=True)
    urls = {**_urls_from_env(), **(urls or {})}
    checksums = {**SHA256, **(sha256 or {})}
    with _locked(root):
        for folder in SPLITS.values():
            if _holds_split(root / folder):
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
