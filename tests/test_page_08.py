"""What the prose of gallery/plot_08_sgd_flavours.py says about its own run."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from conftest import run_page

import rpsbook.ewma

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page() -> dict[str, Any]:
    return run_page("plot_08_sgd_flavours.py")


def _first(mask: torch.Tensor) -> int:
    """Index of the first True."""
    return int(mask.nonzero()[0, 0])


def test_momentum_is_a_sum_of_weight_ten(page):
    """A constant gradient adds up towards ten times itself for beta = 0.9."""
    steady = page["calc_momentum"](page["ones"], 0.9)
    assert steady[-1].item() == pytest.approx(10, abs=0.06)
    assert (steady.diff() > 0).all()


def test_momentum_is_the_ewma_scaled_by_one_over_one_minus_beta(page):
    """'The sum is exactly 1/(1-beta) times the EWMA (from zero, uncorrected)', on the
    run's gradients (float64: the identity, not float32 rounding, is the claim)."""
    grads = page["grads"].reshape(-1).double()
    scaled_ewma = rpsbook.ewma.calc_ewma(grads, beta=0.9) / (1 - 0.9)
    assert torch.allclose(page["calc_momentum"](grads, 0.9), scaled_ewma, rtol=1e-12, atol=1e-15)


def test_from_scratch_equals_rpsbook_and_torch_state(page):
    """The 'same as rpsbook's' lines print True, the hidden momentum_buffer guard holds;
    replaying the book-shaped terms reproduces the
    SGD and momentum paths exactly, the Nesterov path to float32 rounding."""
    assert page["same_momentum"] and page["same_buffer"] and page["same_nesterov"]
    for name, result in page["results"].items():
        term = page["update_terms"][name]
        bias, weight = term(result.gradients["bias"]), term(result.gradients["weight"])[:, 0]
        replayed = result.path[:-1] - 0.1 * torch.cat([bias, weight], 1)
        error = (replayed - result.path[1:]).abs().max().item()
        assert error == 0 if name != "Nesterov" else error <= 2.5e-7


def test_figure_6_21_and_its_table(page):
    """Momentum: the gradient turns positive on step 4, the term three steps later.
    Nesterov: the term starts almost twice as large, shrinks from the first step without
    crossing zero, dips around step 12 (its largest value after step 10), and first crosses
    zero after twenty steps. The table: Nesterov changes sign far less often, varies about
    half as much, and its late maximum is about half of momentum's."""
    grads = {name: g.reshape(-1) for name, g in page["own_gradients"].items()}
    terms = page["own_terms"]
    assert _first(grads["Momentum"] > 0) == 3 and _first(terms["Momentum"] > 0) == 6
    nesterov = terms["Nesterov"]
    assert nesterov[0] == pytest.approx(1.9 * grads["Nesterov"][0])
    assert all(b > a for a, b in itertools.pairwise(nesterov[:7].tolist()))
    assert (nesterov[:20] < 0).all()
    assert 10 <= 10 + nesterov[10:].abs().argmax().item() <= 12  # steps 11-13
    changes, variation, late = (page[k] for k in ("sign_changes", "variation", "largest_late"))
    assert 2 * changes["Nesterov"] <= changes["Momentum"]
    assert 0.35 < variation["Nesterov"] / variation["Momentum"] < 0.65
    assert 0.4 < late["Nesterov"] / late["Momentum"] < 0.7


def test_figures_6_22_and_6_23(page):
    """Nesterov swings less far across the valley than momentum, passes the minimum in w
    and ends much closer to it. Nesterov's training loss is the lowest at every epoch;
    SGD's and momentum's fall every epoch; momentum's validation loss goes back up.
    Figure 6.23 is drawn in the book's layout, one panel per flavour."""
    fig = page["fig"]
    assert [ax.get_title() for ax in fig.axes] == ["SGD", "Momentum", "Nesterov"]
    swing, overshoot, distance = (page[k] for k in ("swing", "w_overshoot", "distance"))
    assert swing["SGD"] < swing["Nesterov"] < swing["Momentum"]
    assert 0 < overshoot["Nesterov"] < overshoot["Momentum"]
    assert distance["Nesterov"] < distance["Momentum"] / 2 < distance["SGD"]
    losses = {name: result.losses for name, result in page["results"].items()}
    assert all(
        n < min(s, m)
        for n, s, m in zip(losses["Nesterov"], losses["SGD"], losses["Momentum"], strict=True)
    )
    for name in ("SGD", "Momentum"):
        assert all(b < a for a, b in itertools.pairwise(losses[name]))
    val = page["results"]["Momentum"].val_losses
    assert any(b > 2 * a for a, b in itertools.pairwise(val))


# Exercises: the property each worked solution demonstrates.


def test_exercise_momentum_build_up(page):
    """A constant gradient's momentum passes 90% of 1/(1 - beta) on step 22 (beta 0.9) and
    230 (beta 0.99), where beta**t falls below 0.1, and not a step earlier."""
    assert page["build_up"] == {0.9: 22, 0.99: 230}
    for beta, step in page["build_up"].items():
        assert beta**step < 0.1 <= beta ** (step - 1)


def test_exercise_nesterov_by_hand(page):
    """SGD(nesterov=True) fed the run's gradients retraces the run's w exactly; the update
    by hand to float32 rounding."""
    run_w = page["results"]["Nesterov"].path[1:, 1]
    assert torch.equal(torch.stack(page["torch_path"]), run_w)  # prints 0.0e+00
    assert (torch.stack(page["hand_path"]) - run_w).abs().max() < 1e-6
    assert len(page["hand_path"]) == 50


def test_exercise_less_momentum(page):
    """momentum 0.5: b swings less far than with 0.9, w never passes the optimum's, and it
    ends several times farther from the optimum than momentum 0.9, closer than SGD."""
    assert page["half_swing"] < page["swing"]["Momentum"]
    assert page["half_overshoot"] < 0 < page["w_overshoot"]["Momentum"]
    distance = page["distance"]
    assert 3 * distance["Momentum"] < page["half_distance"] < distance["SGD"]
