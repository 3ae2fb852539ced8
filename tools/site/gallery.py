"""What a gallery page must show: its provenance, labelled 2x figures, outputs that fit, and
its ``.py`` and ``.ipynb`` downloads."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from .browser import script
from .links import status
from .report import Report

# The alt text rpsbook.report.book_figure gives a figure (its label).
FIGURE_LABEL_RE = re.compile(r"^(Figure 6\.([1-9]|[12][0-9]|3[01]) in the book|Not in the book): ")


def hidpi_candidate(srcset: str) -> str | None:
    """The URL of a ``srcset`` candidate for screens of 2 or more device pixels per px."""
    for candidate in srcset.split(","):
        url, _, descriptor = candidate.strip().partition(" ")
        descriptor = descriptor.strip()
        if descriptor.endswith("x"):
            try:
                if float(descriptor[:-1]) >= 2:
                    return url
            except ValueError:
                continue
    return None


def check_gallery_page(page, base: str, path: str, report: Report) -> list[str]:
    """Check the open gallery page ``path``; return the URLs of its notebook downloads."""
    provenance = page.eval_on_selector_all(
        ".rpsbook-provenance", "els => els.map(e => e.textContent)"
    )
    if not any("SHA-256" in text and "torch" in text for text in provenance):
        report.fail(path, "no provenance line (.rpsbook-provenance) at the end")
    for kind, width, line in page.evaluate(script("overflow")):
        if kind == "output":
            report.fail(path, f"output wider than its box by {width} px: {line[:60]}")
        else:
            report.wide_code.setdefault(path, []).append(f"+{width} px: {line[:60]}")
    for leaked in page.evaluate(script("default_repr")):
        report.fail(path, f"output shows a default repr {leaked}: end the block otherwise")
    for figure in page.evaluate(script("figures")):
        if not FIGURE_LABEL_RE.match(figure["alt"]):
            report.unlabelled.setdefault(path, []).append(
                f"{figure['src']}: alt {figure['alt']!r}"
            )
        hidpi = hidpi_candidate(figure["srcset"])
        if hidpi is None:
            report.fail(path, f"figure {figure['src']} has no 2x image in its srcset")
        elif (answer := status(urljoin(base + path, hidpi))) != 200:
            report.fail(path, f"2x image {hidpi} answered {answer}")
    notebooks = []
    for kind, suffix in (("python", ".py"), ("jupyter", ".ipynb")):
        links = page.eval_on_selector_all(
            f".sphx-glr-download-{kind} a[href]", "els => els.map(a => a.href)"
        )
        links = [link for link in links if urlsplit(link).path.endswith(suffix)]
        if not links:
            report.fail(path, f"no {suffix} download link")
        for link in links:
            if (answer := status(link)) != 200:
                report.fail(path, f"download {link} answered {answer}")
            elif suffix == ".ipynb":
                notebooks.append(link)
    return notebooks
