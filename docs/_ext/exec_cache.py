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
(``galleries.results_root``), which are exactly what that key produced. The ``.md5`` file
is no documented interface of Sphinx-Gallery: ``upstream.md5_file`` names it.

The build says which pages it runs and why (``exec cache: 3 of 13 gallery scripts run
(plot_05...: rpsbook)``). The key covers:

``script``
    the script's source (SHA-256; Sphinx-Gallery's ``.md5`` says the same).
``rpsbook``
    every file of the imported ``rpsbook`` package (source and its ``_data``), by content.
``versions``
    Python, Sphinx-Gallery and every installed distribution the page can import: those
    that provide a module imported by the script, by ``rpsbook`` or by ``sg_hooks.py``
    (``importlib.metadata.packages_distributions``), and their requirements, transitively.
``data``
    what :func:`rpsbook.data.locate` chose: the embedded ``.npz`` or the dataset folder's
    files, by content.
``device``, ``threads``
    :func:`rpsbook._utils.default_device` (with the GPU's name) and torch's intra-op
    threads as the scripts see them (``parallel`` gallery jobs run with fewer).
``hooks``
    ``sg_hooks.py`` (seeds, scraper) with the modules it imports, and the settings of
    ``sphinx_gallery_conf`` that shape what a run writes (its page, notebook and thumbnail);
    a skipped script writes nothing.
``env``
    ``$RPSBOOK_PROGRESS`` (progress bars are part of the printed output).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import platform
import re
import sys
import types
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from galleries import galleries
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from sphinx.application import Sphinx
from sphinx.util import logging
from upstream import md5_file

from rpsbook._utils import file_sha256, write_atomically

logger = logging.getLogger(__name__)

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")

KEY_SUFFIX = ".rpsbook-key.json"
#: sphinx_gallery_conf entries that change what a run prints, draws or writes: Sphinx-Gallery
#: writes a page's reST, notebook and thumbnail only when it runs the script.
CONF_KEYS = (
    "image_scrapers",
    "image_srcset",
    "reset_modules",
    "reset_modules_order",
    "capture_repr",
    "ignore_repr_types",
    "parallel",
    "thumbnail_size",
    "default_thumb_file",
    "compress_images",
    "compress_images_args",
    "matplotlib_animations",
    "remove_config_comments",
    "promote_jupyter_magic",
    "first_notebook_cell",
    "last_notebook_cell",
    "notebook_images",
    "line_numbers",
    "show_memory",
    "min_reported_time",
    "show_signature",
    "inspect_global_variables",
    "doc_module",
    "exclude_implicit_doc",
    "prefer_full_module",
)
#: What runs the page without being imported by it.
RUNNERS = ("sphinx-gallery",)
#: Settings read from the environment that change what a page prints.
ENV_VARIABLES = ("RPSBOOK_PROGRESS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")
#: The hooks Sphinx-Gallery calls while a script runs, and the modules they import.
_HOOK_FILES = [
    Path(__file__).with_name(name) for name in ("sg_hooks.py", "galleries.py", "upstream.py")
]


def tree_digest(root: Path) -> str:
    """SHA-256 over every file below ``root``: relative paths and contents, in sorted order.

    Symbolic links are followed, to folders as to files (a dataset's split folders may be
    links), as the code that reads the files follows them; a link back to a folder above
    is not entered twice. ``__pycache__`` folders, ``.pyc`` files and hidden files
    (download markers, editor state) are left out; they never change what the code does.
    """
    digest = hashlib.sha256()
    for relative, path in _files(root):
        digest.update(relative.encode() + b"\0")
        digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def _files(root: Path) -> list[tuple[str, Path]]:
    """``(relative POSIX path, path)`` of every file ``tree_digest`` reads, sorted."""
    found = []
    # the real folders above each folder the walk will enter: a link to one is a cycle
    above = {str(root): {os.path.realpath(root)}}
    for folder, subfolders, names in os.walk(root, followlinks=True):
        chain = above.pop(folder)
        kept = []
        for name in subfolders:
            real = os.path.realpath(os.path.join(folder, name))
            if name != "__pycache__" and not name.startswith(".") and real not in chain:
                kept.append(name)
                above[os.path.join(folder, name)] = chain | {real}
        subfolders[:] = kept
        for name in names:
            path = Path(folder, name)
            if not name.startswith(".") and path.suffix != ".pyc" and path.is_file():
                found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def data_digest() -> str:
    """The dataset the scripts will read, as :func:`rpsbook.data.locate` chooses it.

    A dataset that is still to be downloaded hashes as ``"absent"``: the build that
    downloads it runs every script, and the next one runs them again with the real digest.
    """
    from rpsbook.data import locate

    source = locate()  # raises DataNotFoundError naming the folder and the fix
    if source.kind == "embedded":
        return f"embedded:{file_sha256(source.path)}"
    if not source.path.is_dir():
        return f"{source.kind}:absent"
    return f"{source.kind}:{tree_digest(source.path)}"


def _stable(value: Any) -> Any:
    """``value`` as JSON that does not change from one process to the next.

    Functions and classes are named by module and qualified name; a ``functools.partial``,
    a bound method or any other object by what it is made of (its class and attributes),
    never by a ``repr`` that holds its memory address.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_stable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        return {str(k): _stable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, functools.partial):
        return {
            "partial": _stable(value.func),
            "args": _stable(value.args),
            "keywords": _stable(value.keywords),
        }
    if isinstance(value, types.MethodType):
        return {"method": _stable(value.__func__), "of": _stable(value.__self__)}
    if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        return f"{value.__module__}.{value.__qualname__}"
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if hasattr(value, "__dict__"):
        return {"object": kind, "attributes": _stable(vars(value))}
    return {"object": kind, "repr": _ADDRESS.sub("", repr(value))}


def imported_modules(paths: Iterable[Path]) -> set[str]:
    """The top-level names of the modules that the Python files ``paths`` import."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names


@functools.cache
def _providers() -> dict[str, list[str]]:
    # ~0.25 s: it reads every installed distribution's file list; once per build
    return metadata.packages_distributions()


def distribution_versions(
    modules: Iterable[str], distributions: Iterable[str] = ()
) -> dict[str, str]:
    """``{distribution: version}`` of ``distributions``, of those that provide ``modules``,
    and of everything they require (their extras aside), transitively.

    Modules of the standard library and of no distribution (``rpsbook`` from a checkout,
    ``sg_hooks``) are left out: other parts of the key cover them. A requirement that is
    not installed is recorded as ``"not installed"``.
    """
    pending = list(distributions)
    for module in modules:
        if module not in sys.stdlib_module_names:
            pending += _providers().get(module, [])
    versions: dict[str, str] = {}
    while pending:
        name = canonicalize_name(pending.pop())
        if name in versions:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
            continue
        versions[name] = distribution.version
        for line in distribution.requires or []:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return dict(sorted(versions.items()))


def environment_key(gallery_conf: dict[str, Any]) -> dict[str, Any]:
    """Everything but the script's own source that a gallery page's output depends on."""
    import torch

    import rpsbook
    from rpsbook._utils import default_device

    device = default_device()
    device_name = str(device)
    if device.type == "cuda":
        device_name += f" ({torch.cuda.get_device_name(device)})"
    hooks = {key: _stable(gallery_conf.get(key)) for key in CONF_KEYS}
    hooks.update({path.name: file_sha256(path) for path in _HOOK_FILES})
    package = Path(rpsbook.__file__).resolve().parent
    imported = imported_modules([*sorted(package.rglob("*.py")), *_HOOK_FILES])
    return {
        "rpsbook": tree_digest(package),
        "versions": {
            "python": platform.python_version(),
            **distribution_versions(imported, RUNNERS),
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
    """The key of one script: its source's SHA-256, the environment's key and the versions
    of the distributions it imports itself."""
    versions = {**environment["versions"], **distribution_versions(imported_modules([script]))}
    return {"script": file_sha256(script), **environment, "versions": versions}


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
        md5 = md5_file(target)
        if stored == current and md5.is_file():
            continue
        runs[script.name] = (
            ["no key"]
            if stored is None
            else [part for part in current if stored.get(part) != current[part]] or ["no md5 file"]
        )
        md5.unlink(missing_ok=True)
        _key_file(target).unlink(missing_ok=True)
    return runs


def record(examples_dir: Path, gallery_dir: Path, environment: dict[str, Any]) -> int:
    """Write the current key beside every ``.md5`` (each one a successful run); return how many.

    Each key file is written to a temporary file of its own and renamed, so it is whole or
    absent, also while another build of the same folder writes it.
    """
    written = 0
    for script, target in _pairs(examples_dir, gallery_dir):
        if not md5_file(target).is_file():
            continue
        key_file = _key_file(target)
        text = json.dumps(script_key(script, environment), indent=1, sort_keys=True)
        if key_file.is_file() and key_file.read_text(encoding="utf-8") == text:
            continue
        # a temporary file of its own, so concurrent builds never rename each other's
        data = text.encode()
        write_atomically(key_file, lambda file, data=data: file.write(data), "execution key")
        written += 1
    return written


def _check_data(app: Sphinx, config: Any) -> None:
    # Fail in one line, before anything runs, when the dataset cannot be found.
    from sphinx.errors import ConfigError

    from rpsbook.data import DataNotFoundError, locate

    try:
        locate()
    except (DataNotFoundError, ValueError) as err:
        raise ConfigError(f"the gallery cannot run: {err}") from err


class _GalleryRun:
    """The environment's key of one build: computed before the gallery runs, recorded after."""

    environment: dict[str, Any] | None = None

    def before(self, app: Sphinx) -> None:
        self.environment = environment_key(app.config.sphinx_gallery_conf)
        for examples_dir, gallery_dir in galleries(app.srcdir, app.config.sphinx_gallery_conf):
            runs = invalidate(examples_dir, gallery_dir, self.environment)
            total = len(_pairs(examples_dir, gallery_dir))
            why = "; ".join(f"{name}: {', '.join(parts)}" for name, parts in runs.items())
            logger.info(
                f"exec cache: {len(runs)} of {total} gallery scripts run ({why or 'none'})"
            )

    def after(self, app: Sphinx) -> None:
        for examples_dir, gallery_dir in galleries(app.srcdir, app.config.sphinx_gallery_conf):
            record(examples_dir, gallery_dir, self.environment)


def setup(app: Sphinx) -> dict[str, Any]:
    run = _GalleryRun()
    app.connect("config-inited", _check_data)
    # Sphinx-Gallery runs the scripts in a builder-inited handler of priority 500.
    app.connect("builder-inited", run.before, priority=400)
    app.connect("builder-inited", run.after, priority=600)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
