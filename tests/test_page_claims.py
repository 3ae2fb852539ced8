"""The numbers behind claims the gallery pages make in prose.

Each test pins what a sentence of a page says, so that a change which makes the sentence
false fails here rather than on a reader. The page is named in each test's docstring.
"""

from __future__ import annotations

import ast
import itertools
import math
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.optim.lr_scheduler import CyclicLR, ReduceLROnPlateau

from rpsbook.ewma import bias_correction, calc_ewma
from rpsbook.paths import OptimizerConfig, compare_optimizers, make_regression_data
from rpsbook.schedulers import record_lrs

GALLERY = Path(__file__).resolve().parents[1] / "gallery"


def _book_figure_numbers() -> list[str]:
    """The ``number`` argument of every ``book_figure`` call in the gallery's scripts."""
    numbers = []
    for script in sorted(GALLERY.glob("plot_*.py")):
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            is_call = isinstance(node, ast.Call) and getattr(node.func, "id", "") == "book_figure"
            if is_call and isinstance(node.args[1], ast.Constant) and node.args[1].value:
                numbers.append(node.args[1].value)
    return numbers


def test_every_chapter_figure_is_labelled_once():
    """Issue 23: each of the chapter's 31 figures is drawn, and labelled, on one page."""
    numbers = _book_figure_numbers()
    assert sorted(numbers, key=lambda n: int(n.split(".")[1])) == [f"6.{i}" for i in range(1, 32)]


def test_three_channel_worked_example_is_the_books():
    """Three-channel convolutions: the book's region and filter give 18 + 13 + 8 = 39."""
    region = torch.tensor(
        [
            [[5, 0, 8], [1, 9, 5], [6, 0, 2]],
            [[0, 5, 4], [8, 1, 9], [4, 8, 1]],
            [[4, 2, 0], [6, 3, 0], [5, 2, 8]],
        ]
    )
    kernel = torch.tensor(
        [
            [[0, 3, 0], [1, 0, 1], [2, 1, 0]],
            [[2, 1, 0], [0, 3, 1], [1, -1, 0]],
            [[0, 1, 3], [-1, -2, 0], [2, 0, 1]],
        ]
    )
    assert (region * kernel).sum(dim=(1, 2)).tolist() == [18, 13, 8]
    assert F.conv2d(region[None].float(), kernel[None].float()).item() == 39


def test_torch_lr_finder_grid_is_relabelled_not_moved():
    """Learning rates: with num_iter=100 torch-lr-finder's lr at step i is ours times
    (end/start) ** (i/99 - i/100), 1 at the start and about 1.06 at the end."""
    from torch_lr_finder.lr_finder import ExponentialLR as FinderExponentialLR

    from rpsbook.lr_finder import make_lr_fn

    start, end = 3e-4, 0.1
    optimizer = optim.SGD([nn.Parameter(torch.zeros(1))], lr=start)
    finder = FinderExponentialLR(optimizer, end_lr=end, num_iter=100)
    theirs = []
    for _ in range(100):
        theirs.append(finder.get_lr()[0])
        optimizer.step()
        finder.step()
    ours = [start * make_lr_fn(start, end, 100)(i) for i in range(100)]
    ratios = [a / b for a, b in zip(theirs, ours, strict=True)]
    assert ratios[0] == pytest.approx(1.0)
    assert ratios[-1] == pytest.approx((end / start) ** (99 / 99 - 99 / 100), rel=1e-12)
    assert 1.05 < ratios[-1] < 1.07
    assert all(b > a for a, b in itertools.pairwise(ratios))


@pytest.fixture(scope="module")
def regression_data():
    return make_regression_data()


# The book notebook's stored output of `calc_ewma(gradients, 19)[-1], calc_ewma(np.power(gradients,
# 2), 1999)[-1]` (Chapter06.ipynb as published).
NOTEBOOK_ADAM_STATE = (-0.006161476466002255, 0.003308466907084168)
# Measured against it with torch 2.14.1: an Intel Xeon (AVX-512) agrees to ~1e-15; an AMD EPYC
# (AVX-512) differs by 4.0e-6 (first) and 1.4e-7 (second) relative, because the float32
# gradients of the 50 training steps differ in their last bits. 1e-5 covers that with a margin
# of 2.5, and still fails for any other run (the book's printed -0.0089 is 45% away).
ADAM_STATE_RTOL = 1e-5


def test_adam_state_matches_the_notebook_within_the_cross_cpu_spread(regression_data):
    """Adam page: the float64 EWMAs of the captured gradients are the notebook's stored ones."""
    adam = compare_optimizers(
        [OptimizerConfig("Adam", partial(optim.Adam, lr=0.1))], device="cpu", data=regression_data
    )["Adam"]
    grads = adam.gradients["weight"].double()
    ewma_g = calc_ewma(grads, 19)[-1].item()
    ewma_g2 = calc_ewma(grads**2, 1999)[-1].item()
    assert ewma_g == pytest.approx(NOTEBOOK_ADAM_STATE[0], rel=ADAM_STATE_RTOL)
    assert ewma_g2 == pytest.approx(NOTEBOOK_ADAM_STATE[1], rel=ADAM_STATE_RTOL)


def test_amsgrad_corrected_denominator_shrinks(regression_data):
    """Adam page: the uncorrected maximum never shrinks, torch's corrected denominator does."""
    run = compare_optimizers(
        [OptimizerConfig("AMSGrad", partial(optim.Adam, lr=0.1, amsgrad=True))],
        device="cpu",
        data=regression_data,
    )["AMSGrad"]
    grads = run.gradients["weight"]
    maxima = calc_ewma(grads**2, beta=0.999).cummax(dim=0).values.reshape(-1)
    state = run.optimizer_state["state"][0]
    assert maxima[-1].item() == pytest.approx(state["max_exp_avg_sq"].item(), rel=1e-5)
    corrections = torch.tensor([bias_correction(0.999, t) for t in range(1, len(maxima) + 1)])
    denominators = (maxima / corrections).sqrt()
    assert not (maxima[1:] < maxima[:-1]).any()
    assert (denominators[1:] < denominators[:-1]).sum().item() == 49


def test_amsgrad_step_keeps_bias_correction():
    """Errata page: torch's amsgrad step is the bias-corrected one, not the book's."""
    weight = nn.Parameter(torch.ones(1, dtype=torch.float64))
    adam = optim.Adam([weight], lr=0.1, amsgrad=True)
    m = v = v_max = 0.0
    with_correction = without = 1.0
    for t, g in enumerate((1.0, 0.1), start=1):
        weight.grad = torch.tensor([g], dtype=torch.float64)
        adam.step()
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
        v_max = max(v_max, v)
        with_correction -= 0.1 * (m / (1 - 0.9**t)) / (math.sqrt(v_max / (1 - 0.999**t)) + 1e-8)
        without -= 0.1 * m / (math.sqrt(v_max) + 1e-8)
    assert weight.item() == pytest.approx(with_correction, rel=1e-12)
    assert weight.item() != pytest.approx(without, rel=1e-3)


def test_reduce_on_plateau_reduced_lr_comes_in_the_seventh_epoch():
    """Errata and epoch-schedulers pages: 0.01 for six epochs, then 0.001."""
    lrs = record_lrs(lambda opt: ReduceLROnPlateau(opt, patience=4, factor=0.1), 12, metrics=1.0)
    assert lrs == pytest.approx([0.01] * 6 + [0.001] * 5 + [0.0001])
    assert next(epoch for epoch, lr in enumerate(lrs, 1) if lr < 0.01) == 7


def test_step_size_up_is_half_a_cycle():
    """Errata and cyclical pages: step_size_up=395 gives a cycle of 790 mini-batches."""
    lrs = record_lrs(lambda opt: CyclicLR(opt, base_lr=1e-3, max_lr=1e-2, step_size_up=395), 1600)
    peaks = [i for i in range(1, len(lrs) - 1) if lrs[i - 1] < lrs[i] >= lrs[i + 1]]
    assert peaks == [395, 1185]


def test_cyclic_schedulers_sharing_an_optimizer_keep_their_own_sequences():
    """Errata page: each keeps its sequence; the optimizer holds the last one's."""
    gamma = 0.5**0.5
    modes = {"triangular": 1.0, "triangular2": 1.0, "exp_range": gamma}

    def cyclic(opt, mode):
        return CyclicLR(
            opt, base_lr=1e-4, max_lr=1e-3, step_size_up=2, mode=mode, gamma=modes[mode]
        )

    shared = optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
    schedulers = {mode: cyclic(shared, mode) for mode in modes}
    reported = {mode: [] for mode in modes}
    held = []
    for _ in range(8):
        held.append(shared.param_groups[0]["lr"])
        for mode, scheduler in schedulers.items():
            reported[mode].append(scheduler.get_last_lr()[0])
        shared.step()
        for scheduler in schedulers.values():
            scheduler.step()
    for mode in modes:
        assert reported[mode] == pytest.approx(record_lrs(partial(cyclic, mode=mode), 8))
    assert held == pytest.approx(reported["exp_range"])
    assert reported["triangular"] != pytest.approx(held)


def test_book_text_signature_rejects_n_feature_and_rpsbook_accepts_it():
    """Errata page: the text's CNN2(n_filters, p) raises; rpsbook's takes both names."""
    from rpsbook.models import CNN2

    class BookTextCNN2(nn.Module):
        def __init__(self, n_filters, p=0.0):
            super().__init__()

    with pytest.raises(TypeError, match="unexpected keyword argument 'n_feature'"):
        BookTextCNN2(n_feature=5, p=0.3)
    counts = [sum(q.numel() for q in m.parameters()) for m in (CNN2(n_feature=5), CNN2(5))]
    assert counts == [6823, 6823]


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.usefixtures("two_threads")
def test_adam_at_0_005_fits_better_and_generalizes_worse(real_data_dir):
    """Learning rates page: 0.005 ends with a lower training loss than 3e-4 but a higher
    validation loss (the counts of correct images move either way with the setting)."""
    from rpsbook.data import load_rps
    from rpsbook.models import CNN2
    from rpsbook.trainer import StepByStep

    rps = load_rps(real_data_dir)
    runs = {}
    for lr in (3e-4, 0.005):
        torch.manual_seed(13)
        model = CNN2(n_filters=5, p=0.3)
        sbs = StepByStep(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=lr))
        sbs.set_loaders(rps.train_loader, rps.val_loader)
        sbs.train(10)
        hits = StepByStep.loader_apply(rps.val_loader, sbs.correct).sum(dim=0)[0].item()
        runs[lr] = (sbs.losses[-1], sbs.val_losses[-1], hits)
    assert runs[3e-4][2] == 330
    assert runs[0.005][0] < runs[3e-4][0] / 2
    assert runs[0.005][1] > runs[3e-4][1]
