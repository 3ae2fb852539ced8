"""docs/_ext/distribution.py and first_cell.py: the site ships its own build, and the
notebooks install it."""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import io
import re
import sys
import tarfile
import tomllib
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from docs_ext import ext_modules

ROOT = Path(__file__).resolve().parent.parent
SITE = "https://example.org/book/"

pytest.importorskip("build", reason="the docs extra (build, hatchling) builds the wheel")
pytest.importorskip("hatchling", reason="the docs extra (build, hatchling) builds the wheel")


@pytest.fixture(scope="module")
def ext():
    with ext_modules("distribution", "first_cell") as modules:
        yield modules


@pytest.fixture(scope="module")
def built(ext, tmp_path_factory):
    return ext.distribution.build_distributions(ROOT, tmp_path_factory.mktemp("dist"))


def test_build_is_reproducible_and_complete(ext, built, tmp_path):
    import rpsbook

    # the checkout's version, with the build's own local part
    base, _, local = built.version.partition("+")
    assert base == rpsbook.__version__
    assert re.fullmatch(r"b[0-9a-f]{12}", local)
    assert built.wheel.name == f"rpsbook-{built.version}-py3-none-any.whl"
    assert built.sdist.name == f"rpsbook-{built.version}.tar.gz"
    again = ext.distribution.build_distributions(ROOT, tmp_path)
    assert (again.version, again.wheel_sha256, again.sdist_sha256) == (
        built.version,
        built.wheel_sha256,
        built.sdist_sha256,
    )
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"rpsbook-{built.version}.dist-info/METADATA").decode()
        init = wheel.read("rpsbook/__init__.py").decode()
    assert {"rpsbook/py.typed", "rpsbook/_data/rps28.npz", "rpsbook/_data/README.md"} <= names
    assert "License-Expression: MIT AND CC-BY-2.0" in metadata
    assert f"\nVersion: {built.version}\n" in metadata
    assert f'\n__version__ = "{built.version}"\n' in init  # what the installed package says
    assert f"rpsbook-{built.version}.dist-info/licenses/LICENSE-DATA" in names
    with tarfile.open(built.sdist) as sdist:
        members = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
        pkg_info = sdist.extractfile(f"rpsbook-{built.version}/PKG-INFO").read().decode()
    assert {"pyproject.toml", "rpsbook/_data/rps28.npz", "CHANGELOG.md", "CITATION.cff"} <= members
    assert f"\nVersion: {built.version}\n" in pkg_info


def test_another_checkout_is_another_build(ext, built, tmp_path):
    # a change to what the wheel holds (here its README, the long description) is a new
    # version: a kernel holding the earlier build is told apart
    with tarfile.open(built.sdist) as sdist:
        sdist.extractall(tmp_path / "src", filter="data")
    (source,) = (tmp_path / "src").iterdir()
    (source / "PKG-INFO").unlink()
    init = source / "rpsbook" / "__init__.py"
    init.write_text(init.read_text().replace(built.version, built.version.split("+")[0]))
    with (source / "README.md").open("a") as readme:
        readme.write("\nOne more line.\n")
    other = ext.distribution.build_distributions(source, tmp_path / "out")
    assert other.version.split("+")[0] == built.version.split("+")[0]
    assert other.version != built.version


def test_failed_build_names_the_fix_and_keeps_the_previous_files(ext, built, tmp_path):
    keep = tmp_path / built.wheel.name
    keep.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match=r"build.*hatchling"):
        ext.distribution.build_distributions(tmp_path / "not-a-project", tmp_path)
    assert keep.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == [keep.name]  # no temporary folder left


def test_conf_imports_what_the_extension_defines(ext):
    # docs/conf.py imports the extension's functions before Sphinx runs: a missing one
    # stops every docs build
    tree = ast.parse((ROOT / "docs" / "conf.py").read_text())
    imported = {
        node.module: [alias.name for alias in node.names]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module in ("distribution", "first_cell")
    }
    assert "first_cell" in imported["first_cell"]
    missing = [
        f"{module}.{name}"
        for module, names in imported.items()
        for name in names
        if not callable(getattr(getattr(ext, module), name, None))
    ]
    assert missing == []


def test_wheel_url_is_the_first_cells_address(ext, built):
    url = ext.distribution.wheel_url(SITE, built)
    assert url == f"{SITE}dist/{built.wheel.name}#sha256={built.wheel_sha256}"
    assert f"RPSBOOK_WHEEL = {url.removeprefix(SITE)!r}" in ext.first_cell.first_cell(
        built, SITE, "a/b", {}
    )


def test_version_is_single_sourced():
    import rpsbook

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"] == {"path": "rpsbook/__init__.py"}
    citation = (ROOT / "CITATION.cff").read_text()
    (cited,) = re.findall(r"^version: (\S+)$", citation, re.MULTILINE)
    assert cited == rpsbook.__version__


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("https://example.org/book", "https://example.org/book/"),
        ("http://127.0.0.1:8123/", "http://127.0.0.1:8123/"),
        ("file:///srv/site", "file:///srv/site/"),
        ("http://127.0.0.1:8123/$(id)/", "http://127.0.0.1:8123/$(id)/"),
    ],
)
def test_site_url_adds_the_slash(ext, value, address):
    assert ext.first_cell.site_url(value) == address


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "not an http, https or file URL"),
        ("example.org/book/", "not an http, https or file URL"),
        ("ftp://example.org/", "not an http, https or file URL"),
        ("https://", "names no host"),
        ('http://x/" ; touch pwned ; "', "holds ' ' '\"'"),
        ("http://x/`id`/", "holds '`'"),
        ("http://x/{a}/", "holds '{' '}'"),
        ("http://x/a?b=1", "holds '?'"),
        ("http://x/a#b", "holds '#'"),
    ],
)
def test_site_url_refuses_what_is_not_an_address(ext, value, why):
    with pytest.raises(
        ValueError, match=re.escape(f"RPSBOOK_SITE_URL={value!r}") + ".*" + re.escape(why)
    ):
        ext.first_cell.site_url(value)


def _run_cell(
    code: str,
    env: dict[str, str],
    monkeypatch,
    *,
    pip_results: tuple[str, ...] = ("0",),
    installs: str | None = None,
) -> tuple[str, list[list[str]]]:
    """Run a notebook cell in a real IPython shell; pip's commands are recorded, not run.

    The n-th pip command exits with ``pip_results[n]`` (``"1:output"`` for a status and what
    it printed); one that installs rpsbook makes the imported rpsbook report ``installs``.
    Returns what the cell printed and pip's commands.
    """
    import subprocess

    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.delenv("RPSBOOK_SITE_URL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    calls: list[list[str]] = []
    results = iter(pip_results)

    def pip(command, **kwargs):
        calls.append(command)
        status, _, output = next(results).partition(":")
        if status == "0" and installs is not None and "rpsbook @" in " ".join(command):
            monkeypatch.setattr(importlib.import_module("rpsbook"), "__version__", installs)
        return subprocess.CompletedProcess(command, int(status), "", output)

    monkeypatch.setattr(subprocess, "run", pip)
    shell = InteractiveShell.instance()
    shell.register_magic_function(lambda line: None, "line", "matplotlib")
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            result = shell.run_cell(code, store_history=False)
        result.raise_error()
    finally:
        InteractiveShell.clear_instance()
    return out.getvalue(), calls


def _cell(ext, dist, site=SITE, stem="plot_05_model_training"):
    requirements = ext.first_cell.notebook_requirements(ROOT / "pyproject.toml")
    cell = ext.first_cell.first_cell(dist, site, "someone/rps", requirements)
    return cell.replace(ext.first_cell.PAGE_MARK, stem)


@pytest.fixture
def kernel_without_build(ext, built, monkeypatch):
    """The kernel's rpsbook is the checkout (0.1.0), the page's another build; every module
    of the notebooks extra is there."""
    present = importlib.machinery.ModuleSpec("present", loader=None)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: real_find_spec(name) or present
    )
    return built


@pytest.fixture
def site(built, tmp_path):
    """A copy of the site with the wheel, as a file URL without the trailing slash."""
    folder = tmp_path / "site"
    (folder / "dist").mkdir(parents=True)
    (folder / "dist" / built.wheel.name).write_bytes(built.wheel.read_bytes())
    return folder.as_uri()


def _has():
    try:  # whatever this test's environment has: an editable install, or none
        return "rpsbook " + importlib.metadata.version("rpsbook")
    except importlib.metadata.PackageNotFoundError:
        return "no rpsbook"


def test_first_cell_installs_the_pinned_wheel_by_url(ext, kernel_without_build, site, monkeypatch):
    built = kernel_without_build
    cell = _cell(ext, built)
    printed, calls = _run_cell(
        cell, {"RPSBOOK_SITE_URL": site}, monkeypatch, installs=built.version
    )
    url = f"{site}/dist/{built.wheel.name}#sha256={built.wheel_sha256}"
    assert calls == [
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-input", "--no-color",
            "--disable-pip-version-check", "--progress-bar", "off", "--retries", "1",
            "--timeout", "30", f"rpsbook @ {url}", "torch-lr-finder>=0.2.1",
        ]
    ]  # fmt: skip
    assert printed == (
        f"Installing rpsbook {built.version} from {site}/ (this kernel has {_has()}).\n"
    )


def test_first_cell_does_nothing_when_the_kernel_has_this_build(ext, built, monkeypatch):
    import rpsbook

    for module in ext.first_cell.NOTEBOOK_MODULES:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: the cell would install it")
    real_version = importlib.metadata.version
    monkeypatch.setattr(  # the kernel has this very build installed, and imports it
        importlib.metadata,
        "version",
        lambda name: built.version if name == "rpsbook" else real_version(name),
    )
    monkeypatch.setattr(rpsbook, "__version__", built.version)
    printed, calls = _run_cell(_cell(ext, built), {}, monkeypatch)
    assert (printed, calls) == ("", [])


@pytest.mark.parametrize("imported", [True, False])
def test_first_cell_refuses_another_build_that_stays_imported(
    ext, kernel_without_build, site, monkeypatch, imported
):
    # pip "succeeds", but the kernel imports the checkout's rpsbook: it had imported it
    # before the cell (restart), or the checkout comes first on sys.path (it hides the wheel)
    import rpsbook

    if not imported:
        monkeypatch.delitem(sys.modules, "rpsbook")
    built = kernel_without_build
    with pytest.raises(RuntimeError) as info:
        _run_cell(_cell(ext, built), {"RPSBOOK_SITE_URL": site}, monkeypatch)
    message = str(info.value)
    assert message.startswith(f"this notebook needs rpsbook {built.version}, the build its page")
    where = f"rpsbook {rpsbook.__version__} from {Path(rpsbook.__file__).parent}"
    if imported:
        assert f"this kernel had already imported {where}: restart the kernel" in message
    else:
        assert f"this kernel imports {where}, which hides the installed build" in message


def test_first_cell_unreachable_site_says_what_to_do(ext, kernel_without_build, monkeypatch):
    built = kernel_without_build
    env = {"RPSBOOK_SITE_URL": "http://127.0.0.1:9"}  # the discard port: nothing listens
    with pytest.raises(RuntimeError) as info:
        _run_cell(_cell(ext, built), env, monkeypatch)
    message = str(info.value)
    url = f"http://127.0.0.1:9/dist/{built.wheel.name}#sha256={built.wheel_sha256}"
    assert f"cannot get it from {url}: the site cannot be reached (" in message
    assert "- set RPSBOOK_SITE_URL to a copy of the site that answers" in message
    notebook = "http://127.0.0.1:9/notebooks/plot_05_model_training.ipynb"
    colab = (
        "https://colab.research.google.com/github/someone/rps/blob/gh-pages/notebooks/"
        "plot_05_model_training.ipynb"
    )
    assert f"- open this page's current notebook: {notebook} (in Colab: {colab})" in message
    assert (
        "- install rpsbook from a clone of https://github.com/someone/rps (pip install "
        "'<the clone>[notebooks]'), set RPSBOOK_KEEP_INSTALLED=1 and run this cell again"
    ) in message
    assert info.value.__suppress_context__  # one error, not a chain


def test_first_cell_of_an_earlier_build_says_the_site_moved_on(
    ext, kernel_without_build, tmp_path, monkeypatch
):
    built = kernel_without_build
    (tmp_path / "dist").mkdir()
    env = {"RPSBOOK_SITE_URL": tmp_path.as_uri()}
    with pytest.raises(RuntimeError, match="is not a copy of the site: it has no dist/SHA256SUMS"):
        _run_cell(_cell(ext, built), env, monkeypatch)
    # the site now holds another build's wheel
    (tmp_path / "dist" / "rpsbook-0.1.0+b000000000000-py3-none-any.whl").write_bytes(b"x")
    (tmp_path / "dist" / "SHA256SUMS").write_text("00  rpsbook-0.1.0+b000000000000...")
    with pytest.raises(
        RuntimeError, match="comes from an earlier build of the site, which has moved on"
    ) as info:
        _run_cell(_cell(ext, built), env, monkeypatch)
    assert f"{tmp_path.as_uri()}/notebooks/plot_05_model_training.ipynb" in str(info.value)


def test_first_cell_names_pips_failure(ext, kernel_without_build, site, monkeypatch):
    built = kernel_without_build
    failed = ("1:ERROR: THESE PACKAGES DO NOT MATCH THE HASHES",)
    with pytest.raises(RuntimeError) as info:
        _run_cell(_cell(ext, built), {"RPSBOOK_SITE_URL": site}, monkeypatch, pip_results=failed)
    assert "pip failed:\n  ERROR: THESE PACKAGES DO NOT MATCH THE HASHES\nWhat to do" in str(
        info.value
    )


@pytest.mark.parametrize(
    "value",
    [
        'http://127.0.0.1:9/" ; touch PWNED ; "',
        "http://127.0.0.1:9/`touch PWNED`/",
        "http://127.0.0.1:9/{touch,PWNED}/",
        "http://127.0.0.1:9/a b/",
        "127.0.0.1:9",
    ],
)
def test_first_cell_refuses_a_hostile_site_url(
    ext, kernel_without_build, monkeypatch, tmp_path, value
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError) as info:
        _run_cell(_cell(ext, kernel_without_build), {"RPSBOOK_SITE_URL": value}, monkeypatch)
    assert f"cannot get it from RPSBOOK_SITE_URL={value!r}: that is not a site address" in str(
        info.value
    )
    assert list(tmp_path.iterdir()) == []


def test_first_cell_passes_shell_characters_to_pip_as_one_argument(
    ext, kernel_without_build, tmp_path, monkeypatch
):
    # $, (, ) and ' may be part of a URL's path: they reach pip untouched, and nothing runs
    built = kernel_without_build
    folder = tmp_path / "a$(touch$IFS'PWNED')b"  # what bash would run
    (folder / "dist").mkdir(parents=True)
    (folder / "dist" / built.wheel.name).write_bytes(b"x")
    site = "file://" + str(folder)
    monkeypatch.chdir(tmp_path)
    env = {"RPSBOOK_SITE_URL": site}
    _printed, calls = _run_cell(_cell(ext, built), env, monkeypatch, installs=built.version)
    assert calls[0][-2] == f"rpsbook @ {site}/dist/{built.wheel.name}#sha256={built.wheel_sha256}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]


def test_first_cell_installs_the_cosmetic_module_or_goes_on(ext, built, site, monkeypatch):
    # the kernel lacks ipywidgets and the build; installing ipywidgets fails
    real_find_spec = importlib.util.find_spec
    present = importlib.machinery.ModuleSpec("present", loader=None)
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ipywidgets" else (real_find_spec(name) or present),
    )
    printed, calls = _run_cell(
        _cell(ext, built),
        {"RPSBOOK_SITE_URL": site},
        monkeypatch,
        pip_results=("0", "1:no network"),
        installs=built.version,
    )
    assert [command[-1] for command in calls] == ["torch-lr-finder>=0.2.1", "ipywidgets>=8"]
    assert printed.splitlines()[1:] == [
        "Progress bars will be plain text: installing ipywidgets failed."
    ]


@pytest.mark.parametrize("missing", ["torch_lr_finder", "ipywidgets"])
def test_first_cell_with_this_build_and_a_module_missing(ext, built, site, monkeypatch, missing):
    import rpsbook

    real_version, real_find_spec = importlib.metadata.version, importlib.util.find_spec
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: built.version if name == "rpsbook" else real_version(name),
    )
    monkeypatch.setattr(rpsbook, "__version__", built.version)
    present = importlib.machinery.ModuleSpec("present", loader=None)
    monkeypatch.setattr(  # the kernel has everything but one module of the extra
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == missing else (real_find_spec(name) or present),
    )
    printed, calls = _run_cell(_cell(ext, built), {"RPSBOOK_SITE_URL": site}, monkeypatch)
    if missing == "ipywidgets":  # cosmetic: said in one line, pip is not run for it
        assert (printed, calls) == (
            "Progress bars will be plain text: this kernel lacks ipywidgets.\n",
            [],
        )
    else:
        assert len(calls) == 1 and calls[0][-2].startswith("rpsbook @ ")
        assert f"lacks {missing}" in printed


def test_first_cell_keeps_the_readers_own_rpsbook_when_asked(
    ext, kernel_without_build, monkeypatch
):
    # a reader (or the benchmark) running the pages on a clone: no install, one line
    built = kernel_without_build
    env = {"RPSBOOK_KEEP_INSTALLED": "1", "RPSBOOK_SITE_URL": "http://127.0.0.1:9/"}
    printed, calls = _run_cell(_cell(ext, built), env, monkeypatch)
    assert calls == []
    assert printed == (
        "Keeping rpsbook 0.1.0 (RPSBOOK_KEEP_INSTALLED=1); this page ran "
        f"{built.version}, so its numbers may differ.\n"
    )
    monkeypatch.setitem(sys.modules, "rpsbook", None)  # a kernel that cannot import it
    with pytest.raises(RuntimeError, match="RPSBOOK_KEEP_INSTALLED=1, and it cannot import"):
        _run_cell(_cell(ext, built), env, monkeypatch)


def test_first_cell_checks_every_module_of_the_notebooks_extra(ext):
    requirements = ext.first_cell.notebook_requirements(ROOT / "pyproject.toml")
    assert set(requirements) == set(ext.first_cell.NOTEBOOK_MODULES)
    assert set(ext.first_cell.COSMETIC_MODULES) < set(requirements)


def test_first_cell_runs_nothing_through_a_shell(ext, built):
    cell = ext.first_cell.first_cell(built, SITE, "someone/rps", {"ipywidgets": "ipywidgets>=8"})
    # notebook_cells finds the cell by its start to refresh it in cached pages' notebooks
    assert cell.startswith(ext.first_cell.FIRST_CELL_MARK + built.version)
    assert f"RPSBOOK_WHEEL = 'dist/{built.wheel.name}#sha256={built.wheel_sha256}'" in cell
    magics = [line for line in cell.splitlines() if line.lstrip().startswith(("%", "!"))]
    assert magics == ["%matplotlib inline"]  # no %pip, no shell: pip gets a list of arguments
    assert "shell=True" not in cell and "os.system" not in cell


SG_RST = """
.. DO NOT EDIT.

.. rst-class:: sphx-glr-example-title

.. _sphx_glr_auto_examples_plot_05_model_training.py:


Model training
==============

Text.

**Total running time of the script:** (1 minutes 4.512 seconds)
"""


def test_run_this_page_box(ext):
    rst = ext.distribution.run_this_page(SG_RST, "someone/rps", "plot_05_model_training")
    _title, box = rst.split("Model training\n==============\n")
    colab = (
        "https://colab.research.google.com/github/someone/rps/blob/gh-pages/notebooks/"
        "plot_05_model_training.ipynb"
    )
    assert box.startswith(
        f"\n.. rst-class:: rpsbook-run\n\n   **Run this page:** `Open in Colab <{colab}>`__ "
        "(a CPU runtime is enough)"
    )
    assert "ran in" not in box  # timings belong to the Performance page
    with pytest.raises(ValueError, match="plot_x: no page title"):
        ext.distribution.run_this_page("no title", "a/b", "plot_x")


def test_publish_puts_files_at_fixed_paths(ext, built, tmp_path):
    notebook = tmp_path / "_downloads" / "0123abcd" / "plot_05_model_training.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text("{}", encoding="utf-8")
    # what an earlier build published, and an incremental build's output folder keeps
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "rpsbook-0.1.0+b000000000000-py3-none-any.whl").write_bytes(b"old")
    (tmp_path / "dist" / "rpsbook-0.1.0+b000000000000.tar.gz").write_bytes(b"old")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "plot_99_removed_page.ipynb").write_text("{}")
    assert ext.distribution.publish(tmp_path, built) == 1
    assert (tmp_path / "notebooks" / "plot_05_model_training.ipynb").read_text() == "{}"
    assert (tmp_path / ".nojekyll").is_file()
    sums = (tmp_path / "dist" / "SHA256SUMS").read_text().splitlines()
    assert sums == [
        f"{built.wheel_sha256}  {built.wheel.name}",
        f"{built.sdist_sha256}  {built.sdist.name}",
    ]
    assert (tmp_path / "dist" / built.wheel.name).read_bytes() == built.wheel.read_bytes()
    # dist/ holds exactly what SHA256SUMS lists, notebooks/ exactly this build's
    listed = {line.split("  ")[1] for line in sums}
    assert {p.name for p in (tmp_path / "dist").iterdir()} == {*listed, "SHA256SUMS"}
    assert [p.name for p in (tmp_path / "notebooks").iterdir()] == [notebook.name]
