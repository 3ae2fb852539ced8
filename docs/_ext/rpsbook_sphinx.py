"""Sphinx extension for the rpsbook site.

- ``.. rpsbook-results::`` renders the comparisons with the book that the gallery scripts
  recorded through :func:`rpsbook.report.compare_with_book` (one table per section, in
  gallery order, each titled with a link to its gallery page).
- ``.. optional-include:: path`` includes a reST file when it exists and renders the
  directive's content instead when it does not (the benchmark table is produced by
  ``nox -s bench``, which a docs build does not run).
- Cross-references to private module paths of linked projects (autodoc writes
  ``torch.nn.modules.linear.Linear``; PyTorch's inventory lists ``torch.nn.Linear``) are
  retried with the module path shortened, one level at a time; names listed in the
  ``rpsbook_type_aliases`` config value (``{"Axes": "matplotlib.axes.Axes"}``) are first
  replaced by their full path.
- Types written in docstring fields that resolve to nothing are shown as text.
- Shape notation such as ``3@28x28`` is not an e-mail address: docutils links any
  ``word@word`` as ``mailto:``; addresses whose domain has no dotted name are unlinked.
- ``.. rpsbook-execution-times::`` renders the gallery's table of execution times written by
  this very build (``<gallery_dir>/sg_execution_times.rst``); Sphinx-Gallery's DataTables
  scripts and styles from CDNs are removed from that table, here and on its own page.
- The build's long-lived objects are exempted from garbage collection as they accumulate
  (``sg_hooks.freeze_survivors``).
- Gallery thumbnails lose the transparent padding Sphinx-Gallery adds around a figure of
  another aspect ratio, so that a card shows the figure, not an empty frame.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from docutils.transforms import Transform
from sg_hooks import freeze_survivors, results_root
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.directives.other import Include
from sphinx.environment import BuildEnvironment
from sphinx.ext.intersphinx import missing_reference
from sphinx.util.docutils import SphinxDirective

_RESULTS_DOCS = "rpsbook_results_docs"  # BuildEnvironment attribute: docs using the directive


def _table(header: list[str], rows: list[list[str]], widths: list[int]) -> nodes.table:
    def row(cells: list[str]) -> nodes.row:
        return nodes.row("", *(nodes.entry("", nodes.paragraph(text=c)) for c in cells))

    group = nodes.tgroup(cols=len(header))
    group += [nodes.colspec(colwidth=w) for w in widths]
    group += nodes.thead("", row(header))
    group += nodes.tbody("", *(row(r) for r in rows))
    return nodes.table("", group, classes=["rpsbook-results"])


def read_records(folder: Path) -> list[dict[str, Any]]:
    """All records in ``folder/*.jsonl``, file by file (sorted by name), line by line."""
    records = []
    for path in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                record = json.loads(line)
                records.append(
                    {k: str(record[k]) for k in ("section", "quantity", "ours", "book")}
                )
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(
                    f"{path}:{number}: not a compare_with_book record ({err}); delete the "
                    "file and rebuild to re-run its gallery script"
                ) from err
    return records


class ResultsDirective(SphinxDirective):
    """Tables of every ``compare_with_book`` record of the last gallery run."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        getattr(self.env, _RESULTS_DOCS).add(self.env.docname)
        conf = self.config.sphinx_gallery_conf
        examples_dir = self.env.srcdir / conf["examples_dirs"]
        gallery_dir = conf["gallery_dirs"]
        root = results_root(self.env.srcdir, gallery_dir)
        output: list[nodes.Node] = []
        for folder in sorted(root.glob("*/")) if root.is_dir() else []:
            if not (examples_dir / f"{folder.name}.py").is_file():
                continue  # the script was deleted or renamed; its records are stale
            for path in folder.glob("*.jsonl"):
                self.env.note_dependency(path)
            records = read_records(folder)
            sections = dict.fromkeys(r["section"] for r in records)
            for section in sections:
                # The heading itself links to the page: the theme lays a rubric's children
                # out as a column, so "Title (link)" would break over three lines.
                link = addnodes.pending_xref(
                    "",
                    nodes.inline(text=section),
                    refdomain="std",
                    reftype="doc",
                    reftarget=f"/{gallery_dir}/{folder.name}",
                    refexplicit=True,
                    refwarn=True,
                )
                output.append(nodes.rubric("", "", link))
                rows = [
                    [r["quantity"], r["ours"], r["book"]]
                    for r in records
                    if r["section"] == section
                ]
                output.append(
                    _table(["Quantity", "rpsbook (this build)", "Book"], rows, [40, 30, 30])
                )
        if not output:
            note = nodes.note()
            note += nodes.paragraph(
                text="No comparisons were recorded: this build did not execute the gallery. "
                "Build the documentation with `nox -s docs` to fill this page."
            )
            output.append(note)
        return output


class OptionalInclude(Include):
    """``.. include::`` that renders its content instead when the file is missing."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        _, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        if Path(path).is_file():
            return super().run()
        # A missing dependency makes Sphinx re-read this page on every build, so the
        # file shows up as soon as it exists.
        self.env.note_dependency(path)
        container = nodes.container()
        self.state.nested_parse(self.content, self.content_offset, container)
        return container.children


# A domain that is a host name: dot-separated labels ending in letters ("example.org").
_HOST = re.compile(r"^([A-Za-z0-9-]+\.)+[A-Za-z]{2,}$")


class UnlinkNonAddresses(Transform):
    """Turn ``mailto:`` links whose "domain" is no host name (``5@13x13``) back into text."""

    default_priority = 100  # early: nothing else needs these references

    def apply(self, **kwargs: Any) -> None:
        for ref in list(self.document.findall(nodes.reference)):
            uri = ref.get("refuri", "")
            if not uri.startswith("mailto:") or _HOST.match(uri.rpartition("@")[2]):
                continue
            ref.replace_self(nodes.Text(ref.astext()))


# Sphinx-Gallery's sg_execution_times.rst loads jQuery, DataTables and Bootstrap from CDNs
# in a ``.. raw:: html`` block; the table reads as well without sorting by click.
_CDN_BLOCK = re.compile(r"^( *)\.\. raw:: html\n(?:\1 +.*\n|\n)*", re.MULTILINE)


def strip_cdn_assets(text: str) -> str:
    """``text`` without its ``.. raw:: html`` blocks that reference another host."""
    return _CDN_BLOCK.sub(lambda m: "" if "://" in m.group(0) else m.group(0), text)


def _source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname.rsplit("/", 1)[-1] == "sg_execution_times":
        source[0] = strip_cdn_assets(source[0])


class ExecutionTimesDirective(SphinxDirective):
    """The gallery's table of execution times, as this build wrote it."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        conf = self.config.sphinx_gallery_conf
        path = Path(self.env.srcdir, conf["gallery_dirs"], "sg_execution_times.rst")
        self.env.note_dependency(str(path))
        if not path.is_file():
            note = nodes.note()
            note += nodes.paragraph(text="This build did not execute the gallery.")
            return [note]
        text = strip_cdn_assets(path.read_text(encoding="utf-8"))
        # drop the page's label and title: the table follows its title's underline
        body = re.split(r"^=+\n", text, maxsplit=1, flags=re.MULTILINE)[-1]
        container = nodes.container(classes=["rpsbook-execution-times"])
        self.state.nested_parse(StringList(body.splitlines(), str(path)), 0, container)
        return [container]


def _trim_thumbnails(app: Sphinx) -> None:
    from PIL import Image

    conf = app.config.sphinx_gallery_conf
    dirs = conf["gallery_dirs"]
    for gallery in [dirs] if isinstance(dirs, str) else dirs:
        for path in sorted(Path(app.srcdir, gallery, "images", "thumb").glob("*.png")):
            with Image.open(path) as image:
                image.load()
            box = image.getchannel("A").getbbox() if image.mode == "RGBA" else None
            if box and box != (0, 0, *image.size):
                image.crop(box).save(path)


def _resolve_alias(
    app: Sphinx, env: BuildEnvironment, node: addnodes.pending_xref, contnode: nodes.Element
) -> nodes.Element | None:
    if node.get("refdomain") != "py":
        return None
    # rpsbook_type_aliases: annotations autodoc could not evaluate, e.g. "Axes"
    target = app.config.rpsbook_type_aliases.get(node.get("reftarget", ""), node["reftarget"])
    *modules, name = target.split(".")
    for keep in range(len(modules), 0, -1):
        candidate = node.deepcopy()
        candidate["reftarget"] = ".".join([*modules[:keep], name])
        resolved = missing_reference(app, env, candidate, contnode)
        if resolved is not None:
            return resolved
    return None


def _docstring_type_as_text(
    app: Sphinx, env: BuildEnvironment, node: addnodes.pending_xref, contnode: nodes.Element
) -> nodes.Element | None:
    # Types written in docstring fields state shapes ("Tensor (N, 3, 28, 28)", "(C, k, k)"),
    # and the Python domain turns every word of them into a reference. Whatever of such a
    # field did not resolve is shown as text; annotations in signatures must still resolve.
    if node.get("refdomain") != "py":
        return None
    parent = node.parent
    while parent is not None and not isinstance(
        parent, (nodes.field_body, addnodes.desc_signature)
    ):
        parent = parent.parent
    return contnode if isinstance(parent, nodes.field_body) else None


def _env_init(app: Sphinx) -> None:
    if not hasattr(app.env, _RESULTS_DOCS):
        setattr(app.env, _RESULTS_DOCS, set())


def _purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    getattr(env, _RESULTS_DOCS).discard(docname)


def _merge(app: Sphinx, env: BuildEnvironment, docnames: set[str], other: Any) -> None:
    getattr(env, _RESULTS_DOCS).update(getattr(other, _RESULTS_DOCS) & docnames)


def _outdated(app: Sphinx, env: BuildEnvironment, *_: Any) -> list[str]:
    # The records change whenever a gallery script runs, which Sphinx cannot see.
    return sorted(getattr(env, _RESULTS_DOCS))


def _public_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list[type]) -> None:
    """Show the nearest public ancestor in "Bases:" instead of a private helper class."""
    for index, base in enumerate(bases):
        while base.__name__.startswith("_") and base.__bases__:
            base = base.__bases__[0]
        bases[index] = base


def _freeze(app: Sphinx, *_: Any) -> None:
    freeze_survivors()


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("rpsbook_type_aliases", {}, "env", types=frozenset({dict}))
    app.add_directive("rpsbook-results", ResultsDirective)
    app.add_directive("optional-include", OptionalInclude)
    app.add_directive("rpsbook-execution-times", ExecutionTimesDirective)
    app.add_transform(UnlinkNonAddresses)
    app.connect("source-read", _source_read)
    # after Sphinx-Gallery (priority 500) has executed the scripts and made the thumbnails
    app.connect("builder-inited", _trim_thumbnails, priority=900)
    app.connect("builder-inited", _env_init)
    # The build's long-lived objects, frozen out of the garbage collector's walks
    # (sg_hooks.freeze_survivors says why): torch and the rest conf.py imported, what the
    # gallery run left, and the environment once every page is read.
    app.connect("config-inited", _freeze)
    app.connect("builder-inited", _freeze, priority=950)
    app.connect("env-updated", _freeze)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-get-outdated", _outdated)
    app.connect("autodoc-process-bases", _public_bases)
    # after intersphinx's own handler (priority 500) has tried the path as written
    app.connect("missing-reference", _resolve_alias, priority=900)
    app.connect("missing-reference", _docstring_type_as_text, priority=950)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
