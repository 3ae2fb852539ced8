"""The GPU path: data, trainer, checkpoints, LR range test, captures and plots on CUDA.

Skipped without a CUDA device; ``benchmarks/gpu_check.sh`` runs them on a GPU machine
(``pytest -m cuda``). The numbers a GPU gives differ slightly from the CPU's (other kernels
round differently), so these tests compare CUDA against CPU where both are exact and check
placement (which device each tensor lives on) everywhere else.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]

ROOT = Path(__file__).resolve().parents[1]


def _is_cuda(tensor: torch.Tensor) -> bool:
    return tensor.device.type == "cuda"


@pytest.fixture(scope="module")
def rps_cuda(real_data_dir: Path):
    from rpsbook.data import load_rps

    return load_rps(real_data_dir, device="cuda", progress=False)


def _trainer(rps, seed: int = 13, p: float = 0.3):
    from rpsbook.models import CNN2
    from rpsbook.training import StepByStep

    torch.manual_seed(seed)
    model = CNN2(n_feature=5, p=p)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    sbs = StepByStep(model, nn.CrossEntropyLoss(), optimizer, device="cuda")
    sbs.set_loaders(rps.train_loader, rps.val_loader)
    return sbs


@pytest.mark.realdata
def test_load_rps_keeps_the_datasets_on_the_gpu(rps_cuda, real_data_dir: Path) -> None:
    from rpsbook.data import load_rps

    x, y = next(iter(rps_cuda.train_loader))
    assert _is_cuda(x) and _is_cuda(y)
    assert x.shape == (16, 3, 28, 28)
    assert len(rps_cuda.train_loader) == 158 and len(rps_cuda.val_loader) == 24
    cpu = load_rps(real_data_dir, progress=False)
    # Decoding and normalizing happen on the CPU first: the same values, moved.
    assert torch.equal(rps_cuda.val_dataset.images.cpu(), cpu.val_dataset.images)
    assert torch.equal(rps_cuda.val_dataset.targets.cpu(), cpu.val_dataset.targets)


@pytest.mark.realdata
def test_trainer_trains_predicts_and_counts_on_the_gpu(rps_cuda) -> None:
    sbs = _trainer(rps_cuda)
    assert sbs.device.type == "cuda"
    sbs.train(2)
    assert len(sbs.losses) == len(sbs.val_losses) == 2
    assert sbs.losses[1] < sbs.losses[0]
    assert all(isinstance(v, float) for v in sbs.losses + sbs.val_losses)
    x, _ = next(iter(rps_cuda.val_loader))
    predictions = sbs.predict(x)
    assert predictions.device.type == "cpu" and predictions.shape == (16, 3)
    counts = sbs.loader_apply(rps_cuda.val_loader, sbs.correct)
    assert counts[:, 1].tolist() == [124, 124, 124]
    assert 0 <= int(counts[:, 0].sum()) <= 372
    assert sbs.accuracy(rps_cuda.val_loader) == pytest.approx(float(counts[:, 0].sum() / 372))


@pytest.mark.realdata
def test_checkpoint_round_trip_keeps_adam_state_placement(rps_cuda, tmp_path: Path) -> None:
    sbs = _trainer(rps_cuda)
    sbs.train(1)
    path = tmp_path / "model.pth"
    sbs.save_checkpoint(path)
    restored = _trainer(rps_cuda, seed=0)
    restored.load_checkpoint(path)
    for name, value in sbs.model.state_dict().items():
        assert torch.equal(restored.model.state_dict()[name], value), name
    state = restored.optimizer.state_dict()["state"]
    assert state, "Adam state was not restored"
    for per_param in state.values():
        # Adam keeps `step` on the CPU unless capturable/fused; the moments on the GPU.
        assert per_param["step"].device.type == "cpu"
        assert _is_cuda(per_param["exp_avg"]) and _is_cuda(per_param["exp_avg_sq"])
    assert restored.losses == sbs.losses
    # Training continues from the checkpoint exactly as the original would.
    sbs.train(1, seed=7)
    restored.train(1, seed=7)
    assert restored.losses[-1] == pytest.approx(sbs.losses[-1], rel=1e-5)


@pytest.mark.realdata
def test_lr_range_test_restores_the_model_on_the_gpu(rps_cuda) -> None:
    sbs = _trainer(rps_cuda)
    before = {k: v.clone() for k, v in sbs.model.state_dict().items()}
    result = sbs.lr_range_test(end_lr=0.1, num_iter=20, progress=False)
    assert len(result.lr) == len(result.loss) == 20
    assert all(_is_cuda(v) for v in sbs.model.state_dict().values())
    for name, value in sbs.model.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert isinstance(result.plot(), Figure)


@pytest.mark.realdata
def test_captures_and_trainer_plots_with_cuda_tensors(rps_cuda) -> None:
    sbs = _trainer(rps_cuda)
    gradients = sbs.capture_gradients("conv1")
    parameters = sbs.capture_parameters("conv1")
    sbs.train(1)
    sbs.remove_hooks()
    grads = gradients.gradients["conv1"]["weight"]
    assert grads.shape == (158, 5, 3, 3, 3)
    assert parameters.parameters["conv1"]["weight"].shape[1:] == (5, 3, 3, 3)
    x, y = next(iter(rps_cuda.val_loader))
    assert isinstance(sbs.plot_losses(), Figure)
    assert isinstance(sbs.visualize_filters("conv1"), Figure)
    sbs.attach_hooks(["conv1", "conv2"])
    sbs.predict(x)
    sbs.remove_hooks()
    assert isinstance(
        sbs.visualize_outputs(["conv1", "conv2"], y=y, classes=rps_cuda.classes), Figure
    )


def test_plotting_helpers_accept_cuda_tensors() -> None:
    from rpsbook import diagrams, plotting
    from rpsbook.data import CLASSES
    from rpsbook.training import capture_activations

    images = torch.rand(12, 3, 28, 28, device="cuda")
    labels = torch.arange(12, device="cuda") % 3
    assert isinstance(plotting.show_images(images, labels, CLASSES), Figure)
    assert isinstance(plotting.plot_class_examples(images, labels, CLASSES), Figure)
    assert isinstance(plotting.plot_filters(torch.randn(5, 3, 3, 3, device="cuda")), Figure)
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU()).cuda()
    with capture_activations(model, ["0", "1"]) as capture:
        model(images)
    assert all(t.device.type == "cpu" for t in capture.outputs.values())
    assert isinstance(plotting.plot_feature_maps(capture.outputs, n_images=4, y=labels), Figure)
    region, kernel = (t.cuda() for t in diagrams.three_channel_example())
    assert isinstance(diagrams.plot_three_channel_convolution(region, kernel), Figure)
    image, filters = (t.cuda() for t in diagrams.multichannel_example())
    assert isinstance(diagrams.plot_multichannel_convolution(image, filters), Figure)
    inputs = torch.rand(10, device="cuda")
    outputs = diagrams.seeded_dropout(inputs, p=0.5)
    assert _is_cuda(outputs)
    assert isinstance(diagrams.plot_dropout_mask(inputs, outputs, p=0.5), Figure)
    assert isinstance(diagrams.plot_dropout_sums(inputs, n=50), Figure)
    assert isinstance(diagrams.plot_dropout2d(torch.rand(3, 5, 5, device="cuda")), Figure)


def test_optimizer_paths_and_their_plots_on_the_gpu() -> None:
    from rpsbook import ewma, paths

    data = paths.make_regression_data()
    configs = [paths.OptimizerConfig("SGD", partial(torch.optim.SGD, lr=0.1))]
    runs = paths.compare_optimizers(configs, n_epochs=2, data=data, device="cuda")
    assert isinstance(paths.plot_losses(runs), Figure)
    assert isinstance(
        paths.plot_paths(runs, paths.loss_surface(data.x_train, data.y_train)), Figure
    )
    grads = torch.randn(30, device="cuda")
    assert isinstance(ewma.plot_sgd_terms(grads), Figure)
    assert isinstance(ewma.plot_adapted_gradients(grads), Figure)
    assert isinstance(ewma.plot_ewma_series(grads.cumsum(0)), Figure)


@pytest.mark.slow
@pytest.mark.realdata
def test_a_gallery_page_runs_with_rpsbook_device_cuda(real_data_dir: Path) -> None:
    env = {**os.environ, "RPSBOOK_DEVICE": "cuda", "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    env["RPSBOOK_DATA_DIR"] = str(real_data_dir)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy; page = runpy.run_path('plot_05_model_training.py'); "
            "print('trained on:', page['sbs_cnn2'].device)",
        ],
        cwd=ROOT / "gallery",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained on: cuda" in done.stdout
