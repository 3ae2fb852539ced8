"""The site distributes the build of rpsbook that produced it.

A reader who downloads a page as a notebook runs it in a kernel that may have no rpsbook
(Colab, a fresh Jupyter) or another version of it. The notebook must then install the
rpsbook this page was executed with, and nothing else: never a bare ``rpsbook`` from a
package index (a name anyone could register), never an unpinned one. So the docs build:

* builds the sdist and, from it, the wheel of this checkout (:func:`build_distributions`,
  ``python -m build --no-isolation``; hatchling's builds are reproducible, so an unchanged
  checkout gives the same files and hashes);
* writes each notebook's first cell (:func:`first_cell`): when the kernel lacks rpsbook, has
  another version, or lacks what the pages import, it says so in one line and installs the
  wheel from the site by URL, with its SHA-256 as the URL's ``#sha256=`` fragment, which pip
  checks before installing;
* publishes, at addresses that do not change from one build to the next: the wheel and the
  sdist in ``dist/`` (with ``SHA256SUMS``), every notebook in ``notebooks/<page>.ipynb``
  (what the pages' "Open in Colab" links open, from the ``gh-pages`` branch the site workflow
  pushes), and ``.nojekyll`` so that GitHub Pages serves folders starting with ``_``;
* puts, under each gallery page's title, how to run it: Colab, the notebook, the script,
  and how long its code ran when the site was built.

Where the site lives is one setting, ``$RPSBOOK_SITE_URL`` (read by ``docs/conf.py``; the
GitHub Pages address of ``$RPSBOOK_REPOSITORY`` by default). A notebook reads
``RPSBOOK_SITE_URL`` from its kernel's environment too, so a copy of the site served
elsewhere (``tools/run_notebooks.py`` serves one on 127.0.0.1) installs from that copy; the
hash in the cell guarantees it is the same file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sphinx.application import Sphinx

#: Folders of the published site that hold the distributions and the notebooks.
DIST_DIR = "dist"
NOTEBOOKS_DIR = "notebooks"
#: The branch the site workflow publishes, which Colab reads the notebooks from.
PAGES_BRANCH = "gh-pages"
#: What the notebooks import beyond rpsbook's own dependencies (its ``notebooks`` extra).
NOTEBOOK_MODULES = ("torch_lr_finder", "ipywidgets")
_RUNNING_TIME_RE = re.compile(
    r"\*\*Total running time of the script:\*\*\s*\((?P<minutes>\d+) minutes (?P<seconds>[\d.]+) "
    r"seconds\)"
)
_PAGE_TITLE_RE = re.compile(
    r"^\.\. _sphx_glr_\S+:\n(?:[ \t]*\n)+(?P<title>[^\n]+)\n(?P<rule>[=\-~^\"'#*+]+)\n",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Distribution:
    """The wheel and the sdist of one build, with their SHA-256 digests."""

    version: str
    wheel: Path
    sdist: Path

    @property
    def wheel_sha256(self) -> str:
        return sha256(self.wheel)

    @property
    def sdist_sha256(self) -> str:
        return sha256(self.sdist)


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_distributions(root: Path, outdir: Path) -> Distribution:
    """Build the sdist of the project at ``root``, then the wheel from that sdist.

    The files replace those of an earlier build in ``outdir`` only once both exist, so an
    interrupted or failed build leaves the previous pair in place. Needs ``build`` and
    ``hatchling`` in this interpreter (the ``docs`` extra has them): building without
    isolation needs no network.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=outdir, prefix=".build-") as tmp:
        command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp, str(root)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"building rpsbook's wheel and sdist failed ({' '.join(command)}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}\n"
                "The docs build needs the packages `build` and `hatchling` "
                '(pip install -e ".[docs]")'
            )
        (wheel,) = Path(tmp).glob("rpsbook-*.whl")
        (sdist,) = Path(tmp).glob("rpsbook-*.tar.gz")
        for old in outdir.glob("rpsbook-*"):
            old.unlink()
        wheel = wheel.replace(outdir / wheel.name)
        sdist = sdist.replace(outdir / sdist.name)
    version = wheel.name.split("-")[1]
    return Distribution(version=version, wheel=wheel, sdist=sdist)


def wheel_url(site_url: str, dist: Distribution) -> str:
    """The wheel's address on the site, with its hash as pip checks it."""
    return f"{site_url}{DIST_DIR}/{dist.wheel.name}#sha256={dist.wheel_sha256}"


def first_cell(dist: Distribution, site_url: str) -> str:
    """The code of every notebook's first cell (IPython syntax: ``%pip``)."""
    modules = ", ".join(repr(name) for name in NOTEBOOK_MODULES)
    wheel = f"{DIST_DIR}/{dist.wheel.name}#sha256={dist.wheel_sha256}"
    return f"""\
# This page was executed with rpsbook {dist.version}. When this kernel lacks it, has another
# version, or lacks what the page imports (Colab, a fresh Jupyter), this cell installs that
# exact build from the site (pip checks the SHA-256 in the address); otherwise it does nothing.
import importlib.metadata
import importlib.util
import os

RPSBOOK_VERSION = {dist.version!r}
RPSBOOK_WHEEL = {wheel!r}
try:
    _found = importlib.metadata.version("rpsbook")
except importlib.metadata.PackageNotFoundError:
    _found = None
_missing = [m for m in ({modules},) if importlib.util.find_spec(m) is None]
if _found != RPSBOOK_VERSION or _missing:
    _site = os.environ.get("RPSBOOK_SITE_URL", {site_url!r})
    _has = f"rpsbook {{_found}}" if _found else "no rpsbook"
    _has += f", lacks {{', '.join(_missing)}}" if _missing else ""
    print(f"Installing rpsbook {{RPSBOOK_VERSION}} from {{_site}} (this kernel has {{_has}}).")
    %pip install --quiet "rpsbook[notebooks] @ {{_site}}{{RPSBOOK_WHEEL}}"
    importlib.invalidate_caches()
%matplotlib inline"""


def colab_url(repository: str, stem: str) -> str:
    """Colab's address for ``notebooks/<stem>.ipynb`` on the repository's Pages branch."""
    return (
        f"https://colab.research.google.com/github/{repository}/blob/{PAGES_BRANCH}/"
        f"{NOTEBOOKS_DIR}/{stem}.ipynb"
    )


def running_time(rst: str) -> float | None:
    """Seconds Sphinx-Gallery says a page's code ran, from its generated reST."""
    match = _RUNNING_TIME_RE.search(rst)
    if match is None:
        return None
    return 60 * int(match["minutes"]) + float(match["seconds"])


def run_this_page(rst: str, repository: str, stem: str, cores: int) -> str:
    """``rst`` with a "Run this page" line under the page's title."""
    match = _PAGE_TITLE_RE.search(rst)
    if match is None:
        raise ValueError(f"{stem}: no page title found in the reST Sphinx-Gallery wrote")
    seconds = running_time(rst)
    took = (
        f" Its code ran in {seconds:.0f} s when this site was built, on {cores} CPU cores;"
        " the notebook's first cell adds the time to install rpsbook where it is missing."
        if seconds is not None
        else ""
    )
    box = (
        "\n.. rst-class:: rpsbook-run\n\n"
        f"   **Run this page:** `Open in Colab <{colab_url(repository, stem)}>`__ "
        "(a CPU runtime is enough), or download it as a notebook or a script at the end of "
        f"the page.{took}\n"
    )
    return rst[: match.end()] + box + rst[match.end() :]


def publish(outdir: Path, dist: Distribution) -> int:
    """Copy the distributions and the notebooks to their fixed paths; returns the count."""
    target = outdir / DIST_DIR
    target.mkdir(exist_ok=True)
    for path in (dist.wheel, dist.sdist):
        shutil.copyfile(path, target / path.name)
    sums = "".join(f"{sha256(p)}  {p.name}\n" for p in (dist.wheel, dist.sdist))
    (target / "SHA256SUMS").write_text(sums, encoding="utf-8")
    notebooks = outdir / NOTEBOOKS_DIR
    notebooks.mkdir(exist_ok=True)
    copied = 0
    for path in sorted((outdir / "_downloads").glob("*/plot_*.ipynb")):
        shutil.copyfile(path, notebooks / path.name)
        copied += 1
    (outdir / ".nojekyll").write_text("", encoding="utf-8")
    return copied


def _source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname.startswith("auto_examples/plot_"):
        stem = docname.rsplit("/", 1)[1]
        source[0] = run_this_page(
            source[0], app.config.rpsbook_repository, stem, os.cpu_count() or 1
        )


def _build_finished(app: Sphinx, exception: BaseException | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    dist = app.config.rpsbook_distribution
    count = publish(Path(app.outdir), dist)
    print(f"distribution: {dist.wheel.name}, {dist.sdist.name} and {count} notebooks published")


def setup(app: Sphinx) -> dict[str, object]:
    app.add_config_value("rpsbook_repository", "rpsbook/rpsbook", "html", types=[str])
    app.add_config_value("rpsbook_distribution", None, "", types=[Distribution])
    app.connect("source-read", _source_read)
    # after notebook_links has rewritten the downloads (default priority 500)
    app.connect("build-finished", _build_finished, priority=800)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
