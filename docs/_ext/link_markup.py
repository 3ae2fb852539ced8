"""Sphinx roles and labels of a gallery script's text as links (notebook Markdown) or plain
names (the script's comments), for the downloads :mod:`notebook_links` rewrites.

In Markdown, ``:func:``, ``:class:``, ``:meth:``, ``:attr:``, ``:mod:``, ``:obj:``, ``:data:``,
``:exc:`` (with or without ``py:``), ``:ref:`` and ``:doc:`` become Markdown links to what
:class:`Targets` resolves them to; a target nothing resolves becomes plain code text. In
scripts, the same roles become plain names (the comments stay reST). ``:math:`` and code
(fenced blocks, ``::`` literal blocks, inline literals, code lines) are left alone.
"""

from __future__ import annotations

import io
import os
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from rpsbook.notebook_markup import CODE_RE

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
    ``external(role, name)`` resolves what ``py`` lacks (another project's objects).
    """

    py: dict[str, dict[str, Target]] = field(default_factory=dict)
    labels: dict[str, Target] = field(default_factory=dict)
    docs: dict[str, Target] = field(default_factory=dict)
    function_parentheses: bool = True
    #: notebook stem -> what its page recorded (see :func:`add_comparison_cell`)
    pages: dict[str, dict] = field(default_factory=dict)
    #: this build's first notebook cell; it replaces the one a cached page's notebook kept
    first_cell: str | None = None
    external: Callable[[str, str], Target | None] | None = None

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
            return self.external(role, name) if self.external else None
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
    for match in CODE_RE.finditer(text):
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
