"""Fault injection for StepByStep: NaN losses, interrupted runs, bad checkpoint files."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from conftest import assert_nested_equal, clone_nested, small_data, small_trainer
from torch import nn
from torch.optim.lr_scheduler import ExponentialLR, StepLR
from torch.utils.data import DataLoader, TensorDataset

from rpsbook.training import StepByStep


def _state(sbs: StepByStep) -> dict:
    return {
        "model": {k: v.clone() for k, v in sbs.model.state_dict().items()},
        "optimizer": clone_nested(sbs.optimizer.state_dict()),
        "scheduler": clone_nested(sbs.scheduler.state_dict()) if sbs.scheduler else None,
        "grads": [None if p.grad is None else p.grad.clone() for p in sbs.model.parameters()],
    }


class _FaultyLoss:
    """Cross-entropy that returns ``value`` (or raises) at call number ``at`` (from 1)."""

    def __init__(self, at: int, value: float | None = None) -> None:
        self.at, self.value, self.calls = at, value, 0
        self.states: list[dict] = []
        self.trainer: StepByStep | None = None

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = nn.functional.cross_entropy(logits, y)
        if self.calls == self.at:
            if self.value is None:
                raise KeyboardInterrupt
            return loss * self.value
        return loss


# --------------------------------------------------------------------------- non-finite losses


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_stops_with_the_epoch_and_batch_and_keeps_the_pre_step_state(bad):
    # 5 training + 2 validation mini-batches per epoch: call 10 is epoch 1, mini-batch 2.
    loss_fn = _FaultyLoss(at=10, value=bad)
    sbs = small_trainer(loss_fn)
    snapshots = []
    sbs.model.register_forward_pre_hook(lambda module, args: snapshots.append(_state(sbs)))
    with pytest.raises(FloatingPointError, match=r"at epoch 1, mini-batch 2 of 5"):
        sbs.train(3)
    assert_nested_equal(_state(sbs), snapshots[-1])  # as before the failing forward pass
    assert torch.isfinite(sbs.model[1].running_mean).all()
    assert sbs.total_epochs == 1 and len(sbs.losses) == len(sbs.val_losses) == 1
    assert len(sbs.step_lrs) == 5 + 2
    assert sbs.learning_rates == [[0.005]]
    assert all(torch.isfinite(p).all() for p in sbs.model.parameters())


def test_nan_inputs_do_not_poison_batch_norm_statistics():
    sbs = small_trainer(scheduler=False)
    x, y = small_data().tensors
    x = x.clone()
    x[17, 0] = float("nan")  # mini-batch 2 of an unshuffled loader
    sbs.set_loaders(DataLoader(TensorDataset(x, y), batch_size=8))
    with pytest.raises(FloatingPointError, match=r"epoch 0, mini-batch 2"):
        sbs.train(1)
    assert torch.isfinite(sbs.model[1].running_var).all()
    assert int(sbs.model[1].num_batches_tracked) == 2


# --------------------------------------------------------------------------- interrupted runs


def test_an_exception_mid_epoch_leaves_hooks_and_the_last_finished_step(tmp_path):
    loss_fn = _FaultyLoss(at=3)
    sbs = small_trainer(loss_fn)
    gradients = sbs.capture_gradients("3")
    snapshots = []
    sbs.model.register_forward_pre_hook(lambda module, args: snapshots.append(_state(sbs)))
    with pytest.raises(KeyboardInterrupt):
        sbs.train(2)
    assert_nested_equal(_state(sbs), snapshots[-1])
    assert gradients.attached and gradients.gradients["3"]["weight"].shape == (2, 2, 8)
    assert sbs.model.training
    sbs.remove_hooks()
    assert not gradients.attached
    sbs.train(1)  # the trainer is still usable
    assert sbs.total_epochs == 1


def test_an_interrupted_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    sbs = small_trainer()
    path = tmp_path / "ckpt.pth"
    sbs.save_checkpoint(path)
    before = path.read_bytes()
    sbs.train(1)
    real_save = torch.save

    def save_half_then_fail(obj, file, *args, **kwargs):
        real_save(obj, file, *args, **kwargs)
        file.truncate(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        sbs.save_checkpoint(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pth"]  # no temp file left


def test_a_read_only_folder_gives_a_clear_error(tmp_path, monkeypatch):
    sbs = small_trainer()
    folder = tmp_path / "ro"
    folder.mkdir()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # A real read-only folder does not stop root (the CI user); the test below checks it too.
    monkeypatch.setattr("rpsbook._utils.open", refuse, raising=False)
    with pytest.raises(OSError, match=r"cannot write the checkpoint .*ro/c.pth.*not writable"):
        sbs.save_checkpoint(folder / "c.pth")
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_a_really_read_only_folder(tmp_path):
    sbs = small_trainer()
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OSError, match="not writable"):
            sbs.save_checkpoint(folder / "c.pth")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


# --------------------------------------------------------------------------- bad checkpoints


def _fresh() -> StepByStep:
    sbs = small_trainer()
    torch.manual_seed(5)
    for p in sbs.model.parameters():  # different weights than the checkpoint's
        nn.init.normal_(p)
    return sbs


def _assert_refused(sbs: StepByStep, path, match: str) -> None:
    """``sbs.load_checkpoint(path)`` raises a ValueError matching ``match``, changing nothing."""
    before = _state(sbs)
    with pytest.raises(ValueError, match=match):
        sbs.load_checkpoint(path)
    assert_nested_equal(_state(sbs), before)
    assert sbs.losses == [] and sbs.total_epochs == 0


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_truncated_or_corrupt_files_raise_and_change_nothing(saved, damage):
    data = saved.read_bytes()
    saved.write_bytes(
        {
            "truncate": data[: len(data) // 2],
            "garbage": np.random.default_rng(0).bytes(2000),
            "empty": b"",
        }[damage]
    )
    sbs = _fresh()
    _assert_refused(sbs, saved, r"ckpt.pth is not a readable checkpoint")


def test_missing_file_and_foreign_content(saved, tmp_path):
    sbs = _fresh()
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        sbs.load_checkpoint(tmp_path / "nope.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="not a StepByStep checkpoint"):
        sbs.load_checkpoint(tmp_path / "list.pth")


def test_optimizer_mismatch_is_detected_before_the_weights_change(saved):
    sbs = _fresh()
    model = sbs.model
    two_groups = torch.optim.Adam(
        [
            {"params": model[0].parameters()},
            {"params": [*model[1].parameters(), *model[3].parameters()]},
        ]
    )
    sbs.set_optimizer(two_groups)
    sbs.set_lr_scheduler(StepLR(two_groups, step_size=1))
    _assert_refused(sbs, saved, r"param groups of sizes \[6\].*\[2, 4\]")


def test_other_architecture_and_scheduler_kind_are_rejected(saved):
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    other = StepByStep(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters()))
    other.set_lr_scheduler(StepLR(other.optimizer, step_size=1))
    with pytest.raises(ValueError, match=r"another model: 0.weight: \(8, 4\) in the file"):
        other.load_checkpoint(saved)
    sbs = _fresh()
    sbs.set_lr_scheduler(ExponentialLR(sbs.optimizer, gamma=0.9))
    _assert_refused(sbs, saved, r"holds a StepLR state.*ExponentialLR")


def test_a_failure_while_applying_rolls_everything_back(saved, monkeypatch):
    sbs = _fresh()
    sbs.optimizer.step()  # an Adam with state, to see that the state comes back too
    before = _state(sbs)
    real_load = sbs.optimizer.load_state_dict

    def load_then_fail(state_dict):
        real_load(state_dict)  # the model and the optimizer have both changed by now
        raise KeyError("late failure")

    monkeypatch.setattr(sbs.optimizer, "load_state_dict", load_then_fail)
    with pytest.raises(RuntimeError, match=r"could not be applied.*the trainer is unchanged"):
        sbs.load_checkpoint(saved)
    assert_nested_equal(_state(sbs), before)
    assert sbs.total_epochs == 0


def test_a_book_checkpoint_with_numpy_losses_needs_allow_listing(tmp_path):
    sbs = small_trainer(scheduler=False)
    book = {
        "epoch": 1,
        "model_state_dict": sbs.model.state_dict(),
        "optimizer_state_dict": sbs.optimizer.state_dict(),
        "loss": [np.mean([0.5, 0.25])],  # the book's np.mean returns np.float64
        "val_loss": [np.float64(0.4)],
    }
    torch.save(book, tmp_path / "book.pth")
    with pytest.raises(ValueError, match=r"weights_only=True.*safe_globals"):
        sbs.load_checkpoint(tmp_path / "book.pth")
    numpy_types = [np._core.multiarray.scalar, np.dtype, type(np.dtype(np.float64))]
    with torch.serialization.safe_globals(numpy_types):
        sbs.load_checkpoint(tmp_path / "book.pth")
    assert sbs.losses == [0.375] and sbs.val_losses == [0.4] and sbs.total_epochs == 1


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        # The PyTorch tutorials' format, the last loss alone, used to fail only after the
        # weights, the optimizer state and total_epochs had been replaced.
        ("loss", 0.3, r"'loss' holds 0.3, not a list .* nothing was loaded"),
        ("val_loss", torch.tensor(0.4), r"'val_loss' holds tensor\(0.4000\), not a list"),
        ("epoch", -1, r"'epoch' entry cannot be read \(epoch must be an integer >= 0"),
        ("epoch", 1.5, r"'epoch' entry cannot be read"),
        ("step_lrs", ["fast"], r"'step_lrs' entry cannot be read"),
        ("learning_rates", [0.1], r"'learning_rates' entry cannot be read"),
        ("rng_state", {"global": {}}, r"'rng_state' is not one that save_checkpoint writes"),
    ],
)
def test_every_entry_is_checked_before_anything_changes(saved, tmp_path, key, value, match):
    damaged = torch.load(saved, weights_only=True)
    damaged[key] = value
    torch.save(damaged, tmp_path / "damaged.pth")
    sbs = _fresh()
    _assert_refused(sbs, tmp_path / "damaged.pth", match)


@pytest.mark.parametrize("legacy", [False, True], ids=["class-saved", "book-without-class"])
def test_an_adam_checkpoint_is_refused_by_an_sgd_trainer(saved, tmp_path, legacy):
    if legacy:  # the book's checkpoints (and rpsbook's before 0.2) name no optimizer class
        book = torch.load(saved, weights_only=True)
        del book["optimizer_class"]
        torch.save(book, saved)
    sbs = _fresh()
    sgd = torch.optim.SGD(sbs.model.parameters(), lr=0.1)
    sbs.set_optimizer(sgd)
    sbs.set_lr_scheduler(StepLR(sgd, step_size=1, gamma=0.5))
    saved_as = r"optimizer with \['betas'\]" if legacy else "Adam"
    _assert_refused(sbs, saved, rf"state of a {saved_as}, but .* is a SGD")
    sbs.train(1)  # no KeyError: 'momentum' later


def test_a_book_checkpoint_of_the_same_family_still_loads(saved):
    book = torch.load(saved, weights_only=True)
    del book["optimizer_class"]
    torch.save(book, saved)
    sbs = _fresh()
    sbs.load_checkpoint(saved)
    assert sbs.total_epochs == 1


def test_an_interrupt_while_applying_rolls_back_and_propagates(saved, monkeypatch):
    sbs = _fresh()
    before = _state(sbs)
    real_load = sbs.optimizer.load_state_dict

    def load_then_interrupt(state_dict):
        real_load(state_dict)
        raise KeyboardInterrupt

    monkeypatch.setattr(sbs.optimizer, "load_state_dict", load_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        sbs.load_checkpoint(saved)
    assert_nested_equal(_state(sbs), before)
    assert sbs.total_epochs == 0


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_checkpoints_get_the_umasks_mode(tmp_path, umask, mode):
    sbs = small_trainer()
    old = os.umask(umask)
    try:
        sbs.save_checkpoint(tmp_path / "c.pth")
    finally:
        os.umask(old)
    assert (tmp_path / "c.pth").stat().st_mode & 0o777 == mode


def test_an_interrupt_between_backward_and_step_leaves_no_stale_gradients(tmp_path):
    sbs = small_trainer()
    calls = []

    def interrupt_third_step(optimizer, args, kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    handle = sbs.optimizer.register_step_pre_hook(interrupt_third_step)
    snapshots = []
    sbs.model.register_forward_pre_hook(lambda module, args: snapshots.append(_state(sbs)))
    with pytest.raises(KeyboardInterrupt):
        sbs.train(2)
    handle.remove()
    assert all(p.grad is None for p in sbs.model.parameters())
    assert_nested_equal(_state(sbs), snapshots[-1])  # buffers too: as after the second step
    assert len(sbs.step_lrs) == 2 and sbs.total_epochs == 0
    # The next train() starts clean: it equals a trainer restored from a checkpoint, which
    # holds no gradients (before the fix the interrupted one added the stale ones).
    sbs.save_checkpoint(tmp_path / "c.pth")
    restored = _fresh()
    restored.load_checkpoint(tmp_path / "c.pth")
    sbs.train(1, seed=3)
    restored.train(1, seed=3)
    assert sbs.losses == restored.losses and sbs.val_losses == restored.val_losses


def test_numpy_integers_are_integers_and_booleans_are_not():
    plain, numpy_args = small_trainer(), small_trainer()
    plain.train(2, seed=13)
    numpy_args.train(np.int64(2), seed=np.int64(13))
    assert numpy_args.losses == plain.losses and numpy_args.total_epochs == 2
    numpy_args.set_seed(np.int32(7))
    for bad in (True, 2.0, "2"):
        with pytest.raises(ValueError, match="n_epochs must be an integer >= 0"):
            numpy_args.train(bad)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        numpy_args.train(1, seed=False)


def test_correct_names_bad_labels():
    sbs = small_trainer(scheduler=False)
    x, y = small_data(8).tensors
    assert sbs.correct(x, y)[:, 1].tolist() == torch.bincount(y, minlength=2).tolist()
    with pytest.raises(ValueError, match=r"y holds 7 labels for a batch of 8 samples"):
        sbs.correct(x, y[:7])
    with pytest.raises(ValueError, match=r"y holds labels from 0 to 2, .* has 2 classes"):
        sbs.correct(x, torch.tensor([0, 1, 2, 0, 1, 0, 1, 0]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        sbs.correct(x, -y)
