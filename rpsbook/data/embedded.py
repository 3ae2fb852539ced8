"""The 28x28 copy shipped inside rpsbook (``rpsbook/_data/rps28.npz``, SHA-256 checked).

It needs no files and no network: :func:`load_embedded` serves its arrays as tensors, and
:func:`extract_embedded` writes them out as PNGs for the ``ImageFolder`` pipeline.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from .._utils import progress_enabled
from .datasets import ImageTensorDataset
from .errors import ChecksumError, DataNotFoundError
from .files import _install_split, _is_complete, _locked, user_path
from .layout import SPLITS, _split_folder

#: The 28x28 copy shipped with rpsbook; its SHA-256 sits beside it in ``rps28.sha256``.
EMBEDDED_FILE = Path(__file__).parents[1] / "_data" / "rps28.npz"
_REBUILD_HINT = (
    "Reinstall rpsbook (pip install --force-reinstall --no-deps rpsbook) or, in a clone, "
    "rebuild it with `python -m tools.pack_dataset` (see rpsbook/_data/README.md)."
)


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
    root = user_path(root)
    try:
        origin = EMBEDDED_FILE.with_suffix(".sha256").read_text().split()[0]
    except (OSError, IndexError):
        origin = None  # _read_embedded below explains what is missing
    if origin and all(_is_complete(root / folder, origin) for folder in SPLITS.values()):
        return root
    arrays = _read_embedded()
    from PIL import Image  # only here: loading the copy as tensors needs no Pillow

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
