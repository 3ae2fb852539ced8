"""What the prose of gallery/plot_04_dropout.py says about its own run."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pytest
import torch
from conftest import run_page
from torch import nn

from rpsbook._figures import SITE_WIDTH
from rpsbook.diagrams import dropout_sums, plot_dropout_sums, seeded_dropout

pytestmark = pytest.mark.slow

BOOK_MASK_SEED_44 = torch.tensor([0, 0.4, 0, 0.8, 0, 1.2, 1.4, 1.6, 1.8, 0, 2.2])


@pytest.fixture(scope="module")
def page() -> dict[str, Any]:
    return run_page("plot_04_dropout.py")


def test_outputs_are_zero_or_twice_the_input(page):
    """'Every output is either zero or twice its input'; the layer has no parameters; the
    sum is the kept inputs' sum times 2; eval mode returns the inputs (sum 6.6)."""
    inputs, outputs = page["inputs"], page["output_train"]
    assert torch.equal(outputs[page["kept"]], inputs[page["kept"]] * 2)
    assert (outputs[~page["kept"]] == 0).all()
    assert list(page["dropping_model"].parameters()) == []
    assert page["train_sum"] == pytest.approx(2 * page["kept_sum"], abs=1e-5)
    assert torch.equal(page["output_eval"], inputs)
    assert page["eval_sum"] == pytest.approx(6.6, abs=1e-5)


def test_neither_mask_is_the_books(page):
    """'Neither mask is the book's': seed 44 draws another mask than the book's, and seed 45
    does not drop the 'exactly half' with a sum of 6.4 the book reports."""
    assert not torch.allclose(page["output_train"], BOOK_MASK_SEED_44)
    assert f"{page['sum_45']:.1f}" != "6.4"


def test_functional_dropout_ignores_the_mode(page):
    """F.dropout drops by default (training=True) and nothing with training=False."""
    inputs = page["inputs"]
    with torch.random.fork_rng():
        torch.manual_seed(44)
        assert torch.nn.functional.dropout(inputs, p=0.5).eq(0).any()
    assert torch.equal(torch.nn.functional.dropout(inputs, 0.5, training=False), inputs)


def test_one_mask_per_row(page):
    """The first row of the batch is the mask above; the other rows are other draws."""
    rows = page["batch_output"]
    assert torch.equal(rows[0], page["output_train"])
    assert not torch.equal(rows[1], rows[0]) and not torch.equal(rows[2], rows[0])


def test_sums_mean_and_variance(page):
    """The mean of 1,000 sums is close to 6.6; rpsbook's dropout_sums gives the same sums;
    simulated variances sit close to the exact ones (within 15%); at p=0.9 about a third of
    the sums are zero, at p=0.1 about a third drop nothing (0.9**11 = 0.31)."""
    assert abs(page["sums"].mean().item() - 6.6) < 0.3
    assert all(abs(var - exact) / exact < 0.15 for var, exact, _, _ in page["shares"].values())
    assert 0.25 < page["shares"][0.9][2] < 0.4
    assert 0.25 < page["shares"][0.1][3] < 0.4
    # Fig 6.7's alt text: from under 1 to about 13; at p=0.1 the tallest bar is the
    # no-drop sum, the largest one
    assert page["sums"].min() < 1 and 12 < page["sums"].max() <= 13.2 + 1e-5
    at_01 = dropout_sums(page["inputs"], p=0.1, n=1000, seed=44)
    assert torch.isclose(at_01.round(decimals=4).mode().values, at_01.max())


def test_fig_6_8_tallest_bar_at_p_01_is_the_no_drop_sum(page):
    """'With p=0.1 the same share of draws ... drops nothing: the tallest bar of its panel,
    at its right end, is the largest possible sum, 6.6 / 0.9 = 7.33'; each panel its own
    x-range, in a 2x2 grid no wider than the site."""
    fig = plot_dropout_sums(page["inputs"], page["ps"], n=1000, seed=44, sharex=False)
    assert fig.get_figwidth() <= SITE_WIDTH + 1e-9
    assert len({ax.get_subplotspec().rowspan.start for ax in fig.axes}) == 2
    assert len({ax.get_xlim() for ax in fig.axes}) == 4
    bars = [bar for bar in fig.axes[0].patches if bar.get_height() > 0]
    tallest = max(bars, key=lambda bar: bar.get_height())
    assert tallest is bars[-1]
    assert tallest.get_height() == round(page["shares"][0.1][3] * 1000)
    largest = 6.6 / 0.9
    assert f"{largest:.2f}" == "7.33"
    assert tallest.get_x() < largest < tallest.get_x() + tallest.get_width() < largest + 0.1
    plt.close(fig)


def test_dropout2d_drops_channels_dropout_drops_a_third_of_pixels(page):
    """Regular dropout zeroes roughly a third of every channel's pixels; Dropout2d drops
    whole channels and keeps the others whole; seeded_dropout gives the page's first mask."""
    assert ((page["dropped_pixels"] > 0.25) & (page["dropped_pixels"] < 0.42)).all()
    channels, image = page["channels"], page["image"]
    for c in range(3):
        kept_whole = torch.allclose(channels[c], image[c] / (1 - 0.33))
        assert bool(page["dropped_channels"][c]) != kept_whole
    assert int(page["dropped_channels"].sum()) == 1  # "with this seed, one"
    assert torch.equal(seeded_dropout(page["inputs"], 0.5, seed=44), page["output_train"])


def test_dropout2d_wants_a_batch_and_scales_the_kept_channels(page):
    """The page's Dropout2d call takes (1, 3, 28, 28); a 3-D input warns; a kept channel is
    multiplied by 1.5: positive values grow (brighter), negative ones shrink (darker)."""
    assert tuple(page["channels"].shape) == (3, 28, 28)
    with pytest.warns(UserWarning, match="Received a 3D input"):
        nn.Dropout2d(p=0.33)(page["image"])
    kept = ~page["dropped_channels"]
    image, channels = page["image"][kept], page["channels"][kept]
    assert (image > 0).any() and (image < 0).any()
    assert (channels[image > 0] > image[image > 0]).all()
    assert (channels[image < 0] < image[image < 0]).all()
    assert round(1 / (1 - 0.33), 1) == 1.5


def test_exercise_dropout_ones(page):
    """Ones through dropout: 1 / (1 - p) or 0 in training mode, mean 1 and variance
    p / (1 - p) within a hundredth (100,000 draws); ones with variance 0 in evaluation mode."""
    for p, kept_value in ((0.5, 2.0), (0.2, 1.25)):
        values, mean, variance = page["ex_stats"][p, "train"]
        assert values.tolist() == [0.0, kept_value]
        assert abs(mean - 1) < 0.01 and abs(variance - p / (1 - p)) < 0.01
        values, mean, variance = page["ex_stats"][p, "eval"]
        assert values.tolist() == [1.0] and mean == 1 and variance == 0


def test_exercise_dropout_by_hand(page):
    """The hand-written dropout equals nn.Dropout's outputs bit for bit under the same seed
    (the page's two, and F.dropout at p=0.3); a torch.rand mask keeps other elements."""
    assert page["ex_same_inputs"] and page["ex_same_image"]
    inputs = page["inputs"]
    with torch.random.fork_rng():
        torch.manual_seed(7)
        by_hand = page["my_dropout"](inputs, 0.3)
        torch.manual_seed(7)
        assert torch.equal(by_hand, torch.nn.functional.dropout(inputs, 0.3))
    assert not torch.equal(page["ex_rand_mask"], page["kept"])


def test_exercise_dropout_model_mode(page):
    """20 calls of an untrained CNN2(5, p=0.5) on 16 validation images: in training mode
    most images change class, in evaluation mode none does."""
    assert page["ex_flips"]["eval"] == 0
    assert page["ex_flips"]["train"] > 8
