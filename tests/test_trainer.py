"""rpsbook.training.StepByStep (CNN2 itself: test_models.py)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.optim.lr_scheduler import (
    CosineAnnealingWarmRestarts,
    CyclicLR,
    LambdaLR,
    OneCycleLR,
    ReduceLROnPlateau,
    StepLR,
)
from torch.utils.data import DataLoader, TensorDataset

from rpsbook.models import CNN2
from rpsbook.training import StepByStep, eval_mode


def _blobs(n: int = 96, seed: int = 0) -> TensorDataset:
    """Three separable classes of 3@28x28 images: each class brightens one channel."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 3, 28, 28, generator=g) * 0.5
    x[torch.arange(n), y] += 1.5
    return TensorDataset(x, y)


def _trainer(p: float = 0.0, lr: float = 3e-3, seed: int = 13, opt=torch.optim.Adam):
    torch.manual_seed(seed)
    model = CNN2(5, p=p)
    sbs = StepByStep(model, nn.CrossEntropyLoss(), opt(model.parameters(), lr=lr), device="cpu")
    sbs.set_loaders(
        DataLoader(_blobs(), batch_size=16, shuffle=True), DataLoader(_blobs(48, 1), batch_size=16)
    )
    return sbs


# --------------------------------------------------------------------------- training


def test_training_lowers_the_loss_and_records_every_step():
    sbs = _trainer()
    sbs.train(4)
    assert len(sbs.losses) == len(sbs.val_losses) == 4
    assert all(isinstance(v, float) for v in sbs.losses + sbs.val_losses)
    assert sbs.losses[-1] < 0.5 * sbs.losses[0]
    assert sbs.accuracy(sbs.val_loader) > 0.9
    assert sbs.total_epochs == 4
    assert sbs.step_lrs == [3e-3] * (4 * 6)
    assert sbs.learning_rates == []  # the book records scheduler steps only


def test_epoch_loss_is_the_mean_of_the_mini_batch_losses():
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    sbs = StepByStep(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.0))
    x = torch.arange(5.0).reshape(-1, 1)
    loader = DataLoader(TensorDataset(x, torch.zeros(5, 1)), batch_size=4)
    sbs.set_loaders(loader, loader)
    sbs.train(1)
    with torch.no_grad():
        # Mini-batches of 4 and 1 samples count the same, as in the book's np.mean.
        batch_losses = [nn.MSELoss()(model(xb), yb).item() for xb, yb in loader]
        weighted = float(nn.MSELoss(reduction="sum")(model(x), torch.zeros(5, 1)) / 5)
    assert sbs.losses == sbs.val_losses == [float(np.mean(batch_losses))]
    assert sbs.losses[0] != pytest.approx(weighted, rel=1e-3)


@pytest.mark.parametrize("which", ["train_loader", "val_loader"])
def test_empty_loaders_raise_a_value_error_naming_the_loader(which):
    sbs = _trainer()
    empty = DataLoader(
        TensorDataset(torch.zeros(3, 3, 28, 28), torch.zeros(3).long()), 4, drop_last=True
    )
    loaders = {"train_loader": sbs.train_loader, "val_loader": sbs.val_loader, which: empty}
    sbs.set_loaders(loaders["train_loader"], loaders["val_loader"])
    before = {k: v.clone() for k, v in sbs.model.state_dict().items()}
    with pytest.raises(
        ValueError, match=f"{which} yields no mini-batches.*3 samples.*batch_size=4"
    ):
        sbs.train(1)
    assert all(torch.equal(v, before[k]) for k, v in sbs.model.state_dict().items())
    assert sbs.losses == [] and sbs.total_epochs == 0


def test_empty_iterable_without_len_raises_too():
    sbs = _trainer()
    sbs.set_loaders(sbs.train_loader, [])
    with pytest.raises(ValueError, match="val_loader yields no mini-batches"):
        sbs.train(1)


def test_same_seed_same_losses_with_dropout():
    runs = []
    for _ in range(2):
        sbs = _trainer(p=0.5)
        sbs.train(2, seed=7)
        runs.append(sbs.losses + sbs.val_losses)
    assert runs[0] == runs[1]
    other = _trainer(p=0.5)
    other.train(2, seed=8)
    assert other.losses != runs[0][:2]


def test_checkpoint_round_trip_resumes_like_an_uninterrupted_run(tmp_path):
    straight = _trainer(opt=torch.optim.SGD, lr=0.05)
    straight.set_lr_scheduler(StepLR(straight.optimizer, step_size=1, gamma=0.5))
    straight.train(2)
    straight.train(2)

    first = _trainer(opt=torch.optim.SGD, lr=0.05)
    first.set_lr_scheduler(StepLR(first.optimizer, step_size=1, gamma=0.5))
    first.train(2)
    first.save_checkpoint(tmp_path / "ckpt.pth")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pth"]

    torch.manual_seed(99)  # a different initialization, overwritten by the checkpoint
    model = CNN2(5)
    resumed = StepByStep(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=1))
    resumed.set_loaders(first.train_loader, first.val_loader)
    resumed.set_lr_scheduler(StepLR(resumed.optimizer, step_size=1, gamma=0.5))
    resumed.load_checkpoint(tmp_path / "ckpt.pth")
    assert resumed.total_epochs == 2
    resumed.train(2)
    assert resumed.losses == straight.losses
    assert resumed.val_losses == straight.val_losses
    assert resumed.learning_rates == straight.learning_rates
    assert resumed.step_lrs == straight.step_lrs


def _resumable(tmp_path, p=0.5):
    """A small trainer with dropout, a loader shuffling with its own generator, a scheduler."""
    torch.manual_seed(13)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(3 * 28 * 28, 16), nn.Dropout(p), nn.Linear(16, 3)
    )
    sbs = StepByStep(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=3e-3))
    generator = torch.Generator().manual_seed(0)
    sbs.set_loaders(
        DataLoader(_blobs(), batch_size=16, shuffle=True, generator=generator),
        DataLoader(_blobs(48, 1), batch_size=16),
    )
    sbs.set_lr_scheduler(StepLR(sbs.optimizer, step_size=1, gamma=0.7))
    return sbs


def test_resumed_run_equals_the_uninterrupted_run_bit_for_bit(tmp_path):
    straight = _resumable(tmp_path)
    straight.train(4, seed=3)

    first = _resumable(tmp_path)
    first.train(2, seed=3)
    first.save_checkpoint(tmp_path / "ckpt.pth")
    # Whatever runs between the two halves draws random numbers and reseeds the generators.
    torch.manual_seed(1234)
    np.random.seed(5)  # noqa: NPY002
    random.seed(6)
    resumed = _resumable(tmp_path)
    resumed.train_loader.generator.manual_seed(77)
    resumed.load_checkpoint(tmp_path / "ckpt.pth")
    resumed.train(2, seed=None)

    assert resumed.losses == straight.losses
    assert resumed.val_losses == straight.val_losses
    assert resumed.learning_rates == straight.learning_rates
    assert resumed.step_lrs == straight.step_lrs
    assert resumed.total_epochs == 4
    for (name, a), b in zip(
        resumed.model.state_dict().items(), straight.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_state_dict_round_trip_resumes_like_a_checkpoint_file(tmp_path):
    straight = _resumable(tmp_path)
    straight.train(4, seed=3)
    first = _resumable(tmp_path)
    first.train(2, seed=3)
    state = first.state_dict()
    assert set(state) >= {"epoch", "model_state_dict", "optimizer_state_dict", "loss", "val_loss"}
    torch.manual_seed(1234)  # drawn between the halves: the state's streams are resumed
    resumed = _resumable(tmp_path)
    resumed.load_state_dict(state)
    resumed.train(2, seed=None)
    assert resumed.losses == straight.losses
    assert resumed.step_lrs == straight.step_lrs
    with pytest.raises(ValueError, match=r"the state_dict holds weights of another model"):
        _trainer().load_state_dict(state)


def test_checkpoint_validates_a_state_against_plain_torch_objects_without_a_trainer():
    from rpsbook.training import checkpoint

    sbs = _resumable(None)
    state = sbs.state_dict()
    history = checkpoint.validate(
        state, sbs.model, sbs.optimizer, sbs.scheduler, ["train_loader", "val_loader"], "s"
    )
    assert (history["epoch"], history["loss"]) == (0, [])
    sgd = torch.optim.SGD(sbs.model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"s holds the state of a Adam.*SGD"):
        checkpoint.validate(state, sbs.model, sgd, None, ["train_loader", "val_loader"], "s")


def test_an_explicit_seed_after_loading_wins_over_the_saved_streams(tmp_path):
    """The book's flow: load_checkpoint, then train(n) reseeds (seed=42) as every call does."""
    first = _resumable(tmp_path)
    first.train(1)
    first.save_checkpoint(tmp_path / "ckpt.pth")
    again = _resumable(tmp_path)
    again.load_checkpoint(tmp_path / "ckpt.pth")
    again.train(1)  # seed=42
    first.train(1)  # seed=42 too
    assert again.losses == first.losses


def test_load_checkpoint_needs_the_scheduler(tmp_path):
    sbs = _trainer()
    sbs.set_lr_scheduler(StepLR(sbs.optimizer, step_size=1))
    sbs.save_checkpoint(tmp_path / "c.pth")
    fresh = _trainer()
    with pytest.raises(RuntimeError, match="set_lr_scheduler"):
        fresh.load_checkpoint(tmp_path / "c.pth")


# --------------------------------------------------------------------------- schedulers


def test_scheduler_must_wrap_the_trainers_optimizer():
    sbs = _trainer()
    other = torch.optim.SGD(sbs.model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="different optimizer"):
        sbs.set_lr_scheduler(StepLR(other, step_size=2))
    with pytest.raises(TypeError, match="scheduler must be"):
        sbs.set_lr_scheduler(object())


def test_optimizer_must_hold_the_models_parameters():
    sbs = _trainer()
    with pytest.raises(ValueError, match="not parameters of the trainer's model"):
        sbs.set_optimizer(torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1))


def test_epoch_scheduler_steps_once_per_epoch():
    sbs = _trainer(opt=torch.optim.SGD, lr=0.01)
    sbs.set_lr_scheduler(StepLR(sbs.optimizer, step_size=2, gamma=0.1))
    sbs.train(4)
    per_epoch = sbs.step_lrs[::6]
    assert per_epoch == pytest.approx([0.01, 0.01, 0.001, 0.001])
    assert len(set(sbs.step_lrs[:6])) == 1
    # The book's record: one list of group lrs after every scheduler step.
    np.testing.assert_allclose(
        sbs.learning_rates, [[0.01], [0.001], [0.001], [0.0001]], rtol=1e-12
    )


def test_learning_rates_hold_every_param_group():
    sbs = _trainer(opt=torch.optim.SGD, lr=0.01)
    model = sbs.model
    optimizer = torch.optim.SGD(
        [
            {"params": [*model.conv1.parameters(), *model.conv2.parameters()], "lr": 0.1},
            {"params": [*model.fc1.parameters(), *model.fc2.parameters()]},
        ],
        lr=0.01,
    )
    sbs.set_optimizer(optimizer)
    sbs.set_lr_scheduler(StepLR(optimizer, step_size=1, gamma=0.5))
    sbs.train(2)
    np.testing.assert_allclose(sbs.learning_rates, [[0.05, 0.005], [0.025, 0.0025]], rtol=1e-12)
    assert sbs.step_lrs == pytest.approx([0.1] * 6 + [0.05] * 6)


def test_plateau_scheduler_uses_validation_loss_and_needs_it():
    sbs = _trainer(opt=torch.optim.SGD, lr=0.0)  # lr 0: the loss stays flat
    sbs.set_lr_scheduler(ReduceLROnPlateau(sbs.optimizer, patience=0, factor=0.5))
    sbs.set_loaders(sbs.train_loader, None)
    with pytest.raises(RuntimeError, match="validation loader"):
        sbs.train(1)
    sbs = _trainer(opt=torch.optim.SGD, lr=1e-3)
    sbs.set_lr_scheduler(ReduceLROnPlateau(sbs.optimizer, patience=0, factor=0.5, threshold=10))
    sbs.train(3)
    # threshold=10 means no epoch counts as an improvement after the first: halve every epoch
    assert sbs.step_lrs[::6] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    np.testing.assert_allclose(sbs.learning_rates, [[5e-4], [2.5e-4], [1.25e-4]], rtol=1e-12)


def test_cyclic_scheduler_steps_every_mini_batch():
    sbs = _trainer(opt=torch.optim.SGD, lr=0.1)
    sbs.set_lr_scheduler(
        CyclicLR(sbs.optimizer, base_lr=0.01, max_lr=0.07, step_size_up=3, cycle_momentum=False)
    )
    sbs.train(1)
    assert sbs.step_lrs == pytest.approx([0.01, 0.03, 0.05, 0.07, 0.05, 0.03])
    # Recorded after each scheduler step: the lr of the next mini-batch.
    np.testing.assert_allclose(
        sbs.learning_rates, [[0.03], [0.05], [0.07], [0.05], [0.03], [0.01]], rtol=1e-12
    )


def test_cosine_warm_restarts_gets_fractional_epochs_from_zero():
    sbs = _trainer(opt=torch.optim.SGD, lr=0.1)
    sbs.set_lr_scheduler(CosineAnnealingWarmRestarts(sbs.optimizer, T_0=2, eta_min=0.0))
    sbs.train(3)
    n = len(sbs.train_loader)
    expected = []
    for epoch in range(3):
        for i in range(n):
            t_cur = (epoch + i / n) % 2
            expected.append(0.05 * (1 + math.cos(math.pi * t_cur / 2)))
    assert sbs.step_lrs == pytest.approx(expected)
    assert [lrs[0] for lrs in sbs.learning_rates[:-1]] == pytest.approx(expected[1:])


# --------------------------------------------------------------------------- evaluation


def test_correct_counts_per_class_and_restores_mode():
    model = nn.Sequential(nn.Identity())
    sbs = StepByStep(model, nn.CrossEntropyLoss())
    logits = torch.tensor([[2.0, 0, 0], [0, 2.0, 0], [0, 2.0, 0], [0, 0, 2.0]])
    y = torch.tensor([0, 1, 0, 1])
    model.train()
    counts = sbs.correct(logits, y)
    assert counts.tolist() == [[1, 2], [1, 2], [0, 0]]
    assert model.training
    binary = sbs.correct(torch.tensor([[1.0], [-1.0], [3.0]]), torch.tensor([1, 1, 0]))
    assert binary.tolist() == [[0, 1], [1, 2]]
    # accuracy sums the counts over the loader's mini-batches: 2 of 4, plus 2 of 2.
    loader = DataLoader(TensorDataset(torch.cat([logits, logits[:2]]), torch.cat([y, y[:2]])), 4)
    assert sbs.accuracy(loader) == 4 / 6


def test_predict_uses_eval_mode_and_no_grad():
    sbs = _trainer(p=0.5)
    x = torch.randn(4, 3, 28, 28)
    out1, out2 = sbs.predict(x), sbs.predict(x)
    assert torch.equal(out1, out2)  # no dropout at prediction time
    assert not out1.requires_grad
    assert sbs.model.training


def test_eval_mode_restores_on_exception():
    model = nn.Linear(1, 1)
    model.train()
    seen = []

    def fail_inside():
        with eval_mode(model):
            seen.append((model.training, torch.is_grad_enabled()))
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        fail_inside()
    assert seen == [(False, False)]
    assert model.training


def test_loader_apply_sum_and_mean():
    loader = DataLoader(TensorDataset(torch.arange(6.0), torch.zeros(6)), batch_size=2)
    assert StepByStep.loader_apply(loader, lambda x, y: x.sum()).item() == 15.0
    assert StepByStep.loader_apply(loader, lambda x, y: x.sum(), reduce="mean").item() == 5.0
    with pytest.raises(ValueError, match="reduce"):
        StepByStep.loader_apply(loader, lambda x, y: x, reduce="max")


def test_count_parameters_and_plot_losses():
    sbs = _trainer()
    assert sbs.count_parameters() == 6823
    sbs.train(2)
    fig = sbs.plot_losses()
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert [line.get_label() for line in ax.lines] == ["training", "validation"]


# --------------------------------------------------------------------------- hooks


def test_hooks_capture_and_visualize():
    sbs = _trainer()
    sbs.attach_hooks(["conv1", "fc1"])
    x = torch.randn(6, 3, 28, 28)
    sbs.predict(x)
    assert sbs.visualization["conv1"].shape == (6, 5, 26, 26)
    assert sbs.visualization["fc1"].shape == (6, 50)
    fig = sbs.visualize_outputs(["conv1", "fc1"], n_images=6)
    assert len(fig.axes) == (5 + 1) * 6
    sbs.remove_hooks()
    assert not sbs.model.conv1._forward_hooks
    assert isinstance(sbs.visualize_filters("conv2"), Figure)
    with pytest.raises(ValueError, match="not a Conv2d"):
        sbs.visualize_filters("fc1")


def test_capture_gradients_through_the_trainer():
    sbs = _trainer(opt=torch.optim.SGD, lr=0.01)
    grads = sbs.capture_gradients("fc2")
    sbs.train(1)
    sbs.remove_hooks()
    assert grads.gradients["fc2"]["weight"].shape == (6, 3, 50)
    sbs.train(1)
    assert grads.gradients["fc2"]["weight"].shape == (6, 3, 50)


# --------------------------------------------------------------------------- devices


def test_default_device_honours_rpsbook_device(monkeypatch):
    from rpsbook._utils import default_device

    monkeypatch.setenv("RPSBOOK_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")
    assert StepByStep(nn.Linear(1, 1), nn.MSELoss()).device == torch.device("cpu")
    for bad in ("tpu", "not a device"):
        monkeypatch.setenv("RPSBOOK_DEVICE", bad)
        with pytest.raises(ValueError, match=r"RPSBOOK_DEVICE=.*cuda, mps, cpu"):
            default_device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("RPSBOOK_DEVICE", "cuda")
        with pytest.raises(ValueError, match="no cuda device"):
            StepByStep(nn.Linear(1, 1), nn.MSELoss())
    monkeypatch.delenv("RPSBOOK_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else "mps"
    if not (torch.cuda.is_available() or torch.backends.mps.is_available()):
        expected = "cpu"
    assert default_device().type == expected


def _adam_after_one_step(**kwargs):
    model = nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1, **kwargs)
    model(torch.ones(3, 2)).sum().backward()
    optimizer.step()
    return model, optimizer


def test_move_optimizer_state_keeps_adam_step_where_torch_wants_it():
    from rpsbook._utils import move_optimizer_state

    model, optimizer = _adam_after_one_step()
    model.to("meta")
    move_optimizer_state(optimizer, torch.device("meta"))
    for state in optimizer.state.values():
        assert state["exp_avg"].device.type == "meta"
        assert state["step"].device.type == "cpu"  # non-capturable Adam reads it on the host
    # Capturable Adam steps on accelerators only; its policy is read from the param group.
    model, optimizer = _adam_after_one_step()
    optimizer.param_groups[0]["capturable"] = True
    model.to("meta")
    move_optimizer_state(optimizer, torch.device("meta"))
    assert all(s["step"].device.type == "meta" for s in optimizer.state.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_load_checkpoint_on_cuda_keeps_adam_state_usable(tmp_path):
    sbs = _trainer()
    sbs.train(1)
    sbs.save_checkpoint(tmp_path / "c.pth")
    torch.manual_seed(13)
    model = CNN2(5)
    gpu = StepByStep(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters()), "cuda")
    gpu.set_loaders(sbs.train_loader, sbs.val_loader)
    gpu.load_checkpoint(tmp_path / "c.pth")
    for state in gpu.optimizer.state.values():
        assert state["exp_avg"].device.type == "cuda"
        assert state["step"].device.type == "cpu"
    gpu.train(1)  # Adam steps with the moved state
    assert math.isfinite(gpu.losses[-1])
    for state in gpu.optimizer.state.values():
        assert state["step"].item() == 12


@pytest.mark.parametrize(
    "make",
    [
        lambda opt: CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=2),
        lambda opt: OneCycleLR(opt, max_lr=0.1, total_steps=20),
        lambda opt: CosineAnnealingWarmRestarts(opt, T_0=1),
        lambda opt: ReduceLROnPlateau(opt, patience=0),
        lambda opt: LambdaLR(opt, lambda epoch: 0.5**epoch),
    ],
    ids=["cyclic", "onecycle", "warm-restarts", "plateau", "lambda"],
)
def test_every_scheduler_kind_round_trips_through_a_weights_only_checkpoint(make, tmp_path):
    def build():
        torch.manual_seed(0)
        model = nn.Linear(2, 1)
        sbs = StepByStep(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
        data = TensorDataset(torch.randn(8, 2), torch.randn(8, 1))
        sbs.set_loaders(DataLoader(data, batch_size=4, shuffle=True), DataLoader(data, 4))
        sbs.set_lr_scheduler(make(sbs.optimizer))
        return sbs

    straight = build()
    straight.train(4)
    first = build()
    first.train(2)
    first.save_checkpoint(tmp_path / "c.pth")
    resumed = build()
    resumed.load_checkpoint(tmp_path / "c.pth")
    resumed.train(2, seed=None)
    assert resumed.losses == straight.losses
    assert resumed.val_losses == straight.val_losses
    assert resumed.learning_rates == straight.learning_rates


def test_to_moves_a_capturable_adams_step_counter_with_the_state():
    # Capturable and fused Adam read ``step`` on the parameters' device, the others on the
    # host. Moving to the meta device shows a counter left behind on a CPU-only machine.
    for flags, step_device in (({"capturable": True}, "meta"), ({}, "cpu")):
        model, optimizer = _adam_after_one_step()  # a capturable one cannot step on the CPU
        optimizer.param_groups[0].update(flags)
        sbs = StepByStep(model, nn.MSELoss(), optimizer, device="cpu")
        sbs.to("meta")
        devices = {k: v.device.type for s in optimizer.state.values() for k, v in s.items()}
        assert devices == {"step": step_device, "exp_avg": "meta", "exp_avg_sq": "meta"}


class _Stream(torch.utils.data.IterableDataset):
    """The samples of a TensorDataset, as a stream without a length."""

    def __init__(self, dataset: TensorDataset) -> None:
        self.dataset = dataset

    def __iter__(self):
        return iter(self.dataset)


def test_train_accepts_loaders_without_a_length():
    sized, streamed = _trainer(), _trainer()
    train, val = _blobs(), _blobs(48, 1)
    sized.set_loaders(DataLoader(train, batch_size=16), DataLoader(val, batch_size=16))
    streamed.set_loaders(
        DataLoader(_Stream(train), batch_size=16), DataLoader(_Stream(val), batch_size=16)
    )
    sized.train(2)
    streamed.train(2)
    assert streamed.losses == sized.losses and streamed.val_losses == sized.val_losses
    assert len(streamed.step_lrs) == 12
    streamed.set_lr_scheduler(CosineAnnealingWarmRestarts(streamed.optimizer, T_0=1))
    with pytest.raises(ValueError, match=r"fractional epochs.*a training loader with a length"):
        streamed.train(1)
    assert streamed.total_epochs == 2


class _Writer:
    """What train() calls on a TensorBoard SummaryWriter."""

    def __init__(self) -> None:
        self.scalars: list[tuple] = []
        self.flushes = 0

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict, global_step: int) -> None:
        self.scalars.append((main_tag, dict(tag_scalar_dict), global_step))

    def flush(self) -> None:
        self.flushes += 1


def test_train_logs_the_losses_to_the_tensorboard_writer():
    sbs = _trainer()
    sbs.writer = _Writer()
    sbs.train(2)
    sbs.set_loaders(sbs.train_loader)  # no validation: only the training loss
    sbs.train(1)
    assert sbs.writer.scalars == [
        ("loss", {"training": sbs.losses[0], "validation": sbs.val_losses[0]}, 0),
        ("loss", {"training": sbs.losses[1], "validation": sbs.val_losses[1]}, 1),
        ("loss", {"training": sbs.losses[2]}, 2),
    ]
    assert sbs.writer.flushes == 2
