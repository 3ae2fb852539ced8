"""Write the small intersphinx inventories of this folder: `python docs/_inv/make_inventories.py`.

The docs build links rpsbook's API to Python, PyTorch, torchvision, NumPy and Matplotlib.
With the network, conf.py reads each project's published ``objects.inv`` (and falls back to
these files); without it, it reads only these files, so an offline build links too. They
list just the objects rpsbook's pages refer to, each with the address of its page in that
project's documentation (the same address the published inventory gives it). An object
the docs start to refer to and that is missing here makes the offline ``-n -W`` build
fail with "reference target not found": add it to :data:`OBJECTS` and run this script.
"""

from __future__ import annotations

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _each(names: str, role: str, page: str) -> list[tuple[str, str, str]]:
    """Entries for the objects in ``names``, all documented on one ``page``."""
    return [(name, role, page) for name in names.split()]


def _own_page(names: str, role: str, folder: str) -> list[tuple[str, str, str]]:
    """Entries for objects that each have a page ``<folder>/<name>.html``."""
    return [(name, role, f"{folder}/{name}.html") for name in names.split()]


# project -> (version, [(name, role, page relative to the project's root)]). The anchor is
# the object's name ("page#name"), as Sphinx writes it for Python objects, unless the page
# already names one (modules: "#module-<name>").
OBJECTS: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "python": (
        "3",
        [
            *_each("int float bool object", "class", "library/functions.html"),
            *_each("str list tuple dict", "class", "library/stdtypes.html"),
            *_each("None", "data", "library/constants.html"),
            *_each("ValueError FileNotFoundError", "exception", "library/exceptions.html"),
            *_each("abc.ABC", "class", "library/abc.html"),
            *_each(
                "collections.abc.Callable collections.abc.Iterable collections.abc.Iterator "
                "collections.abc.Mapping collections.abc.Sequence",
                "class",
                "library/collections.abc.html",
            ),
            *_each("os.PathLike", "class", "library/os.html"),
            *_each("pathlib.Path", "class", "library/pathlib.html"),
            *_each("typing.Any typing.Literal typing.Self", "data", "library/typing.html"),
            *_each("typing.NamedTuple", "class", "library/typing.html"),
        ],
    ),
    "torch": (
        "stable",
        [
            *_each("torch.Tensor", "class", "tensors.html"),
            *_each("torch.device", "class", "tensor_attributes.html"),
            *_each("torch.optim.Optimizer", "class", "optim.html"),
            *_each(
                "torch.utils.data.DataLoader torch.utils.data.Dataset torch.utils.data.Subset",
                "class",
                "data.html",
            ),
            *_each("torch.utils.data.default_collate", "function", "data.html"),
            ("torch.fx", "module", "fx.html#module-torch.fx"),
            *_own_page(
                "torch.Generator torch.nn.Module torch.nn.Sequential torch.nn.Conv2d "
                "torch.nn.Dropout torch.nn.Dropout2d torch.nn.CrossEntropyLoss "
                "torch.nn.parameter.Parameter torch.optim.lr_scheduler.LRScheduler "
                "torch.optim.lr_scheduler.StepLR torch.optim.lr_scheduler.MultiStepLR "
                "torch.optim.lr_scheduler.ExponentialLR "
                "torch.optim.lr_scheduler.CosineAnnealingLR torch.optim.lr_scheduler.LambdaLR "
                "torch.optim.lr_scheduler.CyclicLR torch.optim.lr_scheduler.ReduceLROnPlateau "
                "torch.optim.lr_scheduler.CosineAnnealingWarmRestarts",
                "class",
                "generated",
            ),
        ],
    ),
    "torchvision": (
        "stable",
        _own_page(
            "torchvision.datasets.ImageFolder torchvision.transforms.v2.Normalize",
            "class",
            "generated",
        ),
    ),
    "numpy": ("stable", _own_page("numpy.ndarray", "class", "reference/generated")),
    "matplotlib": (
        "stable",
        [
            *_own_page(
                "matplotlib.axes.Axes matplotlib.figure.Figure matplotlib.figure.FigureBase",
                "class",
                "api/_as_gen",
            ),
            *_own_page("matplotlib.axes.Axes.plot", "method", "api/_as_gen"),
            ("matplotlib.pyplot", "module", "api/pyplot_summary.html#module-matplotlib.pyplot"),
        ],
    ),
}


def inventory(project: str, version: str, entries: list[tuple[str, str, str]]) -> bytes:
    """An ``objects.inv`` (format version 2) holding ``entries``."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    lines = "".join(
        f"{name} py:{role} 1 {page if '#' in page else page + '#$'} -\n"
        for name, role, page in sorted(set(entries))
    )
    return header.encode() + zlib.compress(lines.encode())


def main() -> None:
    for project, (version, entries) in OBJECTS.items():
        (HERE / f"{project}.inv").write_bytes(inventory(project, version, entries))
        print(f"{project}.inv: {len(set(entries))} objects")


if __name__ == "__main__":
    main()
