"""Fault injection for rpsbook.data: killed, concurrent and read-only runs, full disks and
damaged caches. Downloads come from a local HTTP server on 127.0.0.1; other processes are
real processes (multiprocessing, forkserver), killed with SIGKILL where a test says so."""

from __future__ import annotations

import errno
import http.server
import multiprocessing
import os
import signal
import stat
import threading
import time
import zipfile
from pathlib import Path

import pytest
import torch
from test_data import N_PER_CLASS, _entries, _make_tree, _sha, _zip_folder

from rpsbook import data
from rpsbook.data import DataCacheWarning, decoding, download_rps, files, load_split

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX processes and signals")

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# --------------------------------------------------------------------------- fixtures


class _Server:
    """Serves the two archives; ``stall`` makes it send half of ``rps.zip`` and then wait;
    ``delay`` (seconds) holds every answer back, so that concurrent clients overlap."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests: list[str] = []
        self.delay = 0.0
        self.stall = threading.Event()
        self.release = threading.Event()
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                time.sleep(server.delay)
                if not (server.stall.is_set() and self.path == "/rps.zip"):
                    return super().do_GET()
                payload = (folder / "rps.zip").read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                server.release.wait(60)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def archives(self, tree: Path) -> tuple[dict[str, str], dict[str, str]]:
        urls, sums = {}, {}
        for name in N_PER_CLASS:
            path = _zip_folder(tree, name, self.folder / f"{name}.zip")
            urls[name], sums[name] = f"{self.base}/{name}.zip", _sha(path)
        return urls, sums


@pytest.fixture
def served(tmp_path: Path):
    """(server, urls, sha256) for a miniature dataset."""
    tree = _make_tree(tmp_path / "served-source")
    folder = tmp_path / "served"
    folder.mkdir()
    server = _Server(folder)
    urls, sums = server.archives(tree)
    server.thread.start()
    try:
        yield server, urls, sums
    finally:
        server.release.set()
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join()


@pytest.fixture(scope="module")
def processes():
    """A multiprocessing context whose children start from a server that already imported
    rpsbook.data (forkserver), so each child starts in milliseconds, without fork's
    thread-safety problems in this multi-threaded test process."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["rpsbook.data"])
    return context


def _download(root: str, urls: dict[str, str], sums: dict[str, str]) -> None:
    download_rps(root, urls=urls, sha256=sums, progress=False)


def _download_and_die_in_extraction(root: str, urls: dict[str, str], sums: dict[str, str]):
    """Extract two members of the archive, then SIGKILL this process (fault injection)."""

    def dying_extractall(self, path=None, members=None, pwd=None):
        for info in self.infolist()[:2]:
            self.extract(info, path)
        os.kill(os.getpid(), signal.SIGKILL)

    zipfile.ZipFile.extractall = dying_extractall
    download_rps(root, urls=urls, sha256=sums, progress=False)


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(files._TMP_PREFIX))


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the child process")
        time.sleep(0.05)


def _check_complete(root: Path) -> None:
    for folder, n in N_PER_CLASS.items():
        for name in data.CLASSES:
            assert len(list((root / folder / name).iterdir())) == n
    assert _entries(root) == ["rps", "rps-test-set"]


# --------------------------------------------------------------------------- downloads


def test_killed_mid_download_leaves_nothing_that_blocks_the_next_run(tmp_path, served, processes):
    server, urls, sums = served
    root = tmp_path / "data"
    server.stall.set()
    child = processes.Process(target=_download, args=(str(root), urls, sums))
    child.start()
    _wait_for(lambda: root.is_dir() and _leftovers(root))
    part = root / _leftovers(root)[0]
    _wait_for(lambda: part.exists() and part.stat().st_size > 0)
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    assert _leftovers(root), "the killed run left its partial download behind"
    assert not (root / "rps").exists()
    server.stall.clear()
    server.release.set()
    download_rps(root, urls=urls, sha256=sums)
    _check_complete(root)
    assert _leftovers(root) == []


def test_killed_during_extraction_is_cleaned_up_and_redone(tmp_path, served, processes):
    server, urls, sums = served
    root = tmp_path / "data"
    child = processes.Process(target=_download_and_die_in_extraction, args=(str(root), urls, sums))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    left = _leftovers(root)
    # The downloaded archive and the half-extracted folder, both under temporary names.
    assert sorted((root / name).is_dir() for name in left) == [False, True], left
    assert not (root / "rps").exists(), "a split must appear only when it is complete"
    download_rps(root, urls=urls, sha256=sums)
    _check_complete(root)
    assert server.requests.count("/rps.zip") == 2


def test_concurrent_downloads_into_one_folder(tmp_path, served, processes):
    server, urls, sums = served
    server.delay = 0.5
    root = tmp_path / "data"
    children = [
        processes.Process(target=_download, args=(str(root), urls, sums)) for _ in range(4)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    assert [child.exitcode for child in children] == [0, 0, 0, 0]
    _check_complete(root)
    # The lock makes the others wait and reuse the first one's result.
    assert sorted(server.requests) == ["/rps-test-set.zip", "/rps.zip"]


def test_concurrent_threads_in_one_process(tmp_path, served):
    server, urls, sums = served
    server.delay = 0.5
    root = tmp_path / "data"
    errors: list[BaseException] = []

    def run():
        try:
            download_rps(root, urls=urls, sha256=sums)
        except BaseException as exc:  # collected and re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _check_complete(root)
    assert sorted(server.requests) == ["/rps-test-set.zip", "/rps.zip"]


def test_hidden_files_do_not_trigger_a_new_download(tmp_path, served):
    server, urls, sums = served
    root = download_rps(tmp_path / "data", urls=urls, sha256=sums)
    for folder in ("rps", "rps/rock", "rps-test-set/paper"):
        (root / folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "rps" / "._rock00.png").write_bytes(b"AppleDouble")
    before = (root / "rps" / "rock" / "rock00.png").stat().st_ino
    download_rps(root, urls=urls, sha256=sums)
    assert len(server.requests) == 2, "a .DS_Store must not make the split look incomplete"
    assert (root / "rps" / "rock" / "rock00.png").stat().st_ino == before
    assert (root / "rps" / "rock" / ".DS_Store").is_file()


def test_complete_folder_is_not_written_to(tmp_path, served):
    """A complete dataset in a read-only place (a shared or mounted copy) still works."""
    server, urls, sums = served
    root = download_rps(tmp_path / "data", urls=urls, sha256=sums)
    (root / files._LOCK).unlink()
    snapshot = sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*"))
    download_rps(root, urls=urls, sha256=sums)
    assert sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*")) == snapshot
    assert len(server.requests) == 2


@pytest.mark.skipif(IS_ROOT, reason="root ignores file permissions")
def test_read_only_complete_folder(tmp_path, served):
    _, urls, sums = served
    root = download_rps(tmp_path / "data", urls=urls, sha256=sums)
    root.chmod(0o555)
    try:
        assert download_rps(root, urls=urls, sha256=sums) == root
        assert load_split(root, "val", cache_dir=False).images.shape[0] == 6
    finally:
        root.chmod(0o755)


# --------------------------------------------------------------------------- decoded cache


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return _make_tree(tmp_path / "source")


def test_cache_folder_that_cannot_be_created(tree, tmp_path):
    """A real fault even for root: the cache path runs through a regular file."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    expected = load_split(tree, "val", cache_dir=False)
    with pytest.warns(DataCacheWarning, match=rf"cache in {blocker / 'decoded'}"):
        got = load_split(tree, "val", cache_dir=blocker / "decoded")
    assert torch.equal(got.images, expected.images)


def test_disk_full_while_writing_the_cache(tree, tmp_path, monkeypatch):
    cache = tmp_path / "decoded"
    real_save = torch.save

    def save_until_full(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save_until_full)
    with pytest.warns(DataCacheWarning, match="No space left on device"):
        first = load_split(tree, "val", cache_dir=cache)
    assert list(cache.iterdir()) == [], "the partial cache file must be removed"
    monkeypatch.setattr(torch, "save", real_save)
    again = load_split(tree, "val", cache_dir=cache)
    assert torch.equal(first.images, again.images)
    assert len(list(cache.glob("rps-test-set-*.pt"))) == 1


@pytest.mark.skipif(IS_ROOT, reason="root ignores file permissions")
def test_read_only_cache_folder(tree, tmp_path):
    cache = tmp_path / "decoded"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        with pytest.warns(DataCacheWarning, match="could not write"):
            load_split(tree, "val", cache_dir=cache)
    finally:
        cache.chmod(0o755)


def _flip_image_byte(path: Path) -> None:
    """Change one pixel inside the saved tensor (the archive stays a valid torch file)."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    storage = max((n for n in members if "/data/" in n), key=lambda n: len(members[n]))
    blob = bytearray(members[storage])
    blob[len(blob) // 2] ^= 0xFF
    members[storage] = bytes(blob)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "flipped pixel", "wrong"])
def test_damaged_cache_file_is_detected_and_rebuilt(tree, tmp_path, monkeypatch, damage):
    cache = tmp_path / "decoded"
    good = load_split(tree, "val", cache_dir=cache)
    (cache_file,) = cache.glob("rps-test-set-*.pt")
    if damage == "truncated":
        cache_file.write_bytes(cache_file.read_bytes()[:-500])
    elif damage == "garbage":
        cache_file.write_bytes(os.urandom(4096))
    elif damage == "empty":
        cache_file.write_bytes(b"")
    elif damage == "flipped pixel":
        _flip_image_byte(cache_file)
    else:  # a well-formed file whose tensors are not what the key promises
        stored = torch.load(cache_file, weights_only=True)
        stored["images"] = torch.zeros_like(stored["images"])
        torch.save(stored, cache_file)
    with pytest.warns(DataCacheWarning, match=rf"{cache_file.name} is damaged"):
        rebuilt = load_split(tree, "val", cache_dir=cache)
    assert torch.equal(rebuilt.images, good.images)

    def no_decoding(path):
        raise AssertionError("the rebuilt cache should have been used")

    monkeypatch.setattr(decoding, "_decode", no_decoding)
    assert torch.equal(load_split(tree, "val", cache_dir=cache).images, good.images)


# --------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["022", "027"])
def test_written_files_follow_the_umask(tmp_path, tree, served, umask):
    _, urls, sums = served
    old = os.umask(umask)
    try:
        load_split(tree, "val", cache_dir=tmp_path / "decoded")
        root = download_rps(tmp_path / "data", urls=urls, sha256=sums)
        embedded = data.extract_embedded(tmp_path / "rps28")
    finally:
        os.umask(old)
    file_mode, dir_mode = 0o666 & ~umask, 0o777 & ~umask
    (cache_file,) = (tmp_path / "decoded").glob("*.pt")
    checked = {
        cache_file: file_mode,
        root / "rps": dir_mode,
        root / "rps" / "rock": dir_mode,
        root / "rps" / ".rpsbook-complete": file_mode,
        embedded / "rps-test-set": dir_mode,
        embedded / "rps-test-set" / "paper": dir_mode,
        next((embedded / "rps-test-set" / "paper").iterdir()): file_mode,
    }
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in checked} == {
        p.name: oct(mode) for p, mode in checked.items()
    }
