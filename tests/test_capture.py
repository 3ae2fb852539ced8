from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rpsbook.training import (
    ActivationCapture,
    GradientCapture,
    ParameterCapture,
    capture_activations,
    capture_gradients,
    capture_parameters,
)


def _model() -> nn.Sequential:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(8, 3, generator=gen), torch.randn(8, 2, generator=gen)


def _step(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    x, y = _batch()
    optimizer.zero_grad()
    nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()


def test_gradients_equal_param_grad_after_each_step():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    expected: dict[str, list[torch.Tensor]] = {"weight": [], "bias": []}
    with capture_gradients(model, ["0", "2"]) as capture:
        for _ in range(3):
            _step(model, optimizer)
            for name, p in model[2].named_parameters():
                expected[name].append(p.grad.clone())
    grads = capture.gradients
    assert set(grads) == {"0", "2"}
    assert grads["0"]["weight"].shape == (3, 4, 3)
    assert grads["2"]["bias"].shape == (3, 2)
    for name, values in expected.items():
        assert torch.equal(grads["2"][name], torch.stack(values))
    assert not grads["2"]["weight"].requires_grad


def test_gradients_start_empty_and_clear_keeps_hooks():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    capture = capture_gradients(model, "2")
    assert capture.gradients["2"]["weight"].shape == (0, 2, 4)
    _step(model, optimizer)
    capture.clear()
    _step(model, optimizer)
    assert capture.gradients["2"]["weight"].shape == (1, 2, 4)
    capture.remove()


def test_parameters_logged_in_training_mode_only():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, _ = _batch()
    expected = []
    with (
        capture_parameters(model, "0") as training,
        capture_parameters(model, "0", training_only=False) as every,
    ):
        for _ in range(2):
            expected.append(model[0].weight.detach().clone())
            _step(model, optimizer)
        model.eval()
        with torch.no_grad():
            model(x)
    assert training.parameters["0"]["weight"].shape == (2, 4, 3)
    assert torch.equal(training.parameters["0"]["weight"], torch.stack(expected))
    assert every.parameters["0"]["bias"].shape == (3, 4)
    assert torch.equal(every.parameters["0"]["weight"][-1], model[0].weight.detach())


def test_activations_keep_latest_output_detached():
    model = _model()
    x, _ = _batch()
    with capture_activations(model, ["1", "2"]) as capture:
        model(x)
        out = model(x[:2])
    outputs = capture.outputs
    assert outputs["1"].shape == (2, 4)
    assert torch.equal(outputs["2"], out.detach())
    assert not outputs["2"].requires_grad
    assert outputs["2"].device.type == "cpu"


def test_activation_hook_fn_decides_what_is_stored():
    model = _model()
    x, _ = _batch()
    seen = []

    def mean_activation(name, module, inputs, output):
        seen.append((name, type(module).__name__, inputs[0].shape))
        return output.mean(dim=0)

    with capture_activations(model, "2", hook_fn=mean_activation) as capture:
        out = model(x)
    assert seen == [("2", "Linear", (8, 4))]
    assert torch.equal(capture.outputs["2"], out.detach().mean(dim=0))


def test_hooks_removed_after_exception_in_with_block():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    grads, params, acts = (
        GradientCapture(model, ["0", "2"]),
        ParameterCapture(model, "2"),
        ActivationCapture(model, "1"),
    )

    def train_then_fail() -> None:
        with grads, params, acts:
            _step(model, optimizer)
            assert model[1]._forward_hooks
            assert model[2]._forward_hooks
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        train_then_fail()
    assert not (grads.attached or params.attached or acts.attached)
    assert all(not module._forward_hooks for module in model.modules())
    _step(model, optimizer)  # nothing is logged any more
    assert len(grads.gradients["0"]["weight"]) == 1
    assert len(params.parameters["2"]["weight"]) == 1
    assert "1" in acts.outputs


def test_attach_returns_self_is_idempotent_and_remove_twice_is_safe():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    capture = GradientCapture(model, "2")
    assert not capture.attached
    assert capture.attach() is capture
    capture.attach()
    _step(model, optimizer)
    assert len(capture.gradients["2"]["bias"]) == 1  # one hook per parameter, not two
    capture.remove()
    capture.remove()
    assert not capture.attached
    with capture:  # a capture can be attached again
        _step(model, optimizer)
    assert len(capture.gradients["2"]["bias"]) == 2
    assert "detached" in repr(capture)


def test_unknown_layer_name_lists_valid_names():
    model = _model()
    for factory in (GradientCapture, ParameterCapture, ActivationCapture):
        with pytest.raises(ValueError, match=r"unknown layer name\(s\) \['fc9'\].*'0', '1', '2'"):
            factory(model, ["0", "fc9"])
    with pytest.raises(ValueError, match="layers is empty"):
        capture_gradients(model, [])
    assert all(not module._forward_hooks for module in model.modules())


def test_duplicate_layer_names_hook_once_and_frozen_params_are_skipped():
    model = _model()
    model[0].bias.requires_grad_(False)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    with capture_gradients(model, ["0", "0"]) as capture:
        _step(model, optimizer)
    assert capture.layers == ("0",)
    assert list(capture.gradients["0"]) == ["weight"]
    assert len(capture.gradients["0"]["weight"]) == 1


# --------------------------------------------------------------------------- structured outputs


class _Pair(NamedTuple):
    mean: torch.Tensor
    spread: torch.Tensor


class _Structured(nn.Module):
    """Returns its input in the structure named by ``kind``."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor):
        h = self.linear(x)
        if self.kind == "namedtuple":
            return _Pair(h.mean(1), h.std(1))
        if self.kind == "tuple":
            return h, (h * 2, [h * 3])
        return OrderedDict(first=h, second={"nested": h + 1, "count": 7})


@pytest.mark.parametrize("kind", ["namedtuple", "tuple", "dict"])
def test_structured_outputs_are_copied_with_their_structure(kind):
    torch.manual_seed(0)
    model = nn.Sequential(_Structured(kind))
    x = torch.randn(4, 3)
    with capture_activations(model, "0") as capture:
        output = model(x)  # the forward pass must not break
    stored = capture.outputs["0"]
    assert type(stored) is type(output)
    leaves = torch.utils._pytree.tree_flatten(output)[0]
    stored_leaves = torch.utils._pytree.tree_flatten(stored)[0]
    assert len(stored_leaves) == len(leaves)
    for value, copy in zip(leaves, stored_leaves, strict=True):
        if isinstance(value, torch.Tensor):
            assert torch.equal(copy, value) and not copy.requires_grad and value.requires_grad
            assert copy.data_ptr() != value.data_ptr()
        else:
            assert copy == value
    if kind == "namedtuple":
        assert stored._fields == ("mean", "spread")
    if kind == "dict":
        assert list(stored) == ["first", "second"]


def test_packed_sequence_outputs_of_an_lstm():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4, batch_first=True)
    model = nn.Sequential()
    model.add_module("lstm", lstm)
    sequences = torch.randn(3, 5, 3)
    packed = pack_padded_sequence(
        sequences, torch.tensor([5, 2, 4]), batch_first=True, enforce_sorted=False
    )
    with capture_activations(model, "lstm") as capture:
        output, (h, c) = lstm(packed)
    stored, (stored_h, stored_c) = capture.outputs["lstm"]
    assert isinstance(stored, PackedSequence)
    assert torch.equal(stored.data, output.data) and not stored.data.requires_grad
    assert torch.equal(stored.batch_sizes, output.batch_sizes)
    assert torch.equal(stored.unsorted_indices, output.unsorted_indices)
    assert torch.equal(stored_h, h) and torch.equal(stored_c, c)
    padded, lengths = pad_packed_sequence(stored, batch_first=True)
    assert lengths.tolist() == [5, 2, 4] and padded.shape == (3, 5, 4)


# --------------------------------------------------------------------------- hooks after failures


def _hook_count(model: nn.Module) -> int:
    """Every forward hook on the model's modules and tensor hook on its parameters."""
    forward = sum(len(m._forward_hooks) for m in model.modules())
    return forward + sum(len(p._backward_hooks or {}) for p in model.parameters())


def _refuse_hooks(module: nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise RuntimeError("no more hooks here")

    monkeypatch.setattr(module, "register_forward_hook", refuse)


def test_a_failed_attach_removes_the_hooks_it_added(monkeypatch):
    model = _model()
    capture = ParameterCapture(model, ["0", "2"])
    with monkeypatch.context() as patch:
        _refuse_hooks(model[2], patch)
        with pytest.raises(RuntimeError, match="no more hooks here"):
            capture.attach()
    assert _hook_count(model) == 0 and not capture.attached  # layer "0"'s hook is gone too
    capture.attach()
    assert _hook_count(model) == 2
    capture.remove()
    assert _hook_count(model) == 0


def _trainer_with_hooks():
    from torch.utils.data import DataLoader, TensorDataset

    from rpsbook.training import StepByStep

    model = _model()
    sbs = StepByStep(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.01))
    sbs.set_loaders(DataLoader(TensorDataset(*_batch()), batch_size=4))
    sbs.capture_gradients("0")
    sbs.capture_parameters("2")
    sbs.attach_hooks(["2"])
    return sbs


def test_freezing_a_captured_parameter_before_a_range_test_keeps_every_hook_removable():
    sbs = _trainer_with_hooks()
    sbs.model[0].weight.requires_grad_(False)
    sbs.lr_range_test(sbs.train_loader, end_lr=1.0, num_iter=3)  # raised while re-attaching
    assert set(sbs.handles) == {"0.bias.grad", "2", "2#2"}
    sbs.train(1)
    assert len(sbs._gradients["0"]["bias"]) == 2  # two mini-batches, captured again
    assert len(sbs._gradients["0"]["weight"]) == 0  # frozen: no gradient to see
    assert len(sbs._parameters["2"]["weight"]) == 2
    assert _hook_count(sbs.model) == 3
    sbs.remove_hooks()
    assert _hook_count(sbs.model) == 0 and sbs.handles == {}


def test_a_capture_that_cannot_attach_again_does_not_keep_the_others_detached(monkeypatch):
    from rpsbook.training import HookRegistry

    model = _model()
    registry = HookRegistry(model)
    first = registry.capture_parameters("0")
    second = registry.capture_gradients("2")

    def range_test() -> None:
        with registry.paused():
            assert _hook_count(model) == 0
            _refuse_hooks(model[0], monkeypatch)

    with pytest.raises(RuntimeError, match=r"attached again.*ParameterCapture.*no more hooks"):
        range_test()
    assert not first.attached and second.attached
    assert _hook_count(model) == 2  # the gradient hooks of layer "2"
    registry.remove()
    assert _hook_count(model) == 0


def test_attach_hooks_with_an_unknown_layer_keeps_the_stored_outputs():
    sbs = _trainer_with_hooks()
    sbs.predict(_batch()[0])
    stored = sbs.visualization["2"].copy()
    with pytest.raises(ValueError, match="unknown layer name"):
        sbs.attach_hooks(["nope"])
    assert list(sbs.visualization) == ["2"]
    assert (sbs.visualization["2"] == stored).all()
