"""Checkpoints across machines and hyper-parameter types: NumPy scalars, other devices' RNG."""

from __future__ import annotations

import random
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from conftest import assert_nested_equal, small_trainer
from test_faults_trainer import _assert_refused, _fresh
from torch.optim.lr_scheduler import StepLR

from rpsbook.training import StepByStep


def _numpy_trainer() -> StepByStep:
    """SGD with an lr from ``np.logspace`` and NumPy momentum and gamma."""
    sbs = small_trainer(scheduler=False)
    lr = np.logspace(-3, -1, 3)[1]  # np.float64(0.01)
    sbs.set_optimizer(torch.optim.SGD(sbs.model.parameters(), lr=lr, momentum=np.float64(0.9)))
    sbs.set_lr_scheduler(StepLR(sbs.optimizer, step_size=1, gamma=np.float64(0.5)))
    return sbs


def test_numpy_hyper_parameters_are_saved_as_python_numbers_and_round_trip(tmp_path):
    sbs = _numpy_trainer()
    sbs.train(2)
    path = tmp_path / "numpy.pth"
    sbs.save_checkpoint(path)
    saved = torch.load(path, weights_only=True)  # refused before: NumPy scalars in the file
    group = saved["optimizer_state_dict"]["param_groups"][0]
    assert (type(group["lr"]), type(group["momentum"])) == (float, float)
    assert group["lr"] == 0.01 * 0.5**2 and group["momentum"] == 0.9
    assert saved["scheduler_state_dict"]["gamma"] == 0.5
    assert type(saved["scheduler_state_dict"]["gamma"]) is float
    restored = _numpy_trainer()
    restored.load_checkpoint(path)
    assert restored.optimizer.param_groups[0]["lr"] == 0.01 * 0.5**2
    assert_nested_equal(restored.optimizer.state_dict(), saved["optimizer_state_dict"])
    sbs.train(1)
    restored.train(1)  # resumed: the same numbers as the uninterrupted run
    assert restored.losses == sbs.losses


def test_a_state_weights_only_would_refuse_fails_the_save_and_keeps_the_old_file(tmp_path):
    sbs = small_trainer()
    path = tmp_path / "ckpt.pth"
    sbs.save_checkpoint(path)
    before = path.read_bytes()
    sbs.optimizer.param_groups[0]["note"] = Fraction(1, 3)
    with pytest.raises(ValueError, match=r"cannot save a checkpoint to .*ckpt.pth.*Fraction"):
        sbs.save_checkpoint(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pth"]


def _global_rng() -> tuple:
    numpy_keys = np.random.get_state()[1].copy()  # noqa: NPY002
    return torch.get_rng_state(), numpy_keys, random.getstate()


def _assert_same_rng(before: tuple) -> None:
    after = _global_rng()
    assert torch.equal(after[0], before[0])
    assert np.array_equal(after[1], before[1])
    assert after[2] == before[2]


def _with_device_rng(saved, tmp_path, device_type: str):
    """The checkpoint ``saved`` as a machine with ``device_type`` would have written it."""
    checkpoint = torch.load(saved, weights_only=True)
    state = torch.Generator().manual_seed(7).get_state()
    if device_type == "mps":
        if torch.backends.mps.is_available():
            pytest.skip("this machine can use an mps random state")
        checkpoint["rng_state"]["global"]["mps"] = state
        why = "mps: no MPS backend here"
    else:  # one device more than this machine has: set aside on any machine
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        checkpoint["rng_state"]["global"]["cuda"] = [state] * (count + 1)
        why = f"cuda: {count + 1} device\\(s\\) saved, {count} here"
    path = tmp_path / f"{device_type}.pth"
    torch.save(checkpoint, path)
    return path, why


@pytest.mark.parametrize("device_type", ["mps", "cuda"])
def test_a_checkpoint_from_another_device_type_loads_with_a_warning(saved, tmp_path, device_type):
    path, why = _with_device_rng(saved, tmp_path, device_type)
    uninterrupted = _fresh()
    uninterrupted.load_checkpoint(saved)
    uninterrupted.train(1)
    sbs = _fresh()
    before = _global_rng()
    with pytest.warns(UserWarning, match=rf"{device_type}.pth holds random states .*{why}"):
        sbs.load_checkpoint(path)
    _assert_same_rng(before)  # the random state is put back by train(), not by the load
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sbs.train(1)  # raised "without MPS backend" after the CPU states had been replaced
    assert sbs.losses == uninterrupted.losses and sbs.val_losses == uninterrupted.val_losses


@pytest.mark.parametrize(
    ("entry", "value", "match"),
    [
        ("python", (3, (1, 2, 3), None), r"global random state cannot be set"),
        ("numpy", ("MT19937", torch.zeros(3, dtype=torch.int64), 0, 0, 0.0), r"cannot be set"),
        ("torch", torch.zeros(5, dtype=torch.uint8), r"global random state cannot be set"),
        ("torch", torch.zeros(5, dtype=torch.float32), r"expected a torch.uint8 tensor"),
        ("cuda", [torch.zeros(5)], r"expected a torch.uint8 tensor"),
        ("xla", torch.zeros(5, dtype=torch.uint8), r"unknown entries \['xla'\]"),
        ("loader", torch.zeros(3, dtype=torch.uint8), r"'rng_state' cannot be restored"),
    ],
)
def test_a_random_state_that_cannot_be_set_is_refused_before_anything_changes(
    saved, tmp_path, entry, value, match
):
    checkpoint = torch.load(saved, weights_only=True)
    if entry == "loader":
        checkpoint["rng_state"]["loaders"]["train_loader"] = [value]
    else:
        checkpoint["rng_state"]["global"][entry] = value
    torch.save(checkpoint, tmp_path / "damaged.pth")
    sbs = _fresh()
    before = _global_rng()
    _assert_refused(sbs, tmp_path / "damaged.pth", match)
    _assert_same_rng(before)
    sbs.train(1)  # the trainer is as it was: it trains from its own state


def test_set_global_rng_states_sets_nothing_when_a_state_is_bad():
    from rpsbook._utils import global_rng_states, set_global_rng_states

    states = global_rng_states(torch.device("cpu"))
    torch.manual_seed(3)
    np.random.seed(3)  # noqa: NPY002
    random.seed(3)
    before = _global_rng()
    version, internal, gauss_next = states["python"]
    with pytest.raises(ValueError, match="state vector is the wrong size"):
        set_global_rng_states({**states, "python": (version, internal[:5], gauss_next)})
    _assert_same_rng(before)
