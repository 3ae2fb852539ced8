"""The site distributes the build of rpsbook that produced it.

A reader who downloads a page as a notebook runs it in a kernel that may have no rpsbook
(Colab, a fresh Jupyter) or another version of it. The notebook must then install the
rpsbook this page was executed with, and nothing else: never a bare ``rpsbook`` from a
package index (a name anyone could register), never an unpinned one. So the docs build:

* builds the sdist and, from it, the wheel of this checkout, with a version of their own
  (:func:`build_distributions`, ``python -m build --no-isolation``): ``0.1.0+b<12 hex>``, the
  local part being the start of the SHA-256 of the wheel the checkout gives as ``0.1.0``.
  hatchling's builds are reproducible, so an unchanged checkout gives the same version, files
  and hashes, and any change to what the wheel holds gives another version;
* writes each notebook's first cell (``first_cell.first_cell``), which installs the wheel
  where the reader's kernel lacks this build;
* publishes, at addresses that do not change from one build to the next: ``dist/`` holding
  exactly the wheel, the sdist and their ``SHA256SUMS``, every notebook in
  ``notebooks/<page>.ipynb`` (what the pages' "Open in Colab" links open, from the
  ``gh-pages`` branch the site workflow pushes), and ``.nojekyll`` so that GitHub Pages
  serves folders starting with ``_``. Files of earlier builds are removed: a notebook of an
  earlier build finds its wheel gone, and its first cell says that the site has moved on
  and links the page's current notebook;
* puts, under each gallery page's title, how to run it: Colab, the notebook, the script,
  and how long its code ran when the site was built.

Where the site lives is one setting, ``$RPSBOOK_SITE_URL`` (read by ``docs/conf.py``; the
GitHub Pages address of ``$RPSBOOK_REPOSITORY`` by default). A notebook reads
``RPSBOOK_SITE_URL`` from its kernel's environment too, so a copy of the site served
elsewhere (``python -m tools.notebooks`` serves one on 127.0.0.1) installs from that copy; the
hash in the cell guarantees it is the same file. The address must be an http, https or
file URL without query or fragment, of the characters a URL may hold (a trailing ``/`` is
added); anything else is refused with an error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from galleries import gallery_dirs
from sphinx.application import Sphinx
from upstream import GALLERY_TITLE_RE

from rpsbook._utils import file_sha256

#: Folders of the published site that hold the distributions and the notebooks.
DIST_DIR = "dist"
NOTEBOOKS_DIR = "notebooks"
#: The branch the site workflow publishes, which Colab reads the notebooks from.
PAGES_BRANCH = "gh-pages"
_VERSION_RE = re.compile(r'^__version__ = "(?P<version>[^"]+)"$', re.MULTILINE)


@dataclass(frozen=True)
class Distribution:
    """The wheel and the sdist of one build, with their SHA-256 digests."""

    version: str
    wheel: Path
    sdist: Path

    @property
    def wheel_sha256(self) -> str:
        return file_sha256(self.wheel)

    @property
    def sdist_sha256(self) -> str:
        return file_sha256(self.sdist)


def _build(source: Path, outdir: Path) -> tuple[Path, Path]:
    """``python -m build --no-isolation``: the sdist of ``source``, the wheel from it."""
    command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir)]
    done = subprocess.run([*command, str(source)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"building rpsbook's wheel and sdist failed ({' '.join(command)} {source}):\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}\n"
            "The docs build needs the packages `build` and `hatchling` "
            '(pip install -e ".[docs]")'
        )
    (wheel,) = outdir.glob("rpsbook-*.whl")
    (sdist,) = outdir.glob("rpsbook-*.tar.gz")
    return wheel, sdist


def build_distributions(root: Path, outdir: Path) -> Distribution:
    """Build the sdist and the wheel of the project at ``root`` with this build's version.

    The checkout's version (``rpsbook/__init__.py``, ``0.1.0``) gets a PEP 440 local part,
    ``+b`` and the first 12 hex digits of the SHA-256 of the wheel the checkout gives as it
    is, written into ``rpsbook/__init__.py`` of the unpacked sdist that both files are then
    built from: the installed package reports it (``rpsbook.__version__``), and a kernel
    holding another build of 0.1.0 is told apart. The files replace those of an earlier
    build in ``outdir`` only once both exist, so an interrupted or failed build leaves the
    previous pair in place. Needs ``build`` and ``hatchling`` in this interpreter (the
    ``docs`` extra has them): building without isolation needs no network.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=outdir, prefix=".build-") as tmp:
        tmp = Path(tmp)
        plain_wheel, plain_sdist = _build(root, tmp / "plain")
        with tarfile.open(plain_sdist) as archive:
            archive.extractall(tmp / "source", filter="data")
        (source,) = (tmp / "source").iterdir()
        init = source / "rpsbook" / "__init__.py"
        text = init.read_text(encoding="utf-8")
        match = _VERSION_RE.search(text)
        if match is None:
            raise RuntimeError(f'{init}: no line `__version__ = "..."` to give a build')
        version = f"{match['version']}+b{file_sha256(plain_wheel)[:12]}"
        init.write_text(
            text[: match.start("version")] + version + text[match.end("version") :],
            encoding="utf-8",
        )
        # hatchling takes an sdist's metadata from its PKG-INFO: without it, from pyproject
        # and the version above
        (source / "PKG-INFO").unlink()
        wheel, sdist = _build(source, tmp / "site")
        for old in outdir.glob("rpsbook-*"):
            old.unlink()
        wheel = wheel.replace(outdir / wheel.name)
        sdist = sdist.replace(outdir / sdist.name)
    return Distribution(version=version, wheel=wheel, sdist=sdist)


def wheel_url(site_url: str, dist: Distribution) -> str:
    """The wheel's address on the site, with its hash as pip checks it."""
    return f"{site_url}{DIST_DIR}/{dist.wheel.name}#sha256={dist.wheel_sha256}"


def colab_url(repository: str, stem: str) -> str:
    """Colab's address for ``notebooks/<stem>.ipynb`` on the repository's Pages branch."""
    return (
        f"https://colab.research.google.com/github/{repository}/blob/{PAGES_BRANCH}/"
        f"{NOTEBOOKS_DIR}/{stem}.ipynb"
    )


def run_this_page(rst: str, repository: str, stem: str) -> str:
    """``rst`` with a "Run this page" line under the page's title."""
    match = GALLERY_TITLE_RE.search(rst)
    if match is None:
        raise ValueError(f"{stem}: no page title found in the reST Sphinx-Gallery wrote")
    box = (
        "\n.. rst-class:: rpsbook-run\n\n"
        f"   **Run this page:** `Open in Colab <{colab_url(repository, stem)}>`__ "
        "(a CPU runtime is enough), or download it as a notebook or a script at the end of "
        "the page.\n"
    )
    return rst[: match.end()] + box + rst[match.end() :]


def publish(outdir: Path, dist: Distribution) -> int:
    """Copy the distributions and the notebooks to their fixed paths; returns the count.

    ``dist/`` then holds exactly the wheel, the sdist and ``SHA256SUMS`` (which lists both),
    and ``notebooks/`` exactly this build's notebooks: what an earlier build left there
    (an incremental build's output folder keeps it) is removed.
    """
    target = outdir / DIST_DIR
    target.mkdir(exist_ok=True)
    for path in (dist.wheel, dist.sdist):
        shutil.copyfile(path, target / path.name)
    sums = "".join(f"{file_sha256(p)}  {p.name}\n" for p in (dist.wheel, dist.sdist))
    (target / "SHA256SUMS").write_text(sums, encoding="utf-8")
    _remove_all_but(target, {dist.wheel.name, dist.sdist.name, "SHA256SUMS"})
    notebooks = outdir / NOTEBOOKS_DIR
    notebooks.mkdir(exist_ok=True)
    sources = sorted((outdir / "_downloads").glob("*/plot_*.ipynb"))
    for path in sources:
        shutil.copyfile(path, notebooks / path.name)
    _remove_all_but(notebooks, {path.name for path in sources})
    (outdir / ".nojekyll").write_text("", encoding="utf-8")
    return len(sources)


def _remove_all_but(folder: Path, names: set[str]) -> None:
    for path in folder.iterdir():
        if path.name not in names:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def _source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    gallery, _, stem = docname.rpartition("/")
    if gallery in gallery_dirs(app.config.sphinx_gallery_conf) and stem.startswith("plot_"):
        source[0] = run_this_page(source[0], app.config.rpsbook_repository, stem)


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
