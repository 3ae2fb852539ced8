"""Turn Sphinx cross-references in the downloadable notebooks and scripts into links.

Sphinx-Gallery copies the reST text of a gallery script into its ``.ipynb`` and ``.py``
downloads almost verbatim, so a reader who runs a page elsewhere would see
``:func:`~rpsbook.lr_finder.lr_range_test``` and internal labels such as
``sphx_glr_auto_examples_plot_05_model_training.py`` as text. After the HTML build this
extension rewrites the files under ``_downloads/`` (the notebooks, the scripts and the zip
archives holding them):

* in notebook Markdown, ``:func:``, ``:class:``, ``:meth:``, ``:attr:``, ``:mod:``,
  ``:obj:``, ``:data:``, ``:exc:`` (with or without ``py:``), ``:ref:`` and ``:doc:``
  become Markdown links to the published site (setting ``rpsbook_site_url``) or, for an
  intersphinx target, to that project's documentation; a target nothing resolves becomes
  plain code text;
* in scripts, the same roles become plain names (the comments stay reST);
* ``:math:`` and code (fenced blocks, ``::`` literal blocks, inline literals, code cells,
  code lines) are left alone.

Every notebook also gets a last code cell, "Your run vs this page"
(:func:`add_comparison_cell`): the values the page recorded with
:func:`rpsbook.report.compare_with_book` and the build's environment, embedded, and a call to
:func:`rpsbook.report.compare_with_page` that prints the reader's values next to them.

Before each worked solution of an exercise (:func:`mark_solutions`) a notebook gets an
empty cell to answer in.

The functions below only need the standard library, so ``tools/run_notebooks.py`` can use
:func:`find_raw_markup` in an environment without Sphinx.
"""

from __future__ import annotations

import io
import json
import os
import re
import textwrap
import tokenize
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx

DEFAULT_SITE_URL = "https://rpsbook.github.io/rpsbook/"
#: How the first notebook cell that docs/_ext/distribution.py writes begins.
FIRST_CELL_MARK = "# This page was executed with rpsbook "
#: Where that cell names its page (distribution.PAGE_MARK): each notebook's stem goes there.
PAGE_MARK = "{rpsbook_page}"

#: Roles of the Python domain this extension resolves (``py:`` prefix optional).
PY_ROLES = frozenset({"func", "class", "meth", "attr", "mod", "obj", "data", "exc", "const"})
#: Roles left exactly as they are (Sphinx-Gallery already turns ``:math:`` into ``$...$``).
KEPT_ROLES = frozenset({"math"})

# ``:role:`content``` with an optional domain; content may run over lines.
_ROLE_RE = re.compile(r"(?<![\w`]):(?P<role>(?:[a-z]+:)?[a-z]+):`(?P<content>[^`]+)`(?!`)")
# Sphinx-Gallery rewrites ``:ref:`x``` as ```x``` in notebooks: a code span naming a label.
# One pass over links (kept), roles and code spans pairs every backtick correctly.
_MARKDOWN_RE = re.compile(
    r"(?P<link>\[[^\]\n]*\]\([^)\s]*\))|" + _ROLE_RE.pattern + r"|`(?P<span>[^`\n]+)`(?!`)"
)
_TITLE_RE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
# What must not be rewritten in Markdown/reST text: fenced code, literal blocks after a
# line ending in ``::``, inline literals.
_CODE_RE = re.compile(
    r"(?ms:^(?P<fence>[ \t]*(?:```|~~~)).*?^(?P=fence)[ \t]*$)"
    r"|(?:\.\.[ \t]+(?:code-block|code|sourcecode)::[^\n]*|::[ \t]*)\n"
    r"(?:[ \t]*\n)+(?:(?:[ \t]+\S[^\n]*)?\n)*(?:[ \t]+\S[^\n]*)?"
    r"|``[^`]+``"
)
_RAW_ROLE_RE = re.compile(r":(?:[a-z]+:)?(?!math:)[a-z]+:`")
_LABEL_RE = re.compile(r"(?<![/\w])sphx_glr_\w+")


@dataclass(frozen=True)
class Target:
    """Where a reference points: an absolute URL and the title Sphinx would show."""

    url: str
    title: str = ""


@dataclass
class Targets:
    """What references can resolve to, keyed the way the roles name them.

    ``py`` maps dotted names to ``{objtype: Target}`` (objtype as in the Python domain:
    ``function``, ``class``, ``method``, ``module``...); ``labels`` maps ``:ref:`` labels
    and ``docs`` maps document names (``"install"``, ``"auto_examples/plot_01..."``).
    """

    py: dict[str, dict[str, Target]] = field(default_factory=dict)
    labels: dict[str, Target] = field(default_factory=dict)
    docs: dict[str, Target] = field(default_factory=dict)
    function_parentheses: bool = True
    #: notebook stem -> what its page recorded (see :func:`add_comparison_cell`)
    pages: dict[str, dict] = field(default_factory=dict)
    #: this build's first notebook cell; it replaces the one a cached page's notebook kept
    first_cell: str | None = None

    def find_py(self, role: str, name: str) -> Target | None:
        """The object ``name`` names for ``role``; a leading ``.`` searches by suffix."""
        if name.startswith("."):
            suffix = name
            matches = [key for key in self.py if key.endswith(suffix) or key == name[1:]]
            if len(matches) != 1:
                return None
            name = matches[0]
        entries = self.py.get(name)
        if not entries:
            return None
        wanted = _OBJTYPES.get(role, ())
        for objtype in wanted:
            if objtype in entries:
                return entries[objtype]
        return next(iter(entries.values()))

    def find_doc(self, target: str, current_doc: str | None) -> tuple[str, Target] | None:
        """``(docname, Target)`` of a ``:doc:`` target, relative to ``current_doc``."""
        target = target.removesuffix(".rst")
        if target.startswith("/"):
            candidates = [target.lstrip("/")]
        else:
            base = PurePosixPath(current_doc).parent if current_doc else PurePosixPath()
            candidates = [os.path.normpath(base / target).replace(os.sep, "/"), target]
        for name in candidates:
            if name in self.docs:
                return name, self.docs[name]
        return None


_OBJTYPES = {
    "func": ("function",),
    "meth": ("method", "classmethod", "staticmethod", "function"),
    "class": ("class", "exception"),
    "exc": ("exception", "class"),
    "attr": ("attribute", "property"),
    "mod": ("module",),
    "data": ("data",),
    "const": ("data",),
}


def _split_title(content: str) -> tuple[str | None, str]:
    """``"title <target>"`` -> ``("title", "target")``; ``"target"`` -> ``(None, "target")``."""
    content = " ".join(content.split())
    match = _TITLE_RE.match(content)
    if match:
        return match["title"], match["target"].strip()
    return None, content


def _reference(
    role: str, content: str, targets: Targets, current_doc: str | None
) -> tuple[str, Target | None, bool]:
    """``(title, target or None, is_code)`` for one role occurrence."""
    role = role.removeprefix("py:") if role.removeprefix("py:") in PY_ROLES else role
    title, name = _split_title(content)
    if role in PY_ROLES:
        suppress = name.startswith("!")
        name = name.lstrip("!")
        shown = name.lstrip("~").lstrip(".")
        if name.startswith("~"):
            shown = shown.rsplit(".", 1)[-1]
        name = name.lstrip("~")
        if title is None:
            title = shown
            if targets.function_parentheses and role in ("func", "meth"):
                title += "()"
        return title, None if suppress else targets.find_py(role, name), True
    if role == "ref":
        target = targets.labels.get(name.lower())
        return title or (target.title if target and target.title else name), target, False
    if role == "doc":
        found = targets.find_doc(name, current_doc)
        target = found[1] if found else None
        return title or (target.title if target and target.title else name), target, False
    return title or name, None, True  # a role this extension does not know: its text


def _outside_code(text: str, convert) -> str:
    """Apply ``convert`` to the parts of ``text`` that are not code."""
    pieces, start = [], 0
    for match in _CODE_RE.finditer(text):
        pieces += [convert(text[start : match.start()]), match[0]]
        start = match.end()
    pieces.append(convert(text[start:]))
    return "".join(pieces)


def convert_markdown(text: str, targets: Targets, current_doc: str | None = None) -> str:
    """Markdown of a notebook cell with every reference as a link (or code text)."""

    def replace(match: re.Match) -> str:
        if match["link"] or (match["role"] in KEPT_ROLES):
            return match[0]
        if match["role"]:
            title, target, is_code = _reference(
                match["role"], match["content"], targets, current_doc
            )
            shown = f"`{title}`" if is_code or target is None else title
            return f"[{shown}]({target.url})" if target else shown
        # Sphinx-Gallery has already turned :ref:`x` into `x`; only a known label changes.
        title, name = _split_title(match["span"])
        target = targets.labels.get(name.lower())
        if target is None:
            if name.startswith("sphx_glr_"):  # a label of a page that was not built
                return f"`{title or name}`"
            return match[0]
        return f"[{title or target.title or name}]({target.url})"

    return _outside_code(text, lambda part: _MARKDOWN_RE.sub(replace, part))


def convert_rest(text: str, targets: Targets, current_doc: str | None = None) -> str:
    """reST text (a script's comments) with every reference as a plain name."""

    def role(match: re.Match) -> str:
        if match["role"] in KEPT_ROLES:
            return match[0]
        title, _, is_code = _reference(match["role"], match["content"], targets, current_doc)
        return f"``{title}``" if is_code else title

    return _outside_code(text, lambda part: _ROLE_RE.sub(role, part))


_COMMENT_LINE_RE = re.compile(r"^(?P<indent>[ \t]*)#(?P<space> ?)(?P<text>.*)$")


def convert_script(source: str, targets: Targets, current_doc: str | None = None) -> str:
    """A gallery script with references in its docstring and comments as plain names.

    Code is untouched: only the module docstring and runs of comment lines change.
    """
    lines = source.splitlines(keepends=True)
    docstring: tuple[int, int] | None = None
    comment_rows: set[int] = set()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return source  # not Python we can read safely; leave it alone
    skip = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.ENCODING}
    first = next((tok for tok in tokens if tok.type not in skip), None)
    if first is not None and first.type == tokenize.STRING:
        docstring = (first.start[0] - 1, first.end[0])  # rows [start, end)
    for tok in tokens:
        if tok.type == tokenize.COMMENT and lines[tok.start[0] - 1].lstrip().startswith("#"):
            comment_rows.add(tok.start[0] - 1)

    out: list[str] = []
    row = 0
    while row < len(lines):
        if docstring and row == docstring[0]:
            out.append(convert_rest("".join(lines[row : docstring[1]]), targets, current_doc))
            row = docstring[1]
            continue
        if row in comment_rows:
            end = row
            indent = _COMMENT_LINE_RE.match(lines[row])["indent"]
            while end in comment_rows and _COMMENT_LINE_RE.match(lines[end])["indent"] == indent:
                end += 1
            out.append(_convert_comment_run(lines[row:end], indent, targets, current_doc))
            row = end
            continue
        out.append(lines[row])
        row += 1
    return "".join(out)


def _convert_comment_run(
    lines: list[str], indent: str, targets: Targets, current_doc: str | None
) -> str:
    texts = [_COMMENT_LINE_RE.match(line.rstrip("\r\n"))["text"] for line in lines]
    newline = "\r\n" if lines[-1].endswith("\r\n") else "\n" if lines[-1].endswith("\n") else ""
    converted = convert_rest("\n".join(texts), targets, current_doc)
    if converted == "\n".join(texts):
        return "".join(lines)
    rows = [
        f"{indent}# {text}".rstrip() if text else f"{indent}#" for text in converted.split("\n")
    ]
    return "\n".join(rows) + newline


#: The first line of a gallery text block that opens a worked solution (docs/_ext/exercises.py).
SOLUTION_MARK = ".. rpsbook-solution::"
#: What a solution's Markdown begins with in a notebook, in place of the marker.
SOLUTION_HEADING = "**Solution (spoiler)**: try the exercise in the cell above first.\n"
#: The empty code cell put before each solution, for the reader's own answer.
ANSWER_CELL = "# Your answer here\n"


def mark_solutions(cells: list[dict]) -> list[dict]:
    """``cells`` with an answer cell before each solution and the marker replaced by a
    spoiler warning, so a reader working top to bottom meets the task before its answer."""
    marked = []
    for cell in cells:
        source = cell.get("source", "")
        joined = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "markdown" and joined.lstrip().startswith(SOLUTION_MARK):
            answer = {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": ANSWER_CELL,
            }
            marked.append(answer)
            prose = joined.lstrip()[len(SOLUTION_MARK) :].lstrip("\n")
            text = SOLUTION_HEADING + ("\n" + prose if prose.strip() else "")
            cell = {**cell, "source": text.splitlines(True) if isinstance(source, list) else text}
        marked.append(cell)
    return marked


def convert_notebook(
    text: str, targets: Targets, current_doc: str | None = None, stem: str | None = None
) -> str:
    """A notebook (JSON text) with its Markdown cells converted.

    Empty code cells (all their code hidden) are dropped. Code cells are untouched but the
    first, which becomes ``targets.first_cell`` (naming the notebook ``stem`` as its page)
    when it is an rpsbook first cell: a page the execution cache did not re-run keeps the
    notebook of an earlier build, whose cell may pin an earlier wheel.
    """
    notebook = json.loads(text)
    # a code cell whose code was all in ignore blocks arrives empty
    notebook["cells"] = [
        cell
        for cell in notebook.get("cells", [])
        if cell.get("cell_type") != "code" or "".join(cell.get("source", "")).strip()
    ]
    notebook["cells"] = mark_solutions(notebook["cells"])
    code = [cell for cell in notebook["cells"] if cell.get("cell_type") == "code"]
    if targets.first_cell is not None and code:
        source = code[0]["source"]
        joined = "".join(source) if isinstance(source, list) else source
        if joined.startswith(FIRST_CELL_MARK):
            first = targets.first_cell.replace(PAGE_MARK, stem or PAGE_MARK)
            code[0]["source"] = first.splitlines(True) if isinstance(source, list) else first
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell["source"]
        joined = "".join(source) if isinstance(source, list) else source
        converted = convert_markdown(joined, targets, current_doc)
        if converted != joined:
            cell["source"] = (
                converted.splitlines(keepends=True) if isinstance(source, list) else converted
            )
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


#: Metadata key of the last cell that :func:`add_comparison_cell` writes.
COMPARISON_CELL = "rpsbook_your_run_vs_this_page"


#: The hidden code of a page's "Checked against the book" block (see :func:`checked_block`).
_IGNORE_BLOCK_RE = re.compile(
    r"^[ \t]*# sphinx_gallery_start_ignore[^\n]*\n(?P<code>.*?)^[ \t]*# sphinx_gallery_end_ignore",
    re.MULTILINE | re.DOTALL,
)


def checked_block(script: str) -> str | None:
    """The code of the ignore block that calls ``checked_against_book`` in a gallery script.

    Sphinx-Gallery removes ignore blocks from the downloads, so the notebook's last cell
    carries this code: the reader's run records its own values before they are compared.
    """
    for match in _IGNORE_BLOCK_RE.finditer(script):
        if "checked_against_book(" in match["code"]:
            return textwrap.dedent(match["code"]).strip() + "\n"
    return None


def comparison_cell_source(page: dict) -> str:
    """The code of a notebook's last cell, with ``page`` embedded as a Python literal.

    ``page["checks"]`` (optional) is the page's "Checked against the book" code, run first.
    """
    # one value a line; JSON's strings and numbers are Python literals too
    values = "".join(f"        {json.dumps(v, ensure_ascii=False)},\n" for v in page["values"])
    checks = page.get("checks")
    first = f"# First, this run next to the book (the page's last table):\n{checks}\n"
    return (
        "# Your run vs this page: the numbers this notebook printed next to the ones the\n"
        "# page shows, with the torch version, threads and device of both runs.\n"
        + (first if checks else "")
        + "from rpsbook.report import compare_with_page\n"
        "\n"
        "PAGE = {\n"
        f'    "environment": {json.dumps(page["environment"], ensure_ascii=False)},\n'
        f'    "values": [\n{values}    ],\n'
        "}\n"
        "print(compare_with_page(PAGE))"
    )


def add_comparison_cell(text: str, page: dict) -> str:
    """A notebook (JSON text) ending with the comparison cell for ``page``.

    ``page`` is ``{"environment": {...}, "values": [{"section", "quantity", "ours"}]}``. A
    comparison cell already there (an earlier build's) is replaced, so the result does not
    depend on how often this runs.
    """
    notebook = json.loads(text)
    cells = [c for c in notebook.get("cells", []) if COMPARISON_CELL not in c.get("metadata", {})]
    cells.append(
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {COMPARISON_CELL: True},
            "outputs": [],
            "source": comparison_cell_source(page),
        }
    )
    notebook["cells"] = cells
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def find_raw_markup(notebook_text: str) -> list[str]:
    """Sphinx roles and internal labels left in a notebook's Markdown cells."""
    found = []
    for cell in json.loads(notebook_text).get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell["source"]
        text = "".join(source) if isinstance(source, list) else source
        text = _CODE_RE.sub("", text)
        found += [m[0] for m in _RAW_ROLE_RE.finditer(text)]
        found += [m[0] for m in _LABEL_RE.finditer(text)]
    return found


def _write_atomic(path: Path, data: bytes) -> None:
    # imported here: tools/run_notebooks.py imports this module where rpsbook may be absent
    from rpsbook._utils import write_atomically

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
                _write_atomic(path, new.encode("utf-8"))
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
        _write_atomic(path, buffer.getvalue())
    return changed


def targets_from_sphinx(app: Sphinx) -> Targets:
    """Every object, label and document this build (and its intersphinx inventories) knows."""
    from sphinx.ext.intersphinx import InventoryAdapter

    env, builder = app.env, app.builder
    site = app.config.rpsbook_site_url.rstrip("/") + "/"

    def local(docname: str, anchor: str = "") -> str:
        return site + builder.get_target_uri(docname) + (f"#{anchor}" if anchor else "")

    targets = Targets(function_parentheses=app.config.add_function_parentheses)
    for objtype_key, entries in InventoryAdapter(env).main_inventory.items():
        domain, _, objtype = objtype_key.partition(":")
        if domain != "py":
            continue
        for name, item in entries.items():
            uri = item.uri if hasattr(item, "uri") else item[2]
            targets.py.setdefault(name, {})[objtype] = Target(uri)
    py = env.get_domain("py")
    for name, entry in py.objects.items():
        targets.py.setdefault(name, {})[entry.objtype] = Target(
            local(entry.docname, entry.node_id)
        )
    for name, entry in py.modules.items():
        targets.py.setdefault(name, {})["module"] = Target(local(entry.docname, entry.node_id))
    std = env.get_domain("std")
    for name, (docname, anchor) in std.anonlabels.items():
        targets.labels[name] = Target(local(docname, anchor))
    for name, (docname, anchor, title) in std.labels.items():
        targets.labels[name] = Target(local(docname, anchor), title)
    for docname in env.found_docs:
        title = env.titles[docname].astext() if docname in env.titles else docname
        targets.docs[docname] = Target(local(docname), title)
    return targets


def read_records(folder: Path) -> list[dict[str, Any]]:
    """The ``compare_with_book`` records in ``folder/*.jsonl`` (:mod:`rpsbook.report` writes
    them), file by file in name order, line by line; the docs build and run_notebooks read
    them."""
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


def recorded_pages(app: Sphinx) -> dict[str, dict]:
    """Gallery script stem -> the build's environment and the values its page recorded."""
    from sg_hooks import results_root

    from rpsbook.report import environment

    conf = getattr(app.config, "sphinx_gallery_conf", None)
    if not conf:
        return {}  # a site without a gallery
    root = results_root(app.srcdir, conf["gallery_dirs"])
    build = environment()
    # the pages ran this checkout; readers install it as the site's wheel, which names the
    # build in its version (docs/_ext/distribution.py)
    dist = getattr(app.config, "rpsbook_distribution", None)
    if dist is not None:
        build["rpsbook"] = dist.version
    pages = {}
    for script in sorted(Path(app.srcdir, conf["examples_dirs"]).glob("plot_*.py")):
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
    from sphinx.util import logging

    logging.getLogger(__name__).info(f"notebook_links: linked references in {changed} downloads")


def setup(app: Sphinx) -> dict[str, object]:
    app.add_config_value("rpsbook_site_url", DEFAULT_SITE_URL, "html", types=(str,))
    app.connect("build-finished", _build_finished)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
