"""Execution cache for the gallery: a script runs again when anything its output depends on
changed, and only then.

Sphinx-Gallery skips a script when ``<gallery_dir>/<script>.py.md5`` holds the MD5 of the
script's own source (``sphinx_gallery.gen_rst.md5sum_is_current``); its only other choice
is ``run_stale_examples = True``, which runs every script on every build. Neither knows that
a page's numbers also come from rpsbook, torch, the dataset, the device and torch's thread
count, so a rebuild after a library change published the old numbers.

This extension writes, beside each ``.md5``, the rest of what the script's last successful
run depended on: ``<gallery_dir>/<script>.rpsbook-key.json`` (:func:`script_key`). Before
Sphinx-Gallery looks at the ``.md5`` files, every script whose recorded key differs from
the current one (or has none) loses its ``.md5``, so Sphinx-Gallery runs it; after the
gallery ran, every script with a ``.md5`` (skipped or just run, both successfully) gets the
current key. A skipped script keeps its page, figures and the comparisons it recorded
(``sg_hooks.results_root``), which are exactly what that key produced.

The build says which pages it runs and why (``exec cache: 3 of 13 gallery scripts run
(plot_05...: rpsbook)``). The key covers:

``script``
    the script's source (SHA-256; Sphinx-Gallery's ``.md5`` says the same).
``rpsbook``
    every file of the imported ``rpsbook`` package (source and its ``_data``), by content.
``versions``
    Python, torch, torchvision, NumPy, Matplotlib, Pillow and Sphinx-Gallery.
``data``
    what :func:`rpsbook.data.locate` chose: the embedded ``.npz`` or the dataset folder's
    files, by content.
``device``, ``threads``
    :func:`rpsbook._utils.default_device` (with the GPU's name) and torch's intra-op
    threads as the scripts see them (``parallel`` gallery jobs run with fewer).
``hooks``
    ``sg_hooks.py`` (seeds, scraper) and the execution settings of ``sphinx_gallery_conf``.
``env``
    ``$RPSBOOK_PROGRESS`` (progress bars are part of the printed output).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

KEY_SUFFIX = ".rpsbook-key.json"
#: sphinx_gallery_conf entries that change what a script prints or draws
CONF_KEYS = (
    "image_scrapers",
    "image_srcset",
    "reset_modules",
    "reset_modules_order",
    "capture_repr",
    "ignore_repr_types",
    "parallel",
)
VERSIONED = ("torch", "torchvision", "numpy", "matplotlib", "pillow", "sphinx-gallery")
#: Settings read from the environment that change what a page prints.
ENV_VARIABLES = ("RPSBOOK_PROGRESS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")
_HOOKS_FILE = Path(__file__).with_name("sg_hooks.py")


def tree_digest(root: Path) -> str:
    """SHA-256 over every file below ``root``: relative paths and contents, in sorted order.

    ``__pycache__`` folders, ``.pyc`` files and hidden files (download markers, editor state)
    are left out; they never change what the code does.
    """
    digest = hashlib.sha256()
    files = sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix != ".pyc"
        and not any(p == "__pycache__" or p.startswith(".") for p in path.relative_to(root).parts)
    )
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def data_digest() -> str:
    """The dataset the scripts will read, as :func:`rpsbook.data.locate` chooses it.

    A dataset that is still to be downloaded hashes as ``"absent"``: the build that
    downloads it runs every script, and the next one runs them again with the real digest.
    """
    from rpsbook.data import locate

    source = locate()  # raises DataNotFoundError naming the folder and the fix
    if source.kind == "embedded":
        return f"embedded:{file_digest(source.path)}"
    if not source.path.is_dir():
        return f"{source.kind}:absent"
    return f"{source.kind}:{tree_digest(source.path)}"


def _stable(value: Any) -> Any:
    """``value`` as JSON that does not change from one process to the next."""
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_stable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        return {str(k): _stable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def environment_key(gallery_conf: dict[str, Any]) -> dict[str, Any]:
    """Everything but the script's own source that a gallery page's output depends on."""
    import torch

    import rpsbook
    from rpsbook._utils import default_device, installed_version

    device = default_device()
    device_name = str(device)
    if device.type == "cuda":
        device_name += f" ({torch.cuda.get_device_name(device)})"
    hooks = {key: _stable(gallery_conf.get(key)) for key in CONF_KEYS}
    hooks["sg_hooks.py"] = file_digest(_HOOKS_FILE)
    return {
        "rpsbook": tree_digest(Path(rpsbook.__file__).resolve().parent),
        "versions": {
            "python": platform.python_version(),
            **{n: installed_version(n) for n in VERSIONED},
        },
        "data": data_digest(),
        "device": device_name,
        "threads": torch.get_num_threads(),
        # the vector kernels torch and oneDNN pick change CPU results (docs/results.rst)
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
        "hooks": hooks,
        "env": {name: os.environ.get(name) for name in ENV_VARIABLES},
    }


def script_key(script: Path, environment: dict[str, Any]) -> dict[str, Any]:
    """The key of one script: its source's SHA-256 and the environment's key."""
    return {"script": file_digest(script), **environment}


def _key_file(target: Path) -> Path:
    return target.with_name(target.stem + KEY_SUFFIX)


def _stored(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent or half-written: the script runs again
    return found if isinstance(found, dict) else None


def _pairs(examples_dir: Path, gallery_dir: Path) -> list[tuple[Path, Path]]:
    """(source script, its copy in the gallery folder), for every ``.py`` of the gallery."""
    return [
        (script, gallery_dir / script.relative_to(examples_dir))
        for script in sorted(examples_dir.rglob("*.py"))
    ]


def invalidate(
    examples_dir: Path, gallery_dir: Path, environment: dict[str, Any]
) -> dict[str, list[str]]:
    """Delete the ``.md5`` of every script whose key changed, so Sphinx-Gallery runs it.

    Returns ``{script name: [parts of the key that changed]}`` for the scripts that will
    run (``["no key"]`` when none was recorded).
    """
    runs: dict[str, list[str]] = {}
    for script, target in _pairs(examples_dir, gallery_dir):
        current = script_key(script, environment)
        stored = _stored(_key_file(target))
        md5 = Path(f"{target}.md5")
        if stored == current and md5.is_file():
            continue
        runs[script.name] = (
            ["no key"]
            if stored is None
            else [part for part in current if stored.get(part) != current[part]] or ["no .md5"]
        )
        md5.unlink(missing_ok=True)
        _key_file(target).unlink(missing_ok=True)
    return runs


def record(examples_dir: Path, gallery_dir: Path, environment: dict[str, Any]) -> int:
    """Write the current key beside every ``.md5`` (each one a successful run); return how many.

    Each key file is written to a temporary name and renamed, so it is whole or absent.
    """
    written = 0
    for script, target in _pairs(examples_dir, gallery_dir):
        if not Path(f"{target}.md5").is_file():
            continue
        key_file = _key_file(target)
        text = json.dumps(script_key(script, environment), indent=1, sort_keys=True)
        if key_file.is_file() and key_file.read_text(encoding="utf-8") == text:
            continue
        temporary = key_file.with_name(key_file.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(key_file)
        written += 1
    return written


def _galleries(app: Sphinx) -> list[tuple[Path, Path]]:
    conf = app.config.sphinx_gallery_conf
    examples, galleries = conf["examples_dirs"], conf["gallery_dirs"]
    examples = [examples] if isinstance(examples, str) else examples
    galleries = [galleries] if isinstance(galleries, str) else galleries
    src = Path(app.srcdir)
    return [(src / e, src / g) for e, g in zip(examples, galleries, strict=True)]


_ENVIRONMENT = "_rpsbook_exec_environment"


def _check_data(app: Sphinx, config: Any) -> None:
    # Fail in one line, before anything runs, when the dataset cannot be found.
    from sphinx.errors import ConfigError

    from rpsbook.data import DataNotFoundError, locate

    try:
        locate()
    except (DataNotFoundError, ValueError) as err:
        raise ConfigError(f"the gallery cannot run: {err}") from err


def _before_gallery(app: Sphinx) -> None:
    environment = environment_key(app.config.sphinx_gallery_conf)
    setattr(app, _ENVIRONMENT, environment)
    for examples_dir, gallery_dir in _galleries(app):
        runs = invalidate(examples_dir, gallery_dir, environment)
        total = len(_pairs(examples_dir, gallery_dir))
        why = "; ".join(f"{name}: {', '.join(parts)}" for name, parts in runs.items())
        logger.info(f"exec cache: {len(runs)} of {total} gallery scripts run ({why or 'none'})")


def _after_gallery(app: Sphinx) -> None:
    environment = getattr(app, _ENVIRONMENT)
    for examples_dir, gallery_dir in _galleries(app):
        record(examples_dir, gallery_dir, environment)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _check_data)
    # Sphinx-Gallery runs the scripts in a builder-inited handler of priority 500.
    app.connect("builder-inited", _before_gallery, priority=400)
    app.connect("builder-inited", _after_gallery, priority=600)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
