"""The rpsbook site's Sphinx extension: a thin :func:`setup` that wires the features, each
in a module of its own (as Sphinx-Gallery's ``gen_gallery.setup`` wires its modules).

====================  =====================================================================
Module                Job
====================  =====================================================================
results               ``.. rpsbook-results::``: the comparisons the gallery recorded
concordance           ``.. rpsbook-concordance::``: the book's sections and figures -> pages
book_map              the book's sections, figures and panels that the concordance maps
variation             ``.. rpsbook-variation::``: ``benchmarks/variation.json`` as a table
execution_times       ``.. rpsbook-execution-times::``: this build's table of run times
optional_include      ``.. optional-include::``: a file when it exists, else the content
provenance            the versions, data and commit line on every gallery page
empty_code_blocks     the gallery pages lose the code blocks of all-hidden cells
thumbnails            the gallery's thumbnails lose Sphinx-Gallery's transparent padding
mail_links            ``3@28x28`` is not an e-mail address
api_references        the API reference's aliases, docstring types and public bases
rereads               the pages that show the gallery's records are read on every build
gc_freeze             the build's long-lived objects are frozen out of the GC's walks
upstream              the adapter: Sphinx-Gallery's and the theme's undocumented names
====================  =====================================================================

The priorities order handlers around Sphinx-Gallery's and pydata-sphinx-theme's own, which
use the default (500).
"""

from __future__ import annotations

from typing import Any

import api_references
import concordance
import empty_code_blocks
import execution_times
import gc_freeze
import provenance
import rereads
import thumbnails
import upstream
from mail_links import UnlinkNonAddresses
from optional_include import OptionalInclude
from results import ResultsDirective
from sphinx.application import Sphinx
from variation import VariationDirective


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("rpsbook_type_aliases", {}, "env", types=frozenset({dict}))
    app.add_domain(rereads.RereadDomain)
    app.connect("env-get-outdated", rereads.outdated)
    # directives
    app.add_directive("rpsbook-results", ResultsDirective)
    app.add_directive("optional-include", OptionalInclude)
    app.add_directive("rpsbook-execution-times", execution_times.ExecutionTimesDirective)
    app.add_directive("rpsbook-concordance", concordance.ConcordanceDirective)
    app.add_directive("rpsbook-variation", VariationDirective)
    app.add_node(concordance.concordance_placeholder)
    app.connect("doctree-resolved", concordance.fill_concordance)
    # the reST of the pages
    app.add_transform(UnlinkNonAddresses)
    app.connect("source-read", execution_times.strip_cdn_source)
    app.connect("source-read", empty_code_blocks.drop_from_gallery_pages)
    app.connect("source-read", provenance.add_to_gallery_pages)
    # once, in the main process, before -j workers read pages in forks of it
    app.connect("builder-inited", provenance.provenance_once, priority=960)
    # after Sphinx-Gallery has executed the scripts and made the thumbnails
    app.connect("builder-inited", thumbnails.trim_thumbnails, priority=900)
    # after pydata-sphinx-theme's own handler (it fills the context upstream.py changes)
    app.connect("html-page-context", upstream.name_toc_toggles, priority=900)
    # the API reference; after intersphinx's own handler has tried the path as written
    app.connect("autodoc-process-bases", api_references.public_bases)
    app.connect("missing-reference", api_references.resolve_alias, priority=900)
    app.connect("missing-reference", api_references.docstring_type_as_text, priority=950)
    # what conf.py imported, what the gallery run left, the environment once read
    app.connect("config-inited", gc_freeze.freeze)
    app.connect("builder-inited", gc_freeze.freeze, priority=950)
    app.connect("env-updated", gc_freeze.freeze)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
