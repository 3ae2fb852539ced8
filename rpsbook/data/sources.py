"""Where the images come from: a folder you named, the embedded copy, or a download.

:func:`locate` decides without writing anything; :func:`find_data` then makes the choice a
folder of image files (writing out the embedded copy, or downloading, when needed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .download import URLS, download_rps
from .embedded import EMBEDDED_FILE, extract_embedded
from .errors import DataNotFoundError
from .files import default_cache_dir, user_path
from .layout import _layout_problems

#: Environment variable naming a folder that holds ``rps/`` and ``rps-test-set/``.
DATA_DIR_ENV = "RPSBOOK_DATA_DIR"
#: Environment variable choosing the source when no folder is named: ``embedded`` (default)
#: or ``download`` (the full-size originals, downloaded into the user cache on first use).
SOURCE_ENV = "RPSBOOK_DATA"
#: The sources :func:`locate` accepts besides a folder.
SOURCES: tuple[str, ...] = ("embedded", "download")


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
        """One line for people: which copy of the data this is and which setting chose it.

        A ``"download"`` source says whether the originals are already in its folder
        (it looks at the folder; it downloads nothing).
        """
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
        return _folder_source(user_path(root), "the root argument")
    if source is None and os.environ.get(DATA_DIR_ENV):
        return _folder_source(user_path(os.environ[DATA_DIR_ENV]), f"${DATA_DIR_ENV}")
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
