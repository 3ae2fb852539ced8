"""docs/_ext/upstream.py: the assumptions about Sphinx-Gallery and pydata-sphinx-theme that
neither documents as an interface, checked against the installed versions.

Each test fails when an upgrade changes the name, file or format the build relies on; the
adapter is then the one module to change.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import matplotlib
import pytest
from docs_ext import ext_modules

matplotlib.use("Agg")
import matplotlib.pyplot as plt

pytest.importorskip("sphinx_gallery")
pytest.importorskip("pydata_sphinx_theme")
from sphinx_gallery import gen_gallery, gen_rst, scrapers, utils


@pytest.fixture(scope="module")
def upstream():
    with ext_modules("upstream") as modules:
        yield modules.upstream


def test_side_by_side_is_sphinx_gallerys_own_row_of_images(upstream, tmp_path):
    """Two figures of one block: the row Sphinx-Gallery's matplotlib scraper writes."""
    images = tmp_path / "images"
    images.mkdir()
    conf = {
        "image_srcset": [],
        "src_dir": str(tmp_path),
        "matplotlib_animations": (False, None),
        "compress_images": (),
    }
    paths = [images / "sphx_glr_plot_x_001.png", images / "sphx_glr_plot_x_002.png"]
    plt.close("all")
    for title in ("first", "second"):
        _, ax = plt.subplots(figsize=(2, 2))
        ax.set_title(title)
    theirs = scrapers.matplotlib_scraper(None, {"image_path_iterator": iter(paths)}, conf)
    ours = upstream.side_by_side(
        [
            scrapers.figure_rst([path], str(tmp_path), title)
            for path, title in zip(paths, ("first", "second"), strict=True)
        ]
    )
    assert ours == theirs
    assert theirs.count("sphx-glr-multi-img") == 2
    single = scrapers.figure_rst([paths[0]], str(tmp_path), "first")
    assert upstream.side_by_side([single]) == single


def test_an_md5_file_is_what_makes_sphinx_gallery_skip_a_script(upstream, tmp_path):
    script = tmp_path / "plot_a.py"
    script.write_text("print(1)\n")
    upstream.md5_file(script).write_text(utils.get_md5sum(script))
    assert gen_rst.md5sum_is_current(script)
    upstream.md5_file(script).unlink()
    assert not gen_rst.md5sum_is_current(script)


def test_execution_times_are_written_where_the_directive_reads_them(upstream, tmp_path):
    conf = {
        "src_dir": str(tmp_path),
        "gallery_dirs": ["auto_examples"],
        "write_computation_times": True,
    }
    gallery = tmp_path / "auto_examples"
    gallery.mkdir()
    gen_gallery.write_computation_times(conf, str(gallery), [])
    assert upstream.execution_times_file(gallery).is_file()
    assert upstream.execution_times_file(gallery).stem == upstream.EXECUTION_TIMES_DOC


def test_thumbnails_are_where_the_trimming_looks(upstream):
    source = inspect.getsource(gen_rst.save_thumbnail)
    assert 'thumb_dir = image_path_template.parent / "thumb"' in source
    # the gallery's cards point at images/thumb/sphx_glr_<stem>_thumb.png
    from sphinx_gallery import backreferences

    div = inspect.getsource(backreferences._thumbnail_div)
    assert '"images" / "thumb"' in div


def test_a_gallery_page_has_the_title_and_footer_labels_the_build_looks_for(upstream):
    ref = "auto_examples_plot_05_model_training.py"
    header = gen_rst.EXAMPLE_HEADER.format("gallery/plot_05.py", ref, "", "")
    page = header + "\nModel training\n==============\n\nText.\n"
    match = upstream.GALLERY_TITLE_RE.search(page)
    assert match is not None and match["title"] == "Model training"
    footer = gen_rst.DOWNLOAD_LINKS_HEADER.format(ref)
    assert upstream.GALLERY_FOOTER_RE.search(page + footer).start() == len(page) + 1
    classes = gen_rst.TIMING_CONTENT + footer
    assert all(
        f".. rst-class:: {c}" in classes or f"container:: {c}" in classes
        for c in upstream.FOOTER_CLASSES
    )


def test_the_theme_still_hands_its_navigation_to_pages_through_the_context():
    from pydata_sphinx_theme import toctree

    source = inspect.getsource(toctree.add_toctree_functions)
    assert 'context["generate_toctree_html"] = generate_toctree_html' in source


def test_the_themes_chevron_only_summaries_get_a_name(upstream):
    from bs4 import BeautifulSoup
    from pydata_sphinx_theme.toctree import add_collapse_checkboxes

    soup = BeautifulSoup(
        '<ul><li class="toctree-l1"><a class="reference internal" href="data.html">'
        '<code>rpsbook.data</code></a><ul><li class="toctree-l2">'
        '<a class="reference internal" href="x.html">x</a></li></ul></li></ul>',
        "html.parser",
    )
    add_collapse_checkboxes(soup)
    html = str(soup)
    assert "<summary>" in html  # the theme's toggle: a chevron and no name
    labelled = upstream.label_toc_toggles(html)
    assert '<summary aria-label="Pages under rpsbook.data">' in labelled


def test_every_undocumented_name_lives_in_the_adapter():
    """No other module of docs/_ext, nor conf.py, uses the names this file checks."""
    ext = Path(__file__).resolve().parents[1] / "docs" / "_ext"  # the names, as code writes them
    names = (
        "HLIST_",
        '.md5"',
        "sg_execution_times",
        '"thumb"',
        "sphx_glr_download_",
        "sphx-glr-timing",
        "generate_toctree_html",
        "imgsgnode",
        "InventoryAdapter",
        "anonlabels",
        "intersphinx import missing_reference",
        "sphx-glr-single-img",
    )
    found = {
        (path.name, name)
        for path in [*ext.glob("*.py"), ext.parent / "conf.py"]
        if path.name != "upstream.py"
        for name in names
        if name in path.read_text(encoding="utf-8")
    }
    assert found == set()
