"""Sphinx configuration for the rpsbook site: API reference + executed Sphinx-Gallery.

Build with ``nox -s docs`` (or ``python -m sphinx -b html -W --keep-going -n docs
docs/_build/html``). Every gallery script is executed against the dataset that
``rpsbook.data.find_data`` locates (set ``RPSBOOK_DATA_DIR`` to use a local copy).
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))  # sg_hooks (importable by sphinx-gallery) and the extension

import rpsbook

# -- Project -------------------------------------------------------------------------------
project = "rpsbook"
author = "rpsbook developers"
copyright = "2026, rpsbook developers"
release = version = rpsbook.__version__
REPOSITORY = "https://github.com/rpsbook/rpsbook"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
    "rpsbook_sphinx",
    "notebook_links",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb"]
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
    "nn.Module": "torch.nn.Module",
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

# -- Intersphinx ---------------------------------------------------------------------------
# Links to Python, PyTorch, torchvision, NumPy and Matplotlib. An inventory is read from
# docs/_inv/<name>.inv when that file exists (no network needed), else downloaded when the
# network answers. Sphinx reports an unreachable inventory with an untyped warning that
# -W turns into an error and suppress_warnings cannot silence, so offline builds (no local
# file, host unreachable, or RPSBOOK_OFFLINE=1) leave that project out and ignore, for -n,
# exactly the references into that project's packages: its objects simply are not linked.
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


intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
nitpick_ignore_regex: list[tuple[str, str]] = []
offline_projects = []
for _name, (_url, _packages) in INTERSPHINX.items():
    _local = DOCS / "_inv" / f"{_name}.inv"
    if _local.is_file():
        intersphinx_mapping[_name] = (_url, str(_local))
    elif _reachable(_url):
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
# Where the site is published: docs/_ext/notebook_links.py turns the cross-references in
# the downloadable notebooks into links under this address.
rpsbook_site_url = "https://rpsbook.github.io/rpsbook/"
sphinx_gallery_conf = {
    "examples_dirs": "../gallery",
    "gallery_dirs": "auto_examples",
    "filename_pattern": re.escape(os.sep) + "plot_",
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "parallel": True,  # run the scripts in as many processes as sphinx's -j (needs joblib)
    "only_warn_on_example_error": False,
    "download_all_examples": True,
    "doc_module": ("rpsbook",),
    "backreferences_dir": "gen_modules/backreferences",
    "exclude_implicit_doc": {r"rpsbook\._utils\..*"},
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    # sphinx-gallery's own matplotlib reset (rcParams), then ours: figures, CUDA cache,
    # seeds, and the per-example folder of recorded comparisons (see docs/_ext/sg_hooks.py)
    "reset_modules": ("matplotlib", "sg_hooks.reset_state"),
    "reset_modules_order": "both",
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    # performance.rst links the table; keep it even when SOURCE_DATE_EPOCH is set
    "write_computation_times": True,
    # Readers run the notebooks in their own Jupyter or in a hosted one (Colab has torch):
    # install rpsbook with what the pages import only when the kernel lacks it.
    "first_notebook_cell": (
        "# Installs rpsbook and what these pages use when this kernel lacks them (Colab, a\n"
        "# fresh Jupyter); does nothing otherwise. Other ways to install rpsbook:\n"
        f"# {rpsbook_site_url}install.html\n"
        "import importlib.util\n"
        "\n"
        'needed = ("rpsbook", "torch_lr_finder", "ipywidgets")\n'
        "if not all(importlib.util.find_spec(name) for name in needed):\n"
        '    %pip install --quiet "rpsbook[notebooks]"\n'
        "    importlib.invalidate_caches()\n"
        "%matplotlib inline"
    ),
    "thumbnail_size": (320, 224),
}

# -- HTML ----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "rpsbook"
html_static_path = ["_static"]
html_css_files = ["rpsbook.css"]
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
html_sidebars = {"index": [], "results": [], "performance": [], "install": []}
html_context = {"default_mode": "auto"}
