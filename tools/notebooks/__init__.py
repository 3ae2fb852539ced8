"""Execute every notebook of the built site the way a reader would.

``nox -s notebooks`` runs this, after ``nox -s docs``, with the interpreter of a fresh
virtual environment that has PyTorch, what the notebooks import besides rpsbook, nbclient
and ipykernel, but no rpsbook: what a hosted kernel such as Colab has. The built site
(``docs/_build/html``) is served on 127.0.0.1 and each ``notebooks/*.ipynb`` of it (the
fixed paths the "Open in Colab" links open) is executed top to bottom, one after another,
in a kernel of this interpreter:

* with ``--install``, rpsbook is uninstalled before each notebook, so that the notebook's own
  first cell installs it, from the served copy of the site (``RPSBOOK_SITE_URL`` points the
  cell there); the run checks that the cell said so, and that the installed rpsbook is the
  site's wheel with the SHA-256 of ``dist/SHA256SUMS``. Afterwards the first cell of every
  notebook runs once more, in a fresh kernel, where it must do nothing (its time is printed);
* every notebook's first cell must install rpsbook by URL with its hash, and no cell may ask
  a package index for a bare ``rpsbook``;
* its working directory is a new temporary folder, so the checkout cannot be imported;
* its environment has no ``RPSBOOK_*`` variable (the dataset comes from wherever
  ``rpsbook`` finds it for a reader: its own default) except ``RPSBOOK_DEVICE`` and
  ``RPSBOOK_SITE_URL``, and a fresh ``XDG_CACHE_HOME``;
* Python cannot open a network connection (:mod:`.network_guard`, installed as
  ``sitecustomize``, refuses every address but loopback), so a notebook that needs the
  network fails here.

The run fails when a cell raises, when a notebook's last cell is not "Your run vs this
page" or its output does not account for every value of the page
(:func:`.compare.comparison_cell_problems`), when a notebook's Markdown still shows a Sphinx
role or an internal label, when tqdm warns that it cannot draw widgets, or when a value the
notebook records through :func:`rpsbook.report.compare_with_book` differs from the value
the docs build recorded for the same page (``docs/auto_examples/_rpsbook_results``).

``--data-dir`` sets ``RPSBOOK_DATA_DIR`` in the kernels: for development only.

Run from the repository root: ``python -m tools.notebooks [SITE] [--install] [--only TEXT]``.
One job per module: ``kernel`` (the kernels and their environment), ``network_guard``,
``wheel`` (how rpsbook gets installed; ``probe`` asks the kernels' interpreter), ``execute``
(running a notebook), ``compare`` (its values against the page's); ``__main__`` is the
command line, and :mod:`tools.serve` serves the site.
"""
