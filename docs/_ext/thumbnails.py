"""Gallery thumbnails lose the transparent padding Sphinx-Gallery adds around a figure of
another aspect ratio than ``thumbnail_size``, so that a card shows the figure, not an empty
frame (the CSS fills the card with it)."""

from __future__ import annotations

from galleries import galleries
from sphinx.application import Sphinx
from upstream import thumbnail_files


def trim_thumbnails(app: Sphinx) -> None:
    """``builder-inited`` handler, after Sphinx-Gallery made the thumbnails."""
    from PIL import Image

    for _, gallery_dir in galleries(app.srcdir, app.config.sphinx_gallery_conf):
        for path in thumbnail_files(gallery_dir):
            with Image.open(path) as image:
                image.load()
            box = image.getchannel("A").getbbox() if image.mode == "RGBA" else None
            if box and box != (0, 0, *image.size):
                image.crop(box).save(path)
