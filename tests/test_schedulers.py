from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from conftest import throwaway_sgd
from matplotlib.figure import Figure
from torch.optim.lr_scheduler import (
    ChainedScheduler,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    ExponentialLR,
    LambdaLR,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

from rpsbook.training import (
    SchedulerStepper,
    cosine_warm_restarts_epoch,
    plot_lr_sequences,
    record_lrs,
    scheduler_kind,
)

# scheduler_kind ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "kind"),
    [
        (lambda opt: StepLR(opt, 2, 0.1), "epoch"),
        (lambda opt: MultiStepLR(opt, [2, 4]), "epoch"),
        (lambda opt: ExponentialLR(opt, 0.9), "epoch"),
        (lambda opt: LambdaLR(opt, lambda epoch: 0.1 ** (epoch // 2)), "epoch"),
        (lambda opt: CosineAnnealingLR(opt, 10), "epoch"),
        (lambda opt: ReduceLROnPlateau(opt, patience=4, factor=0.1), "plateau"),
        (lambda opt: CyclicLR(opt, 1e-4, 1e-3, step_size_up=2), "batch"),
        (lambda opt: OneCycleLR(opt, max_lr=0.1, total_steps=10), "batch"),
        (lambda opt: CosineAnnealingWarmRestarts(opt, T_0=2), "batch"),
        (
            lambda opt: SequentialLR(
                opt, [ExponentialLR(opt, 0.9), StepLR(opt, 2, 0.1)], milestones=[3]
            ),
            "epoch",
        ),
    ],
)
def test_scheduler_kind(factory, kind):
    assert scheduler_kind(factory(throwaway_sgd())) == kind


def test_scheduler_kind_rejects_mixed_chains_and_non_schedulers():
    optimizer = throwaway_sgd()
    chain = ChainedScheduler([StepLR(optimizer, 2), CyclicLR(optimizer, 1e-4, 1e-3)])
    with pytest.raises(ValueError, match=r"\['batch', 'epoch'\]"):
        scheduler_kind(chain)
    with pytest.raises(TypeError, match=r"scheduler must be a .*got SGD"):
        scheduler_kind(optimizer)


# record_lrs: epoch and plateau schedulers -----------------------------------------------------


def test_step_lr_sequence():
    assert record_lrs(lambda opt: StepLR(opt, step_size=2, gamma=0.1), 4) == [
        0.01,
        0.01,
        0.001,
        0.001,
    ]


def test_lambda_lr_equals_step_lr_fig_6_24():
    lambda_lrs = record_lrs(lambda opt: LambdaLR(opt, lambda epoch: 0.1 ** (epoch // 2)), 10)
    step_lrs = record_lrs(lambda opt: StepLR(opt, step_size=2, gamma=0.1), 10)
    # LambdaLR computes 0.01 * 0.1**k, StepLR multiplies by 0.1 k times: equal up to rounding.
    assert lambda_lrs[:4] == step_lrs[:4]
    assert lambda_lrs == pytest.approx(step_lrs, rel=1e-12)
    assert lambda_lrs == pytest.approx([0.01 * 0.1 ** (k // 2) for k in range(10)], rel=1e-12)


def test_reduce_on_plateau_with_a_flat_loss_fig_6_25():
    lrs = record_lrs(lambda opt: ReduceLROnPlateau(opt, patience=4, factor=0.1), 12, metrics=0.5)
    assert lrs == [0.01] * 6 + [0.001] * 5 + [0.0001]


def test_reduce_on_plateau_keeps_the_lr_while_the_loss_improves():
    metrics = [1.0 - 0.05 * k for k in range(12)]
    lrs = record_lrs(lambda opt: ReduceLROnPlateau(opt, patience=2), 12, metrics=metrics)
    assert lrs == [0.01] * 12


def test_record_lrs_argument_errors():
    plateau = lambda opt: ReduceLROnPlateau(opt)  # noqa: E731
    with pytest.raises(ValueError, match="metrics is required"):
        record_lrs(plateau, 3)
    with pytest.raises(ValueError, match="fewer than n_steps=3"):
        record_lrs(plateau, 3, metrics=[1.0, 1.0])
    with pytest.raises(TypeError, match="metrics must be"):
        record_lrs(plateau, 3, metrics="flat")
    with pytest.raises(ValueError, match="metrics is only used by ReduceLROnPlateau"):
        record_lrs(lambda opt: StepLR(opt, 2), 3, metrics=1.0)
    with pytest.raises(ValueError, match="optimizer it is given"):
        record_lrs(lambda opt: StepLR(throwaway_sgd(), 2), 3)
    with pytest.raises(ValueError, match="n_steps"):
        record_lrs(lambda opt: StepLR(opt, 2), -1)


# record_lrs: mini-batch schedulers -------------------------------------------------------------


def _cyclic_closed_form(
    t: int, base: float, peak: float, step_size: int, mode: str, gamma: float = 1.0
) -> float:
    """Smith's triangular policy: the lr of iteration t (scheduler steps taken so far)."""
    cycle = math.floor(1 + t / (2 * step_size))
    x = abs(t / step_size - 2 * cycle + 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**t}[mode]
    return base + (peak - base) * max(0.0, 1 - x) * scale


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_lr_modes_match_the_closed_form_fig_6_26(mode):
    gamma = math.sqrt(0.5)
    lrs = record_lrs(
        lambda opt: CyclicLR(
            opt, base_lr=1e-4, max_lr=1e-3, step_size_up=2, mode=mode, gamma=gamma
        ),
        13,
    )
    expected = [_cyclic_closed_form(t, 1e-4, 1e-3, 2, mode, gamma) for t in range(13)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert lrs[0] == pytest.approx(1e-4)  # starts at base_lr, not at the optimizer's 0.01
    assert lrs[2] == pytest.approx(
        {"triangular": 1e-3, "triangular2": 1e-3, "exp_range": 5.5e-4}[mode]
    )
    second_peak = {"triangular": 1e-3, "triangular2": 5.5e-4, "exp_range": 1e-4 + 9e-4 / 8}
    assert lrs[6] == pytest.approx(second_peak[mode])


def test_cyclic_lr_cycles_momentum_of_plain_sgd_unless_told_not_to():
    optimizer = throwaway_sgd()
    assert optimizer.param_groups[0]["momentum"] == 0
    CyclicLR(optimizer, 1e-4, 1e-3)
    assert optimizer.param_groups[0]["momentum"] == 0.9  # plain SGD became SGD with momentum
    optimizer = throwaway_sgd()
    CyclicLR(optimizer, 1e-4, 1e-3, cycle_momentum=False)
    assert optimizer.param_groups[0]["momentum"] == 0


def test_record_lrs_with_an_optimizer_without_momentum():
    adagrad = lambda params: torch.optim.Adagrad(params, lr=0.01)  # noqa: E731
    with pytest.raises(ValueError, match="momentum or beta1"):
        record_lrs(lambda opt: CyclicLR(opt, 1e-4, 1e-3), 3, optimizer_factory=adagrad)
    lrs = record_lrs(
        lambda opt: CyclicLR(opt, 1e-4, 1e-3, step_size_up=2, cycle_momentum=False),
        5,
        optimizer_factory=adagrad,
    )
    assert lrs == pytest.approx([1e-4, 5.5e-4, 1e-3, 5.5e-4, 1e-4], rel=1e-12)


def test_each_call_uses_a_fresh_optimizer():
    factory = lambda opt: CyclicLR(opt, 1e-4, 1e-3, step_size_up=2, mode="triangular2")  # noqa: E731
    assert record_lrs(factory, 9) == record_lrs(factory, 9)


def _one_cycle_closed_form(t: int, max_lr: float, total: int) -> float:
    """Cosine annealing up for 30% of the steps, then down (OneCycleLR's defaults)."""
    initial, final = max_lr / 25, max_lr / 25 / 1e4
    peak_step = 0.3 * total - 1

    def anneal(start: float, end: float, pct: float) -> float:
        return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)

    if t <= peak_step:
        return anneal(initial, max_lr, t / peak_step)
    return anneal(max_lr, final, (t - peak_step) / (total - 1 - peak_step))


def test_one_cycle_over_total_steps():
    lrs = record_lrs(lambda opt: OneCycleLR(opt, max_lr=0.1, total_steps=20), 20)
    assert lrs == pytest.approx([_one_cycle_closed_form(t, 0.1, 20) for t in range(20)], rel=1e-9)
    assert lrs[0] == pytest.approx(0.004)
    assert max(lrs) == lrs[5] == pytest.approx(0.1)
    assert lrs[-1] == pytest.approx(4e-7)
    by_epochs = record_lrs(lambda opt: OneCycleLR(opt, 0.1, epochs=4, steps_per_epoch=5), 20)
    assert by_epochs == lrs
    with pytest.raises(ValueError, match="total steps is 20"):
        record_lrs(lambda opt: OneCycleLR(opt, max_lr=0.1, total_steps=20), 21)


# CosineAnnealingWarmRestarts per mini-batch ----------------------------------------------------


def test_cosine_warm_restarts_epoch_values_and_errors():
    assert cosine_warm_restarts_epoch(0, 0, 4) == 0.0
    assert cosine_warm_restarts_epoch(2, 1, 4) == 2.25
    assert cosine_warm_restarts_epoch(2, 4, 4) == 3.0
    with pytest.raises(ValueError, match="batch_index"):
        cosine_warm_restarts_epoch(0, 5, 4)
    with pytest.raises(ValueError, match="n_batches"):
        cosine_warm_restarts_epoch(0, 0, 0)
    with pytest.raises(ValueError, match="epoch"):
        cosine_warm_restarts_epoch(-1, 0, 4)


def test_cosine_warm_restarts_stepped_with_the_fractional_epoch():
    n_batches, t_0, lr = 3, 2, 0.01
    optimizer = throwaway_sgd(lr)
    scheduler = CosineAnnealingWarmRestarts(optimizer, T_0=t_0)
    used = {}
    for epoch in range(5):
        for i in range(n_batches):
            used[epoch + i / n_batches] = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step(cosine_warm_restarts_epoch(epoch, i + 1, n_batches))
    # Every mini-batch uses the lr of its own position; restarts every t_0 epochs.
    for position, value in used.items():
        t_cur = position % t_0
        assert value == pytest.approx(lr * (1 + math.cos(math.pi * t_cur / t_0)) / 2, abs=1e-15)
    assert used[2.0] == lr
    assert used[4.0] == lr


# plot_lr_sequences ---------------------------------------------------------------------------


def test_plot_lr_sequences_one_panel_per_entry():
    sequences = {
        "StepLR(2, 0.1)": record_lrs(lambda opt: StepLR(opt, 2, 0.1), 6),
        "LambdaLR": record_lrs(lambda opt: LambdaLR(opt, lambda e: 0.1 ** (e // 2)), 6),
    }
    figure = plot_lr_sequences(sequences, xlabel="epoch")
    assert isinstance(figure, Figure)
    # Registered with pyplot, so Sphinx-Gallery's matplotlib scraper picks it up.
    assert plt.fignum_exists(figure.number)
    plt.close(figure)
    assert [ax.get_title() for ax in figure.axes] == list(sequences)
    for ax, lrs in zip(figure.axes, sequences.values(), strict=True):
        assert ax.get_yscale() == "log"
        assert ax.get_xlabel() == "epoch"
        assert [list(line.get_ydata()) for line in ax.get_lines()] == [lrs, lrs]


def test_plot_lr_sequences_on_given_axes():
    sequences = {"a": [0.1, 0.01], "b": [0.2, 0.02], "c": [0.3, 0.03]}
    ax = Figure().subplots()
    figure = plot_lr_sequences(sequences, ax, log=False)
    assert figure is ax.figure
    assert ax.get_yscale() == "linear"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["a", "b", "c"]

    axes = Figure().subplots(1, 3)
    assert plot_lr_sequences(sequences, list(axes)) is axes[0].figure
    assert [ax.get_title() for ax in axes] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="2 axes for 3 sequences"):
        plot_lr_sequences(sequences, list(axes[:2]))
    with pytest.raises(ValueError, match="sequences is empty"):
        plot_lr_sequences({})


def test_plot_lr_sequences_fits_long_titles_and_ticks_whole_steps():
    label = "ReduceLROnPlateau(patience=4, factor=0.1, threshold=1e-4)"
    lrs = record_lrs(lambda opt: CyclicLR(opt, 1e-4, 1e-3, step_size_up=2), 16)
    figure = plot_lr_sequences({label: lrs}, xlabel="mini-batch")
    try:
        figure.canvas.draw()
        (ax,) = figure.axes
        title = ax.title.get_window_extent()
        assert figure.bbox.x0 <= title.x0 and title.x1 <= figure.bbox.x1
        ticks = [t for t in ax.get_xticks() if 0 <= t <= 15]
        assert len(ticks) >= 3
        assert all(float(t).is_integer() for t in ticks)
    finally:
        plt.close(figure)


def test_plot_lr_sequences_marks_short_sequences_only():
    fig = plot_lr_sequences({"short": [0.1] * 10, "long": [0.1] * 500})
    short_ax, long_ax = fig.axes
    assert [line.get_marker() for line in short_ax.lines][-1] == "o"
    assert all(line.get_marker() in ("None", "", None) for line in long_ax.lines)
    _, ax = plt.subplots()
    shared = plot_lr_sequences({"a": [0.1] * 500, "b": [0.2] * 500}, ax=ax)
    labels = [text.get_text() for text in shared.axes[0].get_legend().get_texts()]
    assert labels == ["a", "b"]


def test_record_lrs_takes_numpy_integers_and_refuses_booleans():
    step = lambda opt: StepLR(opt, step_size=2, gamma=0.1)  # noqa: E731
    assert record_lrs(step, np.int64(4)) == record_lrs(step, 4)
    with pytest.raises(ValueError, match="n_steps must be an integer >= 0, got True"):
        record_lrs(step, True)


def test_the_stepper_steps_each_kind_at_its_moment():
    history: list[list[float]] = []
    plateau = SchedulerStepper(
        ReduceLROnPlateau(throwaway_sgd(0.1), patience=0, factor=0.5), history
    )
    plateau.after_batch(0, 0, 4)  # not its moment
    plateau.after_epoch(1.0)
    plateau.after_epoch(1.0)  # no improvement: halved
    assert history == [[0.1], [0.05]]
    with pytest.raises(ValueError, match="ReduceLROnPlateau steps with a metric"):
        plateau.after_epoch(None)
    optimizer = throwaway_sgd(0.1)
    warm = SchedulerStepper(CosineAnnealingWarmRestarts(optimizer, T_0=1))
    warm.after_epoch(None)  # not its moment
    warm.after_batch(0, 0, 4)  # the lr of epoch 0.25
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)))
    assert warm.history is None and SchedulerStepper(None).kind is None
