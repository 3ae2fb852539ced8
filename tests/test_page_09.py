"""The claims of gallery/plot_09_epoch_schedulers.py, on the namespace its run leaves."""

from __future__ import annotations

import itertools
import runpy
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import StepLR

PAGE = Path(__file__).resolve().parents[1] / "gallery" / "plot_09_epoch_schedulers.py"


@pytest.fixture(scope="module")
def page() -> dict:
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the page runs without a warning
        namespace = runpy.run_path(str(PAGE), run_name="__main__")
    plt.close("all")
    return namespace


pytestmark = pytest.mark.slow


def test_steplr_two_epochs_per_rate(page):
    """'Two epochs at 0.01, two at 0.001' (and the LambdaLR staircase is the same)."""
    assert page["step_lrs"][:4] == [0.01, 0.01, 0.001, 0.001]
    assert page["lambda_lrs"] == pytest.approx(page["step_lrs"], rel=1e-12)


def test_scheduler_stepped_first_skips_a_value_and_warns():
    """'Stepping the scheduler before the optimizer would skip the schedule's first value
    ... and PyTorch warns'."""
    optimizer = SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
    scheduler = StepLR(optimizer, step_size=2, gamma=0.1)
    used = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            scheduler.step()
            used.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
    assert used == pytest.approx([0.01, 0.001, 0.001, 0.0001])
    assert any("before `optimizer.step()`" in str(w.message) for w in caught)


def test_epoch_rules_that_rise(page):
    """MultiStepLR keeps its first rate three epochs; the cosine reaches zero at epoch 5 and
    climbs back (0.009 at epoch 9); the warm-up rises from 0.0025 to 0.01 over four epochs."""
    lrs = page["more_epoch_lrs"]
    assert lrs["MultiStepLR([3, 6], 0.1)"][:4] == pytest.approx([0.01, 0.01, 0.01, 0.001])
    cosine = lrs["CosineAnnealingLR(T_max=5)"]
    assert cosine[5] == pytest.approx(0.0, abs=1e-12)
    assert all(a < b for a, b in itertools.pairwise(cosine[5:]))  # climbing back
    assert f"{cosine[9]:.2g}" == "0.009"
    warm_up = lrs["LambdaLR(min(1, (epoch+1)/4))"]
    assert warm_up[:4] == pytest.approx([0.0025, 0.005, 0.0075, 0.01])
    assert warm_up[4:] == pytest.approx([0.01] * 6)


def test_plateau_cuts_after_six_then_five_epochs(page):
    """Figure 6.25: 0.01 for six epochs, 0.001 for five, then 0.0001."""
    assert page["plateau_lrs"] == pytest.approx([0.01] * 6 + [0.001] * 5 + [0.0001])


def test_threshold_decides_what_counts_as_improvement(page):
    """'the creeping loss gets exactly the cuts of the flat one; with threshold=0 the rate
    is never cut'."""
    creeping = page["creeping_lrs"]
    assert creeping[1e-4] == page["plateau_lrs"]
    assert creeping[0.0] == [0.01] * 12


def test_hand_written_loop_matches_the_trainer(page):
    """Every mini-batch of an epoch uses the same rate; StepByStep gives the same rates."""
    assert page["hand_lrs"] == [0.1] * 10 + [0.05] * 10
    assert page["sbs"].step_lrs == page["hand_lrs"]
