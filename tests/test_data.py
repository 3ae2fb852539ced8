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
    ImageDecodeWarning,
    UnsafeArchiveError,
    decoding,
    download_rps,
    embedded,
    find_data,
    image_folder,
    layout,
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


def _entries(root: Path) -> list[str]:
    """What a download left in ``root``, besides the lock file writers share."""
    return sorted(p.name for p in root.iterdir() if p.name != ".rpsbook.lock")


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
    assert _entries(root) == ["rps", "rps-test-set"], "temporary files left"


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
    assert _entries(root) == []


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
    assert _entries(root) == []
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
    assert _entries(root) == []


def test_archive_without_expected_folder(tmp_path, server):
    folder, base, _ = server
    archive = folder / "rps.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("other/rock/a.png", b"x")
    with pytest.raises(DatasetLayoutError, match="top-level folder rps/"):
        download_rps(
            tmp_path / "d", urls={"rps": f"{base}/rps.zip"}, sha256={"rps": _sha(archive)}
        )
    assert _entries(tmp_path / "d") == []


# --------------------------------------------------------------------------- locating


def test_find_data_precedence(tmp_path, tree, monkeypatch):
    """root > source > $RPSBOOK_DATA_DIR > $RPSBOOK_DATA > the embedded copy."""
    other = _make_tree(tmp_path / "other", seed=1)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = _make_tree(tmp_path / "cache" / "rpsbook", seed=2)
    monkeypatch.setenv("RPSBOOK_DATA_DIR", str(other))
    monkeypatch.setenv("RPSBOOK_DATA", "embedded")
    assert find_data(tree) == tree
    assert find_data(source="download", download=False) == cache
    assert find_data() == other
    assert data.locate().reason == "$RPSBOOK_DATA_DIR"
    monkeypatch.delenv("RPSBOOK_DATA_DIR")
    assert data.locate() == data.DataSource("embedded", data.EMBEDDED_FILE, "$RPSBOOK_DATA")
    monkeypatch.setenv("RPSBOOK_DATA", "download")
    assert find_data(download=False) == cache
    assert data.locate().kind == "download"
    monkeypatch.delenv("RPSBOOK_DATA")
    assert data.locate().kind == "embedded"
    assert "neither $RPSBOOK_DATA_DIR nor $RPSBOOK_DATA" in data.locate().reason
    with pytest.raises(ValueError, match=r"either root=\.\.\. .* or source=\.\.\., not both"):
        find_data(tree, source="embedded")
    monkeypatch.setenv("RPSBOOK_DATA", "originals")
    with pytest.raises(ValueError, match=r"unknown data source 'originals' \(from \$RPSBOOK_DATA"):
        find_data()


def test_find_data_downloads_into_default_cache(tmp_path, archives, monkeypatch):
    urls, sums, requests = archives
    monkeypatch.delenv("RPSBOOK_DATA_DIR", raising=False)
    monkeypatch.setenv("RPSBOOK_DATA", "download")
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
        find_data(source="download")
    message = str(info.value)
    assert "(from the source argument)" in message
    assert str(tmp_path / "cache" / "rpsbook") in message
    assert "download failed" in message
    assert "Fix: set RPSBOOK_DATA_DIR" in message
    assert "unset RPSBOOK_DATA to use the 28x28 copy" in message


def test_explicit_root_is_checked_not_downloaded(tmp_path):
    (tmp_path / "rps").mkdir()
    with pytest.raises(DataNotFoundError, match=r"no folder .*rps-test-set"):
        find_data(tmp_path)


def test_cli_locate(tree, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("RPSBOOK_DATA_DIR", str(tree))
    assert data.main(["locate"]) == 0
    assert capsys.readouterr().out.strip() == str(tree)
    monkeypatch.setenv("RPSBOOK_DATA_DIR", str(tmp_path / "nowhere"))
    assert data.main(["locate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rpsbook: {tmp_path / 'nowhere'} (from $RPSBOOK_DATA_DIR) does not")
    assert "Traceback" not in err
    monkeypatch.delenv("RPSBOOK_DATA_DIR")
    assert data.main(["locate"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(data.EMBEDDED_FILE)
    assert "the 28x28 copy shipped with rpsbook" in err
    assert not (tmp_path / "cache").exists(), "locate must not write anything"


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


@pytest.mark.parametrize("shape", [(16, 3, 28, 28), (4, 3, 28, 28), (1, 1, 5, 5)])
def test_statistics_per_channel_equals_the_books_mean_and_std_bit_for_bit(shape):
    """The book sums ``images.mean(dim=2)`` and ``images.std(dim=2)``; the faster std_mean
    must give the same floats, so the chapter's sums (2139.3064..., 545.5128...) stay put."""
    images = torch.rand(shape, generator=torch.Generator().manual_seed(3)) * 1.7 - 0.2
    flat = images.reshape(shape[0], shape[1], -1)
    stats = statistics_per_channel(images)
    assert torch.equal(stats[1], flat.mean(dim=2).sum(dim=0))
    assert torch.equal(stats[2], flat.std(dim=2).sum(dim=0))


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
    touched = tree / "rps-test-set" / "rock" / "rock00.png"
    with Image.open(touched) as image:
        pixels = np.asarray(image)
    # Uncompressed PNGs: the same size whatever the pixels, for the swap below.
    Image.fromarray(pixels).save(touched, compress_level=0)
    first = load_split(tree, "val", cache_dir=cache)
    assert len(list(cache.glob("rps-test-set-*.pt"))) == 1

    def no_decoding(path):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(decoding, "_decode", no_decoding)
    again = load_split(tree, "val", cache_dir=cache)
    assert torch.equal(first.images, again.images)
    os.utime(touched, ns=(1, 1))  # a new time, same bytes: still the same images
    assert torch.equal(load_split(tree, "val", cache_dir=cache).images, first.images)
    # Other pixels in a file of the same size and time: the key follows the content.
    info = touched.stat()
    Image.fromarray(pixels[..., [2, 1, 0, 3]]).save(touched, compress_level=0)
    assert touched.stat().st_size == info.st_size
    os.utime(touched, ns=(info.st_atime_ns, info.st_mtime_ns))
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


# --------------------------------------------------------------------------- embedded copy


def test_embedded_copy_is_the_default_and_needs_no_files(monkeypatch):
    """``load_rps()`` with nothing set: the shipped array, no PNG decoded, the site's numbers."""
    monkeypatch.delenv("RPSBOOK_DATA_DIR", raising=False)

    def no_decoding(path):
        raise AssertionError("the embedded copy must not decode any file")

    monkeypatch.setattr(decoding, "_decode", no_decoding)
    rps = load_rps()
    assert len(rps.train_dataset) == 2520 and len(rps.val_dataset) == 372
    assert len(rps.train_loader) == 158 and len(rps.val_loader) == 24
    np.testing.assert_allclose(rps.normalizer.mean, [0.8489, 0.8198, 0.8098], atol=1e-4)
    np.testing.assert_allclose(rps.normalizer.std, [0.2165, 0.2600, 0.2748], atol=1e-4)
    train = data.load_embedded("train")
    assert train.images.dtype == torch.uint8 and tuple(train.images.shape) == (2520, 3, 28, 28)
    assert torch.bincount(train.targets).tolist() == [840, 840, 840]
    assert torch.bincount(data.load_embedded("val").targets).tolist() == [124, 124, 124]
    # The same sums as the PNG copy (test_real_data_statistics_and_loaders).
    sums = statistics_per_channel(train.images.float() / 255)
    np.testing.assert_allclose(sums[1].numpy(), [2139.3064, 2065.9209, 2040.7278], atol=2e-2)


@pytest.mark.realdata
def test_embedded_arrays_equal_the_decoded_pngs(shared_png_dir):
    """Pixel for pixel what the ImageFolder pipeline decodes from the copy (RGBA -> RGB)."""
    arrays = embedded._read_embedded()
    for code, (split, folder) in enumerate(data.SPLITS.items()):
        from_pngs = load_split(shared_png_dir, split, cache_dir=False)
        shipped = data.load_embedded(split)
        assert torch.equal(shipped.images, from_pngs.images)
        assert torch.equal(shipped.targets, from_pngs.targets)
        scanned = [
            Path(p).relative_to(shared_png_dir).as_posix()
            for p, _ in layout._scan(shared_png_dir / folder)
        ]
        assert arrays["files"][arrays["split"] == code].tolist() == scanned
    assert torch.equal(
        image_folder(shared_png_dir, "val")[5][0],
        v2.ToDtype(torch.float32, scale=True)(shipped.images[5]),
    )


@pytest.mark.realdata
def test_embedded_and_png_loaders_are_identical(shared_png_dir):
    """Same normalizer, same normalized tensors: the chapter's counts (330/372) follow."""
    embedded = load_rps(source="embedded")
    pngs = load_rps(shared_png_dir)
    assert embedded.normalizer.mean == pngs.normalizer.mean
    assert embedded.normalizer.std == pngs.normalizer.std
    for split in ("train_dataset", "val_dataset"):
        assert torch.equal(getattr(embedded, split).images, getattr(pngs, split).images)


@pytest.mark.slow
def test_chapter_run_on_the_embedded_copy_gives_the_sites_counts(monkeypatch):
    """CNN2(5, p=0.3), Adam 3e-4, seed 13, 10 epochs on ``load_rps()``: 330/372 on the CPU."""
    from torch import nn

    from rpsbook import CNN2, StepByStep

    monkeypatch.delenv("RPSBOOK_DATA_DIR", raising=False)
    rps = load_rps()
    torch.manual_seed(13)
    model = CNN2(5, p=0.3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    sbs = StepByStep(model, nn.CrossEntropyLoss(), optimizer, device="cpu")
    sbs.set_loaders(rps.train_loader, rps.val_loader)
    sbs.train(10)
    val = StepByStep.loader_apply(rps.val_loader, sbs.correct)
    assert val.tolist() == [[92, 124], [118, 124], [120, 124]]


def test_find_data_writes_the_embedded_copy_once(monkeypatch, tmp_path):
    monkeypatch.delenv("RPSBOOK_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = find_data()
    assert root == tmp_path / "cache" / "rpsbook" / "rps28"
    assert [len(_files(root / f)) for f in ("rps", "rps-test-set")] == [2521, 373]  # + marker
    val = image_folder(root, "val")
    shipped = data.load_embedded("val")
    to_float = v2.ToDtype(torch.float32, scale=True)
    for i in (0, 123, 124, 371):
        image, label = val[i]
        assert torch.equal(image, to_float(shipped.images[i])) and label == shipped.targets[i]
    stamp = (root / "rps" / ".rpsbook-complete").stat().st_mtime_ns
    assert find_data() == root
    assert (root / "rps" / ".rpsbook-complete").stat().st_mtime_ns == stamp
    assert data.main(["extract", "--root", str(root)]) == 0
    assert (root / "rps" / ".rpsbook-complete").stat().st_mtime_ns == stamp
    # Written from another version of the array (an upgrade): written again.
    marker = root / "rps-test-set" / ".rpsbook-complete"
    marker.write_text(marker.read_text().replace('"origin": "', '"origin": "old'))
    assert find_data() == root
    assert '"origin": "old' not in marker.read_text()
    assert (root / "rps" / ".rpsbook-complete").stat().st_mtime_ns == stamp
    assert load_rps(root, preload=False).normalizer.mean == load_rps().normalizer.mean


def test_damaged_embedded_copy_is_refused(monkeypatch, tmp_path):
    copy = tmp_path / "rps28.npz"
    payload = bytearray(data.EMBEDDED_FILE.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    copy.write_bytes(bytes(payload))
    (tmp_path / "rps28.sha256").write_text(data.EMBEDDED_FILE.with_suffix(".sha256").read_text())
    monkeypatch.setattr(embedded, "EMBEDDED_FILE", copy)
    with pytest.raises(ChecksumError, match=r"rps28\.npz has SHA-256 .* records") as info:
        data.load_embedded("train")
    assert "pip install --force-reinstall" in str(info.value)
    assert "python -m tools.pack_dataset" in str(info.value)
    copy.unlink()
    with pytest.raises(DataNotFoundError, match=r"rps28\.npz .* missing or unreadable"):
        load_rps(source="embedded")


def _pack_module():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / "pack_dataset.py"
    spec = importlib.util.spec_from_file_location("pack_dataset", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pack_dataset_is_reproducible_and_resizes_like_the_copy(tmp_path, tree, capsys):
    pack = _pack_module()
    out = tmp_path / "a.npz"
    assert pack.main(["--from-copy", str(tree), "--out", str(out)]) == 0
    first = out.read_bytes()
    assert pack.main(["--from-copy", str(tree), "--out", str(out)]) == 0
    assert out.read_bytes() == first, "a rebuild must give the same bytes"
    assert out.with_suffix(".sha256").read_text() == f"{_sha(out)}  a.npz\n"
    assert pack.main(["--from-copy", str(tree), "--out", str(out), "--check"]) == 0
    with np.load(out) as arrays:
        assert arrays["images"].shape == (18, 28, 28, 3)  # 32x32 PNGs, Resize(28)
        assert arrays["files"][0] == "rps/paper/paper00.png"
        assert arrays["split"].tolist() == [0] * 12 + [1] * 6
        decoded = load_split(tree, "val", cache_dir=False).images.permute(0, 2, 3, 1).numpy()
        assert np.array_equal(arrays["images"][12:], decoded)
    # From originals: Lanczos (how the copy was made) differs from torchvision's Resize(28),
    # which is Pillow's antialiased bilinear filter; --resize torchvision gives the latter.
    lanczos, bilinear = tmp_path / "l.npz", tmp_path / "b.npz"
    pack.main(["--from-originals", str(tree), "--out", str(lanczos)])
    pack.main(["--from-originals", str(tree), "--out", str(bilinear), "--resize", "torchvision"])
    path = tree / "rps" / "paper" / "paper00.png"
    with Image.open(path) as image:
        expected = np.asarray(image.resize((28, 28), Image.Resampling.LANCZOS).convert("RGB"))
    with np.load(lanczos) as a, np.load(bilinear) as b:
        assert np.array_equal(a["images"][0], expected)
        decoded = decoding._decode(str(path)).permute(1, 2, 0).numpy()
        assert np.array_equal(b["images"][0], decoded)
        assert not np.array_equal(a["images"], b["images"])
    (tree / "rps" / "paper" / "paper00.png").write_bytes(_png_bytes(np.random.default_rng(7)))
    assert pack.main(["--from-copy", str(tree), "--out", str(out), "--check"]) == 1
    assert "differs from the rebuild in: images" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".tmp") == []


def test_pack_dataset_names_an_original_it_cannot_decode(tmp_path, tree, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # every 32x32 PNG is a "bomb" now
    out = tmp_path / "a.npz"
    with pytest.raises(DatasetLayoutError, match=r"rps/paper/paper00\.png: .*exceeds limit"):
        _pack_module().main(["--from-originals", str(tree), "--out", str(out)])
    assert not out.exists()


def test_download_rps_book_signature_extracts_into_the_current_folder(
    tmp_path, archives, monkeypatch
):
    import inspect

    urls, sums, _ = archives
    parameters = inspect.signature(download_rps).parameters
    assert next(iter(parameters)) == "localfolder" and parameters["localfolder"].default == ""
    work = tmp_path / "notebook"
    work.mkdir()
    monkeypatch.chdir(work)
    assert download_rps(urls=urls, sha256=sums) == Path("")
    assert _entries(work) == ["rps", "rps-test-set"]
    assert len(list((work / "rps" / "rock").iterdir())) == N_PER_CLASS["rps"]


# --------------------------------------------------------------------------- unusual images


def _unusual(mode: str, size: tuple[int, int] = (40, 40)) -> Image.Image:
    rng = np.random.default_rng(5)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (size[1], size[0]), dtype=np.uint16))
    if mode == "P":
        return rgb.quantize(16)
    return rgb.convert(mode)


@pytest.mark.parametrize(
    ("mode", "suffix", "size"),
    [
        ("L", ".png", (40, 40)),
        ("P", ".png", (40, 40)),
        ("LA", ".png", (40, 40)),
        ("1", ".png", (40, 40)),
        ("I;16", ".png", (40, 40)),
        ("RGB", ".png", (300, 300)),
        ("RGBA", ".png", (20, 20)),
        ("CMYK", ".jpg", (40, 40)),
    ],
)
def test_unusual_images_decode_as_image_folder_does(tree, mode, suffix, size):
    from torchvision.datasets import ImageFolder

    victim = tree / "rps" / "paper" / "paper01.png"
    victim.unlink()
    image = _unusual(mode, size)
    image.save(victim.with_suffix(suffix))
    with Image.open(victim.with_suffix(suffix)) as reread:
        assert reread.mode in ({"I;16", "I"} if mode == "I;16" else {mode})
    reference = ImageFolder(str(tree / "rps"), transform=v2.Compose([v2.Resize(28), v2.ToImage()]))
    if mode == "I;16":  # clipped to 255 as ImageFolder does, but not silently
        with pytest.warns(ImageDecodeWarning, match=r"paper01\.png has 'I;16' pixels") as caught:
            ours = load_split(tree, "train", cache_dir=False)
        assert len(caught) == 1
    else:
        ours = load_split(tree, "train", cache_dir=False)
    expected = torch.stack([reference[i][0] for i in range(len(reference))])
    assert torch.equal(ours.images, expected)
    assert ours.targets.tolist() == [label for _, label in reference.samples]


def test_non_square_image_names_the_file(tree):
    from torchvision.datasets import ImageFolder

    odd = tree / "rps" / "rock" / "rock02.png"
    _unusual("RGB", (42, 28)).save(odd)
    with pytest.raises(DatasetLayoutError, match=r"rock02\.png is not square: .*\(3, 28, 42\)"):
        load_split(tree, "train", cache_dir=False)
    reference = ImageFolder(str(tree / "rps"), transform=v2.Compose([v2.Resize(28), v2.ToImage()]))
    index = [Path(p).name for p, _ in reference.samples].index("rock02.png")
    to_float = v2.ToDtype(torch.float32, scale=True)
    assert torch.equal(image_folder(tree, "train")[index][0], to_float(reference[index][0]))


# --------------------------------------------------------------------------- bad arguments


def test_numpy_integers_are_accepted_and_bad_batch_sizes_named(tree):
    assert len(load_rps(tree, batch_size=np.int64(5)).train_loader) == 3
    with pytest.raises(TypeError, match=r"batch_size must be a positive integer, got 16\.0"):
        load_rps(tree, batch_size=16.0)
    with pytest.raises(TypeError, match="batch_size must be a positive integer, got True"):
        load_rps(tree, batch_size=True)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        load_rps(tree, batch_size=np.int32(0))


def test_device_is_honoured_or_refused(tree):
    for preload in (True, False):
        rps = load_rps(tree, batch_size=4, preload=preload, device="meta")
        for loader in (rps.train_loader, rps.val_loader):
            x, y = next(iter(loader))
            assert (x.device.type, y.device.type) == ("meta", "meta"), preload
    with pytest.raises(ValueError, match=r"device='gpu' is not a device .*pass 'cpu', 'cuda'"):
        load_rps(tree, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device='cuda' cannot be used on this machine"):
            load_rps(tree, device="cuda")


def test_bad_arguments_name_the_argument(tree):
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator"):
        load_rps(tree, generator=np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"cache_dir must be a folder, None .* or False"):
        load_split(tree, "val", cache_dir=True)
    images = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="images is empty"):
        data.ImageTensorDataset(images[:0], torch.zeros(0, dtype=torch.int64), data.CLASSES)
    with pytest.raises(
        TypeError, match=r"targets must hold integer class indices, got torch\.float32"
    ):
        data.ImageTensorDataset(images, torch.zeros(2), data.CLASSES)
    with pytest.raises(TypeError, match=r"must be torch\.Tensors, got ndarray and Tensor"):
        data.ImageTensorDataset(images.numpy(), torch.zeros(2, dtype=torch.int64), data.CLASSES)
    with pytest.raises(
        TypeError, match=r"images must be floating point, got torch\.uint8: .*ToDtype"
    ):
        statistics_per_channel(images)
    with pytest.raises(TypeError, match=r"images must be a torch\.Tensor"):
        statistics_per_channel(images.numpy())
    with pytest.raises(ValueError, match="loader yielded no batches"):
        make_normalizer(DataLoader([], batch_size=4))


# --------------------------------------------------------------------------- odd inputs


def test_file_name_that_is_not_utf8_loads_with_and_without_the_cache(tree, tmp_path):
    odd = tree / "rps-test-set" / "rock" / os.fsdecode(b"rock\xff.png")
    (tree / "rps-test-set" / "rock" / "rock01.png").rename(odd)
    uncached = load_split(tree, "val", cache_dir=False)
    cached = load_split(tree, "val", cache_dir=tmp_path / "decoded")
    assert torch.equal(cached.images, uncached.images)
    again = load_split(tree, "val", cache_dir=tmp_path / "decoded")  # from the cache file
    assert torch.equal(again.images, cached.images)
    assert len(image_folder(tree, "val")) == len(cached) == 6


def test_decompression_bomb_names_the_file(tree, monkeypatch):
    # 32x32 = 1024 pixels, more than twice the limit: Pillow refuses to open the file.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DatasetLayoutError, match=r"rps-test-set/paper/paper00\.png: .*MAX_IMAGE"):
        load_split(tree, "val", cache_dir=False)
    with pytest.raises(DatasetLayoutError, match=r"rps-test-set/paper/paper00\.png"):
        image_folder(tree, "val")[0]


def test_tilde_paths_mean_the_home_folder(tree, tmp_path, monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    load_split(tree, "val", cache_dir="~/argument")
    monkeypatch.setenv("RPSBOOK_CACHE_DIR", "~/variable")
    load_split(tree, "val")
    monkeypatch.setenv("XDG_CACHE_HOME", "~/xdg")
    assert data.default_cache_dir() == home / "xdg" / "rpsbook"
    assert list(cwd.iterdir()) == []
    assert len(list((home / "argument").glob("rps-test-set-*.pt"))) == 1
    assert len(list((home / "variable").glob("rps-test-set-*.pt"))) == 1


def test_every_public_name_has_a_docstring():
    missing = []
    for name in data.__all__:
        obj = getattr(data, name)
        if callable(obj) and not (obj.__doc__ or "").strip():
            missing.append(name)
        for attr, member in vars(obj).items() if isinstance(obj, type) else ():
            public = callable(member) and not attr.startswith("_")
            if public and not (member.__doc__ or "").strip():
                missing.append(f"{name}.{attr}")
    assert missing == []


def test_torch_only_normalization_equals_torchvisions_bit_for_bit():
    images = torch.randint(0, 256, (7, 3, 28, 28), dtype=torch.uint8, generator=torch.Generator())
    mean, std = [0.8489311337471008, 0.8198, 0.1], [0.2164733111858368, 0.26, 0.3]
    expected = v2.Normalize(mean, std)(v2.ToDtype(torch.float32, scale=True)(images))
    assert torch.equal(data.normalize(data.to_float(images), mean, std), expected)
    with pytest.raises(ValueError, match="std has a zero"):
        data.normalize(data.to_float(images), mean, [1.0, 0.0, 1.0])
    with pytest.raises(TypeError, match="must be uint8"):
        data.to_float(images.float())


_LAZY_PROBE = """
import pickle, sys
from rpsbook import data
rps = data.load_rps()
before = "torchvision" in sys.modules
folder = pickle.loads(sys.stdin.buffer.read())
image, label = folder[0]
print(before, type(folder).__module__, type(folder).__qualname__, len(folder), tuple(image.shape))
print(rps.normalizer.mean == rps.mean, "torchvision" in sys.modules)
"""


def test_a_decode_cache_hit_needs_no_torchvision(tree, tmp_path):
    # Decoding needs torchvision; reading the cache must not import it (with it
    # torch._dynamo: ~1.1 s for every page that loads a folder of PNGs).
    import subprocess
    import sys

    cache = tmp_path / "cache"
    load_split(tree, "train", cache_dir=cache)
    load_split(tree, "val", cache_dir=cache)
    probe = (
        "import sys, warnings\n"
        "warnings.simplefilter('error')\n"  # a cache that did not check out warns
        "from rpsbook.data import load_rps\n"
        f"rps = load_rps({str(tree)!r}, cache_dir={str(cache)!r})\n"
        "print(len(rps.train_dataset), len(rps.val_dataset), 'torchvision' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    train, val = (len(load_split(tree, split, cache_dir=False)) for split in ("train", "val"))
    assert done.stdout.split() == [str(train), str(val), "False"]


def test_importing_rpsbook_data_imports_no_torchvision():
    # What `python -X importtime -c "import rpsbook.data"` lists: the decoding module, not
    # the ImageFolder subclass's module, and nothing of torchvision.
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import rpsbook.data"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()[1:]]
    assert "rpsbook.data.decoding" in imported
    assert "rpsbook.data.checked_folder" not in imported
    assert [name for name in imported if name.split(".")[0] == "torchvision"] == []


def test_load_rps_needs_no_torchvision_and_image_folders_pickle(tree):
    import pickle
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("RPSBOOK_DATA_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", _LAZY_PROBE],
        input=pickle.dumps(image_folder(tree, "val")),
        capture_output=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split("\n")[:2] == [
        "False rpsbook.data.checked_folder CheckedImageFolder 6 (3, 28, 28)",
        "True True",
    ]
