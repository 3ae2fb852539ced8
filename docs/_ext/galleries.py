"""Where the gallery's folders are: ``sphinx_gallery_conf``'s ``examples_dirs`` and
``gallery_dirs`` (each a string or a list), and the folder of the records the scripts write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The folder, inside the first gallery's output folder, of the scripts' records.
RESULTS_FOLDER = "_rpsbook_results"


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def gallery_dirs(conf: dict[str, Any]) -> list[str]:
    """``conf["gallery_dirs"]`` as a list (relative to the Sphinx source folder)."""
    return _as_list(conf["gallery_dirs"])


def galleries(srcdir: str | Path, conf: dict[str, Any]) -> list[tuple[Path, Path]]:
    """``(examples folder, gallery folder)`` of every gallery, as absolute paths."""
    src = Path(srcdir)
    examples = _as_list(conf["examples_dirs"])
    return [(src / e, src / g) for e, g in zip(examples, gallery_dirs(conf), strict=True)]


def results_root(srcdir: str | Path, conf: dict[str, Any]) -> Path:
    """Folder holding one sub-folder of records per gallery script.

    It lives inside the gallery's output folder on purpose: Sphinx-Gallery skips a script
    whose source is unchanged only while that folder survives, and exactly then the records
    written by the script's last run must survive too.
    """
    return Path(srcdir) / gallery_dirs(conf)[0] / RESULTS_FOLDER
