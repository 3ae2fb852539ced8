"""Build ``rpsbook/_data/rps28.npz``, the 28x28 copy of the dataset shipped inside rpsbook.

Two inputs give the same file:

* ``--from-copy FOLDER``: the 28x28 PNG copy (``rps/`` and ``rps-test-set/``, RGBA). Each PNG
  is decoded by the very function the preloaded pipeline uses (``rpsbook.data.decoding._decode``:
  ``convert("RGB")``, ``Resize(28)`` (a no-op here), ``ToImage()``), so the arrays equal what
  ``image_folder`` / ``load_split`` decode from that folder, pixel for pixel.
* ``--from-originals FOLDER``: the 300x300 originals (what ``rps.zip`` and ``rps-test-set.zip``
  extract to). The copy was made with Pillow's antialias filter (``Image.LANCZOS``) on the RGBA
  image, and so is this (``--resize lanczos``, the default), followed by the same
  ``convert("RGB")``. Note that torchvision's ``Resize(28)``, which ``image_folder`` applies
  to the originals, is Pillow's *bilinear* antialiased filter: it gives different pixels (up
  to ~25 levels of 255 on sharp edges). ``--resize torchvision`` packs those instead, i.e.
  what ``image_folder`` would decode from the originals.

The archive is written byte for byte reproducibly (sorted members, fixed timestamps) and its
SHA-256 goes to ``rps28.sha256`` beside it, which rpsbook checks on every load. ``--check``
rebuilds in memory and compares the arrays with the shipped file instead of writing.

    python -m tools.pack_dataset --from-copy ../shared/data/rps28
    python -m tools.pack_dataset --from-copy ../shared/data/rps28 --check
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from rpsbook._utils import file_sha256, write_atomically
from rpsbook.data.decoding import _decode
from rpsbook.data.embedded import EMBEDDED_FILE
from rpsbook.data.errors import DatasetLayoutError
from rpsbook.data.layout import CLASSES, IMAGE_SIZE, SPLITS, _scan, _split_dir

# A fixed timestamp makes the archive reproducible (zip stores one per member).
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def _resize(path: str, how: str) -> np.ndarray:
    """One original as a ``(28, 28, 3)`` uint8 array, resized the way ``how`` names."""
    if how != "lanczos":
        return _decode(path).permute(1, 2, 0).numpy()
    try:
        with Image.open(path) as image:
            small = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
            return np.asarray(small.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetLayoutError(f"cannot decode image {path}: {exc}") from exc


def collect(folder: Path, *, resize: str | None) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz``: ``resize=None`` decodes a 28x28 copy as rpsbook does."""
    images, targets, split, files = [], [], [], []
    for code, (name, sub) in enumerate(SPLITS.items()):
        split_dir = _split_dir(folder, name)
        for path, label in _scan(split_dir):
            if resize is None:
                pixels = _decode(path).permute(1, 2, 0).numpy()
            else:
                pixels = _resize(path, resize)
            images.append(pixels)
            targets.append(label)
            split.append(code)
            files.append(f"{sub}/{Path(path).relative_to(split_dir).as_posix()}")
    return {
        "images": np.stack(images),  # (N, 28, 28, 3): compresses ~10% better than (N, 3, ...)
        "targets": np.asarray(targets, dtype=np.int64),
        "split": np.asarray(split, dtype=np.uint8),  # index into split_folders
        "split_folders": np.asarray(list(SPLITS.values())),
        "files": np.asarray(files),
        "classes": np.asarray(CLASSES),
    }


def to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive (what ``numpy.savez_compressed`` writes), reproducibly."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, arrays[name], allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.pack_dataset", description=__doc__.split("\n\n")[0]
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-copy", type=Path, help="the 28x28 PNG copy")
    source.add_argument("--from-originals", type=Path, help="the 300x300 originals")
    parser.add_argument("--resize", choices=["lanczos", "torchvision"], default="lanczos")
    parser.add_argument("--out", type=Path, default=EMBEDDED_FILE)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    if args.from_copy is not None:
        arrays = collect(args.from_copy, resize=None)
    else:
        arrays = collect(args.from_originals, resize=args.resize)
    counts = {f: int((arrays["split"] == i).sum()) for i, f in enumerate(SPLITS.values())}
    if args.check:
        with np.load(args.out, allow_pickle=False) as shipped:
            differ = [k for k in arrays if not np.array_equal(arrays[k], shipped[k])]
        if differ:
            print(f"{args.out} differs from the rebuild in: {', '.join(differ)}")
            return 1
        print(f"{args.out} matches the rebuild ({counts})")
        return 0
    payload = to_bytes(arrays)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Each file is replaced whole (a killed run leaves the old one, never half of a new one);
    # a new .npz beside the old checksum is refused on load until the checksum follows.
    write_atomically(args.out, lambda file: file.write(payload), "dataset array")
    digest = file_sha256(args.out)
    checksum = f"{digest}  {args.out.name}\n".encode()
    write_atomically(
        args.out.with_suffix(".sha256"), lambda file: file.write(checksum), "checksum"
    )
    print(f"wrote {args.out} ({len(payload):,} bytes, {counts}), SHA-256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
