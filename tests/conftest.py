"""Shared fixtures.

Tests marked ``realdata`` use the full dataset through ``real_data_dir``: the folder named by
``RPSBOOK_DATA_DIR`` when it is set (``.ci/run`` sets it), otherwise the 28x28 copy shipped
inside rpsbook, written out once per test session as PNGs. Only tests that compare the
shipped copy with its source PNGs need ``RPSBOOK_DATA_DIR`` (``shared_png_dir``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import matplotlib
import pytest
import torch

matplotlib.use("Agg")


# Helpers shared by several test modules (``from conftest import ...``).


@contextmanager
def file_module(path: Path) -> Iterator[ModuleType]:
    """``path`` (a tool or a Sphinx extension, outside the package) imported under its stem
    for the ``with`` block; then removed from ``sys.modules`` again."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.fixture(scope="module")
def two_threads() -> Iterator[None]:
    """torch's intra-op threads set to two for the module, the setting CPU results are pinned
    with (their order of summation, and so their last bits, changes with the count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def clone_nested(value: Any) -> Any:
    """A copy of ``value`` with every tensor inside dicts, lists and tuples cloned."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {k: clone_nested(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(clone_nested(v) for v in value)
    return value


def assert_nested_equal(actual: Any, expected: Any) -> None:
    """Exact equality of nested dicts, lists and tuples of tensors (dtype included)."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor)
        assert actual.dtype == expected.dtype
        assert torch.equal(actual, expected)
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys()
        for key in expected:
            assert_nested_equal(actual[key], expected[key])
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_nested_equal(a, e)
    else:
        assert actual == expected


def throwaway_sgd(lr: float = 0.01, **kwargs: Any) -> torch.optim.SGD:
    """An SGD over one parameter that never gets a gradient: a scheduler's optimizer in tests."""
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, **kwargs)


def run_page(script: str, data_dir: Path | None = None) -> dict[str, Any]:
    """Run ``gallery/<script>`` as the docs build does and return its namespace.

    ``data_dir`` becomes ``$RPSBOOK_DATA_DIR`` for the run. The figures it drew are closed
    afterwards and kept under ``"figures"``, by label (``book_figure``'s, on the site).
    """
    import runpy

    import matplotlib.pyplot as plt

    path = Path(__file__).resolve().parents[1] / "gallery" / script
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RPSBOOK_PROGRESS", "0")
        if data_dir is not None:
            patch.setenv("RPSBOOK_DATA_DIR", str(data_dir))
        try:
            namespace = runpy.run_path(str(path), run_name="__main__")
            namespace["figures"] = {
                plt.figure(n).get_label(): plt.figure(n) for n in plt.get_fignums()
            }
            return namespace
        finally:
            plt.close("all")


@pytest.fixture(autouse=True)
def _quiet_and_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """No progress bars; a private decoded-tensor cache and user cache per test session; the
    default data source (a developer's ``RPSBOOK_DATA=download`` must not change the tests)."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("RPSBOOK_PROGRESS", "0")
    monkeypatch.setenv("RPSBOOK_CACHE_DIR", str(base / "decoded"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "xdg-cache"))
    monkeypatch.delenv("RPSBOOK_DATA", raising=False)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _named_data_dir() -> Path | None:
    value = os.environ.get("RPSBOOK_DATA_DIR")
    if not value:
        return None
    path = Path(value)
    if not (path / "rps").is_dir() or not (path / "rps-test-set").is_dir():
        pytest.fail(f"RPSBOOK_DATA_DIR={value} does not hold rps/ and rps-test-set/")
    return path


@pytest.fixture(scope="session")
def real_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the full dataset as image files (rps/ and rps-test-set/)."""
    named = _named_data_dir()
    if named is not None:
        return named
    from rpsbook.data import extract_embedded

    return extract_embedded(tmp_path_factory.getbasetemp() / "rps28-embedded")


@pytest.fixture(scope="session")
def shared_png_dir() -> Path:
    """The 28x28 PNG copy the embedded array was built from, or skip."""
    named = _named_data_dir()
    if named is None:
        pytest.skip("RPSBOOK_DATA_DIR is not set (the source PNGs are needed)")
    return named


def book_column(script: str) -> list[str]:
    """The third ("book") strings of the rows ``gallery/<script>`` passes to
    ``checked_against_book``, read from its source (f-strings and names are skipped)."""
    import ast

    path = Path(__file__).resolve().parents[1] / "gallery" / script
    (call,) = [
        node
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "checked_against_book"
    ]
    return [
        row.elts[2].value
        for row in call.args[1].elts
        if isinstance(row.elts[2], ast.Constant) and isinstance(row.elts[2].value, str)
    ]


def small_data(n: int = 40, seed: int = 0) -> torch.utils.data.TensorDataset:
    """``n`` samples of 4 features, labelled by the sign of their sum."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    return torch.utils.data.TensorDataset(x, (x.sum(1) > 0).long())


def small_model() -> torch.nn.Module:
    """A seeded MLP with BatchNorm: its running statistics change in the forward pass, before
    any backward."""
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def small_trainer(loss_fn: Any = None, scheduler: bool = True) -> Any:
    """A StepByStep of :func:`small_model` with Adam, shuffled loaders of :func:`small_data` and
    (``scheduler``) a StepLR: the trainer the checkpoint and fault tests save and break."""
    from torch.utils.data import DataLoader

    from rpsbook.training import StepByStep

    model = small_model()
    sbs = StepByStep(
        model,
        loss_fn or torch.nn.CrossEntropyLoss(),
        torch.optim.Adam(model.parameters(), lr=0.01),
    )
    train, val = DataLoader(small_data(), 8, shuffle=True), DataLoader(small_data(16, 1), 8)
    sbs.set_loaders(train, val)
    if scheduler:
        sbs.set_lr_scheduler(torch.optim.lr_scheduler.StepLR(sbs.optimizer, 1, gamma=0.5))
    return sbs


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """The checkpoint of a :func:`small_trainer` after one epoch."""
    sbs = small_trainer()
    sbs.train(1)
    path = tmp_path / "ckpt.pth"
    sbs.save_checkpoint(path)
    return path
