"""The claims of gallery/plot_10_cyclical_schedulers.py, on the namespace its run leaves."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from conftest import run_page
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import CyclicLR, OneCycleLR

from rpsbook.training import record_lrs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page() -> dict:
    return run_page("plot_10_cyclical_schedulers.py")


def test_tops_of_the_three_modes(page):
    """Steps 2, 6, 10 are the tops: triangular reaches max_lr each time, triangular2 halves
    the distance to base_lr, exp_range never reaches max_lr and decays faster."""
    tops = {mode: [lrs[t] for t in (2, 6, 10)] for mode, lrs in page["cyclic_lrs"].items()}
    assert tops["triangular"] == pytest.approx([1e-3] * 3)
    assert tops["triangular2"] == pytest.approx([1e-3, 5.5e-4, 3.25e-4])
    assert all(e < t for e, t in zip(tops["exp_range"], tops["triangular2"], strict=True))
    assert tops["exp_range"][0] < 1e-3
    assert all(lrs[0] == pytest.approx(1e-4) for lrs in page["cyclic_lrs"].values())
    assert all(len(lrs) == 12 for lrs in page["cyclic_lrs"].values())  # the book's 12 steps


def test_smith_cycle_of_five_epochs(page):
    """158 mini-batches per epoch, step_size_up = 395: two triangles in 10 epochs."""
    assert page["n_batches_rps"] == 158
    assert page["step_size_up"] == 395
    realistic = page["realistic"]
    assert len(realistic) == 1580
    assert realistic[395] == pytest.approx(1e-2) and realistic[1185] == pytest.approx(1e-2)
    assert realistic[790] == pytest.approx(1e-3)


def test_hand_written_mini_batch_loop_matches_the_trainer(page):
    """'StepByStep gives the same rates' for CyclicLR and CosineAnnealingWarmRestarts."""
    assert page["trainer_lrs"] == page["hand_lrs"]
    cyclic = page["hand_lrs"]["cyclic"]
    assert cyclic[0] == pytest.approx(0.025) and cyclic[10] == pytest.approx(0.1)
    assert cyclic[20] == pytest.approx(0.025)
    # the third figure's alt text: the second climb has half the slope, towards 0.0625
    climb = [lr - 0.025 for lr in cyclic[20:30]]
    assert climb == pytest.approx([(lr - 0.025) / 2 for lr in cyclic[:10]])
    assert 0.025 + 10 * (climb[1] - climb[0]) == pytest.approx(0.0625)
    restarts = page["hand_lrs"]["warm_restarts"]
    assert restarts[0] == 0.1 and all(a > b for a, b in itertools.pairwise(restarts[:10]))
    assert restarts[10] == pytest.approx(0.1) and restarts[20] == pytest.approx(0.1)


def test_warm_restarts_without_argument_restart_every_two_mini_batches(page):
    naive = page["naive_lrs"]
    assert naive[0::2] == pytest.approx([0.1] * 15)
    assert naive[1::2] == pytest.approx([0.05] * 15)


def test_cyclic_lr_overwrites_rate_and_momentum():
    """It starts at base_lr, and cycles SGD's momentum between 0.9 and 0.8 unless told not."""
    for cycle_momentum, expected in ((True, (0.9, 0.8)), (False, (0.0, 0.0))):
        optimizer = SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
        scheduler = CyclicLR(
            optimizer, base_lr=1e-4, max_lr=1e-3, step_size_up=2, cycle_momentum=cycle_momentum
        )
        group = optimizer.param_groups[0]
        assert (group["lr"], group["momentum"]) == pytest.approx((1e-4, expected[0]))
        for _ in range(2):
            optimizer.step()
            scheduler.step()
        assert (group["lr"], group["momentum"]) == pytest.approx((1e-3, expected[1]))


def test_one_cycle_peaks_and_refuses_to_run_past_the_end(page):
    assert max(page["one_cycle_lrs"]) == pytest.approx(0.1)
    assert page["one_cycle_lrs"][-1] < page["one_cycle_lrs"][0] / 1000
    with pytest.raises(ValueError, match="total steps is 20"):
        record_lrs(lambda opt: OneCycleLR(opt, max_lr=0.1, total_steps=20), 21)


# Exercises: the property each worked solution demonstrates.


def test_exercise_triangular2_third_peak(page):
    """Peaks at steps 5, 15, 25 (a cycle of 10 from base_lr), at 0.01, 0.0055 and 0.00325:
    the height above base_lr halves every cycle."""
    lrs = page["ex_triangular2"]
    assert page["ex_peaks"] == [5, 15, 25]
    assert [lrs[t] for t in page["ex_peaks"]] == pytest.approx([0.01, 0.0055, 0.00325])
    assert lrs[0] == lrs[10] == lrs[20] == pytest.approx(0.001)


def test_exercise_cyclic_adam(page):
    """Adam's beta1 is cycled against the rate, 0.9 at the bottom, 0.8 at the top; Adagrad is
    refused with cycle_momentum on."""
    assert page["ex_adam_beta1"] == pytest.approx([0.9, 0.85, 0.8, 0.85, 0.9])
    assert "momentum or beta1" in page["ex_adagrad_error"]


def test_exercise_one_cycle_by_hand(page):
    """The rates by hand are torch's (float64 rounding); the peak, max_lr, is step 5; the
    first is max_lr / 25, the last max_lr / 25 / 1e4; the first climbing step covers
    (1 - cos(pi/5))/2 of the climb, under a tenth."""
    lrs = page["one_cycle_lrs"]
    assert page["ex_hand_lrs"] == pytest.approx(lrs, rel=1e-12, abs=0)
    assert page["ex_peak"] == 5 and lrs[5] == pytest.approx(0.1)
    assert (lrs[0], lrs[-1]) == pytest.approx((0.004, 4e-7))
    covered = (lrs[1] - lrs[0]) / (lrs[5] - lrs[0])
    assert covered == pytest.approx((1 - math.cos(math.pi / 5)) / 2) and covered < 0.1
