"""The claims of gallery/plot_09_epoch_schedulers.py, on the namespace its run leaves."""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
from conftest import run_page
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import StepLR


@pytest.fixture(scope="module")
def page() -> dict:
    return run_page("plot_09_epoch_schedulers.py")


pytestmark = pytest.mark.slow


def test_steplr_two_epochs_per_rate(page):
    """'Two epochs at 0.01, two at 0.001'; over the book's 12 steps the LambdaLR staircase is
    the same, 'down to 1e-7 at epochs 10 and 11'."""
    assert page["step_lrs"][:4] == [0.01, 0.01, 0.001, 0.001]
    assert len(page["lambda_lrs"]) == 12
    assert page["lambda_lrs"] == pytest.approx(page["step_lrs"], rel=1e-12)
    assert page["lambda_lrs"][10:] == pytest.approx([1e-7, 1e-7], rel=1e-9)


def test_figures_as_drawn(page):
    """Figure 6.24 is the LambdaLR alone, as in the book; the four other rules are two by
    two, on log axes where the rate falls tenfold and linear ones where it reaches zero."""
    (fig_624,) = [f for label, f in page["figures"].items() if label.startswith("Figure 6.24 ")]
    (panel,) = fig_624.axes
    assert panel.get_yscale() == "log" and len(panel.get_lines()) == 2  # staircase, markers
    axes = page["axes"]
    assert axes.shape == (2, 2)
    assert [ax.get_yscale() for ax in axes.flat] == ["log", "log", "linear", "linear"]
    assert [ax.get_title() for ax in axes.flat] == list(page["more_epoch_lrs"])
    width, _ = axes[0, 0].figure.get_size_inches()
    from rpsbook._figures import SITE_WIDTH

    assert width <= SITE_WIDTH


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
    """Figure 6.25: 0.01 for six epochs, 0.001 for five, then 0.0001: after a cut, four bad
    epochs are tolerated and the fifth cuts again."""
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


def test_books_trainer_would_fail_on_a_plateau_scheduler_without_validation():
    """Notes: the book's trainer passes ``None`` as the validation loss, and torch raises a
    TypeError from ``float(None)``."""
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    scheduler = ReduceLROnPlateau(SGD([nn.Parameter(torch.zeros(1))], lr=0.01))
    with pytest.raises(TypeError, match="NoneType"):
        scheduler.step(None)


# Exercises: the property each worked solution demonstrates.


def test_exercise_steplr_epoch_7(page):
    """Epoch 7 uses 0.01 * 0.1 ** (7 // step_size): 1e-05 with step_size=2, 0.0001 with 3."""
    assert page["ex_epoch_7"] == {2: pytest.approx(1e-5), 3: pytest.approx(1e-4)}


def test_exercise_epoch_rules_by_hand(page):
    """The closed formulas give torch's ExponentialLR and MultiStepLR rates to float64
    rounding (epoch 3 already at 0.001)."""
    for name, lrs in page["ex_by_hand"].items():
        assert lrs == pytest.approx(page["more_epoch_lrs"][name], rel=1e-14, abs=0)
    assert page["ex_by_hand"]["MultiStepLR([3, 6], 0.1)"][3] == pytest.approx(0.001)


def test_exercise_plateau_patience(page):
    """patience=0 halves the rate after every loss that fails to beat the best (epochs 4, 6,
    7, 9 to 13, down to 0.01 / 256); patience=4 tolerates the short stalls and cuts once,
    from epoch 13."""
    assert page["ex_cut_epochs"] == {0: [4, 6, 7, 9, 10, 11, 12, 13], 4: [13]}
    assert page["ex_plateau_lrs"][0][-1] == pytest.approx(0.01 / 2**8, rel=1e-12)
    assert page["ex_plateau_lrs"][4][-2:] == [0.01, 0.005]
