"""What the prose of gallery/plot_01_data_preparation.py says about its own run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import book_column, run_page
from torchvision.datasets import ImageFolder

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture(scope="module")
def page(real_data_dir: Path) -> dict[str, Any]:
    return run_page("plot_01_data_preparation.py", real_data_dir)


def test_splits_classes_and_batches(page):
    """2,520 training and 372 validation pictures; paper=0, rock=1, scissors=2; 840 per
    class; 158 and 24 mini-batches of 16; target_transform turns label 0 into 'paper'."""
    assert len(page["temp_dataset"]) == 2520 and len(page["val_data"]) == 372
    assert page["named"].class_to_idx == {"paper": 0, "rock": 1, "scissors": 2}
    assert page["named"][0][1] == "paper"
    assert page["class_counts"].tolist() == [840, 840, 840]
    assert (len(page["train_loader"]), len(page["val_loader"])) == (158, 24)


def test_only_the_training_loader_shuffles(page):
    """'only the training one shuffles'."""
    assert isinstance(page["train_loader"].sampler, torch.utils.data.RandomSampler)
    assert isinstance(page["val_loader"].sampler, torch.utils.data.SequentialSampler)


def test_from_scratch_equals_rpsbook(page):
    """The three 'gives the same' lines print True, and the division is sum / count."""
    stats = page["rpsbook"].data.statistics_per_channel(page["first_images"], None)
    assert torch.equal(page["first_stats"], stats)
    assert page["first_stats"][0].tolist() == [16.0] * 3
    assert torch.equal(page["mean"], page["totals"][1] / 2520)
    assert torch.equal(torch.tensor(page["library_normalizer"].std), page["std"])
    assert page["rps"].mean == page["mean"].tolist() and all(page["same_batches"])


def test_statistics_relations(page):
    """Means high (white background); the pooled std is larger than the mean of per-image
    stds; the validation set's statistics differ; the book's first-batch sums are close to
    ours (within 10%) but not equal; the notebook's normalizer on this copy to 4 decimals."""
    mean, std = page["mean"], page["std"]
    assert (mean > 0.8).all()
    assert (page["pooled_std"] > std).all()
    val_mean = page["val_stats"][1] / page["val_stats"][0]
    assert not torch.allclose(val_mean, mean, atol=1e-2)
    book_means = torch.tensor([13.8748, 13.3048, 13.1962])
    book_stds = torch.tensor([3.0507, 3.8268, 3.9754])
    for ours, book in ((page["first_stats"][1], book_means), (page["first_stats"][2], book_stds)):
        assert not torch.equal(ours, book)
        assert ((ours - book).abs() / book < 0.1).all()
    assert [round(v, 4) for v in mean.tolist()] == [0.8489, 0.8198, 0.8098]
    assert [round(v, 4) for v in std.tolist()] == [0.2165, 0.2600, 0.2748]


def test_standardized_background_positive_hand_negative(page):
    """'the white background ... sits at a small positive value, and the hand ... negative'."""
    assert ((page["background"] > 0) & (page["background"] < 1)).all()
    assert page["images"].min() < -1


def test_imagefolder_optional_arguments():
    """'transform, target_transform, loader, is_valid_file and, in recent torchvision,
    allow_empty': exactly the optional arguments of the installed ImageFolder."""
    import inspect

    parameters = inspect.signature(ImageFolder.__init__).parameters
    optional = {name for name, p in parameters.items() if p.default is not p.empty}
    named = {"transform", "target_transform", "loader", "is_valid_file"}
    assert named <= optional <= named | {"allow_empty"}
    source = (Path(__file__).parents[1] / "gallery/plot_01_data_preparation.py").read_text()
    assert all(f"``{name}``" in source for name in named | {"allow_empty"})


def test_checked_rows_say_where_each_book_number_comes_from():
    """Each 'book' column names its source: the printed book or the book's notebook on
    this 28x28 copy, never a bare number."""
    texts = book_column("plot_01_data_preparation.py")
    assert len(texts) == 7
    for text in texts:
        assert "printed in the book" in text or "the book's" in text, text
    assert sum("on this 28x28 copy" in text for text in texts) == 3


def test_exercise_the_validation_split_on_the_trainings_scale(page):
    """The normalized validation split's statistics are the predicted (m' - m) / s and
    s' / s to float rounding: means about 0.14 to 0.26, stds about 0.63 to 0.83, not 0, 1."""
    assert torch.allclose(page["ex_predicted"], page["ex_measured"], rtol=0, atol=1e-5)
    means, stds = page["ex_measured"]
    assert ((means > 0.13) & (means < 0.27)).all() and ((stds > 0.62) & (stds < 0.84)).all()


def test_exercise_statistics_without_a_loader(page):
    """Sums over batches of 16 or of 300 + 72 equal the statistics by hand to float rounding;
    the mean of the two batches' averages is off in the third decimal."""
    ways = page["ex_ways"]
    by_hand = ways["by hand, 372 at once"]
    for name in ("sums, batches of 16", "sums, 300 + 72"):
        assert torch.allclose(ways[name], by_hand, rtol=0, atol=1e-6), name
    off = (ways["mean of averages, 300 + 72"] - by_hand).abs().max()
    assert 1e-3 < off < 1e-2


def test_exercise_no_normalizer(page):
    """Unnormalized, the batch lies in [0, 1] with channel means about 0.85; normalized, it
    is the same pictures through (x - mean) / std, spread on both sides of zero with means
    within a fraction of one of zero and a spread of about one."""
    raw, normalized = page["ex_raw"], page["images"]
    assert page["ex_same"] and torch.equal(page["ex_labels"], page["labels"])
    assert raw.min() >= 0 and raw.max() <= 1
    assert ((raw.mean(dim=(0, 2, 3)) > 0.8) & (raw.mean(dim=(0, 2, 3)) < 0.9)).all()
    assert normalized.min() < -1 and normalized.max() > 0
    assert (normalized.mean(dim=(0, 2, 3)).abs() < 0.5).all()
    assert 0.7 < normalized.std() < 1.3
