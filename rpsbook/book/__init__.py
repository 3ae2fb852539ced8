"""The book's companion modules, answered by rpsbook: run ``Chapter06.ipynb`` unchanged but
for its import lines.

Nothing imports this package by default (``import rpsbook`` stays as cheap as before).

* :mod:`rpsbook.book.chapter6` gives every name of the book's ``plots/chapter6.py``, drawn
  with rpsbook's own plotting code.
* :mod:`rpsbook.book.regression` gives the names of the book's
  ``data_preparation/v2.py`` (the linear-regression data of the chapter's second half).
* :mod:`rpsbook.book.runner` holds the one-to-one import mapping (``MAPPING``), switches a
  notebook's lines by it, runs every cell and compares the outputs with the stored ones:
  ``python -m rpsbook.book PATH`` (``nox -s book -- PATH``).
"""
