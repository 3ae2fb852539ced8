"""Sphinx-Gallery hooks for the rpsbook docs, imported by name (``"sg_hooks.reset_state"``,
``"sg_hooks.hidpi_scraper"``).

Sphinx-Gallery runs every gallery script in the same Python process, so state one script
leaves behind (open figures, cached CUDA blocks, RNG positions) would leak into the next
one and make its output depend on the build order. ``reset_state`` runs before and after
each script (``reset_modules_order = "both"``) and also points
``rpsbook.report.compare_with_book`` at a folder that belongs to the script being run.
"""

from __future__ import annotations

import gc
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

from galleries import results_root
from upstream import side_by_side

from rpsbook.report import RESULTS_DIR_ENV, book_figure_label

SEED = 0
# The book's figure numbers that already have an anchor on each script's page (by path):
# the first image of a figure gets it, and the concordance page links there.
_TARGETED: dict[str, set[str]] = {}
_FIGURE_NUMBER_RE = re.compile(r"^Figure (6\.\d+) in the book: ")


def freeze_survivors() -> None:
    """Collect garbage, then exempt every object still alive from later collections.

    The docs build is one long process: torch (with ``torch._dynamo`` and sympy, which
    torchvision and every optimizer pull in), Matplotlib, Sphinx's environment and what the
    scripts leave behind add up to ~700,000 tracked objects, and each full collection
    walked all of them again: 51 full collections took 13.9 s of a 93.5 s build, and the
    interpreter's final collections 2.4 s more (measured with ``gc.callbacks``); with the
    survivors frozen at the points ``rpsbook_sphinx`` and :func:`reset_state` choose, the
    collections took 2.7 s. Objects that survive this long live until the build ends; the
    few that would become garbage later are freed when the process exits.
    """
    gc.collect()
    gc.freeze()


def figure_target(page: str, number: str) -> str:
    """The HTML id of book figure ``number`` on gallery page ``page`` (a script's stem).

    ``figure_target("plot_12_putting_it_all_together", "6.31")`` is
    ``"plot-12-putting-it-all-together-figure-6-31"``.
    """
    return f"{page}-figure-{number}".replace("_", "-").replace(".", "-").lower()


def reset_state(gallery_conf: dict, fname: str | None, when: str) -> None:
    """Isolate one gallery script from the others.

    Before a script: reseed ``random``, NumPy and torch with :data:`SEED`, empty the
    script's results folder (its records are about to be rewritten) and set
    ``$RPSBOOK_RESULTS_DIR`` to it. Both times: close every matplotlib figure, collect
    garbage and return cached CUDA memory; then, before a script, freeze what survived
    (:func:`freeze_survivors`), after it, unset ``$RPSBOOK_RESULTS_DIR``.
    ``fname`` is None when Sphinx-Gallery enters a folder of scripts.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    plt.close("all")
    leaving = when == "after" or fname is None
    if leaving:
        gc.collect()
    else:
        freeze_survivors()  # what the previous scripts left is garbage by now, or lives on
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if leaving:
        os.environ.pop(RESULTS_DIR_ENV, None)
        return
    random.seed(SEED)
    np.random.seed(SEED)  # noqa: NPY002 - the legacy global RNG is what scripts may draw from
    torch.manual_seed(SEED)  # seeds every CUDA device too
    _TARGETED.pop(str(fname), None)
    folder = results_root(gallery_conf["src_dir"], gallery_conf) / Path(fname).stem
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[RESULTS_DIR_ENV] = str(folder)


def figure_alt_text(fig: Any) -> str:
    """The alt text of a figure's image.

    The label :func:`rpsbook.report.book_figure` gave the figure ("Figure 6.21 in the
    book: ..." / "Not in the book: ..."), else, as Sphinx-Gallery does, its titles (suptitle,
    then each axes' left, center and right titles) joined by commas.
    """
    label = book_figure_label(fig)
    if label is not None:
        return label
    suptitle = [fig.get_suptitle()] if fig.get_suptitle() else []
    titles = suptitle + [
        ax.get_title(loc) for ax in fig.axes for loc in ("left", "center", "right")
    ]
    return ", ".join(title for title in titles if title)


def hidpi_scraper(block: Any, block_vars: dict[str, Any], gallery_conf: dict[str, Any]) -> str:
    """Matplotlib scraper that renders each figure once, at the ``image_srcset`` factor.

    Sphinx-Gallery's ``"matplotlib"`` scraper renders every figure once per resolution: at
    1x for the page's ``src``, then again at 2x for its ``srcset``. Here the 2x PNG is the
    only render, and the 1x image is that render averaged down by Pillow (``Image.reduce``,
    a box filter): about 60 ms a figure to read, reduce and write it (2.6 s for the 43
    figures of the gallery), where rendering them at 1x took 11.7 s on top of 14.1 s at 2x
    with the default scraper. The images' names and ``srcset`` are those of Sphinx-Gallery's
    documented ``figure_rst`` (its ``srcsetpaths`` example: ``image_2_00x.png``), the rows
    of several figures ``upstream.side_by_side``; the alt text is :func:`figure_alt_text`.
    ``image_srcset`` must hold one whole factor (``["2x"]``).
    """
    import matplotlib.pyplot as plt
    from PIL import Image
    from sphinx.errors import ConfigError
    from sphinx_gallery.scrapers import figure_rst

    factors = gallery_conf["image_srcset"]
    if len(factors) != 1 or factors[0] != int(factors[0]) or factors[0] < 2:
        raise ConfigError(
            f"sg_hooks.hidpi_scraper needs image_srcset to hold one whole factor such as "
            f'["2x"], got {factors!r}; use the "matplotlib" scraper for other settings'
        )
    factor = int(factors[0])
    images = []
    paths = block_vars["image_path_iterator"]  # yields names on demand, more than needed
    try:
        for number, image_path in zip(plt.get_fignums(), paths, strict=False):
            fig = plt.figure(number)
            image_path = Path(image_path)
            suffix = f"_{float(factor):.2f}x".replace(".", "_") + image_path.suffix  # "_2_00x.png"
            hidpi_path = image_path.with_name(image_path.stem + suffix)
            dpi = plt.rcParams["savefig.dpi"]
            fig.savefig(hidpi_path, dpi=factor * (fig.dpi if dpi == "figure" else dpi))
            with Image.open(hidpi_path) as hidpi:
                hidpi.reduce(factor).save(image_path)
            alt = figure_alt_text(fig)
            rst = figure_rst(
                [image_path],
                gallery_conf["src_dir"],
                alt,
                srcsetpaths=[{0: image_path, float(factor): hidpi_path}],
            )
            if match := _FIGURE_NUMBER_RE.match(alt):
                source = str(block_vars.get("src_file", ""))
                targeted = _TARGETED.setdefault(source, set())
                if match[1] not in targeted:  # the first image of that figure on the page
                    targeted.add(match[1])
                    target = figure_target(Path(source).stem, match[1])
                    # an empty element with the id before the image: the image-sg node
                    # Sphinx-Gallery writes has no id of its own
                    span = f'<span id="{target}"></span>'
                    rst = f"\n.. raw:: html\n\n   {span}\n{rst}"
            images.append(rst)
    finally:
        plt.close("all")
    # several figures from one block: side by side, as Sphinx-Gallery lays them out
    return side_by_side(images)
