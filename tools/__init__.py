"""Development tools of the rpsbook checkout, run from its root as ``python -m tools.<name>``.

``tools.site`` checks the built site in headless Chromium, ``tools.notebooks`` runs the site's
notebooks as a reader would, ``tools.pack_dataset`` rebuilds ``rpsbook/_data/rps28.npz``.
"""
