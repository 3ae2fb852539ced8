"""Every downloaded notebook's first cell: it makes the reader's kernel import exactly the
build of rpsbook that the site's pages were executed with (``distribution`` says why).

The cell succeeds only when the kernel then imports exactly this build. When the kernel lacks
it, has another build, or lacks what the pages import, it says so in one line and runs pip
(``sys.executable -m pip``, the arguments as a list: no shell, no IPython expansion) on the
wheel's URL, with its SHA-256 as the URL's ``#sha256=`` fragment, which pip checks before
installing; anything else raises one error naming the URL, what went wrong and what to do.
A notebook reads ``RPSBOOK_SITE_URL`` from its kernel's environment, so a copy of the site
served elsewhere installs from that copy; the hash in the cell guarantees it is the same file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from distribution import DIST_DIR, NOTEBOOKS_DIR, Distribution, colab_url

#: What the notebooks import beyond rpsbook's own dependencies (its ``notebooks`` extra).
NOTEBOOK_MODULES = ("torch_lr_finder", "ipywidgets")
#: Of those, what only draws (progress bars as widgets): the first cell goes on without it.
COSMETIC_MODULES = ("ipywidgets",)
#: Where the first cell names its page; notebook_cells puts each notebook's stem there.
PAGE_MARK = "{rpsbook_page}"
#: How the first cell begins (notebook_cells recognises an earlier build's cell by it).
FIRST_CELL_MARK = "# This page was executed with rpsbook "


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
        f"{FIRST_CELL_MARK}{dist.version}. This cell checks that the\n"
        "# kernel imports that very build. Where it has no rpsbook or another build (Colab, a\n"
        "# fresh Jupyter), it installs the site's wheel, which pip checks against its SHA-256.\n"
        "# RPSBOOK_SITE_URL in the kernel's environment names another copy of the site;\n"
        "# RPSBOOK_KEEP_INSTALLED=1 keeps the rpsbook the kernel has, whatever its build.\n"
    )
    assignments = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    return header + assignments + SITE_ADDRESS + FIRST_CELL
