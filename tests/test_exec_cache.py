"""docs/_ext/exec_cache.py: which gallery scripts a docs build runs again, and why."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch
from docs_ext import EXT, ext_modules

pytest.importorskip("sphinx_gallery")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def exec_cache():
    with ext_modules("exec_cache") as modules:
        yield modules.exec_cache


ENVIRONMENT = {
    "rpsbook": "a" * 64,
    "versions": {"torch": "2.14.1"},
    "data": "folder:" + "b" * 64,
    "device": "cpu",
    "threads": 2,
    "cpu_kernels": "AVX512",
    "hooks": {"parallel": 1},
    "env": {"RPSBOOK_PROGRESS": "0"},
}
SCRIPTS = ("plot_01_a.py", "plot_02_b.py", "plot_03_c.py")


@pytest.fixture
def gallery(tmp_path: Path) -> tuple[Path, Path]:
    """Three scripts and Sphinx-Gallery's output folder, as after a build that ran them all."""
    examples, out = tmp_path / "gallery", tmp_path / "auto_examples"
    examples.mkdir()
    out.mkdir()
    for number, name in enumerate(SCRIPTS):
        (examples / name).write_text(f'"""Page {number}\n==========\n"""\nprint({number})\n')
    return examples, out


def _sphinx_gallery_ran(examples: Path, out: Path, names=SCRIPTS) -> None:
    """What Sphinx-Gallery leaves after running ``names`` successfully: copy + ``.md5``."""
    for name in names:
        shutil.copyfile(examples / name, out / name)
        digest = hashlib.md5((examples / name).read_bytes()).hexdigest()
        (out / f"{name}.md5").write_text(digest)


def _md5s(out: Path) -> set[str]:
    return {p.name.removesuffix(".md5") for p in out.glob("*.md5")}


def test_a_first_build_runs_every_script_and_records_its_key(exec_cache, gallery):
    examples, out = gallery
    assert exec_cache.invalidate(examples, out, ENVIRONMENT) == {n: ["no key"] for n in SCRIPTS}
    _sphinx_gallery_ran(examples, out)
    assert exec_cache.record(examples, out, ENVIRONMENT) == 3
    key = json.loads((out / "plot_02_b.rpsbook-key.json").read_text())
    source = (examples / "plot_02_b.py").read_bytes()
    assert key == {"script": hashlib.sha256(source).hexdigest(), **ENVIRONMENT}
    assert not list(out.glob("*.tmp"))
    assert exec_cache.record(examples, out, ENVIRONMENT) == 0  # already current


def test_nothing_changed_runs_nothing(exec_cache, gallery):
    examples, out = gallery
    _sphinx_gallery_ran(examples, out)
    exec_cache.record(examples, out, ENVIRONMENT)
    assert exec_cache.invalidate(examples, out, ENVIRONMENT) == {}
    assert _md5s(out) == set(SCRIPTS)


@pytest.mark.parametrize(
    ("part", "value"),
    [
        ("rpsbook", "c" * 64),
        ("versions", {"torch": "2.15.0"}),
        ("data", "embedded:" + "d" * 64),
        ("device", "cuda:0 (NVIDIA H100)"),
        ("threads", 1),
        ("cpu_kernels", "AVX2"),
        ("env", {"RPSBOOK_PROGRESS": None}),
    ],
)
def test_a_changed_library_version_dataset_device_or_thread_count_runs_every_script(
    exec_cache, gallery, part, value
):
    examples, out = gallery
    _sphinx_gallery_ran(examples, out)
    exec_cache.record(examples, out, ENVIRONMENT)
    changed = {**ENVIRONMENT, part: value}
    assert exec_cache.invalidate(examples, out, changed) == {n: [part] for n in SCRIPTS}
    assert _md5s(out) == set()  # Sphinx-Gallery now runs them all
    assert not list(out.glob("*.rpsbook-key.json"))


def test_a_prose_edit_of_one_page_runs_only_that_page(exec_cache, gallery):
    examples, out = gallery
    _sphinx_gallery_ran(examples, out)
    exec_cache.record(examples, out, ENVIRONMENT)
    page = examples / "plot_02_b.py"
    page.write_text(page.read_text().replace("Page 1", "Page one"))
    assert exec_cache.invalidate(examples, out, ENVIRONMENT) == {"plot_02_b.py": ["script"]}
    assert _md5s(out) == {"plot_01_a.py", "plot_03_c.py"}


def test_a_failed_or_interrupted_run_is_run_again(exec_cache, gallery):
    examples, out = gallery
    _sphinx_gallery_ran(examples, out)
    exec_cache.record(examples, out, ENVIRONMENT)
    changed = {**ENVIRONMENT, "rpsbook": "e" * 64}
    exec_cache.invalidate(examples, out, changed)
    _sphinx_gallery_ran(examples, out, SCRIPTS[:1])  # the build stopped at the second script
    assert exec_cache.record(examples, out, changed) == 1
    assert exec_cache.invalidate(examples, out, changed) == {
        "plot_02_b.py": ["no key"],
        "plot_03_c.py": ["no key"],
    }
    (out / "plot_01_a.rpsbook-key.json").write_text('{"script": "trunc')  # half-written
    assert "plot_01_a.py" in exec_cache.invalidate(examples, out, changed)


def test_tree_digest_reads_contents_and_names_not_caches(exec_cache, tmp_path):
    shutil.copytree(ROOT / "rpsbook", tmp_path / "rpsbook", ignore=shutil.ignore_patterns("*.pyc"))
    package = tmp_path / "rpsbook"
    before = exec_cache.tree_digest(package)
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "models.cpython-312.pyc").write_bytes(b"\0")
    (package / ".models.py.swp").write_bytes(b"\0")
    assert exec_cache.tree_digest(package) == before
    data_readme = package / "_data" / "README.md"
    data_readme.write_text(data_readme.read_text() + "\n")  # data files count too
    edited = exec_cache.tree_digest(package)
    assert edited != before
    (package / "_data" / "README.md").rename(package / "_data" / "README.txt")
    assert exec_cache.tree_digest(package) not in (before, edited)


def _png_tree(root: Path) -> None:
    for split in ("rps", "rps-test-set"):
        for name in ("paper", "rock", "scissors"):
            (root / split / name).mkdir(parents=True)
            (root / split / name / "0.png").write_bytes(name.encode())


def test_data_digest_follows_what_locate_chooses(exec_cache, tmp_path, monkeypatch):
    monkeypatch.delenv("RPSBOOK_DATA_DIR", raising=False)
    npz = ROOT / "rpsbook" / "_data" / "rps28.npz"
    assert exec_cache.data_digest() == "embedded:" + hashlib.sha256(npz.read_bytes()).hexdigest()
    _png_tree(tmp_path)
    monkeypatch.setenv("RPSBOOK_DATA_DIR", str(tmp_path))
    folder = exec_cache.data_digest()
    assert folder.startswith("folder:")
    (tmp_path / "rps-test-set" / "rock" / "0.png").write_bytes(b"another image")
    assert exec_cache.data_digest() not in (folder, "folder:")


def test_environment_key_names_this_process(exec_cache):
    key = exec_cache.environment_key({"image_scrapers": (exec_cache.tree_digest,), "parallel": 1})
    assert key["threads"] == torch.get_num_threads()
    assert key["cpu_kernels"] == torch.backends.cpu.get_cpu_capability()
    assert key["versions"]["torch"] == torch.__version__.split("+")[0]
    assert key["device"].startswith(os.environ.get("RPSBOOK_DEVICE") or "c")  # cpu or cuda
    assert key["hooks"]["image_scrapers"] == ["exec_cache.tree_digest"]
    assert key["rpsbook"] == exec_cache.tree_digest(ROOT / "rpsbook")
    json.dumps(key)  # recordable as it is


CONF = """
import sys
sys.path.insert(0, {ext!r})
extensions = ["sphinx_gallery.gen_gallery", "exec_cache"]
exclude_patterns = ["_build"]
sphinx_gallery_conf = {{"examples_dirs": "gallery", "gallery_dirs": "auto_examples",
                       "filename_pattern": "plot_", "download_all_examples": False}}
"""
PAGE = '''"""
{title}
=======

Prose.
"""

import rpsbook._utils

print("probe:", getattr(rpsbook._utils, "EXEC_CACHE_PROBE", "old"))
'''


@pytest.mark.slow
def test_docs_builds_rerun_after_a_library_change_and_only_the_edited_page(tmp_path):
    """Four real Sphinx builds of a two-page gallery against a copy of rpsbook."""
    lib, docs = tmp_path / "lib", tmp_path / "docs"
    shutil.copytree(ROOT / "rpsbook", lib / "rpsbook", ignore=shutil.ignore_patterns("*.pyc"))
    (docs / "gallery").mkdir(parents=True)
    (docs / "conf.py").write_text(CONF.format(ext=str(EXT)))
    (docs / "index.rst").write_text("Test\n====\n\n.. toctree::\n\n   auto_examples/index\n")
    (docs / "gallery" / "README.rst").write_text("Gallery\n=======\n")
    for name in ("plot_a", "plot_b"):
        (docs / "gallery" / f"{name}.py").write_text(PAGE.format(title=name))
    env = {**os.environ, "PYTHONPATH": str(lib), "MPLBACKEND": "Agg"}
    env.pop("RPSBOOK_DATA_DIR", None)

    def md5_times() -> dict[str, int]:
        return {p.name: p.stat().st_mtime_ns for p in (docs / "auto_examples").glob("*.md5")}

    def build() -> list[str]:
        """The scripts this build ran: Sphinx-Gallery rewrites a ``.md5`` after each run."""
        before = md5_times() if (docs / "auto_examples").is_dir() else {}
        done = subprocess.run(
            [sys.executable, "-m", "sphinx", "-b", "html", "-q", "docs", "docs/_build"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        after = md5_times()
        return sorted(n.removesuffix(".py.md5") for n in after if before.get(n) != after[n])

    assert build() == ["plot_a", "plot_b"]
    assert build() == []  # nothing changed
    utils = lib / "rpsbook" / "_utils.py"
    utils.write_text(utils.read_text() + '\nEXEC_CACHE_PROBE = "new"\n')
    assert build() == ["plot_a", "plot_b"]  # a library change runs both again
    for name in ("plot_a", "plot_b"):
        assert "probe: new" in (docs / "auto_examples" / f"{name}.rst").read_text()
    page = docs / "gallery" / "plot_b.py"
    page.write_text(page.read_text().replace("Prose.", "Better prose."))
    assert build() == ["plot_b"]


def test_a_missing_dataset_stops_the_build_before_anything_runs(exec_cache, tmp_path, monkeypatch):
    from sphinx.errors import ConfigError

    monkeypatch.setenv("RPSBOOK_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"gallery cannot run: .*nowhere.*\n?Fix"):
        exec_cache._check_data(None, None)


def test_a_page_s_key_holds_the_distributions_it_imports(exec_cache, gallery, monkeypatch):
    """Page 06 prints torch-lr-finder's suggestion: a new release of it runs that page."""
    examples, out = gallery
    installed = metadata.version("torch-lr-finder")  # the docs extra installs it
    page = examples / "plot_02_b.py"
    page.write_text(page.read_text() + "from torch_lr_finder import LRFinder\n")
    versions = exec_cache.script_key(page, ENVIRONMENT)["versions"]
    assert versions["torch-lr-finder"] == installed
    assert versions["tqdm"] == metadata.version("tqdm")  # a requirement of it
    assert versions["torch"] == "2.14.1"  # the environment's own entries stay
    assert exec_cache.script_key(examples / "plot_01_a.py", ENVIRONMENT) == {
        "script": hashlib.sha256((examples / "plot_01_a.py").read_bytes()).hexdigest(),
        **ENVIRONMENT,
    }
    _sphinx_gallery_ran(examples, out)
    exec_cache.record(examples, out, ENVIRONMENT)
    real = metadata.distribution

    class Upgraded:
        version = installed + ".post1"
        requires = real("torch-lr-finder").requires

    def distribution(name):
        return Upgraded if name == "torch-lr-finder" else real(name)

    monkeypatch.setattr(metadata, "distribution", distribution)
    assert exec_cache.invalidate(examples, out, ENVIRONMENT) == {"plot_02_b.py": ["versions"]}


def test_environment_versions_cover_what_rpsbook_and_the_hooks_import(exec_cache):
    versions = exec_cache.environment_key({})["versions"]
    for name in ("torch", "torchvision", "numpy", "matplotlib", "pillow", "sphinx-gallery"):
        assert versions[name] == metadata.version(name)
    assert versions["python"] == platform.python_version()
    assert "torch-lr-finder" not in versions  # only page 06 imports it


def test_data_digest_follows_symlinked_split_folders(exec_cache, tmp_path, monkeypatch):
    real, linked, copied = tmp_path / "real", tmp_path / "linked", tmp_path / "copied"
    _png_tree(real)
    _png_tree(copied)
    linked.mkdir()
    for split in ("rps", "rps-test-set"):
        (linked / split).symlink_to(real / split, target_is_directory=True)
    (linked / "rps" / "loop").symlink_to(linked, target_is_directory=True)  # entered once
    assert exec_cache.tree_digest(linked) != exec_cache.tree_digest(tmp_path / "empty")
    (copied / "rps" / "loop").mkdir()  # what the link shows: a folder, once
    assert exec_cache.tree_digest(linked) == exec_cache.tree_digest(copied)
    monkeypatch.setenv("RPSBOOK_DATA_DIR", str(linked))
    before = exec_cache.data_digest()
    (real / "rps" / "rock" / "0.png").write_bytes(b"another image")
    assert exec_cache.data_digest() != before


def test_record_leaves_a_concurrent_build_s_temporary_file_alone(exec_cache, gallery):
    """Two builds of one folder: each writes its own temporary file, none renames the other's."""
    examples, out = gallery
    _sphinx_gallery_ran(examples, out)
    theirs = out / "plot_01_a.rpsbook-key.json.tmp"  # the name every build used to share
    theirs.write_text("the other build's key, half written")
    assert exec_cache.record(examples, out, ENVIRONMENT) == 3
    assert theirs.read_text() == "the other build's key, half written"
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")) == [theirs.name]


class _Scraper:
    """A scraper given as an object, as Sphinx-Gallery allows."""

    def __init__(self, scale: int) -> None:
        self.scale = scale

    def __call__(self, block, block_vars, gallery_conf):
        return ""


def test_hooks_given_as_objects_enter_the_key_by_what_they_are(exec_cache):
    def hooks(*scrapers):
        return exec_cache._stable({"image_scrapers": scrapers})

    same = hooks(_Scraper(2), functools.partial(exec_cache.tree_digest, Path("a")))
    assert same == hooks(_Scraper(2), functools.partial(exec_cache.tree_digest, Path("a")))
    assert same != hooks(_Scraper(3), functools.partial(exec_cache.tree_digest, Path("a")))
    assert same != hooks(_Scraper(2), functools.partial(exec_cache.tree_digest, Path("b")))
    assert "0x" not in json.dumps(same)
    assert same["image_scrapers"][0] == {
        "object": "test_exec_cache._Scraper",
        "attributes": {"scale": 2},
    }


def test_settings_that_shape_a_run_s_page_enter_the_key(exec_cache):
    """Sphinx-Gallery writes the thumbnail and the notebook only when a script runs."""
    hooks = exec_cache.environment_key({"thumbnail_size": (400, 225)})["hooks"]
    assert hooks["thumbnail_size"] == [400, 225]
    assert hooks["first_notebook_cell"] is None
    for setting in ("first_notebook_cell", "remove_config_comments", "image_srcset"):
        assert setting in exec_cache.CONF_KEYS
