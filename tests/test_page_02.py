"""What the prose of gallery/plot_02_three_channel_convolutions.py says about its own run."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import run_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page() -> dict[str, Any]:
    return run_page("plot_02_three_channel_convolutions.py")


def test_worked_example_is_18_13_8_and_39(page):
    """The channel sums 18, 13 and 8 add up to 39, which F.conv2d gives too."""
    assert page["channel_sums"].tolist() == [18.0, 13.0, 8.0]
    assert page["total"].item() == 39.0 and torch.equal(page["total"], page["conv_value"])
    assert torch.equal(page["steps"].products, page["products"])


def test_one_filter_one_channel_two_filters_two(page):
    """A 3@5x5 image gives 1@3x3 with one filter, 2@3x3 with two; on a 3@28x28 picture a
    Conv2d with two 3x3 filters gives 2@26x26 and a (2, 3, 3, 3) weight."""
    image, filters = page["image"], page["filters"]
    assert tuple(image.shape) == (3, 5, 5) and tuple(filters.shape) == (2, 3, 3, 3)
    assert torch.equal(filters[0], page["book_filter"])
    assert tuple(page["feature_maps"].shape) == (1, 2, 26, 26)
    assert tuple(page["conv"].weight.shape) == (2, 3, 3, 3)


def test_top_left_value_is_the_worked_example_plus_bias(page):
    """'equal up to rounding': the hand-made corner value and Conv2d's agree to 1e-6."""
    assert torch.allclose(page["by_hand"], page["feature_maps"][0, 0, 0, 0], atol=1e-6)


def test_each_dimension_shrinks_by_two_one_pixel_per_edge(page):
    """'height and width each shrank by two, one pixel from each edge': the output's corner
    values come from the picture's corner windows, whose centres are one pixel in."""
    picture, conv, maps = page["picture"], page["conv"], page["feature_maps"][0]
    assert maps.shape[-2:] == (picture.shape[-2] - 2, picture.shape[-1] - 2)
    with torch.no_grad():
        for window, corner in ((picture[:, :3, :3], (0, 0)), (picture[:, -3:, -3:], (-1, -1))):
            expected = (window * conv.weight[1]).sum() + conv.bias[1]
            assert torch.allclose(expected, maps[1][corner], atol=1e-5)


def test_exercise_a_conv2d_layer_by_hand(page):
    """Nine shifted windows times the weights, summed over channels, plus the bias: both
    26x26 maps of Conv2d to float32 rounding (of the order of 1e-6)."""
    assert tuple(page["ex_maps"].shape) == (2, 26, 26)
    assert page["ex_gap"] < 1e-5
    assert torch.allclose(page["ex_maps"], page["feature_maps"][0], rtol=0, atol=1e-5)


def test_exercise_output_shapes_and_parameter_counts(page):
    """floor((28 + 2p - k) / s) + 1 per side and 8 * 3 * k * k + 8 parameters, whatever the
    stride and padding."""
    assert page["ex_shapes"] == {
        (3, 1, 0): (8, 26, 26),
        (5, 1, 0): (8, 24, 24),
        (3, 1, 1): (8, 28, 28),
        (3, 2, 0): (8, 13, 13),
        (3, 2, 1): (8, 14, 14),
        (7, 3, 2): (8, 9, 9),
    }
    assert page["ex_counts"] == {(k, s, p): 8 * 3 * k * k + 8 for k, s, p in page["ex_counts"]}
    assert set(page["ex_counts"].values()) == {224, 608, 1184}


def test_exercise_a_filter_with_three_equal_slices(page):
    """Equal slices: the channels' sum convolved with one slice, blind to a shuffle of the
    channels; conv's random first filter is not."""
    assert page["ex_as_sum"]
    assert page["ex_unchanged"] == {"equal slices": True, "conv's first": False}
