"""Shared fixtures. Tests that need the real dataset use ``real_data_dir`` and are marked
``realdata``; they run when ``RPSBOOK_DATA_DIR`` names a complete copy (``.ci/run`` sets it)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _quiet_and_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """No progress bars, and a private decoded-tensor cache per test session."""
    monkeypatch.setenv("RPSBOOK_PROGRESS", "0")
    monkeypatch.setenv("RPSBOOK_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "decoded"))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real dataset folder (holding rps/ and rps-test-set/), or skip."""
    value = os.environ.get("RPSBOOK_DATA_DIR")
    if not value:
        pytest.skip("RPSBOOK_DATA_DIR is not set (the real dataset is needed)")
    path = Path(value)
    if not (path / "rps").is_dir() or not (path / "rps-test-set").is_dir():
        pytest.fail(f"RPSBOOK_DATA_DIR={value} does not hold rps/ and rps-test-set/")
    return path
