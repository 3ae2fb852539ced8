"""Every call of BOOK_API.md, made exactly as the book's Chapter 6 makes it.

Each test is one row of the table: the book's argument names and positions, and the return
shapes the book's code goes on to use. Where rpsbook fixes a book bug the test says so.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn, optim
from torch.optim.lr_scheduler import CyclicLR, StepLR
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms import v2

import rpsbook
from rpsbook import (
    CNN2,
    EWMA,
    StepByStep,
    calc_corrected_ewma,
    calc_ewma,
    calc_momentum,
    calc_nesterov,
    compare_optimizers,
    correction,
    make_lr_fn,
    momentum,
)


def _images(n: int = 48, seed: int = 0) -> TensorDataset:
    """Three separable classes of 3@28x28 images (each class brightens one channel)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 3, 28, 28, generator=g) * 0.5
    x[torch.arange(n), y] += 1.5
    return TensorDataset(x, y)


@pytest.fixture
def loaders() -> tuple[DataLoader, DataLoader]:
    return (
        DataLoader(_images(), batch_size=16, shuffle=True),
        DataLoader(_images(32, 1), batch_size=16),
    )


@pytest.fixture
def sbs(loaders) -> StepByStep:
    torch.manual_seed(13)
    model = CNN2(n_feature=5, p=0.3)
    optimizer = optim.Adam(model.parameters(), lr=3e-4)
    trainer = StepByStep(model, nn.CrossEntropyLoss(reduction="mean"), optimizer)
    trainer.to("cpu")
    trainer.set_loaders(*loaders)
    return trainer


def _regression() -> tuple[DataLoader, DataLoader]:
    rng = np.random.RandomState(42)
    x = rng.rand(100, 1)
    y = 1 + 2 * x + 0.1 * rng.randn(100, 1)
    x_t, y_t = torch.as_tensor(x).float(), torch.as_tensor(y).float()
    return (
        DataLoader(TensorDataset(x_t[:80], y_t[:80]), batch_size=16, shuffle=True),
        DataLoader(TensorDataset(x_t[80:], y_t[80:]), batch_size=16),
    )


def _linear_model() -> nn.Sequential:
    torch.manual_seed(42)
    model = nn.Sequential()
    model.add_module("linear", nn.Linear(1, 1))
    return model


# ------------------------------------------------------------------------------ StepByStep


def test_init_model_loss_fn_optimizer_positional():
    model = CNN2(5)
    optimizer = optim.Adam(model.parameters(), lr=3e-4)
    loss_fn = nn.CrossEntropyLoss()
    trainer = StepByStep(model, loss_fn, optimizer)
    assert trainer.model is model and trainer.loss_fn is loss_fn
    assert trainer.optimizer is optimizer
    expected = "cuda" if torch.cuda.is_available() else trainer.device.type
    assert trainer.device.type == expected


def test_to_device(sbs):
    sbs.to("cpu")
    assert sbs.device == torch.device("cpu")
    assert next(sbs.model.parameters()).device.type == "cpu"


def test_set_loaders_train_and_optional_val(sbs, loaders):
    sbs.set_loaders(loaders[0])
    assert sbs.train_loader is loaders[0] and sbs.val_loader is None
    sbs.set_loaders(loaders[0], loaders[1])
    assert sbs.val_loader is loaders[1]


def test_set_tensorboard_name_folder(sbs, tmp_path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install tensorboard"):
            sbs.set_tensorboard("classy", folder=str(tmp_path))
        with pytest.raises(RuntimeError, match="set_tensorboard"):
            sbs.add_graph()
        return
    sbs.set_tensorboard("classy", folder=str(tmp_path))
    assert sbs.writer is not None
    (run,) = tmp_path.iterdir()
    assert run.name.startswith("classy_")


# SummaryWriter.add_graph traces with torch.jit.trace, which torch 2.14 deprecates.
@pytest.mark.filterwarnings("ignore:`torch.jit.trace` is deprecated:FutureWarning")
def test_add_graph(sbs, tmp_path):
    pytest.importorskip("tensorboard")
    sbs.set_tensorboard("graph", str(tmp_path))
    sbs.add_graph()
    sbs.writer.close()
    assert any(path.is_file() for path in tmp_path.rglob("*"))


def test_set_seed_default_42():
    assert inspect.signature(StepByStep.set_seed).parameters["seed"].default == 42
    _bare().set_seed(7)
    first = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(first, torch.rand(3))


def _bare() -> StepByStep:
    model = nn.Linear(1, 1)
    return StepByStep(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))


def test_train_n_epochs_seed(sbs):
    sbs.train(2)
    assert sbs.total_epochs == 2
    assert len(sbs.losses) == len(sbs.val_losses) == 2
    assert all(isinstance(loss, float) for loss in sbs.losses)


def test_save_and_load_checkpoint_filename(sbs, tmp_path):
    sbs.train(1)
    filename = str(tmp_path / "model_checkpoint.pth")
    sbs.save_checkpoint(filename)
    saved = {k: v.clone() for k, v in sbs.model.state_dict().items()}
    sbs.train(1)
    sbs.load_checkpoint(filename)
    assert sbs.total_epochs == 1 and len(sbs.losses) == 1
    for key, value in sbs.model.state_dict().items():
        assert torch.equal(value, saved[key])


def test_predict_numpy_in_numpy_out(sbs):
    x = np.random.RandomState(0).rand(4, 3, 28, 28)  # float64, as NumPy makes it
    out = sbs.predict(x)
    assert isinstance(out, np.ndarray)
    assert out.shape == (4, 3) and out.dtype == np.float32
    # a tensor in gives a CPU tensor out (rpsbook's one departure, documented)
    tensor_out = sbs.predict(torch.as_tensor(x).float())
    assert isinstance(tensor_out, torch.Tensor) and tensor_out.device.type == "cpu"
    np.testing.assert_array_equal(np.asarray(tensor_out), out)
    assert sbs.model.training  # back in train mode, as the book leaves it


def test_plot_losses_returns_figure(sbs):
    sbs.train(1)
    assert isinstance(sbs.plot_losses(), Figure)


def test_count_parameters(sbs):
    assert sbs.count_parameters() == 6823


def test_visualize_filters_layer_name(sbs):
    fig = sbs.visualize_filters("conv1")
    assert isinstance(fig, Figure)
    assert len(fig.axes) >= 15  # 5 filters x 3 channels


def test_attach_hooks_default_hook_stores_numpy_and_concatenates(sbs):
    sbs.attach_hooks(layers_to_hook=["conv1", "fc1", "fc2"])
    assert sbs.visualization == {"conv1": None, "fc1": None, "fc2": None}
    assert set(sbs.handles) == {"conv1", "fc1", "fc2"}
    images = _images(10).tensors[0]
    sbs.predict(images[:6])
    sbs.predict(images[6:])  # a second pass is concatenated, as in the book
    assert isinstance(sbs.visualization["fc1"], np.ndarray)
    assert sbs.visualization["conv1"].shape == (10, 5, 26, 26)
    assert sbs.visualization["fc2"].shape == (10, 3)
    np.testing.assert_allclose(
        sbs.visualization["fc2"], sbs.predict(images.numpy()), rtol=1e-6, atol=1e-6
    )
    sbs.remove_hooks()
    assert sbs.handles == {}


def test_attach_hooks_with_book_three_argument_hook_fn(sbs):
    seen = []

    def hook_fn(layer, inputs, outputs):
        seen.append((type(layer).__name__, inputs[0].shape, outputs.shape))

    sbs.attach_hooks(["conv2"], hook_fn)
    sbs.attach_hooks(layers_to_hook="fc1", hook_fn=hook_fn)
    assert set(sbs.handles) == {"conv2", "fc1"}
    sbs.predict(torch.zeros(2, 3, 28, 28))
    assert seen == [
        ("Conv2d", (2, 5, 13, 13), (2, 5, 11, 11)),
        ("Linear", (2, 125), (2, 50)),
    ]
    sbs.remove_hooks()
    sbs.predict(torch.zeros(2, 3, 28, 28))
    assert len(seen) == 2


def test_remove_hooks(sbs):
    sbs.attach_hooks(["conv1"])
    sbs.capture_gradients("fc1")
    sbs.capture_parameters("fc1")
    assert sbs.model.conv1._forward_hooks and sbs.model.fc1._forward_hooks
    sbs.remove_hooks()
    assert not sbs.model.conv1._forward_hooks and not sbs.model.fc1._forward_hooks
    assert not sbs.model.fc1.weight._backward_hooks
    assert sbs.handles == {}


def test_visualize_outputs_layers_n_images_y_yhat(sbs):
    sbs.attach_hooks(layers_to_hook=["conv1", "conv2", "fc1"])
    images, labels = _images(8).tensors
    logits = sbs.predict(images.numpy())
    predicted = np.argmax(logits, 1)
    sbs.remove_hooks()
    fig = sbs.visualize_outputs(["conv1", "conv2", "fc1"], n_images=8, y=labels, yhat=predicted)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == (5 + 5 + 1) * 8


def test_correct_counts_and_sigmoid_last_layer():
    torch.manual_seed(0)
    x = torch.randn(8, 1)
    y = (x > 0).float()
    # a perfect classifier whose last layer is a Sigmoid: 100%, not the 50% a second
    # sigmoid would give (every probability above 0.5 after sigmoid(p) for p in (0, 1))
    model = nn.Sequential(nn.Linear(1, 1), nn.Sigmoid())
    with torch.no_grad():
        model[0].weight.fill_(100.0)
        model[0].bias.zero_()
    trainer = StepByStep(model, nn.BCELoss(), optim.SGD(model.parameters(), lr=0.1))
    counts = trainer.correct(x, y)
    n_pos = int(y.sum())
    assert counts.tolist() == [[8 - n_pos, 8 - n_pos], [n_pos, n_pos]]
    # the same model without its Sigmoid outputs logits: sigmoid applied, same counts
    logits_trainer = StepByStep(model[0], nn.BCEWithLogitsLoss(), trainer.optimizer)
    assert logits_trainer.correct(x, y, threshold=0.5).tolist() == counts.tolist()


def test_correct_multiclass_per_class(sbs, loaders):
    counts = sbs.correct(*next(iter(loaders[1])))
    assert counts.shape == (3, 2)
    assert counts[:, 1].tolist() == [6, 5, 5]  # labels 0,1,2,0,1,2,... in a batch of 16


def test_loader_apply_loader_func_reduce(sbs, loaders):
    total = StepByStep.loader_apply(loaders[1], sbs.correct)
    assert total.shape == (3, 2) and int(total[:, 1].sum()) == 32
    mean = StepByStep.loader_apply(loaders[1], sbs.correct, reduce="mean")
    torch.testing.assert_close(mean, total.float() / 2)
    assert StepByStep.loader_apply(loaders[1], sbs.correct).sum(axis=0).tolist()[1] == 32


def test_statistics_per_channel_images_labels():
    images = torch.stack([torch.full((3, 4, 4), 0.5), torch.rand(3, 4, 4)])
    stats = StepByStep.statistics_per_channel(images, torch.tensor([0, 1]))
    assert stats.shape == (3, 3)
    assert stats[0].tolist() == [2.0, 2.0, 2.0]
    flat = images.reshape(2, 3, -1)
    torch.testing.assert_close(stats[1], flat.mean(dim=2).sum(dim=0))
    torch.testing.assert_close(stats[2], flat.std(dim=2).sum(dim=0))


def test_make_normalizer_loader():
    images = torch.rand(20, 3, 4, 4)
    loader = DataLoader(TensorDataset(images, torch.zeros(20)), batch_size=16)
    normalizer = StepByStep.make_normalizer(loader)
    assert isinstance(normalizer, v2.Normalize)
    flat = images.reshape(20, 3, -1)
    np.testing.assert_allclose(normalizer.mean, flat.mean(dim=2).mean(dim=0), rtol=1e-5)
    np.testing.assert_allclose(normalizer.std, flat.std(dim=2).mean(dim=0), rtol=1e-5)


def test_lr_range_test_loader_first_unpacks_tracking_fig(loaders):
    torch.manual_seed(13)
    new_model = CNN2(n_feature=5, p=0.3)
    new_optimizer = optim.Adam(new_model.parameters(), lr=3e-4)
    sbs_new = StepByStep(new_model, nn.CrossEntropyLoss(reduction="mean"), new_optimizer)
    before = {k: v.clone() for k, v in new_model.state_dict().items()}
    tracking, fig = sbs_new.lr_range_test(loaders[0], end_lr=1e-1, num_iter=10)
    assert set(tracking) == {"lr", "loss"}
    assert len(tracking["lr"]) == len(tracking["loss"]) == 10
    assert tracking["lr"][0] == pytest.approx(3e-4)
    assert tracking["lr"][1] == pytest.approx(3e-4 * (1e-1 / 3e-4) ** 0.1)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    for key, value in new_model.state_dict().items():
        assert torch.equal(value, before[key])
    # the result still is rpsbook's result object
    result = sbs_new.lr_range_test(loaders[0], end_lr=1e-1, num_iter=10)
    assert result.lr == tracking["lr"] and result.loss == tracking["loss"]
    assert len(result.raw_loss) == 10
    # rpsbook fixes: no stale gradients left behind; step_mode is honoured
    assert all(p.grad is None for p in new_model.parameters())
    linear = sbs_new.lr_range_test(loaders[0], end_lr=1e-1, num_iter=10, step_mode="linear")
    assert linear.lr[1] == pytest.approx(3e-4 * (1 + (1e-1 / 3e-4 - 1) / 10))


def test_lr_range_test_draws_on_ax(loaders):
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2)
    for ax, nesterov in zip(axs.flat, [False, True], strict=True):
        model = _linear_model()
        optimizer = optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=nesterov)
        sbs_scheduler = StepByStep(model, nn.MSELoss(reduction="mean"), optimizer)
        tracking, returned = sbs_scheduler.lr_range_test(
            _regression()[0], end_lr=1, num_iter=20, ax=ax
        )
        assert returned is fig
        assert len(ax.lines) == 1
        np.testing.assert_array_equal(ax.lines[0].get_ydata(), tracking["loss"])


def test_set_optimizer(sbs):
    new_optimizer = optim.Adam(sbs.model.parameters(), lr=0.005)
    sbs.set_optimizer(new_optimizer)
    assert sbs.optimizer is new_optimizer


def test_capture_gradients_lists_per_step():
    train_loader, val_loader = _regression()
    model = _linear_model()
    optimizer = optim.Adam(model.parameters(), lr=0.1)
    sbs_adam = StepByStep(model, nn.MSELoss(reduction="mean"), optimizer)
    sbs_adam.set_loaders(train_loader, val_loader)
    sbs_adam.capture_gradients("linear")
    assert set(sbs_adam.handles) == {"linear.weight.grad", "linear.bias.grad"}
    sbs_adam.train(10)
    sbs_adam.remove_hooks()
    weight_grads = sbs_adam._gradients["linear"]["weight"]
    assert isinstance(weight_grads, list) and len(weight_grads) == 50  # 10 epochs x 5 batches
    gradients = np.array(sbs_adam._gradients["linear"]["weight"]).squeeze()
    assert gradients.shape == (50,)
    # the book's check: the last uncorrected EWMAs equal Adam's state
    state = optimizer.state_dict()["state"][0]
    assert calc_ewma(gradients, 19)[-1] == pytest.approx(state["exp_avg"].item(), rel=1e-5)
    sq = calc_ewma(np.power(gradients, 2), 1999)[-1]
    assert sq == pytest.approx(state["exp_avg_sq"].item(), rel=1e-5)


def test_capture_parameters_lists_per_step():
    train_loader, val_loader = _regression()
    model = _linear_model()
    sbs = StepByStep(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))
    sbs.set_loaders(train_loader, val_loader)
    sbs.capture_parameters("linear")
    sbs.train(2)
    sbs.remove_hooks()
    weights = sbs._parameters["linear"]["weight"]
    assert isinstance(weights, list) and len(weights) == 10  # training passes only (rpsbook)
    assert np.array(weights).shape == (10, 1, 1)
    # the first entry is the initial weight
    torch.manual_seed(42)
    assert np.array(weights)[0, 0, 0] == nn.Linear(1, 1).weight.item()


def test_set_lr_scheduler_scheduler(sbs):
    scheduler = StepLR(sbs.optimizer, step_size=2, gamma=0.1)
    sbs.set_lr_scheduler(scheduler)
    assert sbs.scheduler is scheduler
    sbs.train(2)
    assert sbs.optimizer.param_groups[0]["lr"] == pytest.approx(3e-5)


def test_book_attributes(sbs):
    for name in (
        "model",
        "loss_fn",
        "optimizer",
        "device",
        "train_loader",
        "val_loader",
        "writer",
        "scheduler",
        "losses",
        "val_losses",
        "learning_rates",
        "total_epochs",
        "visualization",
        "handles",
        "_gradients",
        "_parameters",
    ):
        assert hasattr(sbs, name), name
    assert sbs.writer is None and sbs.scheduler is None
    assert sbs.visualization == {} and sbs.handles == {}
    assert sbs._gradients == {} and sbs._parameters == {}


def test_range_test_does_not_record_in_the_trainers_captures(sbs, loaders):
    gradients = sbs.capture_gradients("fc1")
    parameters = sbs.capture_parameters("fc1")
    sbs.attach_hooks(["fc2"])
    sbs.lr_range_test(loaders[0], end_lr=0.1, num_iter=10)
    assert gradients.gradients["fc1"]["weight"].shape[0] == 0
    assert parameters.parameters["fc1"]["weight"].shape[0] == 0
    assert sbs._gradients["fc1"]["weight"] == []
    assert sbs.visualization["fc2"] is None
    # and they record again afterwards: one epoch of 3 batches
    sbs.train(1)
    assert gradients.gradients["fc1"]["weight"].shape[0] == 3
    assert parameters.parameters["fc1"]["weight"].shape[0] == 3
    assert sbs.visualization["fc2"].shape == (48 + 32, 3)  # training and validation passes
    sbs.remove_hooks()


def test_range_test_resumes_hooks_after_an_error(sbs):
    gradients = sbs.capture_gradients("fc1")
    with pytest.raises(ValueError, match="yielded no mini-batches"):
        sbs.lr_range_test([], end_lr=0.1, num_iter=5)
    assert gradients.attached
    sbs.train(1)
    assert gradients.gradients["fc1"]["weight"].shape[0] == 3


# ------------------------------------------------------------------------------ module level


def test_make_lr_fn():
    lr_fn = make_lr_fn(0.01, 0.1, 10, step_mode="exp")
    np.testing.assert_allclose(
        0.01 * lr_fn(np.arange(11)), 0.01 * 10 ** (np.arange(11) / 10), rtol=1e-12
    )
    dummy_optimizer = optim.Adam(CNN2(n_feature=5, p=0.3).parameters(), lr=0.01)
    dummy_scheduler = torch.optim.lr_scheduler.LambdaLR(dummy_optimizer, lr_lambda=lr_fn)
    dummy_optimizer.step()
    dummy_scheduler.step()
    assert dummy_scheduler.get_last_lr()[0] == 0.012589254117941673


def test_ewma_one_value():
    assert EWMA(past_value=1.0, current_value=4.0, alpha=1 / 3) == pytest.approx(2.0)


def test_calc_ewma_values_period():
    temperatures = np.array([5, 11, 15, 6, 5, 3, 3, 0, 0, 3])
    ewma = calc_ewma(temperatures, 19)
    assert isinstance(ewma, np.ndarray) and ewma.shape == (10,)
    expected, prev = [], 0.0
    for v in temperatures:
        prev = EWMA(prev, v, 0.1)
        expected.append(prev)
    np.testing.assert_allclose(ewma, expected, rtol=1e-13)


def test_correction_returns_corrected_value():
    assert correction(averaged_value=0.5, beta=0.5, steps=1) == 1.0


def test_calc_corrected_ewma_values_period():
    values = np.full(30, 4.0)
    np.testing.assert_allclose(calc_corrected_ewma(values, 19), values, rtol=1e-13)


def test_momentum_calc_momentum_calc_nesterov():
    assert momentum(past_value=1.0, current_value=0.5, beta=0.9) == pytest.approx(1.4)
    gradients = np.array([1.0, -1.0, 0.5])
    momentums = calc_momentum(gradients, 0.9)
    np.testing.assert_allclose(momentums, [1.0, -0.1, 0.41])
    np.testing.assert_allclose(calc_nesterov(gradients, 0.9), 0.9 * momentums + gradients)


def test_compare_optimizers_book_form():
    train_loader, val_loader = _regression()
    model = _linear_model()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    optimizers = {
        "SGD": {"class": optim.SGD, "parms": {"lr": 0.1}},
        "SGD + Momentum": {"class": optim.SGD, "parms": {"lr": 0.1, "momentum": 0.9}},
        "SGD + Momentum + Cycle": {"class": optim.SGD, "parms": {"lr": 0.1, "momentum": 0.9}},
    }
    schedulers = {
        "SGD + Momentum + Cycle": {
            "class": CyclicLR,
            "parms": {"base_lr": 0.025, "max_lr": 0.1, "step_size_up": 10, "mode": "triangular2"},
        }
    }
    loss_fn = nn.MSELoss(reduction="mean")
    results = compare_optimizers(
        model, loss_fn, optimizers, train_loader, val_loader, schedulers, n_epochs=10
    )
    assert list(results) == list(optimizers)
    sgd = results["SGD"]
    assert set(sgd.keys()) == {"parms", "grads", "losses", "val_losses", "state", "lrs"}
    biases = np.array(sgd["parms"][""]["linear.bias"]).squeeze()
    weights = np.array(sgd["parms"][""]["linear.weight"]).squeeze()
    assert biases.shape == weights.shape == (50,)
    assert np.array(sgd["grads"][""]["linear.weight"]).squeeze().shape == (50,)
    assert isinstance(sgd["losses"], np.ndarray) and sgd["losses"].shape == (10,)
    assert sgd["val_losses"].shape == (10,)
    buffer = results["SGD + Momentum"]["state"]["state"][0]["momentum_buffer"]
    assert buffer.shape == (1, 1)
    # the first step starts from the model as given: every run starts there
    for result in results.values():
        assert result["parms"][""]["linear.weight"][0].item() == initial["linear.weight"].item()
    # the caller's model is left as it was given (the book leaves the last run's weights)
    for key, value in model.state_dict().items():
        assert torch.equal(value, initial[key])
    cycle = np.ravel(results["SGD + Momentum + Cycle"]["lrs"])
    assert cycle[0] == pytest.approx(0.025) and cycle.max() == pytest.approx(0.1)
    assert set(np.ravel(results["SGD"]["lrs"])) == {0.1}
    # and the same results draw with rpsbook's plots
    from rpsbook.paths import loss_surface, plot_losses, plot_paths

    x = torch.cat([x for x, _ in train_loader.dataset])
    y = torch.cat([y for _, y in train_loader.dataset])
    surface = loss_surface(x[:, None], y[:, None])
    assert isinstance(plot_paths(results, surface), Figure)
    assert isinstance(plot_losses(results), Figure)


def test_compare_optimizers_rpsbook_form_is_unchanged():
    from functools import partial

    from rpsbook.paths import OptimizerConfig, PathResult, make_regression_data

    results = compare_optimizers(
        [OptimizerConfig("SGD", partial(optim.SGD, lr=0.1))],
        n_epochs=2,
        data=make_regression_data(),
        device="cpu",
    )
    assert isinstance(results["SGD"], PathResult)
    assert results["SGD"].path.shape == (11, 2)


def test_cnn2_n_feature():
    model = CNN2(n_feature=5, p=0.3)
    assert model.n_feature == 5 and model.p == 0.3
    assert sum(p.numel() for p in model.parameters()) == 6823


def test_top_level_names_match_the_book():
    for name in (
        "StepByStep",
        "CNN2",
        "make_lr_fn",
        "download_rps",
        "EWMA",
        "calc_ewma",
        "correction",
        "calc_corrected_ewma",
        "momentum",
        "calc_momentum",
        "calc_nesterov",
        "compare_optimizers",
    ):
        assert name in rpsbook.__all__, name
        assert callable(getattr(rpsbook, name)), name
