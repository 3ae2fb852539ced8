"""Turn Sphinx cross-references in the downloadable notebooks and scripts into links.

Sphinx-Gallery copies the reST text of a gallery script into its ``.ipynb`` and ``.py``
downloads almost verbatim, so a reader who runs a page elsewhere would see
``:func:`~rpsbook.training.lr_range_test``` and internal labels such as
``sphx_glr_auto_examples_plot_05_model_training.py`` as text. After the HTML build this
extension rewrites the files under ``_downloads/`` (the notebooks, the scripts and the zip
archives holding them): references become links to the published site (setting
``rpsbook_site_url``) or, for an intersphinx target, to that project's documentation
(:mod:`link_markup`), and the notebooks get this build's first cell, answer cells before the
exercises' solutions and a last cell that compares the reader's run with the page
(:mod:`notebook_cells`).

What this build knows comes from documented APIs: each domain's ``get_objects()``, and for
other projects' objects the ``missing-reference`` event that intersphinx answers.
"""

from __future__ import annotations

import io
import zipfile
from functools import cache
from pathlib import Path, PurePosixPath

from docutils import nodes
from galleries import galleries, results_root
from link_markup import Target, Targets, convert_script
from notebook_cells import add_comparison_cell, checked_block, convert_notebook
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.errors import NoUri
from sphinx.util import logging

from rpsbook._utils import write_atomically
from rpsbook.report import environment, read_records

DEFAULT_SITE_URL = "https://rpsbook.github.io/rpsbook/"


def _write(path: Path, data: bytes) -> None:
    write_atomically(path, lambda file: file.write(data), "download")  # the umask's mode


def convert_file_text(name: str, text: str, targets: Targets, doc_for_stem) -> str:
    """Convert one ``.ipynb`` or ``.py`` download; ``doc_for_stem`` maps a stem to its doc."""
    stem = PurePosixPath(name).stem
    current = doc_for_stem(stem)
    if name.endswith(".ipynb"):
        text = convert_notebook(text, targets, current, stem)
        page = targets.pages.get(stem)
        return text if page is None else add_comparison_cell(text, page)
    return convert_script(text, targets, current)


def convert_downloads(downloads: Path, targets: Targets, doc_for_stem) -> int:
    """Rewrite every notebook, script and zip under ``downloads``; return files changed."""
    changed = 0
    for path in sorted(downloads.rglob("*")):
        if path.suffix in (".ipynb", ".py"):
            text = path.read_text(encoding="utf-8")
            new = convert_file_text(path.name, text, targets, doc_for_stem)
            if new != text:
                _write(path, new.encode("utf-8"))
                changed += 1
        elif path.suffix == ".zip":
            changed += _convert_zip(path, targets, doc_for_stem)
    return changed


def _convert_zip(path: Path, targets: Targets, doc_for_stem) -> int:
    buffer = io.BytesIO()
    changed = 0
    with (
        zipfile.ZipFile(path) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith((".ipynb", ".py")):
                text = data.decode("utf-8")
                new = convert_file_text(info.filename, text, targets, doc_for_stem)
                if new != text:
                    data = new.encode("utf-8")
                    changed += 1
            out.writestr(info, data)
    if changed:
        _write(path, buffer.getvalue())
    return changed


def targets_from_sphinx(app: Sphinx) -> Targets:
    """Every object, label and document this build knows; other projects' objects are
    asked of the ``missing-reference`` event (intersphinx), once each."""
    env, builder = app.env, app.builder
    site = app.config.rpsbook_site_url.rstrip("/") + "/"

    def local(docname: str, anchor: str = "") -> str:
        return site + builder.get_target_uri(docname) + (f"#{anchor}" if anchor else "")

    @cache
    def external(role: str, name: str) -> Target | None:
        node = addnodes.pending_xref(
            "", refdomain="py", reftype=role, reftarget=name, refexplicit=False
        )
        try:
            found = app.emit_firstresult(
                "missing-reference",
                env,
                node,
                nodes.literal(name, name),
                allowed_exceptions=(NoUri,),
            )
        except NoUri:
            return None
        uri = found.get("refuri") if found is not None else None
        return Target(uri) if uri else None

    targets = Targets(function_parentheses=app.config.add_function_parentheses)
    targets.external = external
    for name, _, objtype, docname, anchor, _ in env.get_domain("py").get_objects():
        targets.py.setdefault(name, {})[objtype] = Target(local(docname, anchor))
    for name, title, objtype, docname, anchor, _ in env.get_domain("std").get_objects():
        if objtype == "label":  # a section's label has its title; another its own name
            targets.labels[name] = Target(local(docname, anchor), title)
    for docname in env.found_docs:
        title = env.titles[docname].astext() if docname in env.titles else docname
        targets.docs[docname] = Target(local(docname), title)
    return targets


def recorded_pages(app: Sphinx) -> dict[str, dict]:
    """Gallery script stem -> the build's environment and the values its page recorded."""
    conf = getattr(app.config, "sphinx_gallery_conf", None)
    if not conf:
        return {}  # a site without a gallery
    root = results_root(app.srcdir, conf)
    build = environment()
    # the pages ran this checkout; readers install it as the site's wheel, which names the
    # build in its version (docs/_ext/distribution.py)
    dist = getattr(app.config, "rpsbook_distribution", None)
    if dist is not None:
        build["rpsbook"] = dist.version
    pages = {}
    for script in sorted(galleries(app.srcdir, conf)[0][0].glob("plot_*.py")):
        values = [
            {k: record[k] for k in ("section", "quantity", "ours")}
            for record in read_records(root / script.stem)
        ]
        pages[script.stem] = {
            "environment": build,
            "values": values,
            "checks": checked_block(script.read_text(encoding="utf-8")),
        }
    return pages


def _build_finished(app: Sphinx, exception: BaseException | None) -> None:
    downloads = Path(app.outdir) / "_downloads"
    if exception is not None or app.builder.format != "html" or not downloads.is_dir():
        return
    targets = targets_from_sphinx(app)
    targets.pages = recorded_pages(app)
    gallery_conf = getattr(app.config, "sphinx_gallery_conf", None) or {}
    targets.first_cell = gallery_conf.get("first_notebook_cell")
    docs_by_stem = {PurePosixPath(name).name: name for name in app.env.found_docs}
    changed = convert_downloads(downloads, targets, docs_by_stem.get)
    logging.getLogger(__name__).info(f"notebook_links: linked references in {changed} downloads")


def setup(app: Sphinx) -> dict[str, object]:
    app.add_config_value("rpsbook_site_url", DEFAULT_SITE_URL, "html", types=(str,))
    app.connect("build-finished", _build_finished)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
