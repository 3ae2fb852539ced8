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
* writes each notebook's first cell (:func:`first_cell`). It succeeds only when the kernel
  then imports exactly this build. When the kernel lacks it, has another build, or lacks what
  the pages import, it says so in one line and runs pip (``sys.executable -m pip``, the
  arguments as a list: no shell, no IPython expansion) on the wheel's URL, with its SHA-256
  as the URL's ``#sha256=`` fragment, which pip checks before installing; anything else
  raises one error naming the URL, what went wrong and what to do;
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
elsewhere (``tools/run_notebooks.py`` serves one on 127.0.0.1) installs from that copy; the
hash in the cell guarantees it is the same file. The address must be an http, https or
file URL without query or fragment, of the characters a URL may hold (a trailing ``/`` is
added); anything else is refused with an error.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
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
#: Of those, what only draws (progress bars as widgets): the first cell goes on without it.
COSMETIC_MODULES = ("ipywidgets",)
#: Where the first cell names its page; notebook_links puts each notebook's stem there.
PAGE_MARK = "{rpsbook_page}"
_VERSION_RE = re.compile(r'^__version__ = "(?P<version>[^"]+)"$', re.MULTILINE)
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
        version = f"{match['version']}+b{sha256(plain_wheel)[:12]}"
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


def notebook_requirements(pyproject: Path) -> dict[str, str]:
    """``{module: requirement}`` of the ``notebooks`` extra, e.g. ``{"ipywidgets":
    "ipywidgets>=8"}``: what the first cell checks for and installs."""
    extra = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]["notebooks"]
    return {
        re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("-", "_"): (
            requirement
        )
        for requirement in extra
    }


def wheel_url(site_url: str, dist: Distribution) -> str:
    """The wheel's address on the site, with its hash as pip checks it."""
    return f"{site_url}{DIST_DIR}/{dist.wheel.name}#sha256={dist.wheel_sha256}"


#: How the first cell reads ``$RPSBOOK_SITE_URL``, and how the build checks the address it
#: writes: one function, as the text the notebooks carry. Only RFC 3986's characters, less
#: ``?`` and ``#``: no quote, space, backtick or brace ever reaches pip, and ``$()`` can only
#: be part of the path pip is asked for (as one argument: no shell, no IPython expansion).
SITE_ADDRESS = """\


def _rpsbook_site_address(value):
    \"\"\"value as a site address, ending with a slash; ValueError says why it is not one.\"\"\"
    import string
    import urllib.parse

    allowed = string.ascii_letters + string.digits + "-._~:/[]@!$&'()*+,;=%"
    bad = sorted(set(value) - set(allowed))
    parts = urllib.parse.urlsplit(value)
    if bad:
        raise ValueError(f"it holds {' '.join(repr(c) for c in bad)}")
    if parts.scheme not in ("http", "https", "file"):
        raise ValueError("it is not an http, https or file URL")
    if parts.scheme != "file" and not parts.netloc:
        raise ValueError("it names no host")
    return value if value.endswith("/") else value + "/"
"""
_site_namespace: dict[str, object] = {}
exec(SITE_ADDRESS, _site_namespace)  # the function above: one text, for the build and the cell


def site_url(value: str) -> str:
    """``value`` as a site address: http, https or file, ending with ``/`` (the first cell
    checks ``$RPSBOOK_SITE_URL`` with the same function, :data:`SITE_ADDRESS`)."""
    try:
        return _site_namespace["_rpsbook_site_address"](value)
    except ValueError as error:
        raise ValueError(
            f"RPSBOOK_SITE_URL={value!r} is not a site address: {error}. Set it to the "
            "site's address, e.g. https://rpsbook.github.io/rpsbook/"
        ) from None


#: The body of every notebook's first cell, after the values :func:`first_cell` writes. Only
#: the standard library: it runs in a kernel that may have nothing else.
FIRST_CELL = """\


def _rpsbook_setup():
    import importlib.metadata
    import importlib.util
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.parse
    import urllib.request

    site = RPSBOOK_SITE

    def fail(url, what):
        raise RuntimeError(
            f"this notebook needs rpsbook {RPSBOOK_VERSION}, the build its page was executed "
            f"with, and cannot get it from {url}: {what}\\nWhat to do, one of:\\n"
            "- set RPSBOOK_SITE_URL to a copy of the site that answers (os.environ["
            "'RPSBOOK_SITE_URL'] = 'https://...' in a cell above) and run this cell again;\\n"
            f"- open this page's current notebook: {site}{RPSBOOK_NOTEBOOK} (in Colab: "
            f"{RPSBOOK_COLAB});\\n"
            f"- install rpsbook from a clone of {RPSBOOK_REPOSITORY} (pip install "
            "'<the clone>[notebooks]'), set RPSBOOK_KEEP_INSTALLED=1 and run this cell "
            "again: the last cell compares your numbers with the page's."
        ) from None

    def found_at(url):  # whether the site has this file; OSError when it cannot tell
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "file":
            return os.path.isfile(urllib.request.url2pathname(parts.path))
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=20):
                return True
        except urllib.error.HTTPError as error:
            if error.code in (404, 410):
                return False
            raise OSError(f"it answered {error}") from None

    def pip(requirements):
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-input"]
        command += ["--no-color", "--disable-pip-version-check", "--progress-bar", "off"]
        command += ["--retries", "1", "--timeout", "30", *requirements]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    if os.environ.get("RPSBOOK_KEEP_INSTALLED") == "1":  # the reader's own rpsbook, by choice
        try:
            import rpsbook
        except ImportError as error:
            fail("this kernel", f"RPSBOOK_KEEP_INSTALLED=1, and it cannot import rpsbook: {error}")
        if rpsbook.__version__ != RPSBOOK_VERSION:
            print(
                f"Keeping rpsbook {rpsbook.__version__} (RPSBOOK_KEEP_INSTALLED=1); this page "
                f"ran {RPSBOOK_VERSION}, so its numbers may differ."
            )
        return
    try:
        found = importlib.metadata.version("rpsbook")
    except importlib.metadata.PackageNotFoundError:
        found = None
    loaded = "rpsbook" in sys.modules
    missing = [m for m in RPSBOOK_NEEDS if importlib.util.find_spec(m) is None]
    cosmetic = [m for m in RPSBOOK_COSMETIC if importlib.util.find_spec(m) is None]
    if found != RPSBOOK_VERSION or missing:
        value = os.environ.get("RPSBOOK_SITE_URL") or RPSBOOK_SITE
        try:
            site = _rpsbook_site_address(value)
        except ValueError as error:
            fail(f"RPSBOOK_SITE_URL={value!r}", f"that is not a site address: {error}")
        url = site + RPSBOOK_WHEEL
        has = f"rpsbook {found}" if found else "no rpsbook"
        has += f", lacks {', '.join(missing)}" if missing else ""
        print(f"Installing rpsbook {RPSBOOK_VERSION} from {site} (this kernel has {has}).")
        try:
            if not found_at(url.partition("#")[0]):
                if found_at(site + "dist/SHA256SUMS"):
                    fail(
                        url,
                        "the site no longer has it: this notebook comes from an earlier "
                        "build of the site, which has moved on",
                    )
                fail(url, f"{site} is not a copy of the site: it has no dist/SHA256SUMS")
        except OSError as error:
            fail(url, f"the site cannot be reached ({getattr(error, 'reason', error)})")
        done = pip([f"rpsbook @ {url}", *RPSBOOK_NEEDS.values()])
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip().splitlines()
            fail(url, "pip failed:\\n  " + "\\n  ".join(output[-12:]))
        if cosmetic and pip([RPSBOOK_COSMETIC[m] for m in cosmetic]).returncode != 0:
            print(f"Progress bars will be plain text: installing {', '.join(cosmetic)} failed.")
        importlib.invalidate_caches()
    elif cosmetic:
        print(f"Progress bars will be plain text: this kernel lacks {', '.join(cosmetic)}.")
    import rpsbook

    if rpsbook.__version__ != RPSBOOK_VERSION:
        where = f"rpsbook {rpsbook.__version__} from {os.path.dirname(rpsbook.__file__)}"
        if loaded:
            fail(
                site,
                f"this kernel had already imported {where}: restart the kernel (Colab: "
                "Runtime > Restart session) and run this cell again",
            )
        fail(
            site,
            f"this kernel imports {where}, which hides the installed build: run the "
            "notebook from another folder, without that one on sys.path",
        )


_rpsbook_setup()
del _rpsbook_setup, _rpsbook_site_address
%matplotlib inline\
"""


def first_cell(
    dist: Distribution, site: str, repository: str, requirements: dict[str, str]
) -> str:
    """The code of every notebook's first cell (IPython syntax: ``%matplotlib``).

    ``site`` is the site's address (:func:`site_url`), ``repository`` ``owner/name`` on
    GitHub and ``requirements`` :func:`notebook_requirements`. The values are written as
    Python literals; ``$RPSBOOK_SITE_URL`` is read, checked and used only at run time.
    """
    values = {
        "RPSBOOK_VERSION": dist.version,
        "RPSBOOK_WHEEL": f"{DIST_DIR}/{dist.wheel.name}#sha256={dist.wheel_sha256}",
        "RPSBOOK_SITE": site_url(site),
        "RPSBOOK_NOTEBOOK": f"{NOTEBOOKS_DIR}/{PAGE_MARK}.ipynb",
        "RPSBOOK_COLAB": colab_url(repository, PAGE_MARK),
        "RPSBOOK_REPOSITORY": f"https://github.com/{repository}",
        # what the pages import besides rpsbook, and what only draws progress bars
        "RPSBOOK_NEEDS": {m: r for m, r in requirements.items() if m not in COSMETIC_MODULES},
        "RPSBOOK_COSMETIC": {m: r for m, r in requirements.items() if m in COSMETIC_MODULES},
    }
    header = (
        f"# This page was executed with rpsbook {dist.version}. This cell checks that the\n"
        "# kernel imports that very build. Where it has no rpsbook or another build (Colab, a\n"
        "# fresh Jupyter), it installs the site's wheel, which pip checks against its SHA-256.\n"
        "# RPSBOOK_SITE_URL in the kernel's environment names another copy of the site;\n"
        "# RPSBOOK_KEEP_INSTALLED=1 keeps the rpsbook the kernel has, whatever its build.\n"
    )
    assignments = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    return header + assignments + SITE_ADDRESS + FIRST_CELL


def colab_url(repository: str, stem: str) -> str:
    """Colab's address for ``notebooks/<stem>.ipynb`` on the repository's Pages branch."""
    return (
        f"https://colab.research.google.com/github/{repository}/blob/{PAGES_BRANCH}/"
        f"{NOTEBOOKS_DIR}/{stem}.ipynb"
    )


def run_this_page(rst: str, repository: str, stem: str) -> str:
    """``rst`` with a "Run this page" line under the page's title."""
    match = _PAGE_TITLE_RE.search(rst)
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
    sums = "".join(f"{sha256(p)}  {p.name}\n" for p in (dist.wheel, dist.sdist))
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
    if docname.startswith("auto_examples/plot_"):
        stem = docname.rsplit("/", 1)[1]
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
