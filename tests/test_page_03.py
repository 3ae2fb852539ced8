"""What the prose of gallery/plot_03_fancier_model.py says about its own run."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from conftest import run_page

from rpsbook.models import CNN2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page() -> dict[str, Any]:
    return run_page("plot_03_fancier_model.py")


def test_shape_walk_and_the_same_logits(page):
    """The hand-made walk's shapes, and its logits equal the model's (eval mode)."""
    assert " -> ".join(page["walk"]) == (
        "3@28x28 -> 5@26x26 -> 5@13x13 -> 5@11x11 -> 5@5x5 -> 125 -> 50 -> 3"
    )
    assert tuple(page["features"].shape) == (16, 125) and tuple(page["logits"].shape) == (16, 3)
    with torch.no_grad():
        page["model"].eval()
        assert torch.equal(page["x"], page["model"](page["images"]))


def test_dropout_module_only_when_p_is_positive():
    """'rpsbook's creates the module only when p > 0'; its listing's comment says so, and
    that the book always creates it."""
    assert not hasattr(CNN2(5, p=0.0), "drop")
    assert isinstance(CNN2(5, p=0.3).drop, torch.nn.Dropout)
    source = inspect.getsource(CNN2.__init__)
    assert "the book always\n        # builds self.drop" in source


def test_parameter_counts(page):
    """6,823 parameters; fc1's 6,250 weights; 32 times the previous chapter's 213."""
    assert page["n_parameters"] == 6823
    assert page["model"].fc1.weight.numel() == 6250
    assert round(page["n_parameters"] / 213) == 32
