"""The built wheel carries the embedded dataset, and an installed copy loads it offline."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = """
import os, sys
import rpsbook
from rpsbook import data
assert rpsbook.__file__.startswith(sys.argv[1]), rpsbook.__file__
assert data.locate().kind == "embedded", data.locate()
rps = data.load_rps()
print(len(rps.train_dataset), len(rps.val_dataset), data.EMBEDDED_FILE)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out)]
    if importlib.util.find_spec("hatchling") is not None:
        command.append("--no-build-isolation")  # offline; else pip fetches hatchling
    subprocess.run([*command, str(ROOT)], check=True, capture_output=True)
    (path,) = out.glob("rpsbook-*.whl")
    return path


def _installed(wheel: Path, target: Path) -> Path:
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q"]
    subprocess.run(
        [*pip, "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    return target


def _run(target: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPSBOOK_")}
    env.update(
        PYTHONPATH=str(target),  # torch & co. still come from this interpreter's site-packages
        XDG_CACHE_HOME=str(cwd / "cache"),
        RPSBOOK_PROGRESS="0",
    )
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(target)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_installed_wheel_loads_the_embedded_copy(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {
        "rpsbook/_data/rps28.npz",
        "rpsbook/_data/rps28.sha256",
        "rpsbook/_data/README.md",
    } <= names
    assert not [n for n in names if n.endswith(".png")]
    assert wheel.stat().st_size < 3_000_000, "the wheel must stay small"

    target = _installed(wheel, tmp_path / "site")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _run(target, elsewhere)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2520", "372", str(target / "rpsbook/_data/rps28.npz")]

    npz = target / "rpsbook" / "_data" / "rps28.npz"
    payload = bytearray(npz.read_bytes())
    payload[-100] ^= 0x01
    npz.write_bytes(bytes(payload))
    result = _run(target, elsewhere)
    assert result.returncode == 1
    assert f"ChecksumError: the embedded dataset {npz} has SHA-256" in result.stderr
    assert "pip install --force-reinstall --no-deps rpsbook" in result.stderr


def test_readme_images_have_absolute_addresses():
    # PyPI shows the README as the long description, where a relative path breaks
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", readme)
    assert images
    prefix = "https://raw.githubusercontent.com/rpsbook/rpsbook/main/"
    for url in images:
        assert url.startswith(prefix), url
        assert (ROOT / url.removeprefix(prefix)).is_file(), url
