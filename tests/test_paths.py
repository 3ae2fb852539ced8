from __future__ import annotations

import random
from functools import partial

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.optim.lr_scheduler import CyclicLR, StepLR
from torch.utils.data import TensorDataset, random_split

from rpsbook.ewma import adapted_gradients, calc_ewma
from rpsbook.paths import (
    OptimizerConfig,
    compare_optimizers,
    least_squares,
    loss_surface,
    make_model,
    make_regression_data,
    plot_losses,
    plot_paths,
)

SGD = OptimizerConfig("SGD", partial(torch.optim.SGD, lr=0.1))
ADAM = OptimizerConfig("Adam", partial(torch.optim.Adam, lr=0.1))


@pytest.fixture(scope="module")
def data():
    return make_regression_data()


@pytest.fixture(scope="module")
def results(data):
    # on the CPU, where the bit-for-bit comparisons below hold
    return compare_optimizers([SGD, ADAM], n_epochs=10, data=data, device="cpu", progress=False)


def _global_states():
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()  # noqa: NPY002


def _assert_same_states(before, after):
    assert torch.equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2] == after[2]


def test_data_reproduces_the_books_draws(data):
    assert data.x.shape == data.y.shape == (100, 1)
    assert data.x.dtype == data.y.dtype == torch.float32
    assert data.x[0, 0].item() == pytest.approx(0.3745401188473625, abs=1e-7)
    assert data.y[0, 0].item() == pytest.approx(1.7577849626541138, abs=1e-7)
    # the book's own recipe, with global seeding (restored afterwards)
    saved = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(42)  # noqa: NPY002
        x = np.random.rand(100, 1)  # noqa: NPY002
        y = 1 + 2 * x + 0.1 * np.random.randn(100, 1)  # noqa: NPY002
    finally:
        np.random.set_state(saved)  # noqa: NPY002
    assert torch.equal(data.x, torch.as_tensor(x).float())
    assert torch.equal(data.y, torch.as_tensor(y).float())


def test_split_and_loaders(data):
    assert data.train_dataset.indices[:5] == [18, 50, 12, 69, 10]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(13)
        train, val = random_split(TensorDataset(data.x, data.y), [80, 20])
    assert data.train_dataset.indices == train.indices
    assert data.val_dataset.indices == val.indices
    assert data.x_train.shape == (80, 1)
    assert torch.equal(data.y_train[0], data.y[18])
    assert len(data.train_loader) == 5
    assert len(data.val_loader) == 2
    with pytest.raises(ValueError, match="train_ratio"):
        make_regression_data(train_ratio=1.0)


def test_make_model_is_seeded_and_leaves_rng_alone():
    before = _global_states()
    model = make_model()
    _assert_same_states(before, _global_states())
    assert list(model.named_modules())[1][0] == "linear"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(42)
        expected = nn.Linear(1, 1)
    assert torch.equal(model.linear.weight, expected.weight)
    assert torch.equal(model.linear.bias, expected.bias)
    assert model.linear.weight.item() == pytest.approx(0.7645, abs=1e-4)
    assert model.linear.bias.item() == pytest.approx(0.8300, abs=1e-4)


def test_least_squares_optimum(data):
    b, w = least_squares(data.x_train, data.y_train)
    assert b == pytest.approx(1.0, abs=0.1)
    assert w == pytest.approx(2.0, abs=0.1)
    x = data.x_train.double().reshape(-1)
    y = data.y_train.double().reshape(-1)
    w_closed = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    assert w == pytest.approx(w_closed.item(), rel=1e-10)
    assert b == pytest.approx((y.mean() - w_closed * x.mean()).item(), rel=1e-10)


def test_loss_surface(data):
    surface = loss_surface(data.x_train, data.y_train)
    assert surface.losses.shape == (101, 101)
    assert surface.b[0].item() == 0.7
    assert surface.w[-1].item() == 2.3
    i, j = divmod(int(surface.losses.argmin()), 101)
    step = 1.6 / 100
    assert abs(surface.w[i].item() - surface.optimum[1]) < step
    assert abs(surface.b[j].item() - surface.optimum[0]) < step
    # rows follow w, columns follow b
    b, w = surface.b[37].item(), surface.w[64].item()
    mse = ((b + w * data.x_train.double() - data.y_train.double()) ** 2).mean()
    assert surface.losses[64, 37].item() == pytest.approx(mse.item(), rel=1e-12)


def test_sgd_path_steps_are_minus_lr_times_captured_gradients(results):
    sgd = results["SGD"]
    assert sgd.path.shape == (51, 2)
    assert sgd.gradients["weight"].shape == (50, 1, 1)
    assert sgd.gradients["bias"].shape == (50, 1)
    assert sgd.path[0].tolist() == pytest.approx([0.8300, 0.7645], abs=1e-4)
    grads = torch.stack([sgd.gradients["bias"][:, 0], sgd.gradients["weight"][:, 0, 0]], dim=1)
    # torch.optim.SGD updates with param.add_(grad, alpha=-lr): compare bit for bit
    assert torch.equal(sgd.path[:-1].add(grads, alpha=-0.1), sgd.path[1:])
    assert sgd.learning_rates == [0.1] * 50
    assert len(sgd.losses) == len(sgd.val_losses) == 10
    assert sgd.losses[-1] < sgd.losses[0]
    assert torch.equal(
        sgd.path[-1], torch.cat([sgd.model.linear.bias, sgd.model.linear.weight[0]]).detach()
    )


def test_adam_state_equals_ewmas_of_captured_gradients(results):
    adam = results["Adam"]
    state = adam.optimizer_state["state"][0]  # linear.weight
    grads = adam.gradients["weight"]
    exp_avg = calc_ewma(grads, beta=0.9)[-1]
    exp_avg_sq = calc_ewma(grads**2, beta=0.999)[-1]
    assert torch.equal(exp_avg, state["exp_avg"])
    torch.testing.assert_close(exp_avg_sq, state["exp_avg_sq"], rtol=1e-5, atol=0)
    # the book notebook's stored (float64) output, within relative 1e-5: the measured spread
    # across CPUs (AMD EPYC: 4.3e-6 for exp_avg in float32; an Intel Xeon agrees to 15 digits
    # in float64; see tests/test_page_claims.py), plus float32's rounding of the state
    assert exp_avg.item() == pytest.approx(-0.006161476466002255, rel=1e-5)
    assert exp_avg_sq.item() == pytest.approx(0.003308466907084168, rel=1e-5)
    # Adam's path recomputed from the adapted gradients (float32 model)
    adapted = torch.stack(
        [adapted_gradients(adam.gradients["bias"][:, 0]), adapted_gradients(grads[:, 0, 0])], dim=1
    )
    torch.testing.assert_close(adam.path[:-1] - 0.1 * adapted, adam.path[1:], atol=1e-6, rtol=0)


def test_sgd_and_adam_take_different_paths_from_the_same_start(results):
    sgd, adam = results["SGD"].path, results["Adam"].path
    assert torch.equal(sgd[0], adam[0])
    assert (sgd[1:] - adam[1:]).abs().max() > 0.1
    assert list(results) == ["SGD", "Adam"]


def test_same_seed_same_results_and_rng_restored(data, results):
    before = _global_states()
    again = compare_optimizers([SGD], n_epochs=10, data=data, device="cpu")
    _assert_same_states(before, _global_states())
    assert torch.equal(again["SGD"].path, results["SGD"].path)
    assert again["SGD"].losses == results["SGD"].losses


def test_epoch_scheduler_drives_lr_history(data):
    config = OptimizerConfig(
        "StepLR",
        partial(torch.optim.SGD, lr=0.1, momentum=0.9),
        partial(StepLR, step_size=4, gamma=0.5),
    )
    result = compare_optimizers([config], n_epochs=10, data=data, device="cpu")["StepLR"]
    assert result.learning_rates == pytest.approx([0.1] * 20 + [0.05] * 20 + [0.025] * 10)
    assert "momentum_buffer" in result.optimizer_state["state"][0]


def test_batch_scheduler_drives_lr_history(data):
    make_scheduler = partial(
        CyclicLR, base_lr=0.025, max_lr=0.1, step_size_up=10, mode="triangular2"
    )
    config = OptimizerConfig(
        "Cyclic", partial(torch.optim.SGD, lr=0.1, momentum=0.9), make_scheduler
    )
    result = compare_optimizers([config], n_epochs=10, data=data, device="cpu")["Cyclic"]
    reference = make_scheduler(
        torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    )
    expected = []
    for _ in range(50):
        expected.append(reference.optimizer.param_groups[0]["lr"])
        reference.optimizer.step()
        reference.step()
    assert result.learning_rates == expected
    assert result.learning_rates[:3] == pytest.approx([0.025, 0.0325, 0.04])
    assert max(result.learning_rates[20:40]) == pytest.approx(0.0625)  # triangular2 halves


def test_bad_configs(data):
    with pytest.raises(ValueError, match="distinct names"):
        compare_optimizers([SGD, SGD], data=data)
    with pytest.raises(ValueError, match="distinct names"):
        compare_optimizers([], data=data)
    with pytest.raises(ValueError, match=r"'linear' layer is nn.Linear\(1, 1\)"):
        compare_optimizers([SGD], data=data, model_fn=lambda: nn.Sequential(nn.Linear(1, 1)))


def test_the_books_form_checks_layers_to_hook_as_the_captures_do(data):
    model = nn.Sequential(nn.Linear(1, 1))
    optimizers = {"SGD": {"class": torch.optim.SGD, "parms": {"lr": 0.1}}}
    book_form = partial(compare_optimizers, model, nn.MSELoss(), optimizers, data.train_loader)
    with pytest.raises(ValueError, match=r"unknown layer name\(s\) \['fc'\]; .* '', '0'"):
        book_form(layers_to_hook=["0", "fc"], n_epochs=1)
    with pytest.raises(ValueError, match="layers is empty"):
        book_form(layers_to_hook=[], n_epochs=1)
    hooked = book_form(layers_to_hook="0", n_epochs=1)["SGD"]
    assert list(hooked.hooked_gradients) == ["0"]


def test_plot_paths_panels_and_shared_axes(data, results):
    surface = loss_surface(data.x_train, data.y_train)
    fig = plot_paths(results, surface)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["SGD", "Adam"]
    path_line = fig.axes[1].get_lines()[0]
    np.testing.assert_array_equal(path_line.get_xdata(), results["Adam"].path[:, 0].numpy())
    optimum = fig.axes[0].get_lines()[-1]
    assert optimum.get_color() == "red"
    assert (optimum.get_xdata()[0], optimum.get_ydata()[0]) == surface.optimum
    start = fig.axes[1].get_lines()[1]
    assert (start.get_xdata()[0], start.get_ydata()[0]) == tuple(results["Adam"].path[0].tolist())
    # markers explained once, in the first panel
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "start",
        "least squares",
    ]
    assert fig.axes[1].get_legend() is None
    # every contour level stays visible: no ring is drawn in (near) white
    (contour,) = fig.axes[0].collections
    assert len(contour.get_edgecolor()) == 12
    assert contour.get_edgecolor()[:, :3].max() < 0.8

    fig = plot_paths(list(results.values()), surface, ax=fig.axes[0].figure.add_subplot(2, 2, 4))
    shared = fig.axes[-1]
    assert [t.get_text() for t in shared.get_legend().get_texts()] == [
        "SGD",
        "Adam",
        "least squares",
    ]
    with pytest.raises(ValueError, match="1 axes for 2 results; pass one Axes per result, or"):
        plot_paths(results, surface, ax=[shared])


def test_plot_losses(results):
    fig = plot_losses(results)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert len(ax.get_lines()) == 4
    np.testing.assert_array_equal(ax.get_lines()[2].get_ydata(), results["Adam"].losses)
    with pytest.raises(ValueError, match="results is empty"):
        plot_losses({})
