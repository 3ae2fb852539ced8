"""What the prose of gallery/plot_03_fancier_model.py says about its own run."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import run_page

from rpsbook.listing import show_source
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


def test_constructor_listing_shows_the_layers_not_the_checks():
    """'these are its lines that build them (the lines above them, not shown, check the
    arguments)'; the book's n_feature works with rpsbook's CNN2 under either name."""
    page_source = (Path(__file__).parents[1] / "gallery/plot_03_fancier_model.py").read_text()
    call = 'show_source(CNN2.__init__, lines=("self.n_filters = n_filters", "self.drop ="))'
    assert call in page_source
    assert "plot_20_errata.html#cnn2-n-feature" in page_source
    shown = repr(show_source(CNN2.__init__, lines=("self.n_filters = n_filters", "self.drop =")))
    assert all(f"self.{name} = nn." in shown for name in ("conv1", "conv2", "fc1", "fc2"))
    assert "raise" not in shown
    assert "raise ValueError" in inspect.getsource(CNN2.__init__).split("self.n_filters =")[0]
    assert CNN2(n_feature=5).n_filters == CNN2(n_filters=5).n_filters == 5
