"""What counts as code, and as Sphinx markup left over, in a downloaded notebook's Markdown.

The docs build turns the Sphinx roles and labels of the gallery's text into links before it
publishes the notebooks (``docs/_ext/notebook_links.py``), leaving code alone;
``python -m tools.notebooks`` checks the published notebooks with :func:`find_raw_markup`. Both
need the same rules, and the checker runs where the site's wheel is installed but the docs
build's extensions are not: the rules live in the library, beside :mod:`rpsbook.report`,
whose records the notebooks' last cell compares. Standard library only.
"""

from __future__ import annotations

import json
import re

__all__ = ["CODE_RE", "find_raw_markup"]

#: What must not be rewritten in Markdown or reST text: fenced code, literal blocks after a
#: line ending in ``::`` or a code directive, inline literals.
CODE_RE = re.compile(
    r"(?ms:^(?P<fence>[ \t]*(?:```|~~~)).*?^(?P=fence)[ \t]*$)"
    r"|(?:\.\.[ \t]+(?:code-block|code|sourcecode)::[^\n]*|::[ \t]*)\n"
    r"(?:[ \t]*\n)+(?:(?:[ \t]+\S[^\n]*)?\n)*(?:[ \t]+\S[^\n]*)?"
    r"|``[^`]+``"
)
# a role other than :math: (which notebooks render), and a Sphinx-Gallery label
_RAW_ROLE_RE = re.compile(r":(?:[a-z]+:)?(?!math:)[a-z]+:`")
_LABEL_RE = re.compile(r"(?<![/\w])sphx_glr_\w+")


def find_raw_markup(notebook_text: str) -> list[str]:
    """Sphinx roles and internal labels left in a notebook's Markdown cells, outside code.

    ``notebook_text`` is the notebook's JSON; the result lists each leftover as found, e.g.
    ``[":func:`", "sphx_glr_auto_examples_plot_05_model_training.py"]``.
    """
    found = []
    for cell in json.loads(notebook_text).get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell["source"]
        text = CODE_RE.sub("", "".join(source) if isinstance(source, list) else source)
        found += [m[0] for m in _RAW_ROLE_RE.finditer(text)]
        found += [m[0] for m in _LABEL_RE.finditer(text)]
    return found
