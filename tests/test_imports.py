"""Which heavy packages ``import rpsbook.<module>`` pulls in (each in a new interpreter).

A gallery page runs as a new process and pays for every import. torchvision costs more
than a second on top of torch (its ``__init__`` loads ``torchvision.models``, whose
``torchvision.ops`` import ``torch._dynamo``), so only the functions that decode images
(``rpsbook.data.decoding``) import it, when called; the trainer, the regression playground and the
learning-rate tools must not. matplotlib is loaded only by modules that draw at import
time by design (``plotting``, ``diagrams``, ``ewma``, ``paths``), never by the training side.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torchvision", "torchvision.models", "matplotlib", "matplotlib.pyplot", "PIL.Image")

#: module -> the heavy modules it must NOT import
MUST_NOT_IMPORT = {
    "rpsbook": HEAVY,
    "rpsbook.report": (*HEAVY, "torch"),
    "rpsbook.data": ("torchvision", "torchvision.models", "matplotlib", "matplotlib.pyplot"),
    "rpsbook.models": HEAVY,
    "rpsbook.training": HEAVY,
    "rpsbook.ewma": ("torchvision", "torchvision.models"),
    "rpsbook.paths": ("torchvision", "torchvision.models"),
    "rpsbook.plotting": ("torchvision", "torchvision.models"),
    "rpsbook.diagrams": ("torchvision", "torchvision.models"),
}

_PROBE = """
import json, sys
import {module}
{then}
print(json.dumps(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


def _imported(module: str, then: str = "") -> list[str]:
    """The heavy modules loaded after ``import module`` and the statement ``then``."""
    code = _PROBE.format(module=module, then=then, heavy=(*HEAVY, "torch"))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", sorted(MUST_NOT_IMPORT))
def test_module_imports_no_more_than_it_needs(module: str) -> None:
    loaded = _imported(module)
    assert [name for name in MUST_NOT_IMPORT[module] if name in loaded] == []


def test_the_probe_sees_heavy_imports() -> None:
    # ImageFolder comes with torchvision: the probe must report it (and with it
    # torchvision.models, which torchvision's own __init__ imports).
    loaded = _imported("torchvision.datasets")
    assert {"torch", "torchvision", "torchvision.models", "PIL.Image"} <= set(loaded)
    assert "matplotlib" not in loaded


def test_a_notebooks_last_cell_does_not_import_torchvision() -> None:
    # "Your run vs this page" names torchvision's version: read from its distribution, since
    # importing it (torch._dynamo included) cost ~1.1 s on pages that never use it.
    report = "rpsbook.report"
    cell = f"{report}.compare_with_page({{'environment': {report}.environment(), 'values': []}})"
    loaded = _imported("rpsbook.report", then=cell)
    assert "torch" in loaded
    assert "torchvision" not in loaded


def test_every_submodule_is_an_attribute_of_the_package() -> None:
    import rpsbook

    for name in rpsbook._SUBMODULES:
        assert getattr(rpsbook, name).__name__ == f"rpsbook.{name}"
    assert rpsbook.report.compare_with_book  # AttributeError before it was listed
