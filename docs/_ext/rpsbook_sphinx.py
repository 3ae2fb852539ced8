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
- Every gallery page gets a provenance line under its title: torch and torchvision
  versions, device, threads and CPU kernels of this build, the dataset's variant and
  SHA-256, and the commit (:func:`provenance`).
- ``.. rpsbook-concordance::`` renders the book's sections and figures 6.1-6.31 next to
  the gallery page and anchor that reproduce them, from the records
  :func:`rpsbook.report.book_figure` wrote during the gallery run and the figures' targets
  that ``sg_hooks.hidpi_scraper`` placed (:data:`BOOK_SECTIONS` maps the book's sections).
- The toggles of the theme's section navigation (``<summary>`` elements holding only a
  chevron) get an accessible name, "Pages under <title>" (:func:`label_toc_toggles`).
- ``.. rpsbook-variation:: path`` renders ``benchmarks/variation.json`` (written by
  ``python -m benchmarks.variation``): the headline numbers across thread counts and CPU
  kernels.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from docutils.transforms import Transform
from notebook_links import read_records
from sg_hooks import figure_target, freeze_survivors, results_root
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.directives.other import Include
from sphinx.environment import BuildEnvironment
from sphinx.ext.intersphinx import missing_reference
from sphinx.util.docutils import SphinxDirective

from rpsbook.report import FIGURES_FILE, describe_environment, environment

_RESULTS_DOCS = "rpsbook_results_docs"  # BuildEnvironment attribute: docs using the directive


def _table(header: list[str], rows: list[list[str]], widths: list[int]) -> nodes.table:
    def row(cells: list[str]) -> nodes.row:
        return nodes.row("", *(nodes.entry("", nodes.paragraph(text=c)) for c in cells))

    group = nodes.tgroup(cols=len(header))
    group += [nodes.colspec(colwidth=w) for w in widths]
    group += nodes.thead("", row(header))
    group += nodes.tbody("", *(row(r) for r in rows))
    return nodes.table("", group, classes=["rpsbook-results"])


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


# A gallery cell whose code is all in ignore blocks: Sphinx-Gallery still writes its
# code-block directive, empty, which docutils rejects.
_EMPTY_CODE_BLOCK_RE = re.compile(
    r"^\.\. code-block:: [Pp]ython\n(?:   :[\w-]+:[^\n]*\n)*\s*\n(?=\S)", re.MULTILINE
)


def drop_empty_code_blocks(rst: str) -> str:
    """``rst`` without the code-block directives that have no code (hidden cells)."""
    return _EMPTY_CODE_BLOCK_RE.sub("", rst)


def _source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname.rsplit("/", 1)[-1] == "sg_execution_times":
        source[0] = strip_cdn_assets(source[0])
    else:
        dirs = app.config.sphinx_gallery_conf["gallery_dirs"]
        if docname.split("/", 1)[0] in ([dirs] if isinstance(dirs, str) else dirs):
            source[0] = drop_empty_code_blocks(source[0])


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


# -- Provenance ---------------------------------------------------------------------------


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


# Where Sphinx-Gallery's footer of a page (its download links) begins.
_GALLERY_FOOTER = re.compile(r"^\.\. _sphx_glr_download_\S+:\n", re.MULTILINE)


def add_provenance(text: str, line: str) -> str:
    """A gallery page's reST with ``line`` (class ``rpsbook-provenance``) above its footer.

    Where a run's numbers come from is for the reader who compares them, after the lesson.
    """
    match = _GALLERY_FOOTER.search(text)
    if match is None:
        raise ValueError("no Sphinx-Gallery footer found to put the provenance line above")
    block = f".. rst-class:: rpsbook-provenance\n\n{line}\n\n"
    return text[: match.start()] + block + text[match.start() :]


# -- Concordance --------------------------------------------------------------------------

#: The book's sections (chapter 6) -> (gallery script, heading or None for the page's top). A
#: heading is looked up on that script's page first, then on every gallery page, so a section
#: that moves to another page is still found; one found nowhere fails the build (-W).
BOOK_SECTIONS: list[tuple[str, str, str | None]] = [
    ("Data Preparation", "plot_01_data_preparation", None),
    ("ImageFolder", "plot_01_data_preparation", "ImageFolder"),
    ("Standardization", "plot_01_data_preparation", "The normalizer"),
    ("The Real Datasets", "plot_01_data_preparation", "The real datasets and loaders"),
    ("Three-Channel Convolutions", "plot_02_three_channel_convolutions", None),
    ("Fancier Model", "plot_03_fancier_model", None),
    ("Dropout", "plot_04_dropout", None),
    ("Two-Dimensional Dropout", "plot_04_dropout", "Dropout for images: Dropout2d"),
    ("Model Configuration", "plot_05_model_training", None),
    ("Model Training", "plot_05_model_training", "Training with dropout"),
    ("Accuracy", "plot_05_model_training", "Accuracy, class by class"),
    ("Regularizing Effect", "plot_05_model_training", "The regularizing effect of dropout"),
    ("Visualizing Filters", "plot_05_model_training", "What did the filters learn?"),
    ("Learning Rates", "plot_06_learning_rates", None),
    ("Finding LR", "plot_06_learning_rates", "The range test on the chapter's model"),
    ("LRFinder", "plot_06_learning_rates", "Our range test against torch-lr-finder"),
    ("Adaptive Learning Rate", "plot_07_adaptive_learning_rate", None),
    ("Moving Average (MA)", "plot_06b_moving_averages", "The simple moving average"),
    ("EWMA", "plot_06b_moving_averages", "The exponentially weighted moving average"),
    (
        "Bias Correction",
        "plot_06b_moving_averages",
        "Starting from zero: the bias of an EWMA",
    ),
    ("Adam", "plot_07_adaptive_learning_rate", "Adam"),
    (
        "Visualizing Adapted Gradients",
        "plot_07_adaptive_learning_rate",
        "Adam's state is nothing but two EWMAs",
    ),
    ("Stochastic Gradient Descent (SGD)", "plot_08_sgd_flavours", None),
    ("Momentum", "plot_08_sgd_flavours", "Momentum is a discounted sum"),
    ("Nesterov", "plot_08_sgd_flavours", "Nesterov: look before you leap"),
    ("Flavors of SGD", "plot_08_sgd_flavours", "All three flavours"),
    ("Learning Rate Schedulers", "plot_09_epoch_schedulers", None),
    (
        "Epoch Schedulers",
        "plot_09_epoch_schedulers",
        "Epoch schedulers: a rule of the epoch number",
    ),
    (
        "Validation Loss Scheduler",
        "plot_09_epoch_schedulers",
        "Validation-loss scheduler: cut the rate when progress stalls",
    ),
    (
        "Schedulers in StepByStep: Part I",
        "plot_09_epoch_schedulers",
        "How StepByStep steps each kind",
    ),
    ("Mini-Batch Schedulers", "plot_10_cyclical_schedulers", None),
    (
        "Schedulers in StepByStep: Part II",
        "plot_10_cyclical_schedulers",
        "Schedulers in StepByStep, part II: a step after every mini-batch",
    ),
    ("Scheduler Paths", "plot_11_schedulers_on_the_regression", None),
    ("Adaptive vs Cycling", "plot_10_cyclical_schedulers", "Adaptive or cycling? Both"),
    ("Putting It All Together", "plot_12_putting_it_all_together", None),
    ("Recap", "plot_12_putting_it_all_together", "Recap of the chapter"),
]
BOOK_FIGURES = [f"6.{n}" for n in range(1, 32)]
#: Panels of the book's figures that compare runs one panel each (from its plots/chapter6.py
#: and notebook): a page that draws them in fewer or more panels must say so in its verdict.
BOOK_PANELS = {"6.17": 3, "6.18": 2, "6.19": 2, "6.20": 2, "6.21": 3, "6.22": 3, "6.23": 3}
BOOK_PANELS |= {"6.26": 3, "6.27": 2, "6.28": 9, "6.29": 6}


def read_figure_records(folder: Path) -> list[dict[str, Any]]:
    """The :func:`rpsbook.report.book_figure` records in ``folder/figures.ndjson``, in order."""
    path = folder / FIGURES_FILE
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
            records.append({k: record[k] for k in ("figure", "alt", "verdict")})
            if "panels" in record:  # records written before it was recorded have none
                records[-1]["panels"] = int(record["panels"])
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"{path}:{number}: not a book_figure record ({err}); delete the file and "
                "rebuild to re-run its gallery script"
            ) from err
    return records


def layout_warning(stem: str, record: dict[str, Any]) -> str | None:
    """Why a record's verdict "same" is wrong, when its panels are not the book's."""
    book = BOOK_PANELS.get(record["figure"])
    panels = record.get("panels")
    if record["verdict"] != "same" or book is None or panels in (None, book):
        return None
    return (
        f"concordance: Figure {record['figure']} on {stem} has {panels} panel(s), the book's "
        f"has {book}; its book_figure verdict 'same' must say how it differs ('differs: ...')"
    )


class concordance_placeholder(nodes.General, nodes.Element):
    """Where the concordance tables go once every page has been read."""


class ConcordanceDirective(SphinxDirective):
    """The book's sections and figures -> gallery pages (filled in at doctree-resolved)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        getattr(self.env, _RESULTS_DOCS).add(self.env.docname)  # re-read after every run
        conf = self.config.sphinx_gallery_conf
        root = results_root(self.env.srcdir, conf["gallery_dirs"])
        for folder in sorted(root.glob("*/")) if root.is_dir() else []:
            self.env.note_dependency(str(folder / FIGURES_FILE))
        return [concordance_placeholder()]


# docutils' smart quotes turn the headings' ' and " into typographic ones
_PLAIN_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _section_ids(doctree: nodes.document) -> dict[str, str]:
    """Every section's title (with plain quotes) -> its HTML id."""
    return {
        section[0].astext().translate(_PLAIN_QUOTES): section["ids"][0]
        for section in doctree.findall(nodes.section)
        if section["ids"] and isinstance(section[0], nodes.title)
    }


def _link(app: Sphinx, fromdoc: str, todoc: str, anchor: str, text: str) -> nodes.Node:
    uri = app.builder.get_relative_uri(fromdoc, todoc) + (f"#{anchor}" if anchor else "")
    return nodes.reference("", text, internal=True, refuri=uri)


def _cell(*children: nodes.Node | str) -> nodes.entry:
    paragraph = nodes.paragraph()
    paragraph += [nodes.Text(c) if isinstance(c, str) else c for c in children]
    return nodes.entry("", paragraph)


def _node_table(
    header: list[str], rows: list[list[nodes.entry]], widths: list[int]
) -> nodes.table:
    group = nodes.tgroup(cols=len(header))
    group += [nodes.colspec(colwidth=w) for w in widths]
    group += nodes.thead("", nodes.row("", *(_cell(h) for h in header)))
    group += nodes.tbody("", *(nodes.row("", *cells) for cells in rows))
    return nodes.table("", group, classes=["rpsbook-results", "rpsbook-concordance"])


def _fill_concordance(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    placeholders = list(doctree.findall(concordance_placeholder))
    if not placeholders:
        return
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    env = app.env
    conf = app.config.sphinx_gallery_conf
    gallery = conf["gallery_dirs"]
    examples = env.srcdir / conf["examples_dirs"]
    titles: dict[str, str] = {}

    def page(stem: str) -> str | None:
        doc = f"{gallery}/{stem}"
        if doc not in env.found_docs or not (examples / f"{stem}.py").is_file():
            return None
        titles.setdefault(stem, env.titles[doc].astext() if doc in env.titles else stem)
        return doc

    # heading -> [(script, anchor)] over every gallery page
    headings: dict[str, list[tuple[str, str]]] = {}
    for script in sorted(examples.glob("plot_*.py")):
        doc = page(script.stem)
        for text, anchor in _section_ids(env.get_doctree(doc)).items() if doc else ():
            headings.setdefault(text, []).append((script.stem, anchor))
    section_rows = []
    for book_section, stem, heading in BOOK_SECTIONS:
        if heading is None:
            place = (stem, "") if page(stem) else None
        else:  # on the page named first, else wherever the heading moved
            places = headings.get(heading, [])
            place = next((p for p in places if p[0] == stem), places[0] if places else None)
        if place is None:
            logger.warning(
                f"concordance: no gallery page {stem} or heading {heading!r} for the book's "
                f"{book_section!r}; update BOOK_SECTIONS in docs/_ext/rpsbook_sphinx.py"
            )
            continue
        where = titles[place[0]] + (f": {heading}" if heading else "")
        link = _link(app, docname, page(place[0]), place[1], where)
        section_rows.append([_cell(book_section), _cell(link)])

    # a target before an image (no section, no caption) is an "anonymous" label
    labels = env.get_domain("std").anonlabels
    root = results_root(env.srcdir, gallery)
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    own: list[tuple[str, dict[str, Any]]] = []
    for folder in sorted(root.glob("*/")) if root.is_dir() else []:
        if page(folder.name) is None:
            continue  # the script was deleted or renamed; its records are stale
        for record in read_figure_records(folder):
            if record["figure"] is None:
                own.append((folder.name, record))
            else:
                found.setdefault(record["figure"], []).append((folder.name, record))
    figure_rows = []
    for number in BOOK_FIGURES:
        places = found.get(number, [])
        if not places:
            figure_rows.append([_cell(number), _cell("not labelled on any page yet"), _cell("")])
            continue
        for stem, record in places:
            target = labels.get(figure_target(stem, number))
            doc, anchor = (target[0], target[1]) if target else (page(stem), "")
            if not target:
                logger.warning(f"concordance: no image target for Figure {number} on {stem}")
            if warning := layout_warning(stem, record):
                logger.warning(warning)
            verdict = record["verdict"].replace("differs: ", "Differs: ", 1)
            figure_rows.append(
                [
                    _cell(number),
                    _cell(_link(app, docname, doc, anchor, titles[stem])),
                    _cell(
                        record["alt"]
                        + " "
                        + ("Same as the book's." if verdict == "same" else verdict)
                    ),
                ]
            )
    covered = sum(1 for n in BOOK_FIGURES if n in found)
    output: list[nodes.Node] = [
        nodes.rubric(text="The book's sections"),
        _node_table(["Book section", "Gallery page and section"], section_rows, [35, 65]),
        nodes.rubric(text=f"The book's figures ({covered} of {len(BOOK_FIGURES)} labelled)"),
        _node_table(
            ["Figure", "Gallery page", "What it shows; verdict"], figure_rows, [12, 33, 55]
        ),
    ]
    if own:
        rows = [
            [_cell(_link(app, docname, page(stem), "", titles[stem])), _cell(record["alt"])]
            for stem, record in own
        ]
        output += [
            nodes.rubric(text=f"Figures of the site's own ({len(own)})"),
            _node_table(["Gallery page", "What it shows"], rows, [30, 70]),
        ]
    for placeholder in placeholders:
        placeholder.replace_self([node.deepcopy() for node in output])


# -- Variation table ----------------------------------------------------------------------

_VARIATION_RUNS = [  # (key in variation.json, column, sentence)
    ("adam 3e-4", "Adam 3e-4", "CNN2(5, p=0.3), Adam 3e-4 (Model training)"),
    ("adam 0.005", "Adam 0.005", "the same model, Adam 0.005 (Learning rates)"),
    ("final", "Final model", "CNN2(5, p=0.5), SGD + CyclicLR (Putting it all together)"),
]


def variation_rows(record: dict[str, Any]) -> list[list[str]]:
    """The variation table's rows: one per configuration."""
    rows = []
    # torch's own choice first (what a reader gets), then each kernel set; threads ascending
    order = sorted(
        record["configs"], key=lambda c: (c["kernels"] != "auto", c["kernels"], c["threads"])
    )
    for config in order:
        runs = config["runs"]
        cells = [str(config["threads"]), f"{config['kernels']} ({config['capability']})"]
        for key, _, _ in _VARIATION_RUNS:
            run = runs[key]
            cells.append(f"{run['correct']}/{run['total']}, {run['val_loss']:.4f}")
        cells.append(f"{runs['adam 0.005']['suggestion']:.2e} / {runs['final']['suggestion']:.2e}")
        rows.append(cells)
    return rows


def variation_spread(record: dict[str, Any]) -> list[str]:
    """One sentence per run: the range of its correct counts and validation losses."""
    out = []
    for key, _, title in _VARIATION_RUNS:
        runs = [c["runs"][key] for c in record["configs"]]
        counts = sorted({r["correct"] for r in runs})
        low, high = min(r["val_loss"] for r in runs), max(r["val_loss"] for r in runs)
        total = runs[0]["total"]
        if len(counts) == 1:
            moved = f"{counts[0]} of {total} correct in every configuration"
        else:
            moved = (
                f"{counts[0]} to {counts[-1]} of {total} correct ({len(counts)} different counts)"
            )
        loss = f"{low:.4f}" if f"{low:.4f}" == f"{high:.4f}" else f"{low:.4f} to {high:.4f}"
        out.append(f"{title}: {moved}; validation loss {loss}.")
    return out


class VariationDirective(SphinxDirective):
    """The table of ``benchmarks/variation.json``."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        _, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(path)
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise self.error(
                f"cannot read {path} ({err}); run `python -m benchmarks.variation` to write it"
            ) from err
        header = ["Threads", "CPU kernels", *(t for _, t, _ in _VARIATION_RUNS), "Range tests"]
        output: list[nodes.Node] = [
            _table(header, variation_rows(record), [8, 16, 19, 19, 19, 19]),
        ]
        items = nodes.bullet_list()
        for sentence in variation_spread(record):
            items += nodes.list_item("", nodes.paragraph(text=sentence))
        output.append(items)
        output.append(
            nodes.paragraph(
                text=f"Measured with torch {record['torch']} on {record['cpu']} "
                f"({record['cores']} cores), {record['date']}; with no setting, torch chose "
                f"{record['auto_capability']} kernels."
            )
        )
        return output


# A toctree entry that has children, as pydata-sphinx-theme writes it: the page's link, then a
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
    from html import escape, unescape

    def name(match: re.Match) -> str:
        title = unescape(_TAG.sub("", match["text"])).strip()
        return match[1] + f'<summary aria-label="{escape("Pages under " + title)}">'

    return _TOC_TOGGLE.sub(name, html)


def _named_toc_toggles(
    app: Sphinx, pagename: str, templatename: str, context: dict, *_: Any
) -> None:
    generate = context.get("generate_toctree_html")
    if generate is None:
        return

    def generate_with_names(*args: Any, **kwargs: Any) -> str:
        return label_toc_toggles(str(generate(*args, **kwargs)))  # it may return a soup

    context["generate_toctree_html"] = generate_with_names


def anchor_figure_targets(doctree: nodes.document) -> int:
    """Put an empty ``<span id=...>`` before every Sphinx-Gallery image that has ids.

    ``sg_hooks.hidpi_scraper`` puts a reST target before the first image of each book figure;
    docutils gives its id to the image node, but Sphinx-Gallery's HTML writer for its
    ``image-sg`` node writes no ``id``, so the concordance's links would lead nowhere.
    Returns how many anchors were added.
    """
    from sphinx_gallery.directives import imgsgnode

    added = 0
    for image in list(doctree.findall(imgsgnode)):
        ids = [i for i in image["ids"] if i]
        if ids:
            spans = "".join(f'<span id="{i}"></span>' for i in ids)
            image.parent.insert(image.parent.index(image), nodes.raw("", spans, format="html"))
            added += 1
    return added


def _anchor_figure_targets(app: Sphinx, doctree: nodes.document) -> None:
    anchor_figure_targets(doctree)


def _provenance_once(app: Sphinx) -> None:
    provenance(Path(app.srcdir).parent)


def _add_provenance(app: Sphinx, docname: str, source: list[str]) -> None:
    gallery = app.config.sphinx_gallery_conf["gallery_dirs"]
    if docname.startswith(f"{gallery}/plot_"):
        source[0] = add_provenance(source[0], provenance(Path(app.srcdir).parent))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("rpsbook_type_aliases", {}, "env", types=frozenset({dict}))
    app.add_directive("rpsbook-results", ResultsDirective)
    app.add_directive("optional-include", OptionalInclude)
    app.add_directive("rpsbook-execution-times", ExecutionTimesDirective)
    app.add_directive("rpsbook-concordance", ConcordanceDirective)
    app.add_directive("rpsbook-variation", VariationDirective)
    app.add_node(concordance_placeholder)
    app.connect("source-read", _add_provenance)
    # once, in the main process, before -j workers read pages in forks of it
    app.connect("builder-inited", _provenance_once, priority=960)
    app.connect("doctree-resolved", _fill_concordance)
    app.connect("doctree-read", _anchor_figure_targets)
    # after pydata-sphinx-theme (priority 500) has put generate_toctree_html in the context
    app.connect("html-page-context", _named_toc_toggles, priority=900)
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
