"""docs/_ext/distribution.py: the site ships its own build, and the notebooks install it."""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import io
import re
import tarfile
import tomllib
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from conftest import file_module

ROOT = Path(__file__).resolve().parent.parent
SITE = "https://example.org/book/"

pytest.importorskip("build", reason="the docs extra (build, hatchling) builds the wheel")
pytest.importorskip("hatchling", reason="the docs extra (build, hatchling) builds the wheel")


@pytest.fixture(scope="module")
def distribution():
    with file_module(ROOT / "docs" / "_ext" / "distribution.py") as module:
        yield module


@pytest.fixture(scope="module")
def built(distribution, tmp_path_factory):
    return distribution.build_distributions(ROOT, tmp_path_factory.mktemp("dist"))


def test_build_is_reproducible_and_complete(distribution, built, tmp_path):
    import rpsbook

    assert built.version == rpsbook.__version__
    assert built.wheel.name == f"rpsbook-{rpsbook.__version__}-py3-none-any.whl"
    again = distribution.build_distributions(ROOT, tmp_path)
    assert (again.wheel_sha256, again.sdist_sha256) == (built.wheel_sha256, built.sdist_sha256)
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"rpsbook-{built.version}.dist-info/METADATA").decode()
    assert {"rpsbook/py.typed", "rpsbook/_data/rps28.npz", "rpsbook/_data/README.md"} <= names
    assert "License-Expression: MIT AND CC-BY-2.0" in metadata
    assert f"rpsbook-{built.version}.dist-info/licenses/LICENSE-DATA" in names
    with tarfile.open(built.sdist) as sdist:
        members = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "rpsbook/_data/rps28.npz", "CHANGELOG.md", "CITATION.cff"} <= members


def test_failed_build_names_the_fix_and_keeps_the_previous_files(distribution, built, tmp_path):
    keep = tmp_path / built.wheel.name
    keep.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match=r"build.*hatchling"):
        distribution.build_distributions(tmp_path / "not-a-project", tmp_path)
    assert keep.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == [keep.name]  # no temporary folder left


def _run_cell(code: str, env: dict[str, str], monkeypatch) -> tuple[str, list[str]]:
    """Run a notebook cell in a real IPython shell whose %pip only records its line."""
    from IPython.core.interactiveshell import InteractiveShell

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    shell = InteractiveShell.instance()
    calls: list[str] = []
    shell.register_magic_function(calls.append, "line", "pip")
    shell.register_magic_function(lambda line: None, "line", "matplotlib")
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            result = shell.run_cell(code, store_history=False)
        result.raise_error()
    finally:
        InteractiveShell.clear_instance()
    return out.getvalue(), calls


def test_first_cell_installs_the_pinned_wheel_by_url(distribution, built, monkeypatch):
    # A page built from another version than the kernel's: the cell must install.
    other = distribution.Distribution("9.9.9", built.wheel, built.sdist)
    cell = distribution.first_cell(other, SITE)
    printed, calls = _run_cell(cell, {}, monkeypatch)
    url = f"{SITE}dist/{built.wheel.name}#sha256={built.wheel_sha256}"
    assert calls == [f'install --quiet "rpsbook[notebooks] @ {url}"']
    try:  # whatever this test's environment has: an editable install, or none
        has = "rpsbook " + importlib.metadata.version("rpsbook")
    except importlib.metadata.PackageNotFoundError:
        has = "no rpsbook"
    assert printed == f"Installing rpsbook 9.9.9 from {SITE} (this kernel has {has}).\n"
    # a copy of the site served elsewhere: same file, same hash, another address
    local = "http://127.0.0.1:8123/"
    printed, calls = _run_cell(cell, {"RPSBOOK_SITE_URL": local}, monkeypatch)
    assert calls == [f'install --quiet "rpsbook[notebooks] @ {url.replace(SITE, local)}"']


def test_first_cell_does_nothing_when_the_kernel_has_this_build(distribution, built, monkeypatch):
    for module in distribution.NOTEBOOK_MODULES:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: the cell would install it")
    real_version = importlib.metadata.version
    monkeypatch.setattr(  # the kernel has this very version installed
        importlib.metadata,
        "version",
        lambda name: built.version if name == "rpsbook" else real_version(name),
    )
    printed, calls = _run_cell(distribution.first_cell(built, SITE), {}, monkeypatch)
    assert (printed, calls) == ("", [])


@pytest.mark.parametrize("missing", ["torch_lr_finder", "ipywidgets"])
def test_first_cell_installs_when_a_notebook_module_is_missing(
    distribution, built, monkeypatch, missing
):
    real_version, real_find_spec = importlib.metadata.version, importlib.util.find_spec
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: built.version if name == "rpsbook" else real_version(name),
    )
    present = importlib.machinery.ModuleSpec("present", loader=None)
    monkeypatch.setattr(  # the kernel has everything but one module of the extra
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == missing else (real_find_spec(name) or present),
    )
    printed, calls = _run_cell(distribution.first_cell(built, SITE), {}, monkeypatch)
    assert len(calls) == 1 and "rpsbook[notebooks] @ " in calls[0]
    assert missing in printed


def test_first_cell_checks_every_module_of_the_notebooks_extra(distribution):
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["notebooks"]
    names = {re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0] for requirement in extra}
    assert {name.lower().replace("-", "_") for name in names} == set(distribution.NOTEBOOK_MODULES)


def test_first_cell_never_names_a_bare_rpsbook(distribution, built):
    cell = distribution.first_cell(built, SITE)
    # notebook_links finds the cell by its start to refresh it in cached pages' notebooks
    links = (ROOT / "docs" / "_ext" / "notebook_links.py").read_text()
    assert f'FIRST_CELL_MARK = "{cell[: cell.index(built.version)]}"' in links
    (pip_line,) = [line for line in cell.splitlines() if "%pip" in line]
    assert '"rpsbook[notebooks] @ {_site}{RPSBOOK_WHEEL}"' in pip_line
    assert f"RPSBOOK_WHEEL = 'dist/{built.wheel.name}#sha256={built.wheel_sha256}'" in cell


SG_RST = """
.. DO NOT EDIT.

.. rst-class:: sphx-glr-example-title

.. _sphx_glr_auto_examples_plot_05_model_training.py:


Model training
==============

Text.

**Total running time of the script:** (1 minutes 4.512 seconds)
"""


def test_run_this_page_box(distribution):
    rst = distribution.run_this_page(SG_RST, "someone/rps", "plot_05_model_training", 2)
    _title, box = rst.split("Model training\n==============\n")
    colab = (
        "https://colab.research.google.com/github/someone/rps/blob/gh-pages/notebooks/"
        "plot_05_model_training.ipynb"
    )
    assert box.startswith(
        f"\n.. rst-class:: rpsbook-run\n\n   **Run this page:** `Open in Colab <{colab}>`__ "
        "(a CPU runtime is enough)"
    )
    assert "Its code ran in 65 s when this site was built, on 2 CPU cores;" in box
    with pytest.raises(ValueError, match="plot_x: no page title"):
        distribution.run_this_page("no title", "a/b", "plot_x", 2)


def test_publish_puts_files_at_fixed_paths(distribution, built, tmp_path):
    notebook = tmp_path / "_downloads" / "0123abcd" / "plot_05_model_training.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text("{}", encoding="utf-8")
    assert distribution.publish(tmp_path, built) == 1
    assert (tmp_path / "notebooks" / "plot_05_model_training.ipynb").read_text() == "{}"
    assert (tmp_path / ".nojekyll").is_file()
    sums = (tmp_path / "dist" / "SHA256SUMS").read_text().splitlines()
    assert sums == [
        f"{built.wheel_sha256}  {built.wheel.name}",
        f"{built.sdist_sha256}  {built.sdist.name}",
    ]
    assert (tmp_path / "dist" / built.wheel.name).read_bytes() == built.wheel.read_bytes()
