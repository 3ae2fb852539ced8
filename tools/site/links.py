"""Links of the served site: a URL's HTTP status, and the concordance page's links."""

from __future__ import annotations

import urllib.error
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urljoin

from .report import Report


def status(url: str) -> int:
    """The HTTP status ``url`` answers with."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


class _Links(HTMLParser):
    """A page's link targets and element ids."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        if tag == "a" and values.get("href"):
            self.hrefs.append(values["href"])


def _parse(url: str) -> _Links | None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode("utf-8")
    except urllib.error.HTTPError:
        return None
    parser = _Links()
    parser.feed(text)
    return parser


def check_concordance(base: str, report: Report) -> None:
    """Every link of the concordance page leads to a page and an element of the site."""
    page_url = base + "concordance.html"
    concordance = _parse(page_url)
    if concordance is None:
        report.fail("concordance.html", "no concordance page")
        return
    targets = [h for h in concordance.hrefs if "auto_examples/" in h]  # the gallery's
    if not targets:
        report.fail("concordance.html", "links to no gallery page")
    pages: dict[str, _Links | None] = {}
    for href in dict.fromkeys(targets):
        url = urljoin(page_url, href)
        document, _, anchor = url.partition("#")
        if document not in pages:
            pages[document] = _parse(document)
        if pages[document] is None:
            report.fail("concordance.html", f"link {href}: no such page")
        elif anchor and anchor not in pages[document].ids:
            report.fail("concordance.html", f"link {href}: no element with id {anchor!r}")
