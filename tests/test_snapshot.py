"""rpsbook.training.snapshot.Snapshot and rpsbook.training.step.train_step."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from conftest import assert_nested_equal, clone_nested, small_data, small_model
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, StepLR
from torch.utils.data import DataLoader

from rpsbook.training import Snapshot
from rpsbook.training.step import train_step


def _setup():
    model = small_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
    x, y = small_data(16).tensors
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()  # an Adam state to restore
    scheduler.step()
    nn.functional.cross_entropy(model(x), y).backward()  # gradients to restore
    model.eval()
    model[1].train()  # mixed modes
    return model, optimizer, scheduler, (x, y)


def _state(model, optimizer, scheduler):
    return {
        "values": clone_nested(model.state_dict()),
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "optimizer": clone_nested(optimizer.state_dict()),
        "scheduler": clone_nested(scheduler.state_dict()),
        "step": vars(optimizer).get("step"),
    }


def _global_rng():
    return (
        torch.get_rng_state(),
        np.random.get_state()[1].copy(),  # noqa: NPY002
        random.getstate(),
        (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark),
    )


def _mutate(model, optimizer, scheduler, batch, loader):
    x, y = batch
    model.train()
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        scheduler.step()
    LambdaLR(optimizer, lambda i: 1.0)  # wraps optimizer.step on the instance
    optimizer.param_groups[0]["lr"] = 123.0
    torch.manual_seed(99)
    np.random.seed(99)  # noqa: NPY002
    random.seed(99)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    list(loader)  # draws from the loader's generator


def test_a_snapshot_puts_back_model_optimizer_scheduler_modes_and_random_state():
    model, optimizer, scheduler, batch = _setup()
    loader = DataLoader(small_data(), 8, shuffle=True, generator=torch.Generator().manual_seed(1))
    before, rng_before = _state(model, optimizer, scheduler), _global_rng()
    loader_before = loader.generator.get_state()
    groups = optimizer.param_groups[0]  # a scheduler holds the group dicts: kept in place
    with Snapshot(model, optimizer, scheduler, rng="cpu", loaders=[loader]):
        _mutate(model, optimizer, scheduler, batch, loader)
        assert _state(model, optimizer, scheduler)["modes"] != before["modes"]
    assert_nested_equal(_state(model, optimizer, scheduler), before)
    assert optimizer.param_groups[0] is groups and groups["lr"] == 0.005
    torch_now, numpy_now, python_now, cudnn_now = _global_rng()
    assert torch.equal(torch_now, rng_before[0]) and np.array_equal(numpy_now, rng_before[1])
    assert (python_now, cudnn_now) == rng_before[2:]
    assert torch.equal(loader.generator.get_state(), loader_before)


def test_restored_on_error_restores_only_when_the_block_raises():
    model, optimizer, scheduler, batch = _setup()
    loader = DataLoader(small_data(), 8)
    before = _state(model, optimizer, scheduler)

    def interrupted() -> None:
        with Snapshot(model, optimizer, scheduler).restored_on_error():
            _mutate(model, optimizer, scheduler, batch, loader)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert_nested_equal(_state(model, optimizer, scheduler), before)
    with Snapshot(model, optimizer, scheduler).restored_on_error():
        _mutate(model, optimizer, scheduler, batch, loader)
    assert _state(model, optimizer, scheduler)["optimizer"]["param_groups"][0]["lr"] == 123.0


def test_train_step_accumulates_the_mean_loss_of_its_mini_batches():
    x, y = small_data(16).tensors
    halves = [(x[:8], y[:8]), (x[8:], y[8:])]
    accumulated, whole = small_model(), small_model()
    for model, batches, n in ((accumulated, halves, 2), (whole, [(x, y)], 1)):
        model.eval()  # no BatchNorm batch statistics: the halves see the same function
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loss = train_step(
            model, nn.CrossEntropyLoss(), optimizer, iter(batches), "a test", n_batches=n
        )
        assert all(p.grad is None for p in model.parameters())  # none left behind
        model.loss = loss
    assert torch.allclose(accumulated.loss, whole.loss)
    for a, b in zip(accumulated.parameters(), whole.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-7)


def test_train_step_draws_each_mini_batch_when_its_turn_comes():
    drawn = []

    def batches():
        for i in range(5):
            drawn.append(i)
            yield small_data(8, i).tensors

    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    stream = batches()
    train_step(model, nn.CrossEntropyLoss(), optimizer, stream, "a test", n_batches=2)
    assert drawn == [0, 1]  # not a third


def test_a_non_finite_loss_raises_before_backward_and_puts_the_buffers_back():
    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    values = clone_nested(model.state_dict())
    x, y = small_data(8).tensors

    def loss_fn(logits, targets):
        return nn.functional.cross_entropy(logits, targets) * float("nan")

    with pytest.raises(FloatingPointError, match=r"the training loss is nan at step 7"):
        train_step(model, loss_fn, optimizer, [(x, y)], "step 7")
    assert_nested_equal(model.state_dict(), values)  # BatchNorm's statistics too
    assert all(p.grad is None for p in model.parameters())


def test_a_scheduler_built_inside_leaves_no_step_wrapper_on_the_optimizer():
    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert "step" not in vars(optimizer)
    with Snapshot(model, optimizer):
        LambdaLR(optimizer, lambda i: 2.0**i)
        optimizer.step()
        assert "initial_lr" in optimizer.param_groups[0]
    assert not {"step", "_opt_called"} & set(vars(optimizer))
    assert optimizer.param_groups[0] == {**optimizer.defaults, "params": list(model.parameters())}
