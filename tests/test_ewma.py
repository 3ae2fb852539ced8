from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from rpsbook.ewma import (
    EWMA,
    RunningEWMA,
    adapted_gradients,
    alpha_from_periods,
    beta_from_periods,
    bias_correction,
    calc_corrected_ewma,
    calc_ewma,
    calc_ma,
    calc_momentum,
    calc_nesterov,
    correction,
    ewma_average_age,
    ewma_weights,
    ma_average_age,
    ma_weights,
    momentum,
    periods_from_alpha,
    periods_from_beta,
    plot_adapted_gradients,
    plot_ewma_series,
    plot_ewma_weights,
    plot_sgd_terms,
)
from rpsbook.training import capture_gradients, capture_parameters

# The 30 daily temperatures of the book notebook's Figure 6.16.
TEMPERATURES = torch.tensor(
    [5, 11, 15, 6, 5, 3, 3, 0, 0, 3, 4, 2, 1, -1, -2, 2, 2, -2, -1, -1, 3, 4, -1, 2, 6, 4, 9,
     11, 9, -2],
    dtype=torch.float64,
)  # fmt: skip


# ------------------------------------------------------------------------------ closed forms


def test_average_ages():
    assert ewma_average_age(1 / 3, lags=20) == 2.9930832408241015
    assert ewma_average_age(0.25) == 4.0
    assert ma_average_age(5) == 3.0
    # Truncated at T lags the age sums to 1/alpha - (T + 1/alpha) * beta**T.
    assert ewma_average_age(0.1, lags=50) == pytest.approx(10 - 60 * 0.9**50, rel=1e-14)


def test_alpha_beta_periods():
    assert alpha_from_periods(5) == pytest.approx(1 / 3, abs=1e-16)
    assert periods_from_alpha(1 / 3) == pytest.approx(5, abs=1e-12)
    assert beta_from_periods(19) == pytest.approx(0.9, abs=1e-16)
    assert periods_from_beta(0.9) == pytest.approx(19, abs=1e-12)
    assert periods_from_beta(0.999) == pytest.approx(1999, abs=1e-9)
    with pytest.raises(ValueError, match="periods must be >= 1"):
        alpha_from_periods(0)
    with pytest.raises(ValueError, match="alpha must be in"):
        periods_from_alpha(1.5)


def test_weights():
    ewma = ewma_weights(1 / 3, 20)
    assert ewma.shape == (20,)
    assert ewma[0].item() == pytest.approx(1 / 3, abs=1e-16)
    assert ewma[3].item() == pytest.approx((1 / 3) * (2 / 3) ** 3, rel=1e-15)
    assert ewma.sum().item() == pytest.approx(1 - (2 / 3) ** 20, rel=1e-14)
    assert ewma_weights(1 / 3, 200).sum().item() == pytest.approx(1.0, abs=1e-14)
    ma = ma_weights(5, 20)
    assert torch.equal(ma[:5], torch.full((5,), 0.2, dtype=torch.float64))
    assert torch.count_nonzero(ma[5:]) == 0
    assert ma.sum().item() == pytest.approx(1.0, abs=1e-15)


def test_bias_correction():
    assert bias_correction(0.9, 1) == 1 - 0.9
    assert bias_correction(0.999, 10) == 1 - 0.999**10
    with pytest.raises(ValueError, match="steps must be >= 1"):
        bias_correction(0.9, 0)


def test_book_one_step_functions():
    # EWMA(past, current, alpha) and momentum(past, current, beta): one update each.
    assert EWMA(2.0, 5.0, 1 / 3) == (2 / 3) * 2.0 + (1 / 3) * 5.0
    assert EWMA(0.0, 4.0, 0.5) == 2.0
    np.testing.assert_array_equal(EWMA(np.zeros(2), np.array([2.0, 4.0]), 0.5), [1.0, 2.0])
    with pytest.raises(ValueError, match="alpha must be in"):
        EWMA(0.0, 1.0, 0.0)
    assert momentum(1.0, 2.0, 0.9) == 2.9
    # correction(averaged_value, beta, steps) returns the corrected value, not the divisor:
    # an EWMA of the constant 4 started from 0 after 3 steps is 4 * (1 - 0.9**3).
    assert correction(4 * (1 - 0.9**3), 0.9, 3) == pytest.approx(4.0, rel=1e-15)
    assert correction(0.1, 0.9, 1) == 0.1 / (1 - 0.9)


def test_book_series_functions_take_and_return_numpy():
    values = np.array([1.0, 2.0, 3.0])
    momenta = calc_momentum(values, 0.5)
    assert isinstance(momenta, np.ndarray)
    np.testing.assert_array_equal(momenta, [1.0, 2.5, 4.25])
    nesterov = calc_nesterov(values, 0.5)
    assert isinstance(nesterov, np.ndarray)
    np.testing.assert_array_equal(nesterov, values + 0.5 * momenta)
    # the book's recursion, momentum() folded from 0, gives the same buffer
    folded, past = [], 0.0
    for v in values:
        past = momentum(past, v, 0.5)
        folded.append(past)
    np.testing.assert_array_equal(momenta, folded)


# ------------------------------------------------------------------------------ series


def test_calc_ewma_known_sequence_numpy_in_numpy_out():
    values = [1.0, 2.0, 3.0]
    ewma = calc_ewma(values, 3)  # alpha = 2 / 4 = 0.5
    assert isinstance(ewma, np.ndarray)
    np.testing.assert_array_equal(ewma, [0.5, 1.25, 2.125])
    corrected = calc_corrected_ewma(values, alpha=0.5)
    np.testing.assert_allclose(corrected, [1.0, 1.25 / 0.75, 2.125 / 0.875], rtol=1e-15)


def test_corrected_ewma_of_a_constant_is_the_constant():
    values = torch.full((30, 2, 3), 4.0, dtype=torch.float64)
    corrected = calc_corrected_ewma(values, 19)
    assert corrected.shape == (30, 2, 3)
    torch.testing.assert_close(corrected, values, rtol=1e-14, atol=0)
    # the uncorrected one is biased towards zero by exactly 1 - beta**t
    uncorrected = calc_ewma(values, 19)
    expected = 4.0 * (1 - 0.9 ** torch.arange(1, 31, dtype=torch.float64))
    torch.testing.assert_close(uncorrected[:, 0, 0], expected, rtol=1e-14, atol=0)


def test_tensors_keep_shape_and_dtype():
    values = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))
    for fn in (calc_ewma, calc_corrected_ewma):
        out = fn(values, beta=0.9)
        assert isinstance(out, torch.Tensor)
        assert out.shape == (7, 2)
        assert out.dtype == torch.float32
    assert calc_ewma(torch.empty(0, 3), alpha=0.5).shape == (0, 3)


def test_period_alpha_beta_are_exclusive():
    with pytest.raises(ValueError, match="exactly one of period, alpha or beta"):
        calc_ewma([1.0], 5, alpha=0.1)
    with pytest.raises(ValueError, match="exactly one of period, alpha or beta"):
        RunningEWMA()


def test_ewma_class_matches_calc_ewma():
    values = TEMPERATURES
    avg = RunningEWMA(period=19)
    running = [avg.update(v) for v in values.tolist()]
    np.testing.assert_allclose(running, calc_ewma(values, 19).numpy(), rtol=1e-14)
    assert avg.steps == 30
    assert avg.corrected == pytest.approx(calc_corrected_ewma(values, 19)[-1].item(), rel=1e-14)
    tensor_avg = RunningEWMA(beta=0.9)
    for v in values:
        tensor_avg.update(v)
    assert torch.equal(tensor_avg.value, calc_ewma(values, beta=0.9)[-1])
    tensor_avg.reset()
    with pytest.raises(RuntimeError, match="at least one update"):
        _ = tensor_avg.corrected


def test_calc_ma():
    ma = calc_ma(torch.arange(1.0, 7.0), 3)
    assert torch.isnan(ma[:2]).all()
    assert torch.equal(ma[2:], torch.tensor([2.0, 3.0, 4.0, 5.0]))
    assert np.isnan(calc_ma([1.0, 2.0], 5)).all()


def test_calc_ma_min_periods_is_pandas_rolling():
    """``min_periods`` as pandas' rolling: 0 averages the values so far (the book's Fig 6.16)."""
    values = torch.tensor([5.0, 11.0, 15.0, 6.0, 5.0, 3.0], dtype=torch.float64)
    assert calc_ma(values, 3, min_periods=0).tolist() == [5.0, 8.0, 31 / 3, 32 / 3, 26 / 3, 14 / 3]
    partial_ma = calc_ma(values, 3, min_periods=2)
    assert math.isnan(partial_ma[0])
    assert partial_ma[1:].tolist() == [8.0, 31 / 3, 32 / 3, 26 / 3, 14 / 3]
    full_windows = calc_ma(values, 3, min_periods=3).numpy()
    assert np.array_equal(full_windows, calc_ma(values, 3).numpy(), equal_nan=True)
    grads = torch.arange(8.0).reshape(4, 2)  # a steps dimension and a parameter's shape
    assert calc_ma(grads, 3, min_periods=1).tolist() == [[0, 1], [1, 2], [2, 3], [4, 5]]
    with pytest.raises(ValueError, match="min_periods must be between 0 and period=3"):
        calc_ma(values, 3, min_periods=4)


# ------------------------------------------------------------------------------ optimizers


def _regression(dtype: torch.dtype) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(16, 3, generator=gen, dtype=dtype)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=dtype) + 0.3
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(42)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).to(dtype)
    return model, x, y


def _train(model, x, y, optimizer, n_steps):
    """Full-batch steps; returns ``{layer: {name: (n_steps, *shape)}}`` grads and params."""
    with (
        capture_gradients(model, ["0", "2"]) as grads,
        capture_parameters(model, ["0", "2"]) as ps,
    ):
        for _ in range(n_steps):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
    return grads.gradients, ps.parameters


def _named(model):
    return [
        (layer, name, p)
        for layer in ("0", "2")
        for name, p in model[int(layer)].named_parameters()
    ]


@pytest.mark.parametrize(
    ("dtype", "sq_tol"),
    [(torch.float64, {"atol": 1e-12, "rtol": 0}), (torch.float32, {"atol": 0, "rtol": 1e-5})],
)
def test_ewmas_equal_adam_state(dtype, sq_tol):
    model, x, y = _regression(dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    grads, _ = _train(model, x, y, optimizer, 25)
    for layer, name, p in _named(model):
        g = grads[layer][name]
        assert g.shape == (25, *p.shape)
        state = optimizer.state[p]
        # lerp, exactly as Adam updates exp_avg
        assert torch.equal(calc_ewma(g, beta=0.9)[-1], state["exp_avg"])
        torch.testing.assert_close(calc_ewma(g**2, beta=0.999)[-1], state["exp_avg_sq"], **sq_tol)
        # The same EWMAs by period (19 and 1999) differ from betas only in the last bits.
        torch.testing.assert_close(calc_ewma(g, 19)[-1], state["exp_avg"], atol=1e-7, rtol=1e-5)


def test_adapted_gradients_reproduce_adam_trajectory():
    model, x, y = _regression(torch.float64)
    lr, betas, eps = 0.05, (0.8, 0.99), 1e-6
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=betas, eps=eps)
    grads, params = _train(model, x, y, optimizer, 25)
    for layer, name, p in _named(model):
        path = torch.cat([params[layer][name], p.detach()[None]])
        adapted = adapted_gradients(grads[layer][name], betas=betas, eps=eps)
        torch.testing.assert_close(path[:-1] - lr * adapted, path[1:], atol=1e-12, rtol=0)
        # and the adapted steps are genuinely not plain gradient steps
        assert not torch.allclose(path[:-1] - lr * grads[layer][name], path[1:], atol=1e-4)


# torch's SGD allows Nesterov only without dampening
@pytest.mark.parametrize(("dampening", "nesterov"), [(0.0, False), (0.3, False), (0.0, True)])
def test_momentum_and_nesterov_reproduce_sgd(dampening, nesterov):
    model, x, y = _regression(torch.float32)
    lr, beta = 0.05, 0.9
    optimizer = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=beta, dampening=dampening, nesterov=nesterov
    )
    grads, params = _train(model, x, y, optimizer, 12)
    for layer, name, p in _named(model):
        g = grads[layer][name]
        momentum = calc_momentum(g, beta, dampening)
        assert torch.equal(momentum[0], g[0])  # no dampening on step 1
        assert torch.equal(momentum[-1], optimizer.state[p]["momentum_buffer"])
        term = calc_nesterov(g, beta, dampening) if nesterov else momentum
        path = torch.cat([params[layer][name], p.detach()[None]])
        for t in range(12):
            assert torch.equal(path[t].add(term[t], alpha=-lr), path[t + 1])


def test_nesterov_term_definition():
    g = torch.tensor([1.0, 2.0, 3.0])
    momentum = calc_momentum(g, 0.5)
    assert torch.equal(momentum, torch.tensor([1.0, 2.5, 4.25]))
    assert torch.equal(calc_momentum(g, 0.5, dampening=0.5), torch.tensor([1.0, 1.5, 2.25]))
    assert torch.equal(calc_nesterov(g, 0.5), g + 0.5 * momentum)


def test_adapted_gradients_closed_form():
    g = torch.tensor([[2.0], [-1.0]], dtype=torch.float64)
    adapted = adapted_gradients(g, betas=(0.5, 0.5), eps=0.0)
    # step 1: m_hat = 2, v_hat = 4 -> 1; step 2: m_hat = (0.5 * 1 + 0.5 * -1) / 0.75 = 0.
    # Step 1 is sqrt(v) / sqrt(1 - beta2) = sqrt(2) / sqrt(0.5), computed like torch's Adam
    # (test_adapted_gradients_reproduce_adam_trajectory checks that). torch's CPU sqrt kernel
    # is not always correctly rounded: on some machines sqrt(2.0) comes out 1 ulp low
    # (1.414213562373095), which puts the ratio 1 ulp off 1. Two ulps bound that.
    assert abs(adapted[0].item() - 1.0) <= 2 * math.ulp(1.0)
    assert adapted[1].item() == 0.0
    assert adapted.shape == (2, 1)
    # a constant gradient adapts to sign(g) / (1 + eps/|g|)
    constant = torch.full((10,), -0.25, dtype=torch.float64)
    torch.testing.assert_close(
        adapted_gradients(constant, eps=1e-8),
        torch.full((10,), -0.25 / (0.25 + 1e-8), dtype=torch.float64),
    )


# ------------------------------------------------------------------------------ plots


def test_plots_return_figures():
    fig = plot_ewma_weights(1 / 3, 5, 20)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.containers) == 2  # EWMA and MA bars
    assert [b.get_height() for b in ax.containers[1]][:6] == pytest.approx([0.2] * 5 + [0.0])
    ticks = ax.get_xticks()
    assert np.array_equal(ticks, np.round(ticks))  # ages are whole steps

    fig = plot_ewma_series(TEMPERATURES, 19)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4
    assert not np.isnan(lines[1].get_ydata()).any()  # the book's MA starts on day 1
    assert lines[1].get_ydata()[0] == TEMPERATURES[0].item()
    assert lines[0].get_label() == fig.axes[0].get_ylabel() == "value"
    fig = plot_ewma_series(TEMPERATURES, 19, min_periods=None, label="temperature")
    assert fig.axes[0].get_ylabel() == "temperature"
    lines = fig.axes[0].get_lines()
    assert lines[0].get_label() == "temperature"
    assert math.isnan(lines[1].get_ydata()[17])
    assert not math.isnan(lines[1].get_ydata()[18])

    grads = torch.linspace(-1, 1, 20).reshape(20, 1, 1)
    fig = plot_adapted_gradients(grads)
    assert len(fig.axes) == 3
    assert fig.axes[0].get_position().x0 < 0.1  # laid out tightly, not default margins
    scaling = 1 / (calc_corrected_ewma(grads**2, beta=0.999).sqrt() + 1e-8)
    assert "corrected" in fig.axes[1].get_ylabel()  # the factor of the corrected EWMA
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(), scaling.reshape(-1))
    np.testing.assert_allclose(
        fig.axes[2].get_lines()[1].get_ydata(), adapted_gradients(grads).reshape(-1).numpy()
    )
    fig = plot_sgd_terms(grads[:, 0, 0], beta=0.9)
    assert len(fig.axes[0].get_lines()) == 4
    with pytest.raises(ValueError, match="one value per step"):
        plot_adapted_gradients(torch.zeros(5, 2))


def test_adapted_gradients_of_no_steps_are_no_steps():
    # as calc_ewma and calc_momentum answer an empty series
    assert adapted_gradients(torch.zeros(0, 2, 3)).shape == (0, 2, 3)
    assert adapted_gradients(torch.zeros(0)).dtype == torch.float32


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plot_adapted_gradients(torch.zeros(0)),
        lambda: plot_sgd_terms(torch.zeros(0)),
        lambda: plot_sgd_terms({"SGD": torch.zeros(0)}),
    ],
    ids=["adapted", "sgd-terms", "sgd-runs"],
)
def test_plots_of_no_steps_say_so(draw):
    with pytest.raises(ValueError, match="grads is empty: there is nothing to plot"):
        draw()
