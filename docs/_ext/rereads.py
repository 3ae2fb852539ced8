"""Pages that Sphinx reads again on every build.

A page whose directives show what the gallery run wrote (:mod:`results`, :mod:`concordance`)
changes whenever a gallery script runs, which Sphinx cannot see. The pages note themselves
with :func:`note_reread` while they are read; the list lives in a domain's data, Sphinx's
documented place for what an extension keeps per page (cleared when a page is read again,
merged from parallel readers, pickled with the environment).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sphinx.application import Sphinx
from sphinx.domains import Domain
from sphinx.environment import BuildEnvironment


class RereadDomain(Domain):
    """The pages to read again: ``data["pages"]`` maps each to True."""

    name = "rpsbook"
    label = "rpsbook"
    initial_data: ClassVar[dict[str, Any]] = {"pages": {}}

    def clear_doc(self, docname: str) -> None:
        self.data["pages"].pop(docname, None)

    def merge_domaindata(self, docnames: set[str], otherdata: dict[str, Any]) -> None:
        self.data["pages"].update({d: True for d in otherdata["pages"] if d in docnames})

    def resolve_any_xref(self, *args: Any) -> list[tuple[str, Any]]:
        return []  # it holds no objects: an :any: reference finds nothing here


def note_reread(env: BuildEnvironment) -> None:
    """Read the page being read now again on every build."""
    env.get_domain(RereadDomain.name).data["pages"][env.docname] = True


def outdated(app: Sphinx, env: BuildEnvironment, *_: Any) -> list[str]:
    """``env-get-outdated`` handler: the pages noted with :func:`note_reread`."""
    return sorted(env.get_domain(RereadDomain.name).data["pages"])
