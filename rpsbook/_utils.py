"""Small helpers shared by several rpsbook modules (private)."""

from __future__ import annotations

import hashlib
import numbers
import os
import random
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

_DEVICE_TYPES = ("cuda", "mps", "cpu")


def installed_version(distribution: str) -> str:
    """The installed distribution's version (``"0.29.1"``), or ``"not installed"``; read from
    its metadata, so asking costs no import (torchvision's costs ~1 s)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to show a tqdm bar: ``progress`` if given, else ``RPSBOOK_PROGRESS != "0"``."""
    if progress is not None:
        return bool(progress)
    return os.environ.get("RPSBOOK_PROGRESS", "1") != "0"


def default_device() -> torch.device:
    """``$RPSBOOK_DEVICE`` (``cuda``, ``cuda:1``, ``mps`` or ``cpu``) if set, else the best one.

    The best available is cuda, then mps, then cpu. A value naming another device type, or an
    accelerator this machine does not have, raises ``ValueError``.
    """
    value = os.environ.get("RPSBOOK_DEVICE", "").strip()
    if not value:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(value)
    except RuntimeError:
        device = None
    if device is None or device.type not in _DEVICE_TYPES:
        raise ValueError(
            f"RPSBOOK_DEVICE={value!r} is not a device rpsbook runs on: use one of "
            f"{', '.join(_DEVICE_TYPES)} (optionally with an index, e.g. cuda:1), or unset it."
        )
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
        "cpu": True,
    }
    if not available[device.type]:
        raise ValueError(
            f"RPSBOOK_DEVICE={value!r}, but this torch build or machine has no {device.type} "
            "device: set RPSBOOK_DEVICE=cpu or unset it."
        )
    return device


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device to use: ``device`` if given, else :func:`default_device`."""
    if device is not None:
        return torch.device(device)
    return default_device()


@contextmanager
def seeded_cpu_rng(seed: int) -> Iterator[None]:
    """Seed torch's CPU generator inside the block; restore the caller's state on exit.

    Only the CPU generator is seeded (not ``torch.manual_seed``, which also reseeds CUDA/MPS
    generators the block never uses and would then not restore).
    """
    state = torch.get_rng_state()
    try:
        torch.default_generator.manual_seed(seed)
        yield
    finally:
        torch.set_rng_state(state)


def global_rng_states(device: torch.device) -> dict[str, Any]:
    """The global generators a training run draws from, as tensors and Python scalars.

    Torch's CPU generator, the generators of ``device``'s accelerator type (all CUDA devices,
    when CUDA is initialized), NumPy's legacy global generator and Python's ``random``. Only
    tensors, ints, floats, strings and tuples: ``torch.load(weights_only=True)`` reads them back
    without allow-listing anything.
    """
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()  # noqa: NPY002
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached_gaussian),
        "python": random.getstate(),
    }
    if device.type == "cuda" and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    if device.type == "mps":
        states["mps"] = torch.mps.get_rng_state()
    return states


def set_global_rng_states(states: dict[str, Any]) -> None:
    """Put back what :func:`global_rng_states` returned, all or nothing.

    Every state is checked (:func:`usable_rng_states`) and converted before the first
    generator is set; a state this machine cannot use raises ``ValueError``.
    """
    _, set_aside = usable_rng_states(states)
    if set_aside:
        raise ValueError(f"random states this machine cannot use: {set_aside}")
    name, keys, pos, has_gauss, cached_gaussian = states["numpy"]
    numpy_state = (name, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached_gaussian)
    version, internal, gauss_next = states["python"]
    python_state = (version, tuple(internal), gauss_next)
    torch_state = states["torch"].cpu()
    cuda_states = [state.cpu() for state in states.get("cuda", ())]
    mps_state = states["mps"].cpu() if "mps" in states else None
    torch.set_rng_state(torch_state)
    np.random.set_state(numpy_state)  # noqa: NPY002
    random.setstate(python_state)
    if cuda_states:
        torch.cuda.set_rng_state_all(cuda_states)
    if mps_state is not None:
        torch.mps.set_rng_state(mps_state)


def usable_rng_states(states: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Check saved :func:`global_rng_states` whole, changing no generator.

    Returns the states this machine can set and, for each accelerator type whose state it
    cannot use (a Mac's ``mps`` on Linux, ``cuda`` without CUDA or with fewer devices), why.
    Raises ``ValueError`` naming the entry that :func:`set_global_rng_states` would refuse:
    each state is tried on a generator of its own.
    """
    if not isinstance(states, dict) or not {"torch", "numpy", "python"} <= set(states):
        raise ValueError("the global random state lacks 'torch', 'numpy' or 'python'")
    unknown = set(states) - {"torch", "numpy", "python", *_DEVICE_TYPES}
    if unknown:
        raise ValueError(f"the global random state has unknown entries {sorted(unknown)}")
    try:
        torch.Generator().set_state(_byte_tensor(states["torch"]))
        name, keys, pos, has_gauss, cached_gaussian = states["numpy"]
        keys = _byte_tensor(keys, torch.int64).numpy().astype(np.uint32)
        np.random.RandomState().set_state((name, keys, pos, has_gauss, cached_gaussian))
        version, internal, gauss_next = states["python"]
        random.Random().setstate((version, tuple(internal), gauss_next))
        cuda = [_byte_tensor(state) for state in states.get("cuda", ())]
        if "mps" in states:
            _byte_tensor(states["mps"])
    except Exception as error:  # whatever the generators refuse: nothing was set
        raise ValueError(f"the global random state cannot be set ({error})") from error
    usable = {key: states[key] for key in ("torch", "numpy", "python")}
    set_aside = {}
    if "cuda" in states:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if len(cuda) <= count:
            usable["cuda"] = states["cuda"]
        else:
            set_aside["cuda"] = f"{len(cuda)} device(s) saved, {count} here"
    if "mps" in states:
        if torch.backends.mps.is_available():
            usable["mps"] = states["mps"]
        else:
            set_aside["mps"] = "no MPS backend here"
    return usable, set_aside


def _byte_tensor(value: Any, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    if not torch.is_tensor(value) or value.dtype != dtype:
        raise TypeError(f"expected a {dtype} tensor, got {type(value).__name__}")
    return value.cpu()


def loader_generators(loader: Any) -> list[torch.Generator]:
    """The ``torch.Generator`` objects a DataLoader draws from (its own and its samplers')."""
    found: dict[int, torch.Generator] = {}
    sampler = getattr(loader, "sampler", None)
    batch_sampler = getattr(loader, "batch_sampler", None)
    for owner in (loader, sampler, batch_sampler, getattr(batch_sampler, "sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator):
            found[id(generator)] = generator
    return list(found.values())


def move_optimizer_state(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Move an optimizer's state tensors next to their parameters on ``device``.

    Scalar ``step`` counters stay on the CPU, as torch keeps them, unless the param group is
    ``capturable`` or ``fused``: those optimizers need them on the parameters' device.
    """
    device = torch.device(device)
    for group in optimizer.param_groups:
        on_device = bool(group.get("capturable")) or bool(group.get("fused"))
        for param in group["params"]:
            state = optimizer.state.get(param)
            if not state:
                continue
            for key, value in state.items():
                if not torch.is_tensor(value):
                    continue
                if key == "step" and value.ndim == 0 and not on_device:
                    state[key] = value.to("cpu")
                else:
                    state[key] = value.to(device)


def empty_loader_message(loader: Any, name: str) -> str:
    """Why ``loader`` (called ``name``) yields no mini-batches, and what to change."""
    dataset = getattr(loader, "dataset", None)
    details = []
    if hasattr(dataset, "__len__"):
        details.append(f"its dataset holds {len(dataset)} samples")
    for attribute in ("batch_size", "drop_last"):
        if hasattr(loader, attribute):
            details.append(f"{attribute}={getattr(loader, attribute)}")
    why = f" ({', '.join(details)})" if details else ""
    return (
        f"{name} yields no mini-batches{why}: give it a non-empty dataset, or a batch_size no "
        "larger than the dataset when drop_last=True."
    )


def map_tensors(value: Any, fn: Callable[[Any], Any], kind: type = torch.Tensor) -> Any:
    """``fn`` applied to a tensor (a ``kind``), or to every one inside tuples, lists and dicts.

    Containers keep their type: a namedtuple (``PackedSequence`` is one) is rebuilt field by
    field, an ``OrderedDict`` stays ordered; a mapping type that cannot be built from a dict
    (``defaultdict``) becomes a plain dict. Other values are returned as they are.
    """
    if isinstance(value, kind):
        return fn(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(map_tensors(item, fn, kind) for item in value))
    if isinstance(value, tuple | list):
        return type(value)(map_tensors(item, fn, kind) for item in value)
    if isinstance(value, dict):
        mapped = {key: map_tensors(item, fn, kind) for key, item in value.items()}
        try:
            return type(value)(mapped)
        except TypeError:
            return mapped
    return value


def cpu_copy(value: Any) -> Any:
    """A detached CPU copy of the tensors in ``value`` (see :func:`map_tensors`)."""
    return map_tensors(value, lambda tensor: tensor.detach().to("cpu", copy=True))


def as_lists(captured: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, dict[str, list]]:
    """``{layer: {name: Tensor (n, ...)}}`` as the book holds it, ``{layer: {name: [n tensors]}}``.

    The trainer's ``_gradients`` / ``_parameters`` and the playground's results use it.
    """
    return {
        layer: {name: list(values) for name, values in params.items()}
        for layer, params in captured.items()
    }


def check_int(value: Any, name: str, minimum: int | None = None) -> int:
    """``value`` as an ``int``: any integer (NumPy's too), not a bool; ``>= minimum`` if given.

    Anything else raises ``ValueError`` (as rpsbook's checks always did), naming ``name``.
    """
    wrong_type = isinstance(value, bool) or not isinstance(value, numbers.Integral)
    if wrong_type or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{name} must be an integer{bound}, got {value!r}")
    return int(value)


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (Python's or NumPy's), and not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def write_atomically(
    path: str | os.PathLike[str], write: Callable[[IO[bytes]], None], what: str = "file"
) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it over ``path``.

    ``path`` is either its old content or the complete new one, never half written, and the
    temporary file is removed whatever happens. The file is opened as ``open`` does, so the
    umask sets its mode (``tempfile.mkstemp`` would make it 0600).
    """
    path = Path(path)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            file = open(tmp, "xb")  # noqa: SIM115 (closed below, before the rename)
        except FileExistsError:
            continue
        except OSError as error:
            raise OSError(
                f"cannot write the {what} {path}: its folder {path.parent} does not exist or "
                f"is not writable ({error.strerror})."
            ) from error
        break
    try:
        with file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of the file at ``path``, as hex, read in chunks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
