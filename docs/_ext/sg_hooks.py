"""Sphinx-Gallery hooks for the rpsbook docs (imported by name: ``"sg_hooks.reset_state"``).

Sphinx-Gallery runs every gallery script in the same Python process, so state one script
leaves behind (open figures, cached CUDA blocks, RNG positions) would leak into the next
one and make its output depend on the build order. ``reset_state`` runs before and after
each script (``reset_modules_order = "both"``) and also points
``rpsbook.report.compare_with_book`` at a folder that belongs to the script being run.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
from pathlib import Path

from rpsbook.report import RESULTS_DIR_ENV

RESULTS_FOLDER = "_rpsbook_results"
SEED = 0


def freeze_survivors() -> None:
    """Collect garbage, then exempt every object still alive from later collections.

    The docs build is one long process: torch (with ``torch._dynamo`` and sympy, which
    torchvision and every optimizer pull in), Matplotlib, Sphinx's environment and what the
    scripts leave behind add up to ~700,000 tracked objects, and each full collection
    walked all of them again: 51 full collections took 13.9 s of a 93.5 s build, and the
    interpreter's final collections 2.4 s more (measured with ``gc.callbacks``). Objects
    that survive this long live until the build ends; the few that would become garbage
    later are freed when the process exits.
    """
    gc.collect()
    gc.freeze()


def results_root(src_dir: str | Path, gallery_dirs: str | list[str]) -> Path:
    """Folder holding one sub-folder of ``*.jsonl`` records per gallery script.

    It lives inside the gallery's output folder on purpose: Sphinx-Gallery skips a script
    whose source is unchanged only while that folder (with its ``.md5`` files) survives,
    and exactly then the records written by the script's last run must survive too.
    """
    first = gallery_dirs if isinstance(gallery_dirs, str) else gallery_dirs[0]
    return Path(src_dir) / first / RESULTS_FOLDER


def reset_state(gallery_conf: dict, fname: str | None, when: str) -> None:
    """Isolate one gallery script from the others.

    Before a script: reseed ``random``, NumPy and torch with :data:`SEED`, empty the
    script's results folder (its records are about to be rewritten) and set
    ``$RPSBOOK_RESULTS_DIR`` to it. Both times: close every matplotlib figure, collect
    garbage and return cached CUDA memory; then, before a script, freeze what survived
    (:func:`freeze_survivors`), after it, unset ``$RPSBOOK_RESULTS_DIR``.
    ``fname`` is None when Sphinx-Gallery enters a folder of scripts.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    plt.close("all")
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if when == "after" or fname is None:
        os.environ.pop(RESULTS_DIR_ENV, None)
        return
    gc.freeze()  # the previous scripts' objects are collected or live on (freeze_survivors)
    random.seed(SEED)
    np.random.seed(SEED)  # noqa: NPY002 - the legacy global RNG is what scripts may draw from
    torch.manual_seed(SEED)  # seeds every CUDA device too
    folder = results_root(gallery_conf["src_dir"], gallery_conf["gallery_dirs"]) / Path(fname).stem
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[RESULTS_DIR_ENV] = str(folder)
