"""Figures of the gallery pages 06-19 (SGD flavours, schedulers, range tests) on real runs."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim import SGD

from rpsbook.ewma import calc_momentum, calc_nesterov, plot_sgd_terms
from rpsbook.paths import OptimizerConfig, compare_optimizers, make_model, make_regression_data
from rpsbook.training import lr_range_test

FLAVOURS = [
    OptimizerConfig("SGD", partial(SGD, lr=0.1)),
    OptimizerConfig("Momentum", partial(SGD, lr=0.1, momentum=0.9)),
    OptimizerConfig("Nesterov", partial(SGD, lr=0.1, momentum=0.9, nesterov=True)),
]


@pytest.fixture(scope="module")
def data():
    return make_regression_data()


@pytest.fixture(scope="module")
def flavour_runs(data):
    return compare_optimizers(FLAVOURS, data=data, device="cpu", progress=False)


def test_fig_6_21_plots_each_flavours_terms_from_its_own_run(flavour_runs):
    own = {name: run.gradients["weight"] for name, run in flavour_runs.items()}
    fig = plot_sgd_terms(own, beta=0.9)
    assert [ax.get_title() for ax in fig.axes] == ["SGD run", "Momentum run", "Nesterov run"]
    terms = {"Momentum": calc_momentum, "Nesterov": calc_nesterov}
    for ax, (name, grads) in zip(fig.axes, own.items(), strict=True):
        lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
        np.testing.assert_array_equal(lines["gradient"], grads.reshape(-1).numpy())
        if name in terms:
            (label,) = (key for key in lines if key.endswith("term"))
            expected = terms[name](grads, 0.9).reshape(-1).numpy()
            np.testing.assert_array_equal(lines[label], expected)
    # the runs' gradients differ: each run evaluates them where its own updates took it
    assert not torch.equal(own["Momentum"], own["Nesterov"])
    assert torch.equal(own["SGD"][0], own["Nesterov"][0])  # same start, same first batch
    # the book's point: Nesterov's own term oscillates less than momentum's own term
    momentum = calc_momentum(own["Momentum"], 0.9).reshape(-1)
    nesterov = calc_nesterov(own["Nesterov"], 0.9).reshape(-1)
    assert nesterov.diff().abs().sum() < 0.6 * momentum.diff().abs().sum()
    assert nesterov[10:].abs().max() < 0.6 * momentum[10:].abs().max()
    # and the page's replay of each run with its own term reproduces that run's path
    for name, run in flavour_runs.items():
        term = {"SGD": lambda g: g, **{k: partial(f, beta=0.9) for k, f in terms.items()}}[name]
        step_w = term(run.gradients["weight"])[:, 0, 0]
        torch.testing.assert_close(run.path[1:, 1], run.path[:-1, 1] - 0.1 * step_w)


def test_plot_sgd_terms_rejects_unknown_flavours_and_wrong_axes(flavour_runs):
    grads = flavour_runs["SGD"].gradients["weight"]
    with pytest.raises(ValueError, match="'SGD', 'Momentum' and 'Nesterov'"):
        plot_sgd_terms({"Adam": grads})
    fig = plot_sgd_terms(grads)
    with pytest.raises(ValueError, match="single Axes for 2 flavours; pass one Axes per flavour"):
        plot_sgd_terms({"SGD": grads, "Momentum": grads}, ax=fig.axes[0])
    assert plot_sgd_terms({"SGD": grads}, ax=fig.axes[0]) is fig  # one flavour, one Axes


def test_fig_6_27_nesterov_range_test_on_the_regression_diverges(data):
    """The whole curve (no skipped end) shows Nesterov's loss blowing up near lr 1."""
    curves = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(42)
        for nesterov in (False, True):
            model = make_model()
            optimizer = SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=nesterov)
            curves[nesterov] = lr_range_test(
                model, optimizer, nn.MSELoss(), data.train_loader, end_lr=1, progress=False
            )
    nesterov = curves[True]
    assert len(nesterov.lr) == 100 and not nesterov.diverged
    best = min(nesterov.loss)
    # the last five points, which the default skip_end=5 hides, hold the blow-up
    assert nesterov.loss[-1] > 10 * best
    assert max(nesterov.raw_loss[-5:]) > 100 * min(nesterov.raw_loss)
    assert nesterov.loss.index(best) < len(nesterov.loss) - 3  # then it turns up
    # momentum is still (barely) descending at the end of the same range
    momentum = curves[False]
    assert momentum.loss[-1] < 2 * min(momentum.loss)
