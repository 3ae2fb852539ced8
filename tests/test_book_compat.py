"""rpsbook.book: what the book's notebook needs besides its import lines, without the book.

The adapters of ``plots.chapter6``, the trainer's attributes that the book's ``setattr``
methods use, ``download_rps`` on a folder extracted by other means, and the runner's mapping
and comparisons. The whole notebook runs in tests/test_book_notebook.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import throwaway_sgd
from matplotlib.figure import Figure
from torch import nn, optim
from torch.optim.lr_scheduler import CyclicLR, LambdaLR, ReduceLROnPlateau, StepLR
from torch.utils.data import DataLoader, TensorDataset

import rpsbook
from rpsbook import StepByStep
from rpsbook.book import chapter6, regression, runner
from rpsbook.data import download_rps
from rpsbook.paths import compare_optimizers

# The public names of the book's plots/chapter6.py (its functions and what its imports
# re-export), except pandas' ``pd`` and scikit-learn's ``LinearRegression``.
BOOK_NAMES = {
    "np", "torch", "F", "plt", "deepcopy", "Image", "StepByStep", "ToPILImage",
    "StepLR", "ReduceLROnPlateau", "MultiStepLR", "CyclicLR", "LambdaLR",
    "EWMA", "calc_ewma", "correction", "calc_corrected_ewma", "momentum", "calc_momentum",
    "calc_nesterov", "compare_optimizers", "figure1", "figure2", "plot_dist", "figure7",
    "figure8", "figure9", "figure11", "figure15", "ma_vs_ewma", "figure17", "contour_data",
    "plot_paths", "plot_losses", "figure21", "plot_scheduler", "figure26", "figure28",
}  # fmt: skip


def test_star_import_gives_every_name_of_the_books_module():
    namespace: dict = {}
    exec("from rpsbook.book.chapter6 import *", namespace)
    assert set(chapter6.__all__) == BOOK_NAMES
    assert namespace.keys() >= BOOK_NAMES
    assert namespace["StepByStep"] is StepByStep
    assert namespace["calc_ewma"] is rpsbook.calc_ewma
    assert namespace["compare_optimizers"] is compare_optimizers
    assert namespace["plt"].__name__ == "matplotlib.pyplot"


def test_import_rpsbook_does_not_import_the_compatibility_package():
    import subprocess
    import sys

    code = "import sys, rpsbook; rpsbook.StepByStep; print('rpsbook.book' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------------------- figures


def test_plot_dist_draws_the_given_sums():
    sums = torch.tensor([6.0, 6.6, 7.2, 6.6, 5.0])
    fig, ax = chapter6.plt.subplots()
    assert chapter6.plot_dist(ax, sums, 0.5) is fig
    heights = [patch.get_height() for patch in ax.patches]
    assert sum(heights) == 5
    assert ax.get_title() == "p = 0.5"
    assert len(chapter6.figure7(0.5, sums).axes) == 1


def test_plot_scheduler_steps_the_given_scheduler_as_the_book():
    optimizer = throwaway_sgd(0.01)
    scheduler = LambdaLR(optimizer, lr_lambda=lambda epoch: 0.1 ** (epoch // 2))
    fig = chapter6.plot_scheduler(optimizer, scheduler)
    assert scheduler.last_epoch == 12  # stepped 12 times, as the book's does
    line = fig.axes[0].lines[0]
    expected = [0.01 * 0.1 ** (k // 2) for k in range(12)]
    assert np.asarray(line.get_ydata())[:12] == pytest.approx(expected)
    assert fig.axes[0].get_yscale() == "log"


def test_plot_scheduler_feeds_a_plateau_the_books_constant_loss():
    optimizer = throwaway_sgd(0.01)
    scheduler = ReduceLROnPlateau(optimizer, patience=4, factor=0.1)
    line = chapter6.plot_scheduler(optimizer, scheduler).axes[0].lines[0]
    # the first reduced lr is used in the seventh step (errata: not the sixth), the second
    # five steps later
    expected = [0.01] * 6 + [0.001] * 5 + [0.0001]
    assert np.asarray(line.get_ydata())[:12] == pytest.approx(expected)


def test_figure26_one_panel_per_cyclic_mode():
    optimizer = throwaway_sgd(0.01)
    modes = ("triangular", "triangular2")
    cyclic = [
        CyclicLR(optimizer, base_lr=1e-4, max_lr=1e-3, step_size_up=2, mode=m) for m in modes
    ]
    fig = chapter6.figure26(optimizer, cyclic)
    assert [ax.get_title() for ax in fig.axes] == [f"CyclicLR, mode={m}" for m in modes]
    first = np.asarray(fig.axes[0].lines[0].get_ydata())[:5]
    assert first == pytest.approx([1e-4, 5.5e-4, 1e-3, 5.5e-4, 1e-4])


def test_contour_data_in_the_books_layout():
    b, w, bs, ws, all_losses = chapter6.contour_data(regression.x_tensor, regression.y_tensor)
    assert bs.shape == ws.shape == all_losses.shape == (101, 101)
    assert bs[0, 0] == ws[0, 0] == pytest.approx(0.7) and bs[0, -1] == pytest.approx(2.3)
    assert (bs[:, 3] == bs[0, 3]).all() and (ws[3, :] == ws[3, 0]).all()
    # the least-squares line of all 100 points, and the grid's MSE at one (b, w)
    x = regression.x_tensor.double().numpy().ravel()
    y = regression.y_tensor.double().numpy().ravel()
    slope, intercept = np.polyfit(x, y, 1)
    assert (b, w) == pytest.approx((intercept, slope))
    assert all_losses[10, 20] == pytest.approx(np.mean((bs[10, 20] + ws[10, 20] * x - y) ** 2))


@pytest.fixture(scope="module")
def sgd_results():
    torch.manual_seed(42)
    model = nn.Sequential()
    model.add_module("linear", nn.Linear(1, 1))
    optimizers = {
        "SGD": {"class": optim.SGD, "parms": {"lr": 0.1}},
        "SGD + Momentum": {"class": optim.SGD, "parms": {"lr": 0.1, "momentum": 0.9}},
        "SGD + Nesterov": {
            "class": optim.SGD,
            "parms": {"lr": 0.1, "momentum": 0.9, "nesterov": True},
        },
    }
    return compare_optimizers(
        model, nn.MSELoss(), optimizers, regression.train_loader, regression.val_loader,
        n_epochs=10, device="cpu",
    )  # fmt: skip


def test_regression_results_reproduce_the_books_momentum_state(sgd_results):
    # the notebook's stored results['SGD + Momentum']['state'] (printed to 4 digits)
    state = sgd_results["SGD + Momentum"]["state"]["state"]
    assert round(state[0]["momentum_buffer"].item(), 4) == -0.0308
    assert round(state[1]["momentum_buffer"].item(), 4) == -0.1423


def test_path_figures_take_the_books_arguments(sgd_results):
    surface = chapter6.contour_data(regression.x_tensor, regression.y_tensor)
    fig = chapter6.plot_paths(sgd_results, *surface)
    assert [ax.get_title() for ax in fig.axes] == list(sgd_results)
    _, axs = chapter6.plt.subplots(1, 3)
    fig = chapter6.plot_losses(sgd_results, axs.flat)  # the notebook passes a flat iterator
    assert sum(bool(ax.lines) for ax in fig.axes) == 3
    fig = chapter6.figure21(sgd_results)
    assert [ax.get_title() for ax in fig.axes] == ["SGD run", "Momentum run", "Nesterov run"]
    six = dict(sgd_results) | {f"{k} again": v for k, v in sgd_results.items()}
    assert len(chapter6.figure28(six, *surface).axes) == 9


def test_every_figure_function_returns_a_figure():
    images, labels = torch.rand(16, 3, 28, 28), torch.arange(16) % 3
    gradients = np.random.default_rng(0).normal(size=50)
    figures = [
        chapter6.figure2(images, labels),
        chapter6.figure8(),
        chapter6.figure9(images),
        chapter6.figure11([1.0, 0.5], [1.0, 0.6], [1.0, 0.4], [1.0, 0.7]),
        chapter6.figure15(),
        chapter6.ma_vs_ewma(np.array([5, 11, 15, 6, 5, 3, 3, 0]), periods=19),
        chapter6.figure17(gradients, None, None, None),
    ]
    assert all(isinstance(fig, Figure) for fig in figures)
    assert [len(figures[i].axes) for i in (0, 1, 3)] == [6, 4, 1]


def test_figure1_shows_the_books_three_images(shared_png_dir):
    fig = chapter6.figure1(shared_png_dir / "rps")
    assert [ax.get_title() for ax in fig.axes] == ["rock", "paper", "scissors"]


# ---------------------------------------------------------------------------- trainer


def _trainer(seed: int = 0) -> StepByStep:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 3, generator=g)
    y = (x.sum(dim=1) > 0).long()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2))
    trainer = StepByStep(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01))
    trainer.to("cpu")
    dataset = TensorDataset(x, y)
    trainer.set_loaders(DataLoader(dataset, batch_size=16, shuffle=True), DataLoader(dataset))
    return trainer


def _loop_with_step_functions(trainer: StepByStep, n_epochs: int) -> None:
    """A loop written as the book's: one call of each step function per mini-batch."""
    trainer.set_seed(42)
    for _ in range(n_epochs):
        losses = [trainer.train_step_fn(x, y) for x, y in trainer.train_loader]
        with torch.no_grad():
            val = [trainer.val_step_fn(x, y) for x, y in trainer.val_loader]
        trainer.losses.append(float(np.mean(losses)))
        trainer.val_losses.append(float(np.mean(val)))


def test_step_functions_train_as_train_does():
    ours, books = _trainer(), _trainer()
    ours.train(3)
    _loop_with_step_functions(books, 3)
    assert books.losses == ours.losses and books.val_losses == ours.val_losses
    for a, b in zip(ours.model.parameters(), books.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert books.step_lrs == ours.step_lrs == [0.01] * 9


def test_step_functions_set_the_books_modes():
    trainer = _trainer()
    trainer.model.eval()
    loss = trainer.train_step_fn(*next(iter(trainer.train_loader)))
    assert isinstance(loss, float) and trainer.model.training  # the book's: train mode
    trainer.model.train()
    x, y = next(iter(trainer.val_loader))
    assert trainer.val_step_fn(x, y) == trainer.val_step_fn(x, y)  # eval: no dropout
    assert trainer.model.training  # mode restored
    assert all(p.grad is None or not p.grad.any() for p in trainer.model.parameters())


def test_train_step_fn_without_optimizer_says_so():
    trainer = StepByStep(nn.Linear(2, 1), nn.MSELoss())
    with pytest.raises(RuntimeError, match="set_optimizer"):
        trainer.train_step_fn(torch.zeros(1, 2), torch.zeros(1, 1))


def test_is_batch_lr_scheduler_as_the_book():
    trainer = _trainer()
    assert trainer.is_batch_lr_scheduler is False
    trainer.set_lr_scheduler(StepLR(trainer.optimizer, step_size=2))
    assert trainer.is_batch_lr_scheduler is False
    cyclic = CyclicLR(trainer.optimizer, base_lr=1e-3, max_lr=1e-2, step_size_up=4)
    trainer.set_lr_scheduler(cyclic)
    assert trainer.is_batch_lr_scheduler is True


def test_handles_stored_by_the_caller_are_removed_with_the_others():
    trainer = _trainer()
    seen: list[int] = []
    weight = trainer.model[0].weight
    capture = trainer.capture_gradients("0")
    # the book's capture_gradients keeps its hooks this way
    trainer.handles["0.weight.grad"] = weight.register_hook(lambda grad: seen.append(1))
    assert list(trainer.handles) == ["0.weight.grad", "0.bias.grad", "0.weight.grad#2"]
    trainer.train(1)
    assert len(seen) == 3 == len(capture.gradients["0"]["weight"])
    trainer.remove_hooks()
    assert trainer.handles == {}
    trainer.train(1)
    assert len(seen) == 3, "remove_hooks left the caller's hook in place"


def test_compare_optimizers_ignores_the_books_methods_attached_to_the_class(
    monkeypatch, sgd_results
):
    def book_train(self, n_epochs, seed=42):  # the book's signature: no progress
        _loop_with_step_functions(self, n_epochs)

    def book_capture_parameters(self, layers_to_hook):  # the book's: one argument
        raise AssertionError("compare_optimizers must not call the trainer's captures")

    monkeypatch.setattr(StepByStep, "train", book_train)
    monkeypatch.setattr(StepByStep, "capture_parameters", book_capture_parameters)
    monkeypatch.setattr(StepByStep, "capture_gradients", book_capture_parameters)
    torch.manual_seed(42)
    model = nn.Sequential()
    model.add_module("linear", nn.Linear(1, 1))
    momentum = {"SGD + Momentum": {"class": optim.SGD, "parms": {"lr": 0.1, "momentum": 0.9}}}
    again = compare_optimizers(
        model, nn.MSELoss(), momentum, regression.train_loader, regression.val_loader,
        n_epochs=10, device="cpu",
    )["SGD + Momentum"]  # fmt: skip
    before = sgd_results["SGD + Momentum"]
    assert torch.equal(again.path, before.path)
    assert again.losses == before.losses


# ---------------------------------------------------------------------------- download


def _book_extracted(root, per_class):
    for folder, n in per_class.items():
        for name in ("paper", "rock", "scissors"):
            (root / folder / name).mkdir(parents=True)
            for i in range(n):
                (root / folder / name / f"{name}{i:03d}.png").write_bytes(b"")
    return root


UNREACHABLE = {name: f"http://127.0.0.1:9/{name}.zip" for name in ("rps", "rps-test-set")}


def test_download_leaves_a_complete_book_extracted_folder_alone(tmp_path, capsys):
    root = _book_extracted(tmp_path, {"rps": 840, "rps-test-set": 124})
    assert download_rps(root, urls=UNREACHABLE) == root
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"{root / 'rps'} already holds the images: not downloaded again.",
        f"{root / 'rps-test-set'} already holds the images: not downloaded again.",
    ]
    assert sorted(p.name for p in root.iterdir()) == ["rps", "rps-test-set"]


def test_download_replaces_an_incomplete_book_extracted_folder(tmp_path, capsys):
    root = _book_extracted(tmp_path, {"rps": 840, "rps-test-set": 123})
    with pytest.raises(OSError, match=r"rps-test-set\.zip"):
        download_rps(root, urls=UNREACHABLE)
    assert capsys.readouterr().out.count("already holds") == 1  # rps/ only


# ---------------------------------------------------------------------------- runner


def test_switch_imports_replaces_mapped_lines_only():
    cell = "import numpy as np\n    from stepbystep.v3 import StepByStep\nx = 1"
    switched, done = runner.switch_imports(cell)
    assert switched == "import numpy as np\n    from rpsbook import StepByStep\nx = 1"
    assert done == [("from stepbystep.v3 import StepByStep", "from rpsbook import StepByStep")]
    with pytest.raises(ValueError, match=r"from stepbystep\.v4 import StepByStep"):
        runner.switch_imports("from stepbystep.v4 import StepByStep")
    with pytest.raises(ValueError, match=r"%run -i other\.py"):
        runner.switch_imports("%run -i other.py")


STORED_ADAM = """{'state': {0: {'step': tensor(50.),
   'exp_avg': tensor([[-0.0062]]),
   'exp_avg_sq': tensor([[0.0033]])},
  1: {'step': tensor(50.),
   'exp_avg': tensor([0.0405]),
   'exp_avg_sq': tensor([0.0097])}},
 'param_groups': [{'lr': 0.1,
   'betas': (0.9, 0.999),
   'eps': 1e-08,
   'weight_decay': 0,
   'amsgrad': False,
   'params': [0, 1]}]}"""


def test_optimizer_states_compare_as_printed_on_the_keys_both_print():
    newer = STORED_ADAM.replace("'amsgrad': False,", "'amsgrad': False, 'decoupled': False,")
    assert runner._same_state(STORED_ADAM, newer)
    assert not runner._same_state(STORED_ADAM, STORED_ADAM.replace("-0.0062", "-0.0061"))
    assert not runner._same_state(STORED_ADAM, STORED_ADAM.replace("'lr': 0.1", "'lr': 0.2"))


def test_adam_ewmas_compare_within_the_spread_across_cpus():
    stored = "(-0.006161476466002255, 0.003308466907084168)"
    amd = "(np.float64(-0.006161451964757599), np.float64(0.003308466907084168))"
    close = runner._close(runner.EWMA_REL)
    assert close(stored, amd)
    assert not close(stored, "(-0.00616, 0.003308466907084168)")


def test_class_totals_compare_only_the_totals():
    same = runner._column(1)
    stored = "tensor([2503, 2520]) tensor([324, 372])"
    assert same(stored, "tensor([2401, 2520]) tensor([241, 372])")
    assert not same("tensor([2503, 2520])", "tensor([2503, 2519])")
    stored = "tensor([[ 89, 124],\n        [118, 124],\n        [117, 124]])"
    assert same(stored, "tensor([[100, 124],\n        [101, 124],\n        [102, 124]])")
