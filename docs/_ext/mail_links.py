"""Shape notation such as ``3@28x28`` is not an e-mail address.

docutils links any ``word@word`` as ``mailto:``; :class:`UnlinkNonAddresses` turns such
links whose domain is no host name back into text.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from docutils.transforms import Transform

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
