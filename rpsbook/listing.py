"""Show rpsbook's own source on a page, read from the library when the page runs.

The chapter teaches by showing implementations. The gallery pages show rpsbook's instead,
with :func:`show_source`: the listing is read from the installed library each time the page
(or its notebook) runs, so it cannot drift from the code that produced the page's numbers.
Sphinx-Gallery and Jupyter display the block's last expression through ``_repr_html_``; a
terminal prints ``repr``, the plain source.
"""

from __future__ import annotations

import ast
import html
import inspect
import sys
import textwrap
from dataclasses import dataclass

__all__ = ["SourceListing", "show_source"]


@dataclass(frozen=True)
class SourceListing:
    """Lines of one object's source, ready to display.

    Attributes
    ----------
    name : str
        The object's dotted name, e.g. ``"rpsbook.models.CNN2.forward"``.
    source : str
        The lines shown, dedented, ending with a newline.
    first_line, last_line : int
        Line numbers, in the object's file, of the first and last lines shown.
    """

    name: str
    source: str
    first_line: int
    last_line: int

    def __repr__(self) -> str:
        return self.source

    def _repr_html_(self) -> str:
        label = html.escape(self.name, quote=True)
        caption = (
            f'<p class="rpsbook-listing-caption">rpsbook\'s source: '
            f"<code>{html.escape(self.name)}</code></p>"
        )
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer
        except ImportError:
            body = f'<pre aria-label="{label}">{html.escape(self.source)}</pre>'
        else:
            # Sphinx's and Jupyter's stylesheets colour pygments' short class names inside
            # div.highlight; the aria-label names the listing for screen readers.
            formatter = HtmlFormatter(cssclass="highlight", wrapcode=True)
            body = highlight(self.source, PythonLexer(), formatter)
            body = body.replace("<pre>", f'<pre aria-label="{label}">', 1)
        return f'<div class="rpsbook-listing">{caption}{body}</div>'


def show_source(
    obj: object,
    *,
    lines: tuple[int | str, int | str] | None = None,
    docstring: bool = True,
) -> SourceListing:
    """The source of a function, class or method of rpsbook, to show on a page.

    Parameters
    ----------
    obj : function, class or method
        What to show, as an object (``rpsbook.data.statistics_per_channel``), not a path,
        so that it follows the code wherever it moves.
    lines : (first, last), optional
        Show only these lines of the object's source, both included. Each bound is a
        1-based line number within the object's source, or a string: the first line
        containing it (for ``last``, the first such line at or after ``first``). Strings
        keep a listing right when the code above it changes.
    docstring : bool
        Keep the object's docstring; pass False to show the code only.

    Returns
    -------
    SourceListing
        Displays as highlighted HTML in Sphinx-Gallery and Jupyter, as the plain source
        with ``repr``.

    Raises
    ------
    TypeError
        If ``obj`` has no Python source (a builtin, a module-level constant).
    ValueError
        If a bound of ``lines`` is out of range or its text is not found.
    """
    target = inspect.unwrap(obj) if callable(obj) else obj
    try:
        raw_lines, start = _source_lines(target)
    except (OSError, TypeError) as error:
        raise TypeError(
            f"obj={obj!r} has no Python source to show; pass a function, class or method "
            f"defined in a .py file ({error})"
        ) from None
    start = max(start, 1)  # getsourcelines gives 0 for a whole module
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"
    source = textwrap.dedent("".join(raw_lines))
    numbered = list(enumerate(source.splitlines(keepends=True), start=start))
    if not docstring:
        skip = _docstring_lines(source)
        numbered = [(n, text) for i, (n, text) in enumerate(numbered, 1) if i not in skip]
    if lines is not None:
        first = _find_line(numbered, lines[0], 0, "lines[0]", name)
        last = _find_line(numbered, lines[1], first, "lines[1]", name)
        numbered = numbered[first : last + 1]
    text = textwrap.dedent("".join(line for _, line in numbered))
    if not text.endswith("\n"):
        text += "\n"
    return SourceListing(name, text, first_line=numbered[0][0], last_line=numbered[-1][0])


def _source_lines(target: object) -> tuple[list[str], int]:
    """``inspect.getsourcelines(target)``, which also finds a class given its package as
    module by :func:`rpsbook._exports.rehome` (``rpsbook.data.RPSData``)."""
    try:
        return inspect.getsourcelines(target)  # type: ignore[arg-type]
    except OSError:
        if not inspect.isclass(target):
            raise
        found = _rehomed_class_lines(target)
        if found is None:
            raise
        return found


def _rehomed_class_lines(cls: type) -> tuple[list[str], int] | None:
    """The source lines of ``cls`` (decorators included) and the first one's number, read
    from the submodule of ``cls.__module__`` that defines it; ``None`` if none does."""
    prefix = f"{cls.__module__}."
    for name, module in sorted(sys.modules.items()):
        if not name.startswith(prefix) or getattr(module, cls.__name__, None) is not cls:
            continue  # another package, or a submodule that does not import it
        try:
            lines = inspect.getsourcelines(module)[0]
        except (OSError, TypeError):
            continue
        body: list[ast.stmt] = ast.parse("".join(lines)).body
        node = None
        for part in cls.__qualname__.split("."):
            node = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == part), None)
            if node is None:
                break
            body = node.body
        if node is not None:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return lines[first - 1 : node.end_lineno], first
    return None


def _docstring_lines(source: str) -> set[int]:
    """1-based lines of ``source`` taken by its first definition's docstring."""
    offset = 0
    if source[:1].isspace():
        # dedent left a method indented (a multi-line string at column 0 stops it): the
        # indentation is valid inside a block
        source, offset = "if True:\n" + source, 1
    tree = ast.parse(source)
    definition = tree.body[0].body[0] if offset else tree.body[0]  # type: ignore[attr-defined]
    body = getattr(definition, "body", [])
    first = body[0] if body else None
    value = first.value if isinstance(first, ast.Expr) else None
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        end = first.end_lineno - offset  # type: ignore[union-attr,operator]
        return set(range(first.lineno - offset, end + 1))  # type: ignore[union-attr]
    return set()


def _find_line(
    numbered: list[tuple[int, str]], bound: int | str, start: int, argument: str, name: str
) -> int:
    """Index into ``numbered`` of a 1-based line number or of the first line with a text."""
    if isinstance(bound, str):
        for index in range(start, len(numbered)):
            if bound in numbered[index][1]:
                return index
        raise ValueError(
            f"{argument}={bound!r} is not in the source of {name} (from its line "
            f"{start + 1} on); pass text that appears in it, or a line number"
        )
    if not 1 <= bound <= len(numbered) or bound - 1 < start:
        raise ValueError(
            f"{argument}={bound} is out of range: the source of {name} has "
            f"{len(numbered)} lines shown; pass a number from {start + 1} to {len(numbered)}"
        )
    return bound - 1
