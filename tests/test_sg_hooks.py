"""docs/_ext/sg_hooks.py: the docs build's one-render HiDPI scraper and its frozen heap."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from docs_ext import ext_modules

matplotlib.use("Agg")
import matplotlib.pyplot as plt

pytest.importorskip("sphinx_gallery")
from PIL import Image
from sphinx.errors import ConfigError
from sphinx_gallery.scrapers import matplotlib_scraper


@pytest.fixture(scope="module")
def sg_hooks():
    with ext_modules("sg_hooks") as modules:
        yield modules.sg_hooks


def _figure(title: str, size: tuple[float, float] = (3.0, 2.0)) -> None:
    _, ax = plt.subplots(figsize=size, layout="constrained")
    ax.plot([0, 1, 2], [2, 0, 1])
    ax.set_title(title)


def _scrape(scraper, folder: Path, names: list[str], srcset=(2.0,)) -> str:
    paths = [str(folder / "images" / name) for name in names]
    (folder / "images").mkdir(parents=True, exist_ok=True)
    conf = {
        "image_srcset": list(srcset),
        "src_dir": str(folder),
        "matplotlib_animations": (False, None),
        "compress_images": (),
    }
    return scraper(None, {"image_path_iterator": iter(paths)}, conf)


def test_one_figure_gives_sphinx_gallery_rst_and_a_reduced_1x(sg_hooks, tmp_path):
    plt.close("all")
    _figure("loss")
    ours = _scrape(sg_hooks.hidpi_scraper, tmp_path / "ours", ["sphx_glr_plot_x_001.png"])
    assert plt.get_fignums() == []
    _figure("loss")
    theirs = _scrape(matplotlib_scraper, tmp_path / "theirs", ["sphx_glr_plot_x_001.png"])
    assert ours == theirs
    srcset = "/images/sphx_glr_plot_x_001.png, /images/sphx_glr_plot_x_001_2_00x.png 2.00x"
    assert f":srcset: {srcset}" in ours
    assert ":alt: loss" in ours
    images = tmp_path / "ours" / "images"
    with (
        Image.open(images / "sphx_glr_plot_x_001.png") as low,
        Image.open(images / "sphx_glr_plot_x_001_2_00x.png") as high,
    ):
        assert low.size == (300, 200)  # 3 x 2 inches at 100 dpi
        assert high.size == (600, 400)
        assert np.array_equal(np.asarray(low), np.asarray(high.reduce(2)))
    with Image.open(tmp_path / "theirs" / "images" / "sphx_glr_plot_x_001.png") as native:
        assert native.size == (300, 200)


def test_several_figures_of_one_block_sit_side_by_side(sg_hooks, tmp_path):
    plt.close("all")
    _figure("first")
    _figure("second", size=(2.0, 2.0))
    rst = _scrape(sg_hooks.hidpi_scraper, tmp_path, ["a_001.png", "a_002.png"])
    assert rst.startswith("\n.. rst-class:: sphx-glr-horizontal\n")
    assert rst.count(":class: sphx-glr-multi-img") == 2
    assert ":alt: first" in rst and ":alt: second" in rst
    with Image.open(tmp_path / "images" / "a_002_2_00x.png") as high:
        assert high.size == (400, 400)


def test_alt_text_is_the_book_figure_label_and_the_first_image_gets_an_anchor(sg_hooks, tmp_path):
    from rpsbook.report import book_figure

    plt.close("all")
    sg_hooks._TARGETED.clear()
    _figure("CNN2(5, p=0.3), Adam lr=3e-4")
    book_figure(plt.gcf(), "6.10", "Training and validation losses per epoch.")
    _figure("untitled by book_figure")
    conf_block = {"src_file": str(tmp_path / "plot_05_model_training.py")}
    paths = [str(tmp_path / "images" / n) for n in ("b_001.png", "b_002.png", "b_003.png")]
    (tmp_path / "images").mkdir()
    conf = {"image_srcset": [2.0], "src_dir": str(tmp_path)}
    rst = sg_hooks.hidpi_scraper(None, {**conf_block, "image_path_iterator": iter(paths)}, conf)
    assert ":alt: Figure 6.10 in the book: Training and validation losses per epoch." in rst
    assert ":alt: untitled by book_figure" in rst  # no label: the titles, as before
    target = sg_hooks.figure_target("plot_05_model_training", "6.10")
    assert target == "plot-05-model-training-figure-6-10"
    anchor = f'<span id="{target}"></span>'  # raw HTML: the image-sg node writes no id
    assert rst.count(anchor) == 1
    assert rst.index(anchor) < rst.index("Figure 6.10 in the book")  # before its image
    # the same figure drawn again on the page: alt text, but no second target
    _figure("again")
    book_figure(plt.gcf(), "6.10", "The same losses.")
    again = sg_hooks.hidpi_scraper(None, {**conf_block, "image_path_iterator": iter(paths)}, conf)
    assert ":alt: Figure 6.10 in the book: The same losses." in again
    assert "<span" not in again
    # a new run of the page (reset_state) targets its first image again
    sg_hooks._TARGETED.pop(conf_block["src_file"])
    _figure("third")
    book_figure(plt.gcf(), "6.10", "The same losses.")
    third = sg_hooks.hidpi_scraper(None, {**conf_block, "image_path_iterator": iter(paths)}, conf)
    assert anchor in third
    plt.close("all")


@pytest.mark.parametrize("srcset", [(), (1.5,), (2.0, 3.0)])
def test_other_srcset_settings_are_refused(sg_hooks, tmp_path, srcset):
    plt.close("all")
    _figure("x")
    refused = r'image_srcset to hold one whole factor such as \["2x"\]'
    with pytest.raises(ConfigError, match=refused):
        _scrape(sg_hooks.hidpi_scraper, tmp_path, ["x_001.png"], srcset=srcset)
    plt.close("all")


def test_freeze_survivors_collects_first_then_freezes_what_lives(sg_hooks):
    class Node:
        pass

    garbage = Node()
    garbage.cycle = garbage  # only the cyclic collector can free it
    dead = weakref.ref(garbage)
    del garbage
    alive = [Node()]
    frozen_before = gc.get_freeze_count()
    try:
        sg_hooks.freeze_survivors()
        assert dead() is None  # collected, not frozen alive
        assert gc.get_freeze_count() > frozen_before
        assert not any(obj is alive for obj in gc.get_objects())  # out of the collector's walks
    finally:
        gc.unfreeze()
    assert any(obj is alive for obj in gc.get_objects())
