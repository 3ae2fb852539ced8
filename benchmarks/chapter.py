"""The whole chapter as readers run it: the book's notebook against rpsbook's pages and site.

Three kinds of run are timed side by side, interleaved repeat by repeat (``timing.interleaved``):

``notebook``
    The book's own ``Chapter06.ipynb``, executed top to bottom in a new Jupyter kernel
    (nbclient), kernel start included. The notebook is *not* part of rpsbook: it is read from
    a copy of the book's repository that the person running the benchmark provides
    (``--book-repo`` or ``$RPSBOOK_BOOK_REPO``: a clone, or a bare/mirror git directory),
    exported into a scratch folder for every run. Two things are adapted, in that scratch
    copy only, and nothing else: the notebook's ``rps/`` and ``rps-test-set/`` become
    symbolic links to the benchmark's dataset (so its own ``download_rps()`` finds them and
    downloads nothing), and its first cell's ``from IPython.core.display import display,
    HTML`` (gone from current IPython) is read from ``IPython.display``. It needs pandas,
    scikit-learn and tensorboard (its ``stepbystep`` package imports them) and ipykernel.
    Figures render inline, as a reader sees them.
``pages``
    Every ``gallery/plot_*.py`` as a reader runs a downloaded page: one new
    ``python plot_XX.py`` after another (working directory ``gallery/``, ``MPLBACKEND=Agg``,
    the decoded-image cache already warm, as it is after a reader's first page). The pages
    are found by globbing, so new or split pages are timed too; each page's time is kept.
``docs``
    The site build that ``nox -s docs`` runs (``sphinx -b html -W --keep-going -n``), from a
    fresh copy of the project every time (so sphinx-gallery executes every page), with
    ``RPSBOOK_OFFLINE=1`` (no intersphinx downloads). Two variants: ``docs``, the build
    ``nox -s docs`` runs (Sphinx reads and writes in ``-j <jobs>`` processes, the gallery
    executes its pages one after another, see ``docs/conf.py``), and ``docs parallel``
    (``RPSBOOK_GALLERY_JOBS`` as well, so that sphinx-gallery executes the pages in as many
    processes).

Every variant reads the same dataset and uses the same interpreter, torch and threads.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["BOOK_REPO_ENV", "NOTEBOOK", "find_notebook", "measure"]

BOOK_REPO_ENV = "RPSBOOK_BOOK_REPO"
ALL_PAGES = "plot_"
NOTEBOOK = "Chapter06.ipynb"
BOOK_URL = "https://github.com/dvgodoy/PyTorchStepByStep"
_OLD_IMPORT = "from IPython.core.display import display, HTML"
_NEW_IMPORT = "from IPython.display import display, HTML"
_COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".nox", ".venv", "__pycache__", "_build", "auto_examples", "gen_modules",
    "sg_execution_times.rst", "*.egg-info", ".pytest_cache", ".ruff_cache",
)  # fmt: skip

#: (key, numerator, denominator, target, meaning); targets from issue #15
RATIOS = [
    ("pages/notebook", "pages", "notebook", ("<=", 0.7), "pages as scripts vs the notebook"),
    ("docs/notebook", "docs", "notebook", ("<=", 0.6), "nox -s docs vs the notebook"),
    ("docs parallel/notebook", "docs parallel", "notebook", None, "parallel pages vs notebook"),
    ("docs parallel/docs", "docs parallel", "docs", None, "gain of parallel pages"),
]


def find_notebook(book_repo: str | os.PathLike[str] | None) -> tuple[Path | None, str]:
    """The book repository to read ``Chapter06.ipynb`` from, or None and why not.

    ``book_repo`` (else ``$RPSBOOK_BOOK_REPO``) is a clone (holding ``Chapter06.ipynb``) or a
    git directory without a work tree (``git clone --mirror``).
    """
    value = book_repo or os.environ.get(BOOK_REPO_ENV)
    if not value:
        return None, (
            f"skipped: the book's notebook is not part of rpsbook; clone {BOOK_URL} and pass "
            f"--book-repo PATH (or set ${BOOK_REPO_ENV})"
        )
    path = Path(value).expanduser()
    if (path / NOTEBOOK).is_file() or _git_has_notebook(path):
        return path, f"{NOTEBOOK} from {path}"
    return None, (
        f"skipped: {path} holds no {NOTEBOOK} (neither a clone of {BOOK_URL} nor its git "
        "directory); pass --book-repo with the right folder"
    )


def _git_has_notebook(path: Path) -> bool:
    done = subprocess.run(
        ["git", "--git-dir", str(path), "cat-file", "-e", f"HEAD:{NOTEBOOK}"],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _export_book(repo: Path, target: Path, data_root: Path) -> Path:
    """A scratch copy of the book's files with the dataset linked in; returns the notebook."""
    if (repo / NOTEBOOK).is_file():
        shutil.copytree(repo, target, ignore=shutil.ignore_patterns(".git"))
    else:
        archive = subprocess.run(
            ["git", "--git-dir", str(repo), "archive", "--format=tar", "HEAD"],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    for folder in ("rps", "rps-test-set"):
        link = target / folder
        if link.exists() or link.is_symlink():
            shutil.rmtree(link) if link.is_dir() and not link.is_symlink() else link.unlink()
        link.symlink_to(data_root / folder, target_is_directory=True)
    return target / NOTEBOOK


def _patched_notebook(path: Path) -> Any:
    """The notebook with its one outdated IPython import replaced (in memory)."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and _OLD_IMPORT in cell.source:
            cell.source = cell.source.replace(_OLD_IMPORT, _NEW_IMPORT)
    return notebook


def _notebook_run(repo: Path, data_root: Path, scratch: Path, env: dict[str, str]) -> Callable:
    import nbclient

    count = iter(range(1_000_000))

    def run() -> None:
        folder = scratch / f"book-{next(count)}"
        notebook = _patched_notebook(_export_book(repo, folder, data_root))
        kernel = notebook.metadata.get("kernelspec", {}).get("name", "python3")
        client = nbclient.NotebookClient(
            notebook,
            timeout=3600,
            kernel_name=kernel,
            resources={"metadata": {"path": str(folder)}},
        )
        try:
            client.execute(env=env)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return run


def pages_of(gallery: Path, pattern: str) -> list[Path]:
    """``gallery/plot_*.py`` whose name matches the regular expression ``pattern``, sorted."""
    return [p for p in sorted(gallery.glob("plot_*.py")) if re.search(pattern, p.name)]


def _pages_run(pages: list[Path], env: dict[str, str], per_page: dict[str, list[float]]):
    def run() -> None:
        for page in pages:
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, page.name],
                cwd=page.parent,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            per_page.setdefault(page.name, []).append(time.perf_counter() - start)
            if done.returncode != 0:
                raise RuntimeError(
                    f"gallery page {page} failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
                )

    return run


def _docs_run(project: Path, scratch: Path, jobs: str, pattern: str, env: dict[str, str]):
    count = iter(range(1_000_000))

    def run() -> None:
        copy = scratch / f"docs-{jobs}-{next(count)}"
        shutil.copytree(project, copy, ignore=_COPY_IGNORE)
        command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n"]
        command += ["-j", jobs, "docs", str(copy / "docs" / "_build" / "html")]
        if pattern != ALL_PAGES:
            command += ["-D", f"sphinx_gallery_conf.filename_pattern={pattern}"]
        try:
            done = subprocess.run(
                command,
                cwd=copy,
                env={**env, "PYTHONPATH": str(copy)},
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(
                    f"docs build {' '.join(command)} failed (exit {done.returncode}):\n"
                    f"{done.stderr[-3000:]}"
                )
        finally:
            shutil.rmtree(copy, ignore_errors=True)

    return run


def measure(
    project: Path,
    data_root: Path,
    cache_dir: Path,
    repeats: int,
    *,
    book_repo: str | os.PathLike[str] | None = None,
    pattern: str = ALL_PAGES,
    jobs: str = "auto",
    ratio: Callable[[dict[str, list[float]], str, str], dict[str, Any]],
    summary: Callable[[dict[str, list[float]]], dict[str, Any]],
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Time the notebook, the pages and the docs builds, interleaved; return the table.

    ``cache_dir`` must already hold the decoded-image cache of ``data_root`` (the pages and
    builds read it, as a reader's second page does). ``pattern`` selects pages (regular
    expression on the file name, also passed to sphinx-gallery); ``jobs`` is the docs builds'
    ``-j``.
    """
    from .timing import interleaved

    pages = pages_of(project / "gallery", pattern)
    if not pages:
        raise ValueError(f"no gallery page matches {pattern!r} in {project / 'gallery'}")
    repo, notebook_status = find_notebook(book_repo)
    base = {
        **os.environ,
        "RPSBOOK_DATA_DIR": str(data_root),
        "RPSBOOK_CACHE_DIR": str(cache_dir),
        "RPSBOOK_PROGRESS": "0",
        "RPSBOOK_OFFLINE": "1",
    }
    base.pop("RPSBOOK_RESULTS_DIR", None)
    scripts_env = {**base, "MPLBACKEND": "Agg", "PYTHONPATH": str(project)}
    kernel_env = {k: v for k, v in base.items() if k != "MPLBACKEND"}  # inline figures
    per_page: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="rpsbook-chapter-") as tmp:
        scratch = Path(tmp)
        variants: dict[str, Callable[[], None]] = {}
        if repo is not None:
            variants["notebook"] = _notebook_run(repo, data_root, scratch, kernel_env)
        variants["pages"] = _pages_run(pages, scripts_env, per_page)
        variants["docs"] = _docs_run(project, scratch, jobs, pattern, base)
        gallery_jobs = str(os.cpu_count() or 1) if jobs == "auto" else jobs
        parallel_env = {**base, "RPSBOOK_GALLERY_JOBS": gallery_jobs}
        variants["docs parallel"] = _docs_run(project, scratch, jobs, pattern, parallel_env)
        log(f"chapter: {', '.join(variants)}; {len(pages)} pages; {repeats} repeats")
        # No untimed warm-up (it would double a long run): the rotation spreads the cost
        # of a cold file cache over the variants, and the image cache is warm already.
        times = interleaved(variants, repeats, warmup=False)
    ratios = {}
    for key, numerator, denominator, target, meaning in RATIOS:
        if numerator in times and denominator in times:
            ratios[key] = {**ratio(times, numerator, denominator), "target": target}
            ratios[key]["meaning"] = meaning
    return {
        "notebook": notebook_status,
        "pages": [p.name for p in pages],
        "pattern": pattern,
        "jobs": jobs,
        "times": summary(times),
        "per_page": summary(per_page),
        "ratios": ratios,
    }
