"""Sphinx configuration for the rpsbook site: API reference + executed Sphinx-Gallery.

Build with ``nox -s docs`` (or ``python -m sphinx -b html -W --keep-going -n docs
docs/_build/html``). Every gallery script is executed against the dataset that
``rpsbook.data.find_data`` locates (set ``RPSBOOK_DATA_DIR`` to use a local copy).
"""

from __future__ import annotations

import inspect
import os
import re
import socket
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))  # sg_hooks (importable by sphinx-gallery) and the extension

from distribution import build_distributions, wheel_url
from first_cell import first_cell, notebook_requirements, site_url
from upstream import EXECUTION_TIMES_DOC

import rpsbook

# -- Project -------------------------------------------------------------------------------
project = "rpsbook"
author = "rpsbook developers"
copyright = "2026, rpsbook developers"
release = version = rpsbook.__version__
# Where the project lives, and where its site is published: the one setting a host changes.
# The site workflow (.github/workflows/site.yml) sets both from the repository it runs in.
# An empty variable (an unset repository variable in a workflow) counts as unset.
rpsbook_repository = os.environ.get("RPSBOOK_REPOSITORY") or "rpsbook/rpsbook"
REPOSITORY = f"https://github.com/{rpsbook_repository}"
_owner, _, _name = rpsbook_repository.partition("/")
# http, https or file; a trailing slash added (anything else stops the build, named)
rpsbook_site_url = site_url(
    os.environ.get("RPSBOOK_SITE_URL") or f"https://{_owner}.github.io/{_name}/"
)

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.linkcode",
    "sphinx.ext.mathjax",
    "sphinx_copybutton",
    "sphinx_gallery.gen_gallery",
    "exec_cache",  # re-runs a gallery script when rpsbook, torch, the data... changed
    "rpsbook_sphinx",
    "notebook_links",
    "exercises",  # worked solutions collapsed in <details> on the gallery pages
    "distribution",
]

templates_path = ["_templates"]
# Sphinx-Gallery's page of execution times of all galleries is written when a build finishes,
# so it would show the previous build's times: performance.rst reads the gallery's own table.
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "auto_examples/*.ipynb",
    f"{EXECUTION_TIMES_DOC}.rst",
    "_inv",
]
nitpicky = True  # -n on the command line says the same; keep it for IDE builds
default_role = "py:obj"

# -- API reference -------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# Some modules import matplotlib's classes for annotations only (under TYPE_CHECKING, to
# keep `import rpsbook.<module>` light); autodoc then shows such a signature as written.
# The extension resolves these names as the full paths below (autodoc_type_aliases would
# render them as "TypeAliasForwardRef" in Sphinx 9).
rpsbook_type_aliases = {
    "Axes": "matplotlib.axes.Axes",
    "Figure": "matplotlib.figure.Figure",
    "Tensor": "torch.Tensor",
    "DataLoader": "torch.utils.data.DataLoader",
    "nn.Module": "torch.nn.Module",
    "Literal": "typing.Literal",
}
# numpy-style docstrings state shapes in their types, e.g. "Tensor (N, 3, 28, 28)";
# rendered as plain text they read well, turned into cross-references they would be
# dozens of unresolvable targets ("N", "3") under -n.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_param = False
napoleon_use_rtype = False
napoleon_use_ivar = False
# "Attributes" sections are laid out like "Parameters": names with their (shape) types as text.
napoleon_custom_sections = [("Attributes", "params_style")]
napoleon_preprocess_types = False


def _public_aliases() -> dict[str, list[str]]:
    """``{"rpsbook.training.StepByStep": ["rpsbook.StepByStep"], ...}``.

    Gallery scripts write the names users import (``from rpsbook import StepByStep``) and
    Sphinx-Gallery records its backreferences under those names, while the API pages
    document each object where it is defined. A page's mini-gallery lists both names: the
    re-exports of ``rpsbook/__init__.py``, and the short ``rpsbook.<name>`` that
    Sphinx-Gallery also records for the types of objects a script holds, when one module
    defines that name.
    """
    owners: dict[str, list[str]] = {}
    for module in (getattr(rpsbook, name) for name in rpsbook.__all__):
        if not isinstance(module, ModuleType):
            continue
        for name, obj in vars(module).items():
            if not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__:
                owners.setdefault(name, []).append(f"{module.__name__}.{name}")
    return {full[0]: [f"rpsbook.{name}"] for name, full in owners.items() if len(full) == 1}


autosummary_context = {"public_aliases": _public_aliases()}

# -- Intersphinx ---------------------------------------------------------------------------
# Links to Python, PyTorch, torchvision, NumPy and Matplotlib. When the project's site
# answers, its published inventory is read, with docs/_inv/<name>.inv as the fallback;
# offline (host unreachable, or RPSBOOK_OFFLINE=1) only docs/_inv/<name>.inv is read. Those
# files are small inventories that docs/_inv/make_inventories.py writes for exactly the
# objects rpsbook refers to, with the real addresses of their pages, so that an offline
# build (CI, a laptop on a train) links as well and the -n build checks they are complete.
# A project with neither (no local file and offline) is left out, and -n ignores exactly the
# references into its packages: its objects simply are not linked. (Sphinx reports an
# unreachable inventory with an untyped warning that -W turns into an error and
# suppress_warnings cannot silence; hence the reachability test first.)
INTERSPHINX = {
    # name: (documentation root, top-level packages its inventory documents)
    "python": ("https://docs.python.org/3/", tuple(sorted(sys.stdlib_module_names))),
    "torch": ("https://docs.pytorch.org/docs/stable/", ("torch",)),
    "torchvision": ("https://docs.pytorch.org/vision/stable/", ("torchvision",)),
    "numpy": ("https://numpy.org/doc/stable/", ("numpy",)),
    "matplotlib": ("https://matplotlib.org/stable/", ("matplotlib", "mpl_toolkits")),
}
intersphinx_timeout = 10


def _reachable(url: str) -> bool:
    if os.environ.get("RPSBOOK_OFFLINE") == "1":
        return False
    try:
        socket.create_connection((urlsplit(url).hostname, 443), timeout=3).close()
    except OSError:
        return False
    return True


intersphinx_mapping: dict[str, tuple[str, str | tuple[str | None, ...] | None]] = {}
# PyTorch documents no page for the hook handle its register_*_hook methods return.
nitpick_ignore = [("py:class", "torch.utils.hooks.RemovableHandle")]
nitpick_ignore_regex: list[tuple[str, str]] = []
offline_projects = []
for _name, (_url, _packages) in INTERSPHINX.items():
    _local = DOCS / "_inv" / f"{_name}.inv"
    _online = _reachable(_url)
    if _local.is_file():
        intersphinx_mapping[_name] = (_url, (None, str(_local)) if _online else str(_local))
    elif _online:
        intersphinx_mapping[_name] = (_url, None)
    else:
        offline_projects.append(_name)
        _alternatives = "|".join(re.escape(p) for p in _packages)
        nitpick_ignore_regex.append((r"py:.*", rf"~?({_alternatives})(\..+)?"))
        nitpick_ignore_regex += [
            (r"py:.*", re.escape(short))
            for short, full in rpsbook_type_aliases.items()
            if full.split(".")[0] in _packages
        ]
if offline_projects:
    print(f"rpsbook docs: no inventory for {', '.join(offline_projects)}; not linked")

# -- Sphinx-Gallery ------------------------------------------------------------------------
# The wheel and sdist of this checkout, published with the site; every notebook's first cell
# installs exactly this wheel when the reader's kernel lacks it (docs/_ext/first_cell.py).
# docs/_ext/notebook_links.py turns the notebooks' cross-references into links under
# rpsbook_site_url.
rpsbook_distribution = build_distributions(DOCS.parent, DOCS / "_build" / "dist")
_wheel, _sdist = rpsbook_distribution.wheel.name, rpsbook_distribution.sdist.name
# The Install page names them (links relative to the site's root, where that page lives).
rst_epilog = f"""
.. |rpsbook_wheel_link| replace:: `{_wheel} <dist/{_wheel}>`__
.. |rpsbook_sdist_link| replace:: `{_sdist} <dist/{_sdist}>`__
.. |rpsbook_sums_link| replace:: `SHA256SUMS <dist/SHA256SUMS>`__
.. |rpsbook_site| replace:: {rpsbook_site_url}
.. |rpsbook_wheel_url| replace:: {wheel_url(rpsbook_site_url, rpsbook_distribution)}
"""
sphinx_gallery_conf = {
    "examples_dirs": "../gallery",
    "gallery_dirs": "auto_examples",
    "filename_pattern": re.escape(os.sep) + "plot_",
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    # The scripts run one after another by default. In parallel, joblib's workers give torch
    # cpu_count // jobs threads each, and CPU results depend on the thread count (the final
    # model of "Putting it all together": 336/372 with 2 threads, 347/372 with 1), so the
    # pages would print numbers that a reader's notebook on the same machine does not.
    # RPSBOOK_GALLERY_JOBS=N runs N at once where that matters less than time.
    "parallel": int(os.environ.get("RPSBOOK_GALLERY_JOBS", "1")),
    "only_warn_on_example_error": False,
    "download_all_examples": True,
    "doc_module": ("rpsbook",),
    "backreferences_dir": "gen_modules/backreferences",
    "exclude_implicit_doc": {r"rpsbook\._utils\..*"},
    "matplotlib_animations": False,
    "image_scrapers": ("sg_hooks.hidpi_scraper",),  # one render per figure, at 2x
    # sphinx-gallery's own matplotlib reset (rcParams), then ours: figures, CUDA cache,
    # seeds, and the per-example folder of recorded comparisons (see docs/_ext/sg_hooks.py)
    "reset_modules": ("matplotlib", "sg_hooks.reset_state"),
    "reset_modules_order": "both",
    "remove_config_comments": True,
    "show_memory": False,
    # No page prints how long it ran: timings live on the Performance page (its table of
    # execution times is written whatever this threshold).
    "min_reported_time": float("inf"),
    # performance.rst links the table; keep it even when SOURCE_DATE_EPOCH is set
    "write_computation_times": True,
    "first_notebook_cell": first_cell(
        rpsbook_distribution,
        rpsbook_site_url,
        rpsbook_repository,
        notebook_requirements(DOCS.parent / "pyproject.toml"),
    ),
    # Most figures are about 16:9; the extension trims the transparent padding
    # Sphinx-Gallery puts around a thumbnail, and the CSS fills the card with it.
    "thumbnail_size": (400, 225),
    "image_srcset": ["2x"],  # sharp figures on HiDPI screens
}

# -- Math ----------------------------------------------------------------------------------
# MathJax 3.2.2 (npm package "mathjax", Apache-2.0) ships in docs/_static/mathjax: the
# single-file TeX-to-CommonHTML build with every TeX extension (no extension is fetched
# later) and its woff fonts, 1.7 MB. Pages with math work offline and request no other host.
mathjax_path = "mathjax/tex-chtml-full.js"
mathjax3_config = {"options": {"enableMenu": False}}

# -- Code ----------------------------------------------------------------------------------
# The copy button leaves out prompts and outputs: "$ " in console blocks, ">>> " in doctests.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True


def linkcode_resolve(domain: str, info: dict[str, str]) -> str | None:
    """The lines of the repository's source that define an API object."""
    if domain != "py" or not info.get("module", "").startswith("rpsbook"):
        return None
    obj: object = sys.modules.get(info["module"])
    for part in info["fullname"].split("."):
        obj = getattr(obj, part, None)
    obj = inspect.unwrap(obj) if callable(obj) else obj
    if isinstance(obj, property):
        obj = obj.fget
    try:
        source = inspect.getsourcefile(obj)
        lines, start = inspect.getsourcelines(obj)
    except (TypeError, OSError):
        return None
    if source is None:
        return None
    try:
        path = Path(source).resolve().relative_to(DOCS.parent).as_posix()
    except ValueError:  # rpsbook imported from outside this checkout
        return None
    return f"{REPOSITORY}/blob/main/{path}#L{start}-L{start + len(lines) - 1}"


# -- HTML ----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "rpsbook"
html_static_path = ["_static"]
html_css_files = ["rpsbook.css"]
html_favicon = "_static/favicon.svg"
html_show_sourcelink = True
html_theme_options = {
    "icon_links": [
        {
            "name": "GitHub",
            "url": REPOSITORY,
            "icon": "fa-brands fa-github",
            "type": "fontawesome",
        }
    ],
    "navbar_align": "left",
    "navbar_start": ["navbar-logo", "navbar-version"],
    "header_links_before_dropdown": 6,
    "show_toc_level": 2,
    # Gallery pages are listed by name: the theme warns when a page matches two wildcards.
    "secondary_sidebar_items": {
        "**": ["page-toc", "sourcelink"],
        **{
            f"auto_examples/{script.stem}": ["page-toc", "sg_download_links", "sg_launcher_links"]
            for script in sorted((DOCS.parent / "gallery").glob("plot_*.py"))
        },
    },
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
# Gallery pages give their width to code and output; the navbar and the page list of the
# gallery's index lead between them.
html_sidebars = {
    "index": [],
    "results": [],
    "performance": [],
    "install": [],
    "auto_examples/plot_*": [],
}
html_context = {"default_mode": "auto"}
