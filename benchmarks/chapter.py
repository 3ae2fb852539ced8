"""Time to section: how long a reader waits to see each section of the chapter, rpsbook's
page(s) for it against the book's notebook; and the site build against the notebook.

Three kinds of run are timed side by side, interleaved repeat by repeat (``timing.interleaved``):

``notebook``
    The book's own ``Chapter06.ipynb``, executed top to bottom in a new Jupyter kernel
    (nbclient), kernel start included; the clock is read as each cell finishes, so one run
    gives the time to the end of every section (the notebook is linear: a section needs
    the cells before it). The notebook is *not* part of rpsbook: it is read from a copy of
    the book's repository that the person running the benchmark provides (``--book-repo``
    or ``$RPSBOOK_BOOK_REPO``: a clone, or a bare/mirror git directory), exported into a
    scratch folder for every run. Two things are adapted, in that scratch copy only: the
    notebook's ``rps/`` and ``rps-test-set/`` become symbolic links to the benchmark's
    dataset (so its own ``download_rps()`` finds them and downloads nothing), and its first
    cell's ``from IPython.core.display import display, HTML`` (gone from current IPython) is
    read from ``IPython.display``. It needs pandas, scikit-learn and tensorboard (its
    ``stepbystep`` package imports them) and ipykernel. Figures render inline.
``pages``
    Each gallery page as a reader runs it: the notebook the site offers for download
    (``auto_examples/plot_XX.ipynb``, from the latest ``docs`` build of this run), in a new
    kernel of its own, one after another; each page's time is kept. rpsbook is importable
    in the kernel (``PYTHONPATH``) and the decoded-image cache is warm, as after a reader's
    first page.
``docs``
    The site build that ``nox -s docs`` runs (``sphinx -b html -W --keep-going -n -j
    <jobs>``) from a fresh copy of the project (every page executes), with
    ``RPSBOOK_OFFLINE=1`` (no intersphinx downloads). Then, in the same copy and timed on
    their own, the two rebuilds a contributor runs: after a prose edit of one page (a text
    block added to ``EDIT_PAGE``: Sphinx re-reads a few pages, the execution cache runs that
    one page) and after a library change (a comment added to ``rpsbook/_utils.py``: every
    page runs again).

Each section of the book (``SECTIONS``: the heading that opens it) is matched with the pages
whose names start with the given prefixes; time to section = the pages' notebooks' times
(summed when a section has several) / the book's notebook's time from its start to the last
cell of that section. Every variant reads the same dataset and uses the same interpreter,
torch and threads.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .child import timed
from .probes import gallery_times
from .timing import Stats

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

#: (page name prefixes, the heading of the book's notebook that opens the section)
SECTIONS = [
    (("plot_01",), "Data Preparation"),
    (("plot_02",), "Convolutions Over Multiple Channels"),
    (("plot_03",), "Fancier Model"),
    (("plot_04",), "Dropout"),
    (("plot_05",), "Model Configuration"),
    (("plot_06_",), "Learning Rates"),
    # the book's "Adaptive Learning Rate" opens with moving averages and EWMA (page 06b)
    (("plot_06b", "plot_07"), "Adaptive Learning Rate"),
    (("plot_08",), "Momentum"),
    (("plot_09",), "Learning Rate Schedulers"),
    (("plot_10",), "Mini-Batch Schedulers"),
    (("plot_11",), "Scheduler Paths"),
    (("plot_12",), "Putting It All Together"),
]
EDIT_PAGE = "plot_05"  # the page whose prose the incremental rebuild edits
LIBRARY_FILE = Path("rpsbook") / "_utils.py"  # the file the library-change rebuild edits
PROSE_EDIT = "\n# %%\n# One more sentence, added by the benchmark's prose edit.\n"

#: (key, numerator, denominator, target, meaning)
BUILD_RATIOS = [
    ("docs/notebook", "docs", "notebook", ("<=", 0.45), "nox -s docs vs the book's notebook"),
    ("prose edit/docs", "docs prose edit", "docs", ("<=", 0.35), "rebuild after a prose edit"),
    (
        "prose edit/library edit",
        "docs prose edit",
        "docs library edit",
        None,
        "prose-edit rebuild vs library-change rebuild",
    ),
]
SECTION_TARGET = ("<=", 1.0)  # no section slower than the book's
MEDIAN_TARGET = ("<=", 0.2)  # median of the sections' ratios


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


def section_ends(notebook: Any) -> dict[str, int]:
    """``{heading: index of the last cell of its section}`` for the headings of ``SECTIONS``
    found in ``notebook``, in notebook order (a section ends where the next one begins)."""
    wanted = {heading for _, heading in SECTIONS}
    starts = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        first = cell.source.lstrip().split("\n", 1)[0]
        title = first.lstrip("#").strip()
        if first.startswith("#") and title in wanted and title not in dict(starts):
            starts.append((title, index))
    bounds = [index for _, index in starts[1:]] + [len(notebook.cells)]
    return {title: end - 1 for (title, _), end in zip(starts, bounds, strict=True)}


def _execute(notebook: Any, folder: Path, env: dict[str, str]) -> list[float]:
    """Run ``notebook`` in a new kernel in ``folder``: seconds from the start (kernel start
    included) to the end of each cell; a cell that runs nothing (markdown, empty) takes the
    time of the cell before it."""
    import nbclient

    ends: dict[int, float] = {}

    def executed(cell_index: int, **_: Any) -> None:
        ends[cell_index] = time.perf_counter() - start

    kernel = notebook.metadata.get("kernelspec", {}).get("name", "python3")
    client = nbclient.NotebookClient(
        notebook,
        timeout=3600,
        kernel_name=kernel,
        resources={"metadata": {"path": str(folder)}},
        on_cell_executed=executed,
    )
    start = time.perf_counter()
    client.execute(env=env)
    by_cell, last = [], 0.0
    for index in range(len(notebook.cells)):
        last = ends.get(index, last)
        by_cell.append(last)
    return by_cell


def _notebook_run(repo, data_root, scratch, env, sections: dict[str, list[float]]) -> Callable:
    count = iter(range(1_000_000))

    def run() -> None:
        folder = scratch / f"book-{next(count)}"
        notebook = _patched_notebook(_export_book(repo, folder, data_root))
        try:
            ends = section_ends(notebook)
            by_cell = _execute(notebook, folder, env)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        for heading, last in ends.items():
            sections.setdefault(heading, []).append(by_cell[last])

    return run


def pages_of(gallery: Path, pattern: str) -> list[Path]:
    """``gallery/plot_*.py`` whose name matches the regular expression ``pattern``, sorted."""
    return [p for p in sorted(gallery.glob("plot_*.py")) if re.search(pattern, p.name)]


def _pages_run(pages, notebooks: Path, scratch, env, per_page: dict[str, list[float]]):
    import nbformat

    def run() -> None:
        for page in pages:
            path = notebooks / page.with_suffix(".ipynb").name
            if not path.is_file():
                raise RuntimeError(f"the docs build wrote no {path.name}; is {page} a page?")
            folder = scratch / f"reader-{page.stem}"  # the reader's download folder
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try:
                # the kernel imports this checkout (0.1.0), not the site's build: keep it
                keep = {**env, "RPSBOOK_KEEP_INSTALLED": "1"}
                by_cell = _execute(nbformat.read(path, as_version=4), folder, keep)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            per_page.setdefault(page.name, []).append(by_cell[-1] if by_cell else 0.0)

    return run


def _sphinx(copy: Path, jobs: str, pattern: str, env: dict[str, str]) -> float:
    """One ``nox -s docs`` build of the project in ``copy``; its wall time."""
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n"]
    command += ["-j", jobs, "docs", str(copy / "docs" / "_build" / "html")]
    if pattern != ALL_PAGES:
        command += ["-D", f"sphinx_gallery_conf.filename_pattern={pattern}"]
    return timed(command, cwd=copy, env={**env, "PYTHONPATH": str(copy)})[1]


def _docs_run(project, scratch, jobs, pattern, env, pages, notebooks, builds):
    """The full build, then the prose-edit and library-change rebuilds in the same copy."""
    count = iter(range(1_000_000))
    edit = next((p for p in pages if p.name.startswith(EDIT_PAGE)), pages[0])

    def run() -> None:
        copy = scratch / f"docs-{next(count)}"
        shutil.copytree(project, copy, ignore=_COPY_IGNORE)
        try:
            builds.setdefault("docs", []).append(_sphinx(copy, jobs, pattern, env))
            # where the build's time went: the scripts' own run times, as Sphinx-Gallery
            # measured them; the rest is Sphinx, figures and hooks
            scripts = gallery_times(copy / "docs")["total_s"] or 0.0
            builds.setdefault("docs: gallery scripts", []).append(scripts)
            gallery = copy / "docs" / "auto_examples"
            shutil.rmtree(notebooks, ignore_errors=True)
            notebooks.mkdir()
            for notebook in gallery.glob("plot_*.ipynb"):
                shutil.copy2(notebook, notebooks / notebook.name)
            page = copy / "gallery" / edit.name
            page.write_text(page.read_text(encoding="utf-8") + PROSE_EDIT, encoding="utf-8")
            builds.setdefault("docs prose edit", []).append(_sphinx(copy, jobs, pattern, env))
            library = copy / LIBRARY_FILE
            library.write_text(library.read_text(encoding="utf-8") + "\n# edited\n")
            builds.setdefault("docs library edit", []).append(_sphinx(copy, jobs, pattern, env))
        finally:
            shutil.rmtree(copy, ignore_errors=True)

    return run


def section_pages(names: list[str]) -> dict[str, list[str]]:
    """``{heading: the page names of that section}`` for the sections of ``SECTIONS`` that
    have a page among ``names``."""
    found = {}
    for prefixes, heading in SECTIONS:
        if mine := [name for name in names if name.startswith(prefixes)]:
            found[heading] = mine
    return found


def _section_table(pages: list[Path], per_page, book, ratio) -> dict[str, Any]:
    """Per section: its pages, and the ratio of their time to the book's time to it."""
    table = {}
    for heading, names in section_pages([p.name for p in pages]).items():
        if heading not in book:
            continue
        repeats = len(book[heading])
        ours = [sum(per_page[n][r] for n in names) for r in range(repeats)]
        times = {"pages": ours, "book": book[heading]}
        table[heading] = {
            "pages": names,
            "ours": Stats.of(ours).as_dict(),
            "book": Stats.of(book[heading]).as_dict(),
            "ratio": {**ratio(times, "pages", "book"), "target": SECTION_TARGET},
        }
    return table


def _median_of_sections(sections: dict[str, Any]) -> dict[str, Any]:
    medians = [s["ratio"]["median"] for s in sections.values()]
    best = [s["ratio"]["best"] for s in sections.values()]
    return {
        "median": statistics.median(medians),
        "min": min(medians),
        "max": max(medians),
        "best": statistics.median(best),
        "target": MEDIAN_TARGET,
        "meaning": "median over the sections of time to section / the book's",
    }


def measure(
    project: Path,
    data_root: Path,
    cache_dir: Path,
    repeats: int,
    *,
    book_repo: str | os.PathLike[str] | None = None,
    pattern: str = ALL_PAGES,
    jobs: str = "auto",
    threads: int | None = None,
    ratio: Callable[[dict[str, list[float]], str, str], dict[str, Any]],
    summary: Callable[[dict[str, list[float]]], dict[str, Any]],
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Time the book's notebook, the pages' notebooks and the docs builds, interleaved.

    ``cache_dir`` must already hold the decoded-image cache of ``data_root`` (the pages and
    builds read it, as a reader's second page does). ``pattern`` selects pages (regular
    expression on the file name, also passed to sphinx-gallery); ``jobs`` is the docs builds'
    ``-j``; ``threads`` (``OMP_NUM_THREADS``) the intra-op threads of every kernel and build
    (None: torch's default, one per core). On a machine busy with other work, 1 keeps
    OpenMP threads from spin-waiting for siblings that are not scheduled.
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
    if threads is not None:
        base["OMP_NUM_THREADS"] = str(threads)
    base.pop("RPSBOOK_RESULTS_DIR", None)
    base.pop("MPLBACKEND", None)  # the kernels draw inline
    docs_env = {**base, "MPLBACKEND": "Agg"}  # as nox -s docs
    reader_env = {**base, "PYTHONPATH": str(project)}
    per_page: dict[str, list[float]] = {}
    book: dict[str, list[float]] = {}
    builds: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="rpsbook-chapter-") as tmp:
        scratch = Path(tmp)
        notebooks = scratch / "notebooks"
        # docs first: the pages' notebooks are the ones its build writes
        variants: dict[str, Callable[[], None]] = {
            "docs": _docs_run(project, scratch, jobs, pattern, docs_env, pages, notebooks, builds)
        }
        if repo is not None:
            variants["notebook"] = _notebook_run(repo, data_root, scratch, base, book)
        variants["pages"] = _pages_run(pages, notebooks, scratch, reader_env, per_page)
        log(f"chapter: {', '.join(variants)}; {len(pages)} pages; {repeats} repeats")
        # No untimed warm-up (it would double a long run): the rotation spreads the cost
        # of a cold file cache over the variants, and the image cache is warm already.
        times = interleaved(variants, repeats, warmup=False)
    times.update(builds)  # the docs variant's own clock also ran the two rebuilds
    ratios = {}
    for key, numerator, denominator, target, meaning in BUILD_RATIOS:
        if numerator in times and denominator in times:
            ratios[key] = {**ratio(times, numerator, denominator), "target": target}
            ratios[key]["meaning"] = meaning
    sections = _section_table(pages, per_page, book, ratio)
    if sections:
        ratios["time to section: median"] = _median_of_sections(sections)
        worst = max(sections, key=lambda h: sections[h]["ratio"]["median"])
        ratios["time to section: slowest"] = {
            **sections[worst]["ratio"],
            "meaning": f"the slowest section relative to the book's ({worst})",
        }
    return {
        "notebook": notebook_status,
        "pages": [p.name for p in pages],
        "pattern": pattern,
        "jobs": jobs,
        "threads": threads,
        "edit_page": next((p.name for p in pages if p.name.startswith(EDIT_PAGE)), pages[0].name),
        "times": summary(times),
        "per_page": summary(per_page),
        "sections": sections,
        "ratios": ratios,
    }
