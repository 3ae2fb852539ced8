"""Cross-references of the API reference that Sphinx and intersphinx alone leave unresolved.

- A reference to a private module path of a linked project (autodoc writes
  ``torch.nn.modules.linear.Linear``; PyTorch's inventory lists ``torch.nn.Linear``) is
  asked again with the module path shortened, one level at a time; a name listed in the
  ``rpsbook_type_aliases`` config value (``{"Axes": "matplotlib.axes.Axes"}``) is first
  replaced by its full path (:func:`resolve_alias`).
- Types written in docstring fields that resolve to nothing are shown as text
  (:func:`docstring_type_as_text`).
- "Bases:" names the nearest public ancestor, not a private helper class (:func:`public_bases`).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import NoUri

# Marks the shortened copies of a reference that resolve_alias asks about, so that the
# event it emits does not call it again for them.
_CANDIDATE = "rpsbook_alias_candidate"


def resolve_alias(
    app: Sphinx, env: BuildEnvironment, node: addnodes.pending_xref, contnode: nodes.Element
) -> nodes.Element | None:
    """``missing-reference`` handler, connected after intersphinx's (priority 500), which
    has tried the path as written: the other ``missing-reference`` handlers (intersphinx's)
    are asked about the full alias, then about the path shortened one module at a time."""
    if node.get("refdomain") != "py" or node.get(_CANDIDATE):
        return None
    # rpsbook_type_aliases: annotations autodoc could not evaluate, e.g. "Axes", written as
    # is or qualified by the module a re-exported object now names ("rpsbook.training.Literal")
    aliases, written = app.config.rpsbook_type_aliases, node.get("reftarget", "")
    short = written.rpartition(".")[2] if written.startswith("rpsbook.") else written
    target = aliases.get(written) or aliases.get(short) or written
    *modules, name = target.split(".")
    for keep in range(len(modules), 0, -1):
        candidate = node.deepcopy()
        candidate["reftarget"] = ".".join([*modules[:keep], name])
        candidate[_CANDIDATE] = True
        # NoUri passes on to Sphinx, as when intersphinx raises it for the path as written
        resolved = app.emit_firstresult(
            "missing-reference", env, candidate, contnode, allowed_exceptions=(NoUri,)
        )
        if resolved is not None:
            return resolved
    return None


def docstring_type_as_text(
    app: Sphinx, env: BuildEnvironment, node: addnodes.pending_xref, contnode: nodes.Element
) -> nodes.Element | None:
    """``missing-reference`` handler, connected last: a type in a docstring field that
    nothing resolved is shown as text.

    Such types state shapes ("Tensor (N, 3, 28, 28)", "(C, k, k)"), and the Python domain
    turns every word of them into a reference; annotations in signatures must still resolve.
    """
    if node.get("refdomain") != "py":
        return None
    parent = node.parent
    while parent is not None and not isinstance(
        parent, (nodes.field_body, addnodes.desc_signature)
    ):
        parent = parent.parent
    return contnode if isinstance(parent, nodes.field_body) else None


def public_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list[type]) -> None:
    """``autodoc-process-bases`` handler: the nearest public ancestor in "Bases:" instead of
    a private helper class."""
    for index, base in enumerate(bases):
        while base.__name__.startswith("_") and base.__bases__:
            base = base.__bases__[0]
        bases[index] = base
