"""What a dataset folder looks like: ``<root>/<split folder>/<class>/<image>``.

Both pipelines (``ImageFolder`` and the preloaded one) take their file list from
:func:`_scan`, which refuses what ``ImageFolder`` would silently skip.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DatasetLayoutError
from .files import user_path

#: Folder name of each split, as the archives extract it.
SPLITS: dict[str, str] = {"train": "rps", "val": "rps-test-set"}
#: Class names in ``ImageFolder`` order (sorted folder names): paper=0, rock=1, scissors=2.
CLASSES: tuple[str, ...] = ("paper", "rock", "scissors")
#: Side of the square images both pipelines produce.
IMAGE_SIZE = 28
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


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


def _split_folder(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    return SPLITS[split]


def _split_dir(root: str | os.PathLike[str], split: str) -> Path:
    path = user_path(root) / _split_folder(split)
    if not path.is_dir():
        raise DatasetLayoutError(
            f"missing split folder {path}: the data folder must hold {SPLITS[split]}/ "
            "(see rpsbook.data.find_data / $RPSBOOK_DATA_DIR)."
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
