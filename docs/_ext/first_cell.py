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
from first_cell_code import _rpsbook_site_address

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


#: The code the first cell runs after the values :func:`first_cell` writes: a module of its
#: own, copied from its first ``def`` on; its address check is also the build's.
CODE_FILE = Path(__file__).with_name("first_cell_code.py")


def site_url(value: str) -> str:
    """``value`` as a site address: http, https or file, ending with ``/`` (the first cell
    checks ``$RPSBOOK_SITE_URL`` with the same function, in ``first_cell_code.py``)."""
    try:
        return _rpsbook_site_address(value)
    except ValueError as error:
        raise ValueError(
            f"RPSBOOK_SITE_URL={value!r} is not a site address: {error}. Set it to the "
            "site's address, e.g. https://rpsbook.github.io/rpsbook/"
        ) from None


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
    code = CODE_FILE.read_text(encoding="utf-8")
    code = code[code.index("\ndef ") :]  # from the first function on: no docstring, no noqa
    run = "\n\n_rpsbook_setup()\ndel _rpsbook_setup, _rpsbook_site_address\n%matplotlib inline"
    return header + assignments + "\n" + code + run
