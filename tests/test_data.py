"""rpsbook.data: download (from a local server), layout checks, statistics, preloading."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import stat
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from rpsbook import data
from rpsbook.data import (
    ChecksumError,
    DataNotFoundError,
    DatasetLayoutError,
    UnsafeArchiveError,
    download_rps,
    find_data,
    image_folder,
    load_rps,
    load_split,
    make_normalizer,
    statistics_per_channel,
)

N_PER_CLASS = {"rps": 4, "rps-test-set": 2}


def _png_bytes(rng: np.random.Generator, size: int = 32) -> bytes:
    pixels = rng.integers(0, 256, size=(size, size, 4), dtype=np.uint8)
    pixels[..., 3] = 255  # opaque alpha, like the real files
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def _make_tree(root: Path, seed: int = 0) -> Path:
    """A miniature copy of the dataset layout with random 32x32 RGBA PNGs."""
    rng = np.random.default_rng(seed)
    for folder, n in N_PER_CLASS.items():
        for name in data.CLASSES:
            class_dir = root / folder / name
            class_dir.mkdir(parents=True)
            for i in range(n):
                (class_dir / f"{name}{i:02d}.png").write_bytes(_png_bytes(rng))
    return root


def _zip_folder(root: Path, folder: str, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as archive:
        for path in sorted((root / folder).rglob("*")):
            archive.write(path, path.relative_to(root).as_posix())
    return dest


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return _make_tree(tmp_path / "source")


@pytest.fixture
def server(tmp_path: Path):
    """Serve files from a folder on 127.0.0.1; yields (folder, base_url, request_log)."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def archives(tree: Path, server):
    """Both archives served locally; yields (urls, sha256, request_log)."""
    folder, base, requests = server
    urls, sums = {}, {}
    for name in N_PER_CLASS:
        path = _zip_folder(tree, name, folder / f"{name}.zip")
        urls[name], sums[name] = f"{base}/{name}.zip", _sha(path)
    return urls, sums, requests


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- download


def test_download_extracts_both_splits_and_is_idempotent(tmp_path, tree, archives):
    urls, sums, requests = archives
    root = download_rps(tmp_path / "data", urls=urls, sha256=sums)
    for folder, n in N_PER_CLASS.items():
        for name in data.CLASSES:
            got = sorted(p.name for p in (root / folder / name).iterdir())
            assert got == [f"{name}{i:02d}.png" for i in range(n)]
            assert (root / folder / name / got[0]).read_bytes() == (
                tree / folder / name / got[0]
            ).read_bytes()
    assert len(requests) == 2
    download_rps(root, urls=urls, sha256=sums)
    assert len(requests) == 2, "a complete folder must be reused, not downloaded again"
    assert not [p for p in root.iterdir() if p.name.startswith(".")], "temporary files left"


def test_incomplete_split_is_downloaded_again(tmp_path, archives):
    urls, sums, requests = archives
    root = download_rps(tmp_path / "data", urls=urls, sha256=sums)
    victim = root / "rps" / "rock" / "rock00.png"
    victim.unlink()
    download_rps(root, urls=urls, sha256=sums)
    assert victim.is_file()
    assert requests[-1] == "/rps.zip" and len(requests) == 3


def test_wrong_checksum_leaves_nothing(tmp_path, archives):
    urls, sums, _ = archives
    root = tmp_path / "data"
    with pytest.raises(ChecksumError, match=r"rps\.zip has SHA-256"):
        download_rps(root, urls=urls, sha256={**sums, "rps": "0" * 64})
    assert list(root.iterdir()) == []


@pytest.mark.parametrize(
    ("member", "message"),
    [("../evil.png", "outside the target"), ("/abs/evil.png", "outside the target")],
)
def test_path_traversal_is_refused_before_writing(tmp_path, server, member, message):
    folder, base, _ = server
    archive = folder / "rps.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("rps/rock/ok.png", b"fine")
        zf.writestr(member, b"evil")
    root = tmp_path / "data" / "inner"
    with pytest.raises(UnsafeArchiveError, match=message):
        download_rps(root, urls={"rps": f"{base}/rps.zip"}, sha256={"rps": _sha(archive)})
    assert list(root.iterdir()) == []
    assert not list(tmp_path.rglob("evil.png"))


def test_symlink_member_is_refused(tmp_path, server):
    folder, base, _ = server
    archive = folder / "rps.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("rps/rock/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    root = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        download_rps(root, urls={"rps": f"{base}/rps.zip"}, sha256={"rps": _sha(archive)})
    assert list(root.iterdir()) == []


def test_archive_without_expected_folder(tmp_path, server):
    folder, base, _ = server
    archive = folder / "rps.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("other/rock/a.png", b"x")
    with pytest.raises(DatasetLayoutError, match="top-level folder rps/"):
        download_rps(
            tmp_path / "d", urls={"rps": f"{base}/rps.zip"}, sha256={"rps": _sha(archive)}
        )
    assert list((tmp_path / "d").iterdir()) == []


# --------------------------------------------------------------------------- locating


def test_find_data_precedence(tmp_path, tree, monkeypatch):
    other = _make_tree(tmp_path / "other", seed=1)
    monkeypatch.setenv("RPSBOOK_DATA_DIR", str(other))
    assert find_data(tree) == tree
    assert find_data() == other
    monkeypatch.delenv("RPSBOOK_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _make_tree(tmp_path / "cache" / "rpsbook", seed=2)
    assert find_data(download=False) == tmp_path / "cache" / "rpsbook"


def test_find_data_downloads_into_default_cache(tmp_path, archives, monkeypatch):
    urls, sums, requests = archives
    monkeypatch.delenv("RPSBOOK_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("RPSBOOK_MIRROR", urls["rps"].rsplit("/", 1)[0])
    for name, value in sums.items():
        monkeypatch.setitem(data.SHA256, name, value)
    assert find_data() == tmp_path / "cache" / "rpsbook"
    assert sorted(requests) == ["/rps-test-set.zip", "/rps.zip"]


def test_find_data_error_names_every_place(tmp_path, monkeypatch):
    monkeypatch.delenv("RPSBOOK_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # A closed port on loopback: fails at once, like a machine without network.
    monkeypatch.setenv("RPSBOOK_MIRROR", "http://127.0.0.1:9")
    with pytest.raises(DataNotFoundError) as info:
        find_data()
    message = str(info.value)
    assert "$RPSBOOK_DATA_DIR: not set" in message
    assert str(tmp_path / "cache" / "rpsbook") in message
    assert "download failed" in message
    assert "Fix: set RPSBOOK_DATA_DIR" in message


def test_explicit_root_is_checked_not_downloaded(tmp_path):
    (tmp_path / "rps").mkdir()
    with pytest.raises(DataNotFoundError, match=r"no folder .*rps-test-set"):
        find_data(tmp_path)


def test_cli_locate(tree, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("RPSBOOK_DATA_DIR", str(tree))
    assert data.main(["locate"]) == 0
    assert capsys.readouterr().out.strip() == str(tree)
    monkeypatch.setenv("RPSBOOK_DATA_DIR", str(tmp_path / "nowhere"))
    assert data.main(["locate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rpsbook: Could not find") and "Traceback" not in err


# --------------------------------------------------------------------------- bad folders


def test_corrupt_image_names_the_file(tree):
    bad = tree / "rps" / "paper" / "paper01.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DatasetLayoutError, match=r"cannot decode image .*paper01\.png"):
        load_split(tree, "train", cache_dir=False)
    dataset = image_folder(tree, "train")
    with pytest.raises(DatasetLayoutError, match=r"paper01\.png"):
        dataset[1]


def test_non_image_file_is_not_skipped(tree):
    (tree / "rps" / "rock" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetLayoutError, match=r"notes.txt is not an image"):
        image_folder(tree, "train")


def test_empty_class_folder(tree):
    for path in (tree / "rps-test-set" / "scissors").iterdir():
        path.unlink()
    with pytest.raises(DatasetLayoutError, match=r"rps-test-set/scissors holds no images"):
        load_split(tree, "val")


def test_missing_split(tree):
    import shutil

    shutil.rmtree(tree / "rps-test-set")
    with pytest.raises(DatasetLayoutError, match=r"missing split folder .*rps-test-set"):
        image_folder(tree, "val")


def test_wrong_classes(tree):
    (tree / "rps" / "lizard").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"class folders \['lizard', 'paper'"):
        load_split(tree, "train")


def test_unknown_split_name(tree):
    with pytest.raises(ValueError, match="split must be one of"):
        image_folder(tree, "test")


# --------------------------------------------------------------------------- statistics


def test_statistics_per_channel_matches_numpy():
    images = torch.rand(5, 3, 7, 6, generator=torch.Generator().manual_seed(0))
    stats = statistics_per_channel(images, torch.zeros(5))
    flat = images.numpy().reshape(5, 3, -1)
    np.testing.assert_allclose(stats[0].numpy(), [5, 5, 5])
    np.testing.assert_allclose(stats[1].numpy(), flat.mean(axis=2).sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats[2].numpy(), flat.std(axis=2, ddof=1).sum(axis=0), rtol=1e-6)


def test_make_normalizer_is_mean_of_per_image_statistics(tree):
    dataset = image_folder(tree, "train")
    normalizer = make_normalizer(DataLoader(dataset, batch_size=5))
    images = torch.stack([dataset[i][0] for i in range(len(dataset))]).numpy()
    flat = images.reshape(len(images), 3, -1)
    np.testing.assert_allclose(normalizer.mean, flat.mean(axis=2).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(normalizer.std, flat.std(axis=2, ddof=1).mean(axis=0), rtol=1e-6)


# --------------------------------------------------------------------------- preloading


def test_preloaded_split_equals_image_folder(tree):
    folder = image_folder(tree, "train")
    tensors = load_split(tree, "train")
    assert tensors.images.dtype == torch.uint8
    assert tuple(tensors.images.shape) == (12, 3, 28, 28)
    to_float = v2.ToDtype(torch.float32, scale=True)
    for i in range(len(folder)):
        image, label = folder[i]
        assert torch.equal(image, to_float(tensors.images[i]))
        assert label == int(tensors.targets[i])


def test_load_rps_preloaded_and_naive_yield_identical_batches(tree):
    fast = load_rps(tree, batch_size=4)
    slow = load_rps(tree, batch_size=4, preload=False)
    assert fast.normalizer.mean == slow.normalizer.mean
    assert fast.normalizer.std == slow.normalizer.std
    assert fast.classes == ["paper", "rock", "scissors"]
    for loader_a, loader_b in [(fast.val_loader, slow.val_loader)]:
        for (xa, ya), (xb, yb) in zip(loader_a, loader_b, strict=True):
            assert torch.equal(xa, xb)
            assert torch.equal(ya, yb)
    torch.manual_seed(0)
    batches_a = list(fast.train_loader)
    torch.manual_seed(0)
    batches_b = list(slow.train_loader)
    for (xa, ya), (xb, yb) in zip(batches_a, batches_b, strict=True):
        assert torch.equal(xa, xb)
        assert torch.equal(ya, yb)


def test_decoded_cache_is_reused_and_invalidated(tree, tmp_path, monkeypatch):
    cache = tmp_path / "decoded"
    first = load_split(tree, "val", cache_dir=cache)
    assert len(list(cache.glob("rps-test-set-*.pt"))) == 1

    def no_decoding(path):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(data, "_decode", no_decoding)
    again = load_split(tree, "val", cache_dir=cache)
    assert torch.equal(first.images, again.images)
    touched = tree / "rps-test-set" / "rock" / "rock00.png"
    os.utime(touched, ns=(1, 1))
    with pytest.raises(AssertionError, match="cache should have been used"):
        load_split(tree, "val", cache_dir=cache)


def test_generator_makes_shuffling_independent_of_global_rng(tree):
    loaders = [
        load_rps(tree, batch_size=4, generator=torch.Generator().manual_seed(5)).train_loader
        for _ in range(2)
    ]
    torch.manual_seed(1)
    first = [y for _, y in loaders[0]]
    torch.manual_seed(2)
    second = [y for _, y in loaders[1]]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


# --------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_data_statistics_and_loaders(real_data_dir):
    rps = load_rps(real_data_dir)
    assert len(rps.train_dataset) == 2520 and len(rps.val_dataset) == 372
    assert len(rps.train_loader) == 158 and len(rps.val_loader) == 24
    # CHAPTER6.md: the book's notebook on this copy.
    np.testing.assert_allclose(rps.normalizer.mean, [0.8489, 0.8198, 0.8098], atol=1e-4)
    np.testing.assert_allclose(rps.normalizer.std, [0.2165, 0.2600, 0.2748], atol=1e-4)
    raw = load_split(real_data_dir, "train")
    sums = statistics_per_channel(raw.images.float() / 255)
    np.testing.assert_allclose(sums[1].numpy(), [2139.3064, 2065.9209, 2040.7278], atol=2e-2)
    np.testing.assert_allclose(sums[2].numpy(), [545.5128, 655.1982, 692.6146], atol=2e-2)
    assert torch.bincount(raw.targets).tolist() == [840, 840, 840]


def test_batch_gather_matches_per_sample_loading(tree):
    """``__getitems__`` + ``collate`` give the same batches and draw the same random numbers
    as a DataLoader that indexes one sample at a time."""
    dataset = load_split(tree, "train")
    per_sample = data.ImageTensorDataset(dataset.images, dataset.targets, dataset.classes)
    per_sample.__getitems__ = None  # DataLoader then falls back to __getitem__
    runs = []
    for ds, collate_fn in [(dataset, data.collate), (dataset, None), (per_sample, None)]:
        torch.manual_seed(3)
        runs.append(list(DataLoader(ds, batch_size=5, shuffle=True, collate_fn=collate_fn)))
        runs[-1].append(torch.rand(1))  # the global RNG must be where the others left it
    for run in runs[1:]:
        assert len(run) == len(runs[0]) == 4
        for a, b in zip(runs[0][:-1], run[:-1], strict=True):
            assert torch.equal(a[0], b[0])
            assert torch.equal(a[1], b[1])
        assert torch.equal(run[-1], runs[0][-1])
    assert data.collate([(torch.ones(2), torch.tensor(1))])[0].shape == (1, 2)
