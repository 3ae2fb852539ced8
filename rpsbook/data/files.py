"""Files and folders written safely: locks, temporary names, all-at-once installs.

Every temporary file or folder rpsbook creates starts with ``_TMP_PREFIX``, so the leftovers
of a killed run are recognised, and removed under the lock, by the next one. A split folder
counts as present only with its completeness marker (``_MARKER``), written last.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import DatasetLayoutError

_MARKER = ".rpsbook-complete"
_LOCK = ".rpsbook.lock"
_TMP_PREFIX = ".rpsbook-tmp-"


def user_path(path: str | os.PathLike[str]) -> Path:
    """``path`` with a leading ``~`` expanded, as a shell would (never a folder named ``~``)."""
    return Path(path).expanduser()


def default_cache_dir() -> Path:
    """Per-user cache folder: ``$XDG_CACHE_HOME/rpsbook`` or ``~/.cache/rpsbook``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return user_path(base) / "rpsbook"


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
