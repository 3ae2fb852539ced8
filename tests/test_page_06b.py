"""What the prose of gallery/plot_06b_moving_averages.py says about its own run."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import run_page

import rpsbook.ewma

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page() -> dict[str, Any]:
    return run_page("plot_06b_moving_averages.py")


def test_the_notebooks_thirty_temperatures(page):
    """'the 30 values of its notebook' (Chapter06.ipynb, the Figure 6.16 cell)."""
    assert page["temperatures"].tolist() == [
        5, 11, 15, 6, 5, 3, 3, 0, 0, 3, 4, 2, 1, -1, -2, 2, 2, -2, -1, -1, 3, 4, -1, 2, 6, 4, 9,
        11, 9, -2,
    ]  # fmt: skip


def test_from_scratch_equals_rpsbook(page):
    """The 'same as rpsbook's' lines print True; the moving average starts on day 1."""
    assert page["same_ma"] and page["same_ewma"] and page["same_corrected"] and page["same_age"]
    ma = page["moving_average"](torch.arange(1.0, 8.0), 5)
    assert ma.tolist() == [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0]
    assert not page["ma"].isnan().any()


def test_weights_and_ages(page):
    """Five-period MA: average age three; EWMA(1/3, T=20): just under three; a higher alpha
    shrinks the weights faster; 19 and 1999 periods are alpha 0.1 and 0.001."""
    assert rpsbook.ewma.ma_average_age(5) == 3
    assert 2.99 < page["average_age"] < 3
    lags = torch.arange(1, 6)
    ratios = [alpha * (1 - alpha) ** lags / alpha for alpha in (0.1, 1 / 3, 0.5)]
    assert (ratios[0] > ratios[1]).all() and (ratios[1] > ratios[2]).all()
    assert pytest.approx(0.1) == 2 / (19 + 1) and pytest.approx(0.001) == 2 / (1999 + 1)


def test_figure_6_16_relations(page):
    """The EWMA starts at a tenth of the first temperature and is below a third of the MA on
    days 1-3; the corrected EWMA is within half a degree of the MA over days 1-5; the largest
    gap between the EWMAs is degrees, on day 3; from day 19 on, a fraction of a degree;
    1 - 0.9**19 is about 0.86."""
    temperatures, ma, ewma, corrected = (
        page[k] for k in ("temperatures", "ma", "ewma", "corrected")
    )
    assert ewma[0].item() == pytest.approx(0.1 * temperatures[0].item())
    # alt text: below the data for five days, above it on days 6 to 9
    assert (ewma[:5] < temperatures[:5]).all() and (ewma[5:9] > temperatures[5:9]).all()
    assert (ewma[:3] < ma[:3] / 3).all()
    assert (corrected - ma)[:5].abs().max() < 0.5
    gap = page["gap"]
    assert gap.argmax().item() == 2 and gap[:18].max() > 5
    assert gap[18:].max() < 0.5
    assert pytest.approx(0.86, abs=0.005) == 1 - 0.9**19
    lines = page["fig"].axes[0].get_lines()
    assert lines[1].get_ydata().tolist() == ma.tolist()  # the drawn MA is the printed one


# Exercises: the property each worked solution demonstrates.


def test_exercise_correction_steps(page):
    """1 - beta**t passes 0.99 on step 44 for beta 0.9, on step 4603 for 0.999 (about a
    hundred times as many), and not a step earlier."""
    assert page["first_step_above"] == {0.9: 44, 0.999: 4603}
    for beta, step in page["first_step_above"].items():
        assert 1 - beta ** (step - 1) <= 0.99 < 1 - beta**step
    assert 100 < 4603 / 44 < 110


def test_exercise_shorter_memory(page):
    """With 5 periods the two EWMAs stay within 0.1 degree from day 9 (not day 8); with 19,
    never this month, the factor 1 - 0.9**30 still 0.96."""
    assert page["close_from"] == {5: 9, 19: None}
    t = page["temperatures"]
    gap = rpsbook.ewma.calc_corrected_ewma(t, 5) - rpsbook.ewma.calc_ewma(t, 5)
    assert gap[8:].abs().max() < 0.1 <= gap[7:].abs().max()
    assert round(1 - 0.9**30, 2) == 0.96


def test_exercise_adam_keeps_an_ewma(page):
    """Adam's exp_avg after each step is the uncorrected EWMA with beta 0.9, bit for bit; the
    parameter did not move (lr 0); the page's own averages are untouched."""
    assert page["same_as_ewma"]  # the hidden guard; the printed rows are equal
    assert page["exp_avgs"][:3].tolist() == page["uncorrected"][:3].tolist()
    assert torch.equal(page["exp_avgs"], rpsbook.ewma.calc_ewma(page["temperatures"], beta=0.9))
    assert page["param"].item() == 0 and page["adam"].state[page["param"]]["step"].item() == 30
    assert torch.equal(page["ewma"], page["calc_ewma"](page["temperatures"], 19))
