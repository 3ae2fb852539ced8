"""``.. rpsbook-results::``: the comparisons with the book that the gallery scripts recorded
through :func:`rpsbook.report.compare_with_book`, one table per section, in gallery order,
each titled with a link to its gallery page."""

from __future__ import annotations

from docutils import nodes
from galleries import galleries, gallery_dirs, results_root
from rereads import note_reread
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective
from tables import table

from rpsbook.report import read_records


class ResultsDirective(SphinxDirective):
    """Tables of every ``compare_with_book`` record of the last gallery run."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        note_reread(self.env)
        conf = self.config.sphinx_gallery_conf
        examples_dir = galleries(self.env.srcdir, conf)[0][0]
        gallery_dir = gallery_dirs(conf)[0]
        root = results_root(self.env.srcdir, conf)
        output: list[nodes.Node] = []
        for folder in sorted(root.glob("*/")) if root.is_dir() else []:
            if not (examples_dir / f"{folder.name}.py").is_file():
                continue  # the script was deleted or renamed; its records are stale
            for path in folder.glob("*.jsonl"):
                self.env.note_dependency(path)
            records = read_records(folder)
            for section in dict.fromkeys(r["section"] for r in records):
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
                    table(["Quantity", "rpsbook (this build)", "Book"], rows, [40, 30, 30])
                )
        if not output:
            note = nodes.note()
            note += nodes.paragraph(
                text="No comparisons were recorded: this build did not execute the gallery. "
                "Build the documentation with `nox -s docs` to fill this page."
            )
            output.append(note)
        return output
