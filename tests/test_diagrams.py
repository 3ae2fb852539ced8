"""Tests for rpsbook.diagrams: the numbers in the diagrams are the numbers torch computes."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from rpsbook import diagrams

# The chapter's dropout example: eleven inputs 0.1, 0.2, ..., 1.1 (sum 6.6).
INPUTS = torch.linspace(0.1, 1.1, 11)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def ones_linear(n_inputs: int) -> nn.Linear:
    """The chapter's summing layer: a linear layer whose weights are all one, no bias."""
    layer = nn.Linear(n_inputs, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    return layer


def cell_texts(ax) -> list[str]:
    return [text.get_text() for text in ax.texts]


# ------------------------------------------------------------------ three-channel convolutions


def test_worked_example_gives_39_like_conv2d():
    region, kernel = diagrams.three_channel_example()
    assert region.shape == kernel.shape == (3, 3, 3)
    assert torch.equal(region, region.round())
    assert torch.equal(kernel, kernel.round())
    conv = diagrams.three_channel_convolution(region, kernel)
    assert conv.total.item() == 39.0
    assert conv.total.item() == F.conv2d(region[None], kernel[None]).item()
    assert conv.channel_sums.tolist() == [19.0, 10.0, 10.0]
    assert torch.equal(conv.products, region * kernel)


def test_three_channel_convolution_matches_conv2d_on_random_values():
    generator = torch.Generator().manual_seed(0)
    region = torch.randn(4, 5, 5, generator=generator)
    kernel = torch.randn(4, 5, 5, generator=generator)
    conv = diagrams.three_channel_convolution(region, kernel)
    torch.testing.assert_close(conv.total, F.conv2d(region[None], kernel[None]).reshape(()))
    torch.testing.assert_close(conv.channel_sums.sum(), conv.total)


def test_three_channel_convolution_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        diagrams.three_channel_convolution(torch.zeros(3, 3, 3), torch.zeros(2, 3, 3))
    with pytest.raises(ValueError, match=r"region must have shape \(C, k, k\)"):
        diagrams.three_channel_convolution(torch.zeros(3, 3), torch.zeros(3, 3))


def test_plot_three_channel_convolution_writes_torch_numbers():
    region, kernel = diagrams.three_channel_example()
    fig = diagrams.plot_three_channel_convolution(region, kernel)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * 4 + 1
    # rows of four panels (region, filter, products, sum), then the total
    blue_row = fig.axes[8:12]
    assert cell_texts(blue_row[0]) == [f"{v:.0f}" for v in region[2].flatten().tolist()]
    assert cell_texts(blue_row[1]) == [f"{v:.0f}" for v in kernel[2].flatten().tolist()]
    assert cell_texts(blue_row[2]) == ["-4", "0", "1", "1", "4", "6", "0", "0", "2"]
    assert cell_texts(blue_row[3]) == ["10"]
    assert cell_texts(fig.axes[-1]) == ["39"]
    assert fig._suptitle.get_text().endswith("= 19 + 10 + 10 = 39")


def test_annotation_colour_follows_cell_brightness():
    region, kernel = diagrams.three_channel_example()
    fig = diagrams.plot_three_channel_convolution(region, kernel)
    red_region = fig.axes[0]
    colours = {text.get_text(): text.get_color() for text in red_region.texts}
    assert colours["4"] == "white"  # the darkest red cell
    assert colours["0"] == "black"  # the white cell


def test_plot_three_channel_convolution_into_a_subfigure():
    region, kernel = diagrams.three_channel_example()
    fig = plt.figure(layout="constrained")
    left, _ = fig.subfigures(1, 2)
    assert diagrams.plot_three_channel_convolution(region, kernel, fig=left) is fig
    assert len(fig.axes) == 13
    assert plt.get_fignums() == [fig.number]


def test_multichannel_example_is_deterministic_and_leaves_rng_alone():
    state = torch.get_rng_state()
    image, filters = diagrams.multichannel_example(n_filters=2, size=5, seed=3)
    again, _ = diagrams.multichannel_example(n_filters=2, size=5, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(image, again)
    assert image.shape == (3, 5, 5)
    assert filters.shape == (2, 3, 3, 3)
    assert set(image.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    assert set(filters.unique().tolist()) <= {-1.0, 0.0, 1.0}


@pytest.mark.parametrize(("n_filters", "size"), [(1, 5), (2, 5), (3, 6)])
def test_plot_multichannel_convolution_shapes(n_filters, size):
    image, filters = diagrams.multichannel_example(n_filters=n_filters, size=size)
    fig = diagrams.plot_multichannel_convolution(image, filters)
    assert len(fig.axes) == 3 + n_filters * 3 + n_filters
    column_titles = [sub._suptitle.get_text() for sub in fig.subfigs]
    out = size - 2
    assert column_titles == [
        f"input 3@{size}x{size}",
        *(f"filter {i + 1}: 3@3x3" for i in range(n_filters)),
        f"output {n_filters}@{out}x{out}",
    ]
    expected = F.conv2d(image[None], filters)[0]
    output_axes = fig.axes[-n_filters:]
    for i, ax in enumerate(output_axes):
        assert cell_texts(ax) == [f"{v + 0.0:.0f}" for v in expected[i].flatten().tolist()]


def test_plot_multichannel_convolution_takes_one_3d_filter():
    image, filters = diagrams.multichannel_example(n_filters=1)
    fig = diagrams.plot_multichannel_convolution(image, filters[0])
    assert len(fig.axes) == 3 + 3 + 1


def test_plot_multichannel_convolution_rejects_channel_mismatch():
    with pytest.raises(ValueError, match="one channel per image channel"):
        diagrams.plot_multichannel_convolution(torch.zeros(3, 5, 5), torch.zeros(2, 1, 3, 3))


# ------------------------------------------------------------------------------- dropout


def test_seeded_dropout_is_nn_dropout_after_manual_seed():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    ours = diagrams.seeded_dropout(INPUTS, p=0.5, seed=44)
    assert torch.equal(torch.get_rng_state(), state)

    torch.manual_seed(44)
    theirs = nn.Dropout(p=0.5).train()(INPUTS)
    assert torch.equal(ours, theirs)
    # kept values are doubled, dropped ones are zero
    kept = ours != 0
    torch.testing.assert_close(ours[kept], INPUTS[kept] * 2)


def test_chapter_dropout_sums_train_and_eval():
    summing = ones_linear(11)
    train_sum = summing(diagrams.seeded_dropout(INPUTS, p=0.5, seed=44)).item()
    torch.manual_seed(44)
    direct = summing(nn.Dropout(p=0.5).train()(INPUTS)).item()
    assert train_sum == direct
    # CHAPTER6.md: 8.8 on torch 2.14 (the book's older torch gave 9.4)
    assert train_sum == pytest.approx(8.8, abs=1e-5)
    eval_sum = summing(nn.Dropout(p=0.5).eval()(INPUTS)).item()
    assert eval_sum == pytest.approx(6.6, abs=1e-5)


def test_dropout_sums_equal_one_batched_nn_dropout():
    state = torch.get_rng_state()
    sums = diagrams.dropout_sums(INPUTS, p=0.3, n=50, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    summing = ones_linear(11)  # built before seeding: its initialisation draws numbers too
    torch.manual_seed(7)
    direct = summing(nn.Dropout(p=0.3)(INPUTS.repeat(50, 1))).squeeze(1)
    torch.testing.assert_close(sums, direct)
    assert sums.shape == (50,)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_dropout_sums_mean_and_variance(p):
    n = 1000
    sums = diagrams.dropout_sums(INPUTS, p=p, n=n)
    exact_var = diagrams.dropout_sum_variance(INPUTS, p).item()
    assert exact_var == pytest.approx(p / (1 - p) * 5.06, rel=1e-5)
    # the mean of n sums has standard error sqrt(var / n); allow four of them
    assert sums.mean().item() == pytest.approx(6.6, abs=4 * math.sqrt(exact_var / n))
    assert sums.var().item() == pytest.approx(exact_var, rel=0.2)


def test_dropout_sums_variance_grows_with_p():
    variances = [diagrams.dropout_sums(INPUTS, p=p).var().item() for p in (0.1, 0.3, 0.5, 0.9)]
    assert variances == sorted(variances)
    assert variances[-1] > 50 * variances[0]


def test_dropout_rejects_bad_p():
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\)"):
        diagrams.dropout_sums(INPUTS, p=1.0)
    with pytest.raises(ValueError, match="p must be"):
        diagrams.seeded_dropout(INPUTS, p=-0.1)


def test_plot_dropout_mask_from_the_chapter_example():
    outputs = diagrams.seeded_dropout(INPUTS, p=0.5, seed=44)
    fig = diagrams.plot_dropout_mask(INPUTS, outputs, p=0.5)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    n_dropped = int((outputs == 0).sum())
    assert f"{n_dropped} of 11 inputs dropped" in ax.get_title()
    # torch 2.14's seed-44 mask keeps inputs summing to 4.4 (the book's torch: 4.7 -> 9.4)
    assert "sum of inputs 6.60; kept inputs 4.40 × 2 = sum of outputs 8.80" in ax.get_title()
    # one value label per kept output, each the output itself
    kept = outputs[outputs != 0]
    assert [float(t) for t in cell_texts(ax)] == pytest.approx(kept.tolist(), abs=5e-3)


def test_plot_dropout_mask_draws_into_given_axes():
    fig, ax = plt.subplots()
    outputs = diagrams.seeded_dropout(INPUTS, p=0.5)
    assert diagrams.plot_dropout_mask(INPUTS, outputs, 0.5, ax=ax) is fig
    assert plt.get_fignums() == [fig.number]


def test_plot_dropout_mask_rejects_outputs_that_are_not_dropout():
    with pytest.raises(ValueError, match=r"not inputs through dropout with p=0\.5"):
        diagrams.plot_dropout_mask(INPUTS, INPUTS * 3, p=0.5)
    with pytest.raises(ValueError, match="differ in shape"):
        diagrams.plot_dropout_mask(INPUTS, INPUTS[:5], p=0.5)


def test_plot_dropout_sums_panels_and_mean_lines():
    state = torch.get_rng_state()
    fig = diagrams.plot_dropout_sums(INPUTS, n=200)
    assert torch.equal(torch.get_rng_state(), state)
    assert len(fig.axes) == 4
    for ax, p in zip(fig.axes, (0.1, 0.3, 0.5, 0.9), strict=True):
        assert ax.get_title() == f"p = {p:g}"
        (mean_line,) = ax.lines
        expected = diagrams.dropout_sums(INPUTS, p, n=200).mean().item()
        assert mean_line.get_xdata()[0] == pytest.approx(expected)
    assert len({ax.get_xlim() for ax in fig.axes}) == 1


def test_plot_dropout_sums_share_bin_edges_across_panels():
    fig = diagrams.plot_dropout_sums(INPUTS, (0.1, 0.9), n=300)
    bars = [ax.patches for ax in fig.axes]
    assert [len(b) for b in bars] == [50, 50]
    assert [bar.get_x() for bar in bars[0]] == [bar.get_x() for bar in bars[1]]
    assert len({round(bar.get_width(), 12) for b in bars for bar in b}) == 1
    # each panel's bars count its own sums over the shared edges
    edges = [bar.get_x() for bar in bars[0]] + [bars[0][-1].get_x() + bars[0][-1].get_width()]
    for p, panel in zip((0.1, 0.9), bars, strict=True):
        sums = diagrams.dropout_sums(INPUTS, p, n=300).numpy()
        counts, _ = np.histogram(sums, bins=edges)
        assert [bar.get_height() for bar in panel] == counts.tolist()


def test_plot_dropout_sums_without_dropout_is_one_bar():
    fig = diagrams.plot_dropout_sums(INPUTS, 0.0, n=100)
    (ax,) = fig.axes
    heights = [bar.get_height() for bar in ax.patches]
    assert sorted(heights)[-2:] == [0, 100]
    assert fig._suptitle.get_text() == "Sums of 100 dropout outputs (sum of inputs 6.60)"


def test_plot_dropout_sums_single_p_and_given_axes():
    assert len(diagrams.plot_dropout_sums(INPUTS, 0.5).axes) == 1
    fig, axes = plt.subplots(1, 2)
    assert diagrams.plot_dropout_sums(INPUTS, (0.2, 0.4), axes=axes) is fig
    with pytest.raises(ValueError, match="one Axes per p"):
        diagrams.plot_dropout_sums(INPUTS, (0.2, 0.4, 0.6), axes=axes)


def test_dropout_vs_dropout2d_match_the_modules():
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1)) + 0.5
    state = torch.get_rng_state()
    pixels, channels = diagrams.dropout_vs_dropout2d(image, p=0.33, seed=44)
    assert torch.equal(torch.get_rng_state(), state)

    torch.manual_seed(44)
    assert torch.equal(pixels, nn.Dropout(0.33)(image))
    torch.manual_seed(44)
    assert torch.equal(channels, nn.Dropout2d(0.33)(image[None])[0])

    # Dropout2d: each channel is either all zero or all kept (scaled by 1 / (1 - p))
    dropped = channels.flatten(1).eq(0).all(dim=1)
    assert dropped.tolist() == [True, False, False]  # seed 44 drops the red channel
    torch.testing.assert_close(channels[~dropped], image[~dropped] / (1 - 0.33))
    # regular dropout drops single values: some zeros in every channel, never a whole one
    zeros_per_channel = pixels.flatten(1).eq(0).sum(dim=1)
    assert (zeros_per_channel > 0).all()
    assert (zeros_per_channel < 64).all()


def test_plot_dropout2d_panels_and_honest_scale():
    image = torch.randn(3, 10, 12, generator=torch.Generator().manual_seed(2))
    state = torch.get_rng_state()
    fig = diagrams.plot_dropout2d(image, p=0.33, seed=44)
    assert torch.equal(torch.get_rng_state(), state)
    assert len(fig.axes) == 3 * 4 + 1  # three rows of R, G, B, composite; one colorbar
    pixels, channels = diagrams.dropout_vs_dropout2d(image, 0.33, 44)
    lo = min(t.min().item() for t in (image, pixels, channels))
    hi = max(t.max().item() for t in (image, pixels, channels))
    grey = fig.axes[0].images[0]
    assert grey.norm.vmin == pytest.approx(lo)
    assert grey.norm.vmax == pytest.approx(hi)
    assert f"[{lo:.2f}, {hi:.2f}]" in fig._suptitle.get_text()


def test_plot_dropout2d_single_channel_has_no_composite():
    fig = diagrams.plot_dropout2d(torch.rand(1, 6, 6))
    assert len(fig.axes) == 3 * 1 + 1


def test_plot_dropout2d_rejects_batched_input():
    with pytest.raises(ValueError, match=r"image must have shape \(C, H, W\)"):
        diagrams.plot_dropout2d(torch.rand(2, 3, 6, 6))


# ------------------------------------------------------------------ tensors on a GPU


class CudaLike(torch.Tensor):
    """Behaves like a CUDA tensor where it matters here: no NumPy view before ``.cpu()``."""

    def numpy(self, *args, **kwargs):
        raise TypeError("can't convert cuda:0 device type tensor to numpy: use Tensor.cpu()")

    def __array__(self, *args, **kwargs):
        raise TypeError("can't convert cuda:0 device type tensor to numpy: use Tensor.cpu()")

    def cpu(self, *args, **kwargs):
        return super().cpu(*args, **kwargs).as_subclass(torch.Tensor)


def cuda_like(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor``'s values as a CUDA-like, non-contiguous tensor that requires grad."""
    tensor = tensor.detach().clone().float().requires_grad_().as_subclass(CudaLike)
    if tensor.ndim >= 2:
        tensor = tensor.mT.contiguous().mT  # same values, transposed strides
    return tensor


IMAGE = torch.randn(3, 6, 6, generator=torch.Generator().manual_seed(5))


@pytest.mark.parametrize(
    "draw",
    [
        lambda: diagrams.plot_three_channel_convolution(
            *(cuda_like(t) for t in diagrams.three_channel_example())
        ),
        lambda: diagrams.plot_multichannel_convolution(
            *(cuda_like(t) for t in diagrams.multichannel_example())
        ),
        lambda: diagrams.plot_dropout_mask(
            cuda_like(INPUTS), cuda_like(diagrams.seeded_dropout(INPUTS)), p=0.5
        ),
        lambda: diagrams.plot_dropout_sums(cuda_like(INPUTS), (0.1, 0.5), n=50),
        lambda: diagrams.plot_dropout2d(cuda_like(IMAGE)),
    ],
    ids=["three_channel", "multichannel", "dropout_mask", "dropout_sums", "dropout2d"],
)
def test_every_diagram_accepts_gpu_tensors_that_require_grad(draw):
    assert isinstance(draw(), Figure)


def test_diagram_computations_accept_gpu_tensors_and_give_the_cpu_values():
    region, kernel = diagrams.three_channel_example()
    assert diagrams.three_channel_convolution(cuda_like(region), cuda_like(kernel)).total == 39
    assert torch.equal(diagrams.seeded_dropout(cuda_like(INPUTS)), diagrams.seeded_dropout(INPUTS))
    assert torch.equal(
        diagrams.dropout_sums(cuda_like(INPUTS), n=20), diagrams.dropout_sums(INPUTS, n=20)
    )
    # the same masks as for the contiguous CPU tensor: the mask follows values, not strides
    for ours, cpu in zip(
        diagrams.dropout_vs_dropout2d(cuda_like(IMAGE)),
        diagrams.dropout_vs_dropout2d(IMAGE),
        strict=True,
    ):
        assert torch.equal(ours, cpu)


def test_plot_dropout_sums_bins_hold_equally_many_possible_sums():
    """p=0.5 sums are multiples of 0.2: 0.4-wide bins with the sums mid-way between edges
    (30 bins of 0.445 held two possible sums, then three, drawing spikes at 6 and 8)."""
    fig = diagrams.plot_dropout_sums(INPUTS, 0.5, n=1000)
    bars = fig.axes[0].patches
    assert {round(bar.get_width(), 4) for bar in bars} == {0.4}
    edges = np.array([bar.get_x() for bar in bars] + [bars[-1].get_x() + bars[-1].get_width()])
    sums = diagrams.dropout_sums(INPUTS, 0.5, n=1000).numpy()
    assert np.abs(sums[:, None] - edges[None, :]).min() > 0.09
    assert sum(bar.get_height() for bar in bars) == 1000


def test_plot_dropout_sums_per_panel_ranges_and_bins():
    """sharex=False: each panel spans its own sums, one possible sum per bin where they fit
    (p=0.1: multiples of 0.1 / 0.9, so the no-drop sum 6.6 / 0.9 has a bar of its own)."""
    fig = diagrams.plot_dropout_sums(INPUTS, (0.1, 0.9), n=1000, sharex=False)
    (_, hi1), (_, hi9) = (ax.get_xlim() for ax in fig.axes)
    assert hi1 < 8 < 30 < hi9
    for ax, p in zip(fig.axes, (0.1, 0.9), strict=True):
        sums = diagrams.dropout_sums(INPUTS, p, n=1000)
        widths = {round(bar.get_width(), 4) for bar in ax.patches}
        assert widths == {round(0.1 / (1 - p), 4)}
        last = [bar for bar in ax.patches if bar.get_height() > 0][-1]
        assert last.get_height() == torch.isclose(sums, sums.max()).sum().item()
        assert sum(bar.get_height() for bar in ax.patches) == 1000
    plt.close(fig)


def test_plot_sums_histogram_text_away_from_the_tallest_bar():
    """The mean/variance text sits on the side opposite the tallest bar (p=0.1's no-drop
    spike is at the right end, p=0.9's all-dropped one at the left)."""
    fig = diagrams.plot_dropout_sums(INPUTS, (0.1, 0.9), n=1000, sharex=False)
    assert [ax.texts[0].get_position()[0] < 0.5 for ax in fig.axes] == [True, False]
    plt.close(fig)
