"""Every gallery page gets a provenance line above its footer: torch and torchvision
versions, device, threads and CPU kernels of this build, the dataset's variant and SHA-256,
and the commit (:func:`provenance`)."""

from __future__ import annotations

import hashlib
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from galleries import gallery_dirs
from sphinx.application import Sphinx
from upstream import GALLERY_FOOTER_RE

from rpsbook.report import describe_environment, environment


def dataset_digest(source: Any) -> str:
    """SHA-256 of the dataset a :class:`rpsbook.data.DataSource` names.

    The embedded copy: its recorded checksum (checked whenever it is loaded). A folder: the
    SHA-256 of every image's path (relative, POSIX) and bytes, in sorted order, so two
    folders with the same images give the same digest wherever they live.
    """
    if source.kind == "embedded":
        return source.path.with_suffix(".sha256").read_text().split()[0]
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(source.path).rglob("*") if p.is_file()):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            continue
        digest.update(path.relative_to(source.path).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _dataset_variant(source: Any) -> str:
    if source.kind == "embedded":
        return "the 28x28 copy shipped with rpsbook"
    from PIL import Image

    first = next((p for p in sorted(Path(source.path).rglob("*.png"))), None)
    if first is None:
        return source.describe()
    with Image.open(first) as image:
        width, height = image.size
    return f"{width}x{height} images ({source.describe()})"


def _commit(root: Path) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    return f"``{commit}``" + (" with uncommitted changes" if git("status", "--porcelain") else "")


@cache
def provenance(root: Path) -> str:
    """The provenance line of this build's gallery pages (reST); computed once a build."""
    from rpsbook.data import locate

    source = locate()
    return (
        f"This page was computed when the site was built, with "
        f"{describe_environment(environment())}; data: {_dataset_variant(source)} "
        f"(SHA-256 ``{dataset_digest(source)}``); commit {_commit(root)}. "
        ":ref:`How much these numbers move <numbers-variation>`."
    )


def add_provenance(text: str, line: str) -> str:
    """A gallery page's reST with ``line`` (class ``rpsbook-provenance``) above its footer.

    Where a run's numbers come from is for the reader who compares them, after the lesson.
    """
    match = GALLERY_FOOTER_RE.search(text)
    if match is None:
        raise ValueError("no Sphinx-Gallery footer found to put the provenance line above")
    block = f".. rst-class:: rpsbook-provenance\n\n{line}\n\n"
    return text[: match.start()] + block + text[match.start() :]


def provenance_once(app: Sphinx) -> None:
    """``builder-inited`` handler: the line, once, in the main process, before ``-j``
    workers read pages in forks of it."""
    provenance(Path(app.srcdir).parent)


def add_to_gallery_pages(app: Sphinx, docname: str, source: list[str]) -> None:
    """``source-read`` handler: the line on every gallery page."""
    if any(docname.startswith(f"{g}/plot_") for g in gallery_dirs(app.config.sphinx_gallery_conf)):
        source[0] = add_provenance(source[0], provenance(Path(app.srcdir).parent))
