from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import assert_nested_equal, clone_nested, throwaway_sgd
from matplotlib.figure import Figure
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, StepLR
from torch.utils.data import DataLoader, TensorDataset

from rpsbook.training import (
    SUGGESTION_METHODS,
    LRRangeTestResult,
    lr_range_test,
    make_lr_fn,
    minimum,
    slide,
    steepest,
    suggest_lr,
    valley,
)


def _data(seed: int = 0, n: int = 64) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 1 + 0.1 * torch.randn(n, 1, generator=generator)
    return TensorDataset(x, y)


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1))


def _loader(shuffle: bool = True, seed: int = 0) -> DataLoader:
    # 64 samples in batches of 8: 8 mini-batches, so a 20-step test cycles the loader.
    return DataLoader(_data(seed), batch_size=8, shuffle=shuffle)


def _snapshot(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    return {
        "tensors": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "optimizer": clone_nested(optimizer.state_dict()),
        "groups": [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups],
        "group_params": [list(g["params"]) for g in optimizer.param_groups],
        "attrs": set(vars(optimizer)),
        "step": vars(optimizer).get("step"),
    }


def _assert_restored(model: nn.Module, optimizer: torch.optim.Optimizer, before: dict) -> None:
    after = _snapshot(model, optimizer)
    assert_nested_equal(after["tensors"], before["tensors"])
    assert_nested_equal(after["grads"], before["grads"])
    assert after["modes"] == before["modes"]
    assert_nested_equal(after["optimizer"], before["optimizer"])
    assert after["groups"] == before["groups"]
    assert all(
        a is b
        for pa, pb in zip(after["group_params"], before["group_params"], strict=True)
        for a, b in zip(pa, pb, strict=True)
    )
    assert after["attrs"] == before["attrs"]
    assert after["step"] is before["step"]


def _used_adam(model: nn.Module, loader: DataLoader, lr: float = 1e-3) -> torch.optim.Adam:
    """An Adam that has taken two steps, so that its state holds real tensors."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for x, y in list(loader)[:2]:
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        optimizer.zero_grad()
    return optimizer


# make_lr_fn ---------------------------------------------------------------------------------


def test_make_lr_fn_with_lambda_lr_matches_the_book_after_one_step():
    optimizer = throwaway_sgd(0.01)
    scheduler = LambdaLR(optimizer, make_lr_fn(0.01, 0.1, 10))
    optimizer.step()
    scheduler.step()
    assert scheduler.get_last_lr()[0] == 0.012589254117941673


@pytest.mark.parametrize("i", [0, 1, 5, 10])
def test_make_lr_fn_closed_forms(i):
    assert make_lr_fn(1e-3, 1.0, 10, "exp")(i) == pytest.approx(1000 ** (i / 10), rel=1e-14)
    assert make_lr_fn(1e-3, 1.0, 10, "linear")(i) == pytest.approx(1 + i * 99.9, rel=1e-14)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.0, 1.0, 10, "exp"), "start_lr"),
        ((-1.0, 1.0, 10, "exp"), "start_lr"),
        ((0.1, 0.1, 10, "exp"), "end_lr"),
        ((0.1, 0.01, 10, "exp"), "end_lr"),
        ((0.1, math.inf, 10, "exp"), "end_lr"),
        ((0.01, 0.1, 0, "exp"), "num_iter"),
        ((0.01, 0.1, 2.5, "exp"), "num_iter"),
        ((0.01, 0.1, 10, "log"), "step_mode"),
    ],
)
def test_make_lr_fn_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        make_lr_fn(*args)


# learning-rate sequences --------------------------------------------------------------------


def test_exp_lrs_follow_the_closed_form_and_cycle_the_loader():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    result = lr_range_test(model, optimizer, nn.MSELoss(), _loader(), end_lr=1.0, num_iter=20)
    expected = [1e-3 * 1000 ** (i / 20) for i in range(20)]
    assert len(result.lr) == len(result.loss) == len(result.raw_loss) == 20
    assert result.lr == pytest.approx(expected, rel=1e-12)
    assert result.step_mode == "exp"
    assert not result.diverged
    assert result.loss[0] == result.raw_loss[0]
    assert result.loss[1] == pytest.approx(0.95 * result.raw_loss[0] + 0.05 * result.raw_loss[1])


def test_linear_step_mode_really_gives_linear_lrs():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    result = lr_range_test(
        model, optimizer, nn.MSELoss(), _loader(), end_lr=0.1, num_iter=20, step_mode="linear"
    )
    expected = [1e-3 + i * (0.1 - 1e-3) / 20 for i in range(20)]
    assert result.lr == pytest.approx(expected, rel=1e-12)
    assert np.diff(result.lr) == pytest.approx(np.full(19, (0.1 - 1e-3) / 20), rel=1e-9)
    assert result.step_mode == "linear"


def test_start_lr_overrides_every_param_group_and_is_restored():
    model = _model()
    optimizer = torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 0.5},
            {"params": model[3].parameters(), "lr": 0.25},
        ]
    )
    result = lr_range_test(
        model, optimizer, nn.MSELoss(), _loader(), end_lr=1.0, num_iter=5, start_lr=1e-4
    )
    assert result.lr == pytest.approx([1e-4 * 1e4 ** (i / 5) for i in range(5)], rel=1e-12)
    assert [g["lr"] for g in optimizer.param_groups] == [0.5, 0.25]


def test_starts_from_the_current_lr_when_a_scheduler_is_already_attached():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.1)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)
    before = _snapshot(model, optimizer)
    result = lr_range_test(model, optimizer, nn.MSELoss(), _loader(), end_lr=1.0, num_iter=4)
    # LambdaLR would start at the stale initial_lr (0.1) if the test did not remove it.
    assert result.lr[0] == pytest.approx(0.01)
    assert optimizer.param_groups[0]["initial_lr"] == 0.1
    _assert_restored(model, optimizer, before)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.001)


# restoration ----------------------------------------------------------------------------------


def test_restores_model_optimizer_modes_grads_and_rng_after_success():
    loader = _loader()
    model = _model()
    optimizer = _used_adam(model, loader)
    nn.functional.mse_loss(model(torch.ones(2, 3)), torch.zeros(2, 1)).backward()
    model.eval()
    model[2].train()  # a mixed train/eval state must come back as it was
    before = _snapshot(model, optimizer)
    assert before["grads"][0] is not None

    rng_before = torch.get_rng_state()
    result = lr_range_test(model, optimizer, nn.MSELoss(), loader, end_lr=1.0, num_iter=12)
    assert len(result.lr) == 12

    _assert_restored(model, optimizer, before)
    assert all("initial_lr" not in g for g in optimizer.param_groups)
    assert "_opt_called" not in vars(optimizer)
    assert torch.equal(torch.get_rng_state(), rng_before)


def test_restores_buffers_of_batch_norm():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    before = _snapshot(model, optimizer)
    lr_range_test(model, optimizer, nn.MSELoss(), _loader(), end_lr=0.1, num_iter=10)
    assert before["tensors"]["1.num_batches_tracked"] == 0
    _assert_restored(model, optimizer, before)


def test_restores_the_loader_generator():
    generator = torch.Generator().manual_seed(7)
    loader = DataLoader(_data(), batch_size=8, shuffle=True, generator=generator)
    state = generator.get_state()
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    lr_range_test(model, optimizer, nn.MSELoss(), loader, end_lr=0.1, num_iter=10)
    assert torch.equal(generator.get_state(), state)


class _RaisingLoss:
    def __init__(self, fail_at: int, value: float | None = None):
        self.calls = 0
        self.fail_at = fail_at
        self.value = value

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = nn.functional.mse_loss(prediction, target)
        if self.calls == self.fail_at:
            if self.value is None:
                raise RuntimeError("boom")
            return loss * self.value
        return loss


def test_restores_everything_when_the_loss_raises_midway():
    loader = _loader()
    model = _model()
    optimizer = _used_adam(model, loader)
    before = _snapshot(model, optimizer)
    loss_fn = _RaisingLoss(fail_at=5)
    with pytest.raises(RuntimeError, match="boom"):
        lr_range_test(model, optimizer, loss_fn, loader, end_lr=1.0, num_iter=10)
    assert loss_fn.calls == 5  # four optimizer steps were taken before the failure
    _assert_restored(model, optimizer, before)
    assert all("initial_lr" not in g for g in optimizer.param_groups)
    assert "_opt_called" not in vars(optimizer)


def test_restores_a_fresh_optimizer_to_an_empty_state():
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    before = _snapshot(model, optimizer)
    lr_range_test(model, optimizer, nn.MSELoss(), _loader(), end_lr=0.1, num_iter=5)
    assert optimizer.state_dict()["state"] == {}
    _assert_restored(model, optimizer, before)


# divergence ----------------------------------------------------------------------------------


def test_divergence_threshold_stops_the_test():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    result = lr_range_test(
        model, optimizer, nn.MSELoss(), _loader(), end_lr=100.0, num_iter=60, diverge_th=4
    )
    assert result.diverged
    assert len(result.lr) < 60
    assert result.loss[-1] > 4 * min(result.loss)
    assert all(loss <= 4 * min(result.loss[: i + 1]) for i, loss in enumerate(result.loss[:-1]))


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_loss_stops_the_test_without_recording_it(bad):
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    before = _snapshot(model, optimizer)
    result = lr_range_test(
        model, optimizer, _RaisingLoss(fail_at=7, value=bad), _loader(), end_lr=1.0, num_iter=20
    )
    assert result.diverged
    assert len(result.lr) == len(result.loss) == 6
    assert all(math.isfinite(loss) for loss in result.raw_loss)
    _assert_restored(model, optimizer, before)


def test_without_threshold_a_full_run_does_not_diverge():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    result = lr_range_test(model, optimizer, nn.MSELoss(), _loader(), end_lr=1e-2, num_iter=10)
    assert not result.diverged
    assert len(result.lr) == 10


# validation loss -----------------------------------------------------------------------------


def test_val_loader_records_the_validation_loss_after_each_step():
    train, val = _loader(shuffle=False), DataLoader(_data(seed=1, n=20), batch_size=8)
    model = _model()
    model[2].p = 0.0  # no dropout, so that the replay below is deterministic
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    result = lr_range_test(
        model, optimizer, nn.MSELoss(), train, end_lr=0.1, num_iter=10, alpha=0.3, val_loader=val
    )

    # Replay by hand: plain SGD steps with the recorded lrs, val MSE over all 20 samples.
    replay = _model()
    replay.load_state_dict(model.state_dict())
    replay[2].p = 0.0
    x_val, y_val = val.dataset.tensors
    batches = list(train)
    expected = []
    for i, lr in enumerate(result.lr):
        x, y = batches[i % len(batches)]
        replay.zero_grad()
        nn.functional.mse_loss(replay(x), y).backward()
        with torch.no_grad():
            for p in replay.parameters():
                p -= lr * p.grad
            expected.append(nn.functional.mse_loss(replay(x_val), y_val).item())
    assert result.raw_loss == pytest.approx(expected, rel=1e-5)
    smoothed = [expected[0]]
    for value in expected[1:]:
        smoothed.append(0.3 * value + 0.7 * smoothed[-1])
    assert result.loss == pytest.approx(smoothed, rel=1e-5)
    assert model.training  # restored (it was in train mode)


# arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": 0.0}, ValueError, "alpha"),
        ({"alpha": 1.5}, ValueError, "alpha"),
        ({"diverge_th": 1.0}, ValueError, "diverge_th"),
        ({"end_lr": 1e-5}, ValueError, "end_lr"),
        ({"step_mode": "cosine"}, ValueError, "step_mode"),
        ({"device": "meta"}, ValueError, "device"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    arguments = {"end_lr": 1.0, "num_iter": 5, **kwargs}
    with pytest.raises(error, match=match):
        lr_range_test(model, optimizer, nn.MSELoss(), _loader(), **arguments)


def test_bad_loaders_raise_clear_errors():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    before = _snapshot(model, optimizer)
    with pytest.raises(ValueError, match="train_loader yielded no mini-batches"):
        lr_range_test(model, optimizer, nn.MSELoss(), [], end_lr=1.0, num_iter=5)
    with pytest.raises(TypeError, match="train_loader must yield"):
        lr_range_test(model, optimizer, nn.MSELoss(), [torch.ones(3)], end_lr=1.0, num_iter=5)
    _assert_restored(model, optimizer, before)


# suggestion ----------------------------------------------------------------------------------


def _u_curve(log_lr: np.ndarray, centre: float = -2.5) -> np.ndarray:
    # A drop centred at log10(lr) = centre (slope about -1/0.3 there), then a blow-up starting
    # 1.5 decades later.
    return 2 - np.tanh((log_lr - centre) / 0.3) + np.exp(4 * (log_lr - centre - 1.5))


def _u_curve_slope(log_lr: np.ndarray, centre: float = -2.5) -> np.ndarray:
    """d loss / d log10(lr), in closed form."""
    drop = -1 / (0.3 * np.cosh((log_lr - centre) / 0.3) ** 2)
    return drop + 4 * np.exp(4 * (log_lr - centre - 1.5))


def test_suggestion_on_a_u_shaped_curve_is_the_steepest_descent():
    log_lrs = np.linspace(-5, 0, 101)
    lrs, losses = 10**log_lrs, _u_curve(log_lrs)
    suggestion = suggest_lr(lrs, losses)
    steepest = int(np.argmin(_u_curve_slope(log_lrs[10:-5]))) + 10
    assert log_lrs[steepest] == pytest.approx(-2.5)
    assert suggestion == lrs[steepest]
    assert np.argmin(losses) > steepest  # well before the minimum of the loss


def test_suggestion_uses_log_lr_not_the_index_on_a_linear_grid():
    lrs = np.linspace(1e-3, 1.0, 200)
    losses = _u_curve(np.log10(lrs), centre=-1.0)
    suggestion = suggest_lr(lrs, losses)
    by_log = int(np.argmin(_u_curve_slope(np.log10(lrs), centre=-1.0)))
    assert lrs[by_log] == pytest.approx(0.1, abs=0.005)
    assert abs(int(np.flatnonzero(lrs == suggestion)[0]) - by_log) <= 1
    # Differentiating with respect to the index (torch-lr-finder) divides the log slope by lr,
    # which favours smaller learning rates on a linear grid: about 0.078 here.
    by_index = int(np.argmin(np.gradient(losses)))
    assert lrs[by_index] == pytest.approx(0.078, abs=0.006)


def test_the_rules_are_plain_functions_and_a_rule_of_ones_own_can_be_passed():
    lrs = np.logspace(-4, 0, 41)  # lr 10 ** -2, the minimum, is point 20
    losses = 1 + (np.log10(lrs) + 2) ** 2
    for name, rule in (
        ("steepest", steepest),
        ("valley", valley),
        ("slide", slide),
        ("minimum", minimum),
    ):
        assert suggest_lr(lrs, losses, method=name) == rule(lrs[10:-5], losses[10:-5])
    assert suggest_lr(lrs, losses, method=minimum) == pytest.approx(0.01 / 10)
    assert suggest_lr(lrs, losses, method=lambda lr, loss: float(lr[0])) == lrs[10]


def test_suggestion_skips_the_ends_and_needs_two_points():
    log_lrs = np.linspace(-5, 0, 30)
    losses = _u_curve(log_lrs)
    losses[1] -= 10  # a glitch in the skipped start must not win
    lrs = 10**log_lrs
    assert suggest_lr(lrs, losses, skip_start=2, skip_end=0) != lrs[1]
    assert suggest_lr(lrs, losses, skip_start=0, skip_end=0) in (lrs[0], lrs[1])
    assert suggest_lr(lrs[:16], losses[:16]) is None
    assert suggest_lr(lrs[:17], losses[:17]) is not None
    with pytest.raises(ValueError, match="strictly increasing"):
        suggest_lr(lrs[::-1], losses, skip_start=0, skip_end=0)
    with pytest.raises(ValueError, match="same length"):
        suggest_lr(lrs, losses[:-1])


def test_result_suggestion_and_plot():
    log_lrs = np.linspace(-5, 0, 101)
    lrs, losses = list(10**log_lrs), list(_u_curve(log_lrs))
    result = LRRangeTestResult(
        lr=lrs,
        loss=losses,
        raw_loss=losses,
        suggestion=suggest_lr(lrs, losses),
        diverged=False,
        step_mode="exp",
    )
    figure = result.plot()
    assert isinstance(figure, Figure)
    (ax,) = figure.axes
    assert ax.get_xscale() == "log"
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == lrs[10:-5]
    (marker,) = ax.collections
    assert marker.get_offsets()[0][0] == pytest.approx(result.suggestion)

    other = Figure().subplots()
    assert result.plot(other, skip_start=0, skip_end=0, mark_suggestion=False) is other.figure
    assert len(other.get_lines()[0].get_xdata()) == 101
    assert not other.collections


def test_plot_makes_a_pyplot_figure_that_galleries_and_show_can_see():
    import matplotlib.pyplot as plt

    log_lrs = np.linspace(-5, 0, 101)
    lrs, losses = list(10**log_lrs), list(_u_curve(log_lrs))
    result = LRRangeTestResult(lrs, losses, losses, suggest_lr(lrs, losses), False, "exp")
    figure = result.plot()
    assert plt.fignum_exists(figure.number)
    with pytest.raises(ValueError, match="skip_end must be an integer >= 0, got -1"):
        result.plot(skip_end=-1)
    with pytest.raises(ValueError, match=r"skip_start must be an integer >= 0, got 2\.5"):
        result.plot(skip_start=2.5)  # a TypeError from slicing before
    with pytest.raises(ValueError, match="skip_start must be an integer >= 0, got True"):
        suggest_lr(lrs, losses, skip_start=True)
    assert suggest_lr(lrs, losses, np.int64(10), np.int64(5)) == suggest_lr(lrs, losses, 10, 5)


def test_plot_shows_raw_losses_and_forwards_label_and_line_style():
    log_lrs = np.linspace(-5, 0, 101)
    lrs, losses = list(10**log_lrs), list(_u_curve(log_lrs))
    raw = [loss + (-1) ** i * 0.1 for i, loss in enumerate(losses)]
    result = LRRangeTestResult(lrs, losses, raw, suggest_lr(lrs, losses), False, "exp")
    ax = Figure().subplots()
    result.plot(ax, show_raw=True, label="rpsbook", linestyle="--", color="C2")
    smoothed, faint = ax.get_lines()
    assert list(smoothed.get_ydata()) == losses[10:-5]
    assert smoothed.get_linestyle() == "--"
    assert smoothed.get_color() == faint.get_color() == "C2"
    assert list(faint.get_ydata()) == raw[10:-5]
    assert faint.get_zorder() < smoothed.get_zorder()
    low, high = min(losses[10:-5]), max(losses[10:-5])
    assert ax.get_ylim() == pytest.approx((1.5 * low - 0.5 * high, 1.5 * high - 0.5 * low))
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == [
        "rpsbook",
        "rpsbook (raw)",
        f"rpsbook, steepest descent: {result.suggestion:.2e}",
    ]

    default = Figure().subplots()
    result.plot(default, show_raw=True)
    labels = [text.get_text() for text in default.get_legend().get_texts()]
    assert labels == ["smoothed loss", "raw loss", f"steepest descent: {result.suggestion:.2e}"]
    assert default.get_lines()[0].get_color() == "C0"


# torch-lr-finder -----------------------------------------------------------------------------


@pytest.mark.parametrize("step_mode", ["exp", "linear"])
def test_agrees_with_torch_lr_finder_once_the_grids_are_aligned(step_mode, tmp_path, capsys):
    from torch_lr_finder import LRFinder

    num_iter, start_lr, end_lr = 30, 1e-4, 0.1

    def run_ours():
        torch.manual_seed(3)
        model = _model(seed=5)
        optimizer = torch.optim.SGD(model.parameters(), lr=start_lr, momentum=0.9)
        return lr_range_test(
            model, optimizer, nn.MSELoss(), _loader(), end_lr, num_iter, step_mode, alpha=0.1
        )

    def run_theirs(iterations):
        torch.manual_seed(3)
        model = _model(seed=5)
        optimizer = torch.optim.SGD(model.parameters(), lr=start_lr, momentum=0.9)
        finder = LRFinder(model, optimizer, nn.MSELoss(), device="cpu", cache_dir=str(tmp_path))
        finder.range_test(
            _loader(),
            end_lr=end_lr,
            num_iter=iterations,
            step_mode=step_mode,
            smooth_f=0.1,
            diverge_th=1e12,
        )
        finder.reset()
        return finder

    ours = run_ours()
    # Same num_iter: torch-lr-finder reaches end_lr on its last step, we stop one grid step
    # short of it, so the two grids differ everywhere but at the start.
    same_n = run_theirs(num_iter).history
    assert same_n["lr"][-1] == pytest.approx(end_lr)
    assert ours.lr[-1] < end_lr
    assert ours.lr[1] != pytest.approx(same_n["lr"][1], rel=1e-6)

    # One more iteration for torch-lr-finder: its first num_iter lrs are ours, and so are the
    # losses (same seed, same mini-batches, same dropout draws, same EWMA).
    finder = run_theirs(num_iter + 1)
    theirs = {key: values[:num_iter] for key, values in finder.history.items()}
    if step_mode == "exp":  # the very same floating-point operations
        assert ours.lr == theirs["lr"]
        assert ours.loss == theirs["loss"]
    else:  # start + i * (end - start) / n versus start * (1 + i * (end / start - 1) / n)
        assert ours.lr == pytest.approx(theirs["lr"], rel=1e-12, abs=0)
        assert ours.loss == pytest.approx(theirs["loss"], rel=1e-6)
    assert ours.raw_loss[0] == theirs["loss"][0]

    # Their "steepest gradient" (with respect to the index) picks our point on an exponential
    # grid, which is evenly spaced in log lr; on a linear grid it picks a smaller lr.
    finder.history = theirs
    _, their_suggestion = finder.plot(ax=Figure().subplots(), skip_start=10, skip_end=5)
    if step_mode == "exp":
        assert ours.suggestion == their_suggestion
    else:
        assert their_suggestion < ours.suggestion
    capsys.readouterr()  # torch-lr-finder prints its progress messages


# fastai's suggestion rules --------------------------------------------------------------------


def test_valley_follows_fastais_longest_decreasing_subsequence():
    lrs = 10.0 ** np.arange(-8, 0)
    # Longest strictly decreasing subsequence: 5, 4, 3, 2, 1 (L = 5), first ending at index 6;
    # start = 6 - 5 = 1 and the suggestion is index 1 + int(5 / 3) + int(5 / 6) = 2.
    losses = [5, 4, 6, 3, 2, 7, 1, 8]
    assert suggest_lr(lrs, losses, 0, 0, method="valley") == lrs[2]
    # Ties keep the first longest: here 3, 2, 1 ends at index 2 and 9, 8, 7 at index 5.
    assert suggest_lr(lrs[:6], [3, 2, 1, 9, 8, 7], 0, 0, method="valley") == lrs[0]


def test_valley_on_a_u_shaped_curve_is_halfway_down():
    log_lrs = np.linspace(-5, 0, 101)
    lrs, losses = 10**log_lrs, _u_curve(log_lrs)
    kept = losses[10:-5]
    bottom = int(np.argmin(kept))  # strictly decreasing up to here: L = bottom + 1
    length = bottom + 1
    expected = bottom - length + int(length / 3) + int(length / 6)
    assert suggest_lr(lrs, losses, method="valley") == lrs[10 + expected]
    assert suggest_lr(lrs, losses, method="valley") < suggest_lr(lrs, losses)  # before steepest


def test_slide_slides_until_the_gradients_match():
    lrs = 10.0 ** np.linspace(-6, 0, 20)
    linear = 1 - 0.01 * np.arange(20)  # equal gradients at once: 15 points before the end
    assert suggest_lr(lrs, linear, 0, 0, method="slide") == lrs[4]
    # Slope -0.05 up to index 16, then flat. numpy.gradient: -0.05 up to index 15, -0.025 at
    # 16, 0 after. Pairs (19, 4), (18, 3), (17, 2), (16, 1) differ by more than 0.005; (15, 0)
    # do not, so the last differing left point, index 1, is the suggestion.
    bent = np.concatenate([1 - 0.05 * np.arange(17), [0.2, 0.2, 0.2]])
    assert suggest_lr(lrs, bent, 0, 0, method="slide") == lrs[1]
    assert suggest_lr(lrs[:15], linear[:15], 0, 0, method="slide") is None  # needs > 15 points


def test_minimum_is_a_tenth_of_the_lowest_losss_lr():
    log_lrs = np.linspace(-5, 0, 101)
    lrs, losses = 10**log_lrs, _u_curve(log_lrs)
    assert (
        suggest_lr(lrs, losses, method="minimum") == lrs[int(np.argmin(losses[10:-5])) + 10] / 10
    )
    with pytest.raises(ValueError, match="method must be one of"):
        suggest_lr(lrs, losses, method="steep")


def test_range_test_reports_every_suggestion_and_the_plot_marks_them():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    result = lr_range_test(model, optimizer, nn.MSELoss(), _loader(), end_lr=1.0, num_iter=40)
    assert set(result.suggestions) == {"steepest", "valley", "slide", "minimum"}
    assert result.suggestions["steepest"] == result.suggestion
    for method, value in result.suggestions.items():
        assert value == suggest_lr(result.lr, result.loss, method=method)
    ax = Figure().subplots()
    result.plot(ax, methods=SUGGESTION_METHODS)
    labels = [text.get_text() for text in ax.get_legend().get_texts()][1:]
    names = ["steepest descent", "valley", "slide", "minimum / 10"]
    assert labels == [
        f"{name}: {result.suggestions[m]:.2e}"
        for name, m in zip(names, SUGGESTION_METHODS, strict=True)
    ]
    assert [c.get_offsets()[0][0] for c in ax.collections] == pytest.approx(
        [result.suggestions[m] for m in SUGGESTION_METHODS]
    )


# accumulation, mixed precision, other batch layouts -------------------------------------------


def test_accumulation_steps_agrees_with_torch_lr_finder(tmp_path, capsys):
    from torch_lr_finder import LRFinder

    num_iter, start_lr, end_lr = 12, 1e-4, 0.1

    def build():
        torch.manual_seed(3)
        model = _model(seed=5)
        return model, torch.optim.SGD(model.parameters(), lr=start_lr, momentum=0.9)

    model, optimizer = build()
    ours = lr_range_test(
        model,
        optimizer,
        nn.MSELoss(),
        _loader(),
        end_lr,
        num_iter,
        alpha=0.1,
        accumulation_steps=3,
    )
    model, optimizer = build()
    finder = LRFinder(model, optimizer, nn.MSELoss(), device="cpu", cache_dir=str(tmp_path))
    finder.range_test(
        _loader(),
        end_lr=end_lr,
        num_iter=num_iter + 1,
        smooth_f=0.1,
        diverge_th=1e12,
        accumulation_steps=3,
    )
    finder.reset()
    theirs = {key: values[:num_iter] for key, values in finder.history.items()}
    assert ours.lr == theirs["lr"]
    assert ours.loss == theirs["loss"]  # the same floating-point operations, bit for bit
    capsys.readouterr()

    # Three mini-batches per step: different from one, and the first loss is their mean.
    model, optimizer = build()
    single = lr_range_test(model, optimizer, nn.MSELoss(), _loader(), end_lr, num_iter, alpha=0.1)
    assert ours.raw_loss[0] != single.raw_loss[0]
    with pytest.raises(ValueError, match="accumulation_steps"):
        lr_range_test(model, optimizer, nn.MSELoss(), _loader(), end_lr, accumulation_steps=0)


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = _model()

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return self.net(x * scale)


class _DictBatches:
    """Batches as dicts, with a second model input: ``{"x", "scale", "y"}``."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader

    def __iter__(self):
        for x, y in self.loader:
            yield {"x": x, "scale": torch.ones(len(x), 1), "y": y}


def test_batch_fn_adapts_dict_batches_with_several_inputs():
    two = _TwoInputs()
    optimizer = torch.optim.SGD(two.parameters(), lr=1e-3)
    before = _snapshot(two, optimizer)
    with pytest.raises(TypeError, match="pass batch_fn"):
        lr_range_test(two, optimizer, nn.MSELoss(), _DictBatches(_loader(False)), 1.0, 10)
    adapted = lr_range_test(
        two,
        optimizer,
        nn.MSELoss(),
        _DictBatches(_loader(False)),
        end_lr=1.0,
        num_iter=10,
        val_loader=_DictBatches(DataLoader(_data(1, 20), batch_size=8)),
        batch_fn=lambda b: ((b["x"], b["scale"]), b["y"]),
    )
    assert len(adapted.raw_loss) == 10 and all(math.isfinite(v) for v in adapted.raw_loss)
    _assert_restored(two, optimizer, before)
    with pytest.raises(TypeError, match="batch_fn must return an"):
        lr_range_test(
            two, optimizer, nn.MSELoss(), _DictBatches(_loader()), 1.0, 5, batch_fn=lambda b: b
        )


def test_batch_fn_with_keyword_inputs_gives_the_plain_curve():
    kwargs = {"end_lr": 1.0, "num_iter": 10}
    model = _model()
    model[2].p = 0.0
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    plain = lr_range_test(model, optimizer, nn.MSELoss(), _loader(False), **kwargs)

    class Keyword(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, *, image):
            return self.net(image)

    wrapped = Keyword(model)
    adapted = lr_range_test(
        wrapped,
        optimizer,
        nn.MSELoss(),
        _loader(False),
        batch_fn=lambda b: ({"image": b[0]}, b[1]),
        **kwargs,
    )
    assert adapted.raw_loss == plain.raw_loss


def test_mixed_precision_on_cpu_uses_bfloat16_autocast_and_restores():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    dtypes = []
    handle = model[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    before = _snapshot(model, optimizer)
    full = lr_range_test(model, optimizer, nn.MSELoss(), _loader(), end_lr=0.1, num_iter=8)
    mixed = lr_range_test(
        model, optimizer, nn.MSELoss(), _loader(), end_lr=0.1, num_iter=8, mixed_precision=True
    )
    handle.remove()
    assert dtypes[:8] == [torch.float32] * 8 and dtypes[8:] == [torch.bfloat16] * 8
    assert mixed.lr == full.lr
    assert mixed.raw_loss != full.raw_loss
    assert mixed.raw_loss == pytest.approx(full.raw_loss, rel=0.05)
    _assert_restored(model, optimizer, before)
    assert not torch.is_autocast_enabled("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_mixed_precision_on_cuda_uses_float16_and_a_grad_scaler():
    model = _model().cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    dtypes = []
    model[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    before = _snapshot(model, optimizer)
    result = lr_range_test(
        model, optimizer, nn.MSELoss(), _loader(), end_lr=0.1, num_iter=20, mixed_precision=True
    )
    assert set(dtypes) == {torch.float16}
    assert len(result.lr) == 20 and all(math.isfinite(v) for v in result.loss)
    _assert_restored(model, optimizer, before)


def test_make_lr_fn_takes_numpy_numbers_and_refuses_booleans():
    expected = make_lr_fn(0.01, 0.1, 10)
    numpy_fn = make_lr_fn(np.float32(0.01), np.float64(0.1), np.int64(10))
    # float32(0.01) is not 0.01: the factors are those of the float32 value, as Python floats.
    ratio = float(np.float64(0.1)) / float(np.float32(0.01))
    assert [numpy_fn(i) for i in range(3)] == [ratio ** (i / 10) for i in range(3)]
    assert all(type(numpy_fn(i)) is float for i in range(3))
    assert make_lr_fn(0.01, 0.1, np.int64(10))(4) == expected(4)
    with pytest.raises(ValueError, match="num_iter must be an integer >= 1, got True"):
        make_lr_fn(0.01, 0.1, True)
    with pytest.raises(ValueError, match="start_lr must be a positive finite number"):
        make_lr_fn(True, 2.0, 10)
