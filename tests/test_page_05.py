"""What the prose of gallery/plot_05_model_training.py says about its own run.

Only relations that hold with a margin wider than the spread between CPUs and thread
counts (benchmarks/variation.json), and counts that held on every machine measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import run_page

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture(scope="module")
def page(real_data_dir: Path) -> dict[str, Any]:
    return run_page("plot_05_model_training.py", real_data_dir)


def test_adam_state_is_shaped_like_the_parameters(page):
    """'tensors shaped like the parameters': exp_avg and exp_avg_sq after one step."""
    probe, optimizer = page["probe"], page["probe_optimizer"]
    for param in probe.parameters():
        state = optimizer.state[param]
        assert state["exp_avg"].shape == state["exp_avg_sq"].shape == param.shape
        assert int(state["step"]) == 1
    assert sum(p.numel() for p in probe.parameters()) == 6823


def test_first_adam_step_moves_each_parameter_with_a_gradient_by_lr(page):
    """'every parameter with a non-zero gradient moves by the learning rate itself', the
    others not at all; 'the initial weights, all below 0.2'."""
    ratio = page["step_in_lr"]
    assert 0.95 < ratio.min().item() <= ratio.max().item() < 1.001
    assert (page["moved"][~page["has_grad"]] == 0).all()
    assert 0 < page["has_grad"].sum() < page["has_grad"].numel()
    assert max(t.abs().max().item() for t in page["initial"]) < 0.2


def test_dropout_raises_the_training_loss_in_every_epoch(page):
    """'the training loss is higher with dropout, in every epoch'."""
    with_dropout, without = page["sbs_cnn2"].losses, page["sbs_cnn2_nodrop"].losses
    assert len(with_dropout) == len(without) == 10
    assert all(d > n for d, n in zip(with_dropout, without, strict=True))
    assert without[-1] < with_dropout[-1] / 2


def test_validation_loss_without_dropout_lower_for_three_epochs_then_higher(page):
    """'For the first three epochs the model without dropout has the lower validation
    loss too ... From the fourth epoch on its validation loss is the higher one, and it no
    longer falls much, while its training loss keeps falling'."""
    val_p3, val_p0 = page["sbs_cnn2"].val_losses, page["sbs_cnn2_nodrop"].val_losses
    assert all(val_p0[i] < val_p3[i] for i in range(3))
    assert all(val_p0[i] > val_p3[i] for i in range(3, 10))
    assert min(val_p0[3:]) > 0.8 * val_p0[3]
    train_p0 = page["sbs_cnn2_nodrop"].losses
    assert train_p0[-1] < train_p0[3] / 4


def test_accuracy_claims(page):
    """Nearly perfect on the training images; most validation errors are paper; the gap
    is about half as wide with dropout, which gives up a little training accuracy for much
    more validation accuracy. The counts are the notebook's on every machine measured."""
    val_counts = page["val_counts"]
    assert val_counts.tolist() == [[92, 124], [118, 124], [120, 124]]
    assert page["train_counts"].sum(dim=0).tolist() == [2504, 2520]
    assert page["val_counts_nodrop"].sum(dim=0).tolist() == [292, 372]
    assert page["train_counts_nodrop"].sum(dim=0).tolist() == [2514, 2520]
    errors = val_counts[:, 1] - val_counts[:, 0]
    assert errors[0] > errors.sum() / 2  # paper
    accuracy = page["accuracy"]
    assert accuracy["p=0"][0] > 0.99 and accuracy["p=0.3"][0] > 0.99
    gap = {name: train - val for name, (train, val) in accuracy.items()}
    assert 0.4 < gap["p=0.3"] / gap["p=0"] < 0.6
    lost = accuracy["p=0"][0] - accuracy["p=0.3"][0]
    gained = accuracy["p=0.3"][1] - accuracy["p=0"][1]
    assert 0 < lost < gained / 5


def test_filter_shapes(page):
    """Five 3x3 filters over three channels, then over five."""
    model = page["model_cnn2"]
    assert model.conv1.weight.shape == torch.Size([5, 3, 3, 3])
    assert model.conv2.weight.shape == torch.Size([5, 5, 3, 3])
