"""The claims of gallery/plot_11_schedulers_on_the_regression.py, on its run's namespace.

Only relations with a wide margin are asserted: the regression's numbers move in their last
digits with the CPU's float kernels.
"""

from __future__ import annotations

import itertools
import runpy
import warnings
from pathlib import Path

import numpy as np
import pytest

PAGE = Path(__file__).resolve().parents[1] / "gallery" / "plot_11_schedulers_on_the_regression.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page() -> dict:
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the page runs without a warning
        namespace = runpy.run_path(str(PAGE), run_name="__main__")
    plt.close("all")
    return namespace


def test_smoothed_curve_is_the_ewma_of_the_raw_losses(page):
    """'each point is 5 % of the current raw loss plus 95 % of the previous point'."""
    for result in page["range_tests"].values():
        smoothed, raw = np.array(result.loss), np.array(result.raw_loss)
        assert smoothed[0] == raw[0]
        np.testing.assert_allclose(smoothed[1:], 0.05 * raw[1:] + 0.95 * smoothed[:-1], rtol=1e-9)


def test_smoothed_curve_above_the_raw_losses_on_the_way_down(page):
    """'the smoothed curve (dark) above the raw losses (faint) for the whole descent'."""
    for result in page["range_tests"].values():
        smoothed, raw = np.array(result.loss[:90]), np.array(result.raw_loss[:90])
        assert (smoothed > raw).mean() > 0.9


def test_nesterov_diverges_at_the_end_and_the_average_turns_up_late(page):
    """Nesterov's last raw losses 'jump by two orders of magnitude'; the smoothed curve
    'turns up late and little'."""
    nesterov = page["range_tests"]["Nesterov"]
    assert nesterov.raw_loss[-1] > 100 * nesterov.raw_loss[-5]
    assert nesterov.raw_loss[-1] > 10 * nesterov.loss[-1]


def test_momentum_swings_but_has_not_blown_up(page):
    """Momentum's last raw losses 'swing up and down, by more than a factor of two from one
    step to the next', but 'have not blown up by a rate of 1'."""
    last = page["range_tests"]["Momentum"].raw_loss[-5:]
    ratios = [max(a, b) / min(a, b) for a, b in itertools.pairwise(last)]
    assert max(ratios) > 2
    assert max(last) < 4 * min(page["range_tests"]["Momentum"].loss)


def test_book_rate_well_below_where_nesterov_turns_up(page):
    """0.1 is 'well below the rate where Nesterov's loss turns up'."""
    nesterov = page["range_tests"]["Nesterov"]
    turn = nesterov.lr[nesterov.loss.index(min(nesterov.loss))]
    assert turn > 3 * 0.1


def test_cyclic_closer_and_steplr_farther_than_the_constant_rate(page):
    """CyclicLR with momentum ends closer to the optimum than the constant rate; both StepLR
    runs end farther than their constant-rate twins."""
    d = page["distances"]
    assert d["Momentum + CyclicLR"] < d["Momentum + no scheduler"] / 2
    for flavour in ("Momentum", "Nesterov"):
        assert d[f"{flavour} + StepLR"] > 1.3 * d[f"{flavour} + no scheduler"]


def test_steplr_untouched_for_twenty_updates_and_cyclic_cycles_momentum(page):
    results = page["results"]
    for flavour in ("Momentum", "Nesterov"):
        step, constant = results[f"{flavour} + StepLR"], results[f"{flavour} + no scheduler"]
        assert step.learning_rates[:20] == [0.1] * 20 and step.learning_rates[20] == 0.05
        assert np.array_equal(step.path[:21].numpy(), constant.path[:21].numpy())
        momentum = results[f"{flavour} + CyclicLR"].optimizer_state["param_groups"][0]
        assert momentum["momentum"] < 0.9


def test_only_nesterov_with_cyclic_falls_every_epoch_in_its_row(page):
    """'in the Nesterov row only the CyclicLR run lowers its training loss at every epoch';
    in the momentum row the StepLR run bumps up after its first cut."""
    falls = page["falls_every_epoch"]
    assert falls["Nesterov + CyclicLR"]
    assert not falls["Nesterov + no scheduler"] and not falls["Nesterov + StepLR"]
    assert not falls["Momentum + StepLR"]
