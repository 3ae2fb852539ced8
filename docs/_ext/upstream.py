"""The adapter: every name, file and format of Sphinx-Gallery and pydata-sphinx-theme that
the build relies on although neither project documents it as an interface.

Everything else in ``docs/_ext`` uses documented configuration, events and APIs. When an
upgrade of either project breaks the build, this module is the place to look, and
``tests/test_upstream.py`` says which assumption no longer holds in the installed versions.
"""

from __future__ import annotations

import re
from html import escape, unescape
from pathlib import Path
from textwrap import indent
from typing import Any

from sphinx.application import Sphinx

# -- Sphinx-Gallery ------------------------------------------------------------------------


def side_by_side(images: list[str]) -> str:
    """The reST of several images of one code block laid out in a row, as Sphinx-Gallery's
    own matplotlib scraper lays them out; ``images`` are :func:`figure_rst` outputs of one
    image each (``sphinx_gallery.scrapers.figure_rst`` takes one alt text for all images of
    a list, so a scraper with an alt text per figure builds the row itself)."""
    from sphinx_gallery.scrapers import HLIST_HEADER, HLIST_IMAGE_MATPLOTLIB

    if len(images) <= 1:
        return "".join(images)
    single, multi = ":class: sphx-glr-single-img", ":class: sphx-glr-multi-img"
    items = [re.sub(single, multi, image) for image in images]
    return HLIST_HEADER + "".join(HLIST_IMAGE_MATPLOTLIB + indent(i, " " * 6) for i in items)


def md5_file(gallery_script: Path) -> Path:
    """The file beside a script's copy in the gallery folder whose MD5 of the script makes
    Sphinx-Gallery skip it (``sphinx_gallery.gen_rst.md5sum_is_current``); deleting it makes
    Sphinx-Gallery run the script. Its only documented switch, ``run_stale_examples``, runs
    every script."""
    return Path(f"{gallery_script}.md5")


#: The name of the page of execution times Sphinx-Gallery writes in each gallery folder
#: (``write_computation_times``) and, for all galleries, in the source folder.
EXECUTION_TIMES_DOC = "sg_execution_times"


def execution_times_file(gallery_dir: Path) -> Path:
    """A gallery's table of execution times, as Sphinx-Gallery writes it."""
    return gallery_dir / f"{EXECUTION_TIMES_DOC}.rst"


def thumbnail_files(gallery_dir: Path) -> list[Path]:
    """The thumbnails Sphinx-Gallery made for a gallery's cards."""
    return sorted((gallery_dir / "images" / "thumb").glob("*.png"))


#: The label that opens the footer (download links) of the reST of a gallery page.
GALLERY_FOOTER_RE = re.compile(r"^\.\. _sphx_glr_download_\S+:\n", re.MULTILINE)
#: The label and title of the reST of a gallery page.
GALLERY_TITLE_RE = re.compile(
    r"^\.\. _sphx_glr_\S+:\n(?:[ \t]*\n)+(?P<title>[^\n]+)\n(?P<rule>[=\-~^\"'#*+]+)\n",
    re.MULTILINE,
)
#: Class prefixes of what Sphinx-Gallery puts after a page's last block (running time,
#: downloads).
FOOTER_CLASSES = ("sphx-glr-timing", "sphx-glr-footer")


# -- pydata-sphinx-theme -------------------------------------------------------------------

# A toctree entry that has children, as the theme writes it: the page's link, then a
# <details> whose <summary> holds only the chevron.
_TOC_TOGGLE = re.compile(
    r'(<a [^>]*class="[^"]*\breference\b[^"]*"[^>]*>(?P<text>(?:(?!</a>).)*)</a>\s*'
    r"<details[^>]*>\s*)"
    r"<summary>",
    re.DOTALL,
)
_TAG = re.compile(r"<[^>]+>")


def label_toc_toggles(html: str) -> str:
    """The theme's navigation HTML with every chevron-only ``<summary>`` named after its page.

    axe-core's "summary-name" (serious): a ``<summary>`` is a button, and the theme's hold
    only a decorative icon, so a screen reader announces "button" with no name.
    """

    def name(match: re.Match) -> str:
        title = unescape(_TAG.sub("", match["text"])).strip()
        return match[1] + f'<summary aria-label="{escape("Pages under " + title)}">'

    return _TOC_TOGGLE.sub(name, html)


def name_toc_toggles(
    app: Sphinx, pagename: str, templatename: str, context: dict, *_: Any
) -> None:
    """``html-page-context`` handler: the theme's ``generate_toctree_html`` (a function the
    theme puts in the page's context) returns :func:`label_toc_toggles` of its HTML. Connect
    it after the theme's own handler (priority 500)."""
    generate = context.get("generate_toctree_html")
    if generate is None:
        return

    def generate_with_names(*args: Any, **kwargs: Any) -> str:
        return label_toc_toggles(str(generate(*args, **kwargs)))  # it may return a soup

    context["generate_toctree_html"] = generate_with_names
