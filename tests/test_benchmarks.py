"""``python -m benchmarks`` on a tiny synthetic dataset: output structure, no timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import docutils.core
import docutils.utils
import numpy as np
import pytest
import torch
from PIL import Image
from sphinx_gallery.gen_gallery import write_computation_times
from sphinx_gallery.gen_rst import ExampleCost
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("paper", "rock", "scissors")
EPOCH_VARIANTS = {
    "naive",
    "preloaded",
    "floor",
    "trainer floor",
    "batched",
    "naive data",
    "preloaded data",
    "batched data",
}


@pytest.fixture
def bench():
    """The ``benchmarks`` package (the repository root is on pytest's ``pythonpath``)."""
    import benchmarks.pipelines
    import benchmarks.probes
    import benchmarks.timing

    return benchmarks


def _make_tree(root: Path, per_split: dict[str, int]) -> Path:
    """The dataset layout with random opaque 32x32 RGBA PNGs."""
    rng = np.random.default_rng(0)
    for folder, n in per_split.items():
        for name in CLASSES:
            class_dir = root / folder / name
            class_dir.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, size=(32, 32, 4), dtype=np.uint8)
                pixels[..., 3] = 255
                Image.fromarray(pixels, mode="RGBA").save(class_dir / f"{name}{i:02d}.png")
    return root


def _write_gallery_report(docs: Path, seconds: dict[str, float]) -> None:
    """``docs/sg_execution_times.rst`` written by sphinx-gallery's own writer."""
    costs = [
        ExampleCost(t, 0.0, str(docs.parent / "gallery" / name), str(docs / "auto_examples"))
        for name, t in seconds.items()
    ]
    write_computation_times({"write_computation_times": True, "src_dir": str(docs)}, None, costs)


def _rst_problems(text: str) -> list[str]:
    """Messages docutils reports (level >= info, e.g. a cell read as a list) for ``text``."""
    stream = []

    class Collect:
        def write(self, message: str) -> None:
            stream.append(message)

    docutils.core.publish_doctree(
        text, settings_overrides={"report_level": 1, "halt_level": 5, "warning_stream": Collect()}
    )
    return stream


@pytest.mark.slow
def test_quick_run_writes_json_and_rst(tmp_path: Path) -> None:
    data_dir = _make_tree(tmp_path / "data", {"rps": 6, "rps-test-set": 2})
    docs = tmp_path / "docs"
    docs.mkdir()
    gallery = {"plot_01_data.py": 83.5, "plot_02_conv.py": 4.25}
    _write_gallery_report(docs, gallery)
    out = tmp_path / "out"
    command = [sys.executable, "-W", "error", "-m", "benchmarks", "--quick", "--repeats", "1"]
    command += [
        "--only",
        "core",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--docs-dir",
        str(docs),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr

    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["quick"] is True
    assert results["repeats"] == 1
    assert results["machine"]["torch"] == torch.__version__
    assert results["machine"]["devices"]["cpu"] == results["machine"]["cpu"]
    assert results["dataset"]["train_images"] == 18
    assert results["dataset"]["train_batches"] == 2  # 16 + 2

    epoch = results["epoch"]["cpu"]
    assert set(epoch["times"]) == EPOCH_VARIANTS
    for stats in epoch["times"].values():
        assert stats["n"] == 1
        assert stats["min"] == stats["median"] == stats["max"] == stats["samples"][0] > 0
    times = {name: stats["median"] for name, stats in epoch["times"].items()}
    naive_preloaded = epoch["ratios"]["naive/preloaded"]
    assert naive_preloaded["median"] == pytest.approx(times["naive"] / times["preloaded"])
    assert naive_preloaded["best"] == pytest.approx(naive_preloaded["median"])
    assert naive_preloaded["target"] == [">=", 3.0]
    assert epoch["ratios"]["preloaded/floor"]["target"] == ["<=", 1.2]
    assert epoch["ratios"]["naive/floor"]["target"] is None

    lr = results["lr_range_test"]
    assert lr["steps"] == {"rpsbook": 10, "torch-lr-finder": 10}
    assert lr["ratio"]["median"] == pytest.approx(
        lr["times"]["rpsbook"]["median"] / lr["times"]["torch-lr-finder"]["median"]
    )
    assert [t["name"] for t in results["targets"]] == [
        "epoch cpu: naive/preloaded",
        "epoch cpu: preloaded/floor",
        "LR range test: rpsbook/torch-lr-finder",
    ]
    assert [t["target"] for t in results["targets"]] == [">= 3", "<= 1.2", "<= 1"]

    scaling = results["scaling"]
    assert scaling["factors"] == [1, 2]
    assert scaling["images"] == {"1": 18, "2": 36}
    assert set(scaling["times"]) == {"naive", "preloaded", "floor", "batched"}
    growth = scaling["growth"]["floor"]
    assert growth["1"]["median"] == growth["1"]["best"] == 1.0
    assert growth["2"]["median"] == pytest.approx(
        scaling["times"]["floor"]["2"]["median"] / scaling["times"]["floor"]["1"]["median"]
    )

    assert set(results["decode_cache"]["times"]) == {"cold", "warm"}
    labels = {"torch", "rpsbook", "rpsbook API", "optimizer", "page floor"}
    assert set(results["imports"]["times"]) == set(results["imports"]["process"]) == labels
    for label, stats in results["imports"]["process"].items():  # the process outlives its work
        assert stats["median"] > results["imports"]["times"][label]["median"]
    assert results["imports"]["minus_torch"]["torch"] == 0.0

    assert results["gallery"]["examples"] == {f"../gallery/{k}": v for k, v in gallery.items()}
    assert results["gallery"]["total_s"] == pytest.approx(87.75)

    rst = (out / "results.rst").read_text(encoding="utf-8")
    assert _rst_problems(rst) == []
    headings = [
        line
        for line, below in zip(rst.splitlines(), rst.splitlines()[1:], strict=False)
        if below and set(below) == {"~"} and len(below) == len(line)
    ]
    assert headings == [
        "Targets",
        "Training epoch on cpu",
        "Decode cache (one-off)",
        "LR range test",
        "Scaling with the size of the training set",
        "Import time",
        "Gallery execution (last docs build)",
    ]
    assert not any(set(line) <= {"=", "-"} and len(line) > 3 for line in rst.splitlines())
    assert "``plot_01_data.py``" in rst


def test_batched_loader_yields_the_default_loaders_batches(bench) -> None:
    from rpsbook.data import ImageTensorDataset

    images = torch.arange(40 * 3 * 2 * 2, dtype=torch.float32).reshape(40, 3, 2, 2)
    dataset = ImageTensorDataset(images, torch.arange(40) % 3, CLASSES)
    torch.manual_seed(0)
    default = list(DataLoader(dataset, batch_size=16, shuffle=True))
    next_default = torch.rand(3)
    torch.manual_seed(0)
    batched = list(bench.pipelines.batched_loader(dataset))
    next_batched = torch.rand(3)
    assert [len(y) for _, y in batched] == [16, 16, 8]
    for (x_default, y_default), (x_batched, y_batched) in zip(default, batched, strict=True):
        assert torch.equal(x_default, x_batched)
        assert torch.equal(y_default, y_batched)
    assert torch.equal(next_default, next_batched)  # the same random numbers were drawn


def test_stats_and_interleaving(bench) -> None:
    stats = bench.timing.Stats.of([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (stats.median, stats.low, stats.high, stats.q1, stats.q3) == (3.0, 1.0, 5.0, 2.0, 4.0)
    assert stats.samples == (5.0, 1.0, 4.0, 2.0, 3.0)
    calls: list[str] = []
    variants = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = bench.timing.interleaved(variants, 3)
    assert "".join(calls) == "abc" + "abc" + "bca" + "cab"
    assert {name: len(values) for name, values in times.items()} == {"a": 3, "b": 3, "c": 3}
    ratio = bench.timing.per_repeat_ratio({"x": [2.0, 6.0], "y": [1.0, 3.0]}, "x", "y")
    assert ratio == [2.0, 2.0]
    with pytest.raises(ValueError, match="repeats"):
        bench.timing.interleaved(variants, 0)


def test_child_measures_in_a_new_process_and_names_a_failed_one() -> None:
    from benchmarks import child

    printed, wall = child.run(["benchmarks.child", "import", "rpsbook"])
    assert 0 < printed["seconds"] < wall  # the statement alone, inside the process's time
    failed = r"python -m benchmarks\.child import nope` failed \(exit 2\):\n(.|\n)*'nope'"
    with pytest.raises(RuntimeError, match=failed):
        child.run(["benchmarks.child", "import", "nope"])


def test_gallery_times_without_a_build(bench, tmp_path: Path) -> None:
    found = bench.probes.gallery_times(tmp_path)
    assert found["examples"] == {}
    assert found["total_s"] is None
    assert "no docs build found" in found["status"]
    _write_gallery_report(tmp_path, {})
    found = bench.probes.gallery_times(tmp_path)
    assert found["examples"] == {}
    assert found["source"] == str(tmp_path / "sg_execution_times.rst")
    assert found["status"] == "the last docs build executed no gallery example"


def _tiny_project(root: Path) -> Path:
    """A project with two gallery pages and a sphinx-gallery site, for the chapter benchmark."""
    gallery, docs = root / "gallery", root / "docs"
    gallery.mkdir(parents=True)
    docs.mkdir()
    (gallery / "README.rst").write_text("Gallery\n=======\n", encoding="utf-8")
    for name in ("plot_01_one.py", "plot_02_two.py"):
        page = '"""\nPage\n====\n"""\n\nimport os\n\nprint(os.environ["RPSBOOK_DATA_DIR"])\n'
        (gallery / name).write_text(page, encoding="utf-8")
    # Not a page (no plot_ prefix): rendered by sphinx-gallery, never run.
    (gallery / "notes.py").write_text('"""\nNotes\n=====\n"""\n\nraise SystemExit(1)\n')
    conf = (
        'extensions = ["sphinx_gallery.gen_gallery"]\n'
        'sphinx_gallery_conf = {"examples_dirs": "../gallery", "gallery_dirs": "auto_examples",'
        ' "parallel": True}\n'
    )
    (docs / "conf.py").write_text(conf, encoding="utf-8")
    (root / "rpsbook").mkdir()  # the library-change rebuild edits rpsbook/_utils.py
    (root / "rpsbook" / "_utils.py").write_text("", encoding="utf-8")
    index = "Home\n====\n\n.. toctree::\n\n   auto_examples/index\n"
    (docs / "index.rst").write_text(index, encoding="utf-8")
    return root


def _tiny_book(root: Path) -> Path:
    """A clone-like folder whose Chapter06.ipynb checks what the benchmark adapts."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        nbformat.v4.new_code_cell("from IPython.core.display import display, HTML"),
        nbformat.v4.new_markdown_cell("# Data Preparation"),
        nbformat.v4.new_code_cell(
            "import os\nassert sorted(os.listdir('rps')) == ['paper', 'rock', 'scissors']\n"
            "assert os.path.isdir('rps-test-set')\nimport helpers"
        ),
        nbformat.v4.new_markdown_cell("## Convolutions Over Multiple Channels"),
        nbformat.v4.new_code_cell("import time\ntime.sleep(0.2)"),
        nbformat.v4.new_markdown_cell("Prose."),
    ]
    root.mkdir()
    nbformat.write(notebook, root / "Chapter06.ipynb")
    (root / "helpers.py").write_text("", encoding="utf-8")
    return root


@pytest.mark.slow
def test_chapter_only_times_sections_pages_and_builds(tmp_path: Path) -> None:
    data_dir = _make_tree(tmp_path / "data", {"rps": 2, "rps-test-set": 1})
    project = _tiny_project(tmp_path / "project")
    book = _tiny_book(tmp_path / "book")
    out = tmp_path / "out"
    out.mkdir()
    earlier = {"schema": 1, "imports": {"kept": True}, "dataset": {"train_images": 7}}
    (out / "results.json").write_text(json.dumps(earlier), encoding="utf-8")
    command = [sys.executable, "-m", "benchmarks", "--only", "chapter", "--quick"]
    command += ["--repeats", "1", "--data-dir", str(data_dir), "--out", str(out)]
    command += ["--project", str(project), "--book-repo", str(book)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr

    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["imports"] == {"kept": True}  # the other part is kept
    assert results["dataset"]["train_images"] == 7
    table = results["chapter"]
    assert table["notebook"] == f"Chapter06.ipynb from {book}"
    assert table["pages"] == ["plot_01_one.py", "plot_02_two.py"]
    assert set(table["times"]) == {
        "notebook",
        "pages",
        "docs",
        "docs: gallery scripts",
        "docs prose edit",
        "docs library edit",
    }
    assert set(table["per_page"]) == {"plot_01_one.py", "plot_02_two.py"}
    pages = table["times"]["pages"]["median"]
    assert pages >= sum(s["median"] for s in table["per_page"].values())
    sections = table["sections"]
    assert list(sections) == ["Data Preparation", "Convolutions Over Multiple Channels"]
    first, second = sections.values()
    assert first["pages"] == ["plot_01_one.py"]
    # the book's notebook is timed to the end of each section: the second includes the first
    assert second["book"]["median"] >= first["book"]["median"] + 0.2
    assert first["book"]["median"] < table["times"]["notebook"]["median"]
    assert first["ratio"]["median"] == pytest.approx(
        first["ours"]["median"] / first["book"]["median"]
    )
    assert first["ratio"]["target"] == ["<=", 1.0]
    median = table["ratios"]["time to section: median"]
    assert median["median"] == pytest.approx(
        (first["ratio"]["median"] + second["ratio"]["median"]) / 2
    )
    assert table["ratios"]["docs/notebook"]["target"] == ["<=", 0.45]
    assert table["ratios"]["prose edit/docs"]["target"] == ["<=", 0.35]
    assert [t["name"] for t in results["targets"]] == [
        "chapter: docs/notebook",
        "chapter: prose edit/docs",
        "chapter: time to section: median",
        "chapter: time to section: slowest",
    ]
    rst = (out / "results.rst").read_text(encoding="utf-8")
    assert _rst_problems(rst) == []
    assert "Time to section" in rst
    assert "``plot_02_two.py``" in rst


def test_every_page_times_one_section_of_the_book() -> None:
    from benchmarks.chapter import section_pages

    names = sorted(p.name for p in (ROOT / "gallery").glob("plot_*.py"))
    sections = section_pages(names)
    assert sections["Learning Rates"] == ["plot_06_learning_rates.py"]
    # the book's "Adaptive Learning Rate" opens with moving averages and EWMA
    assert sections["Adaptive Learning Rate"] == [
        "plot_06b_moving_averages.py",
        "plot_07_adaptive_learning_rate.py",
    ]
    timed = [name for pages in sections.values() for name in pages]
    assert sorted(timed) == [n for n in names if not n.startswith("plot_20")]  # errata: none


def test_chapter_without_the_book_says_how_to_get_it(bench, tmp_path, monkeypatch) -> None:
    import benchmarks.chapter

    monkeypatch.delenv("RPSBOOK_BOOK_REPO", raising=False)
    found, why = benchmarks.chapter.find_notebook(None)
    assert found is None
    assert "--book-repo" in why
    assert "github.com/dvgodoy/PyTorchStepByStep" in why
    found, why = benchmarks.chapter.find_notebook(tmp_path)
    assert found is None
    assert str(tmp_path) in why
