"""What the prose of gallery/plot_03_fancier_model.py says about its own run."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
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


def test_exercise_parameters_as_a_function_of_the_number_of_filters(page):
    """Per layer 28n, 9n^2 + n, 1250n + 50 and 153: 13,893 for n = 10, nine in ten in fc1;
    conv2 overtakes fc1 at n = 139, not at 138."""
    counted = page["ex_counted"]
    assert page["ex_crossover"] == 139 and list(counted) == [10, 138, 139]
    assert all(counted[n] == page["ex_predicted"][n] for n in counted)
    assert counted[10] == [280, 910, 12550, 153] and sum(counted[10]) == 13893
    assert 0.9 < counted[10][2] / sum(counted[10]) < 1
    assert counted[138][1] < counted[138][2] and counted[139][1] > counted[139][2]


def test_exercise_pictures_of_another_size(page):
    """The featurizer runs on any side; fc1 takes 125 features only, which sides 26 to 29
    give (5@5x5); 32x32 gives 180 features and fails."""
    features = page["ex_features"]
    assert page["ex_accepted"] == [26, 27, 28, 29]
    assert [side for side, n in features.items() if n == 125] == page["ex_accepted"]
    assert features[32] == 180 and set(features.values()) == {80, 125, 180}


def test_exercise_max_pooling_by_hand(page):
    """2x2 blocks and amax equal F.max_pool2d bit for bit, on 26x26 and on 11x11 maps: 5@13x13
    and 5@5x5; the 21 values of an 11x11 map's last row and column never count."""
    assert page["ex_equal"] == {"conv1": True, "conv2": True}
    maps = page["ex_relu2"]
    assert tuple(maps.shape) == (16, 5, 11, 11)
    assert tuple(page["ex_pooled"].shape) == (16, 5, 5, 5)
    changed = maps.clone()
    changed[..., 10, :] = changed[..., :, 10] = 1e6
    assert torch.equal(F.max_pool2d(changed, 2), F.max_pool2d(maps, 2))
    assert not torch.equal(changed, maps) and (changed != maps).sum() <= 16 * 5 * 21
