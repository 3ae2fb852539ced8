"""Check the built site in a real browser: images, console, math, layout, downloads, notebooks.

Run after ``nox -s docs`` (``nox -s site`` runs it), from the repository root::

    python -m tools.site [--build-dir docs/_build/html] [--no-execute] [--no-search]

The site is served from ``--build-dir`` on 127.0.0.1 and opened in the system's headless
Chromium (``/usr/bin/chromium``) through Playwright, at 1400 px wide; Playwright's own
browser downloads are never used. Checked pages: the landing page, every gallery page
(``auto_examples/plot_*.html``), the API pages (``api.html``, ``generated/*.html``), and the
Results and Performance pages. On each page:

- every ``<img>`` must have loaded (``naturalWidth > 0``);
- the console stays free of errors and uncaught exceptions;
- no request goes to another host (they are blocked, and each one is a failure: the site
  must work offline, MathJax included);
- every formula is typeset: no ``.math`` element is left as raw TeX once MathJax is done;
- no ``mailto:`` link (shape notation such as ``3@28x28`` is not an address).

Each gallery page must offer its ``.py`` and ``.ipynb`` downloads, served with status 200;
no block of printed output may be wider than its box (code blocks that are only reported)
or show an object's default repr (``<... object at 0x...>``);
every figure must offer a 2x image in its ``srcset``, served with status 200. The API pages
of the names users import from ``rpsbook`` (:data:`.pages.PUBLIC_API_PAGES`) must list the
gallery pages using them. Every notebook must pass ``nbformat.validate``, and one
(``--notebook``) is executed top to bottom with nbclient in a ``python3`` kernel of this
interpreter (``RPSBOOK_DATA_DIR`` is passed through). The search page must find "dropout".
Full-page screenshots are saved to ``--screenshots``: every gallery page at 1400 px, the landing
page at 1400 px and at 390 px (``index-390.png``), and the top of the first gallery page
at 390 px in the dark theme (``plot_01_...-390-dark.png``).

Accessibility (:mod:`.axe`): every HTML page the build wrote (:func:`.pages.all_pages`) is
opened in the light and in the dark theme (the browser's ``prefers-color-scheme``, which the
theme's default "auto" mode follows) and checked with axe-core (npm ``axe-core``,
:data:`.axe.AXE_VERSION`, installed with npm into ``.nox/axe`` on first use, and again when
the pin moves) against the WCAG 2.0/2.1 A and AA rules (:data:`.axe.AXE_TAGS`). Every serious
or critical violation fails, except those in :data:`.axe.AXE_ALLOWED`, each with its reason
and the theme's upstream issue. The counts per theme and rule are printed (``--no-axe`` skips
this pass).

Every gallery page must end with its provenance line (``.rpsbook-provenance``: versions,
device, threads, the dataset's SHA-256, the commit). Every link of the concordance page
(``concordance.html``) must lead to a page of the site and to an element with its anchor.
A gallery figure whose alt text is not a :func:`rpsbook.report.book_figure` label ("Figure
6.N in the book: ..." / "Not in the book: ...") is reported; with
``--require-figure-labels`` it fails.

Exit status: 0 when every check passed, 1 when one failed (each failure is printed with its
page and the image or link at fault), 2 when the site or the browser is missing.

One job per module: ``serve`` (in :mod:`tools.serve`), ``pages`` (every page), ``gallery``
(gallery pages), ``links`` (HTTP statuses, the concordance), ``axe``, ``notebooks``,
``screenshots``; ``check`` runs them in one browser and ``__main__`` is the command line.
"""
