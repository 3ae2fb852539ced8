"""Tests for rpsbook.plotting: what each figure shows, read back from its artists."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torchvision.transforms import v2

from rpsbook.data import CLASSES
from rpsbook.plotting import (
    denormalize,
    plot_class_examples,
    plot_feature_maps,
    plot_filters,
    plot_run_losses,
    show_images,
    show_standardized,
)

NORMALIZER = v2.Normalize(mean=[0.5, 0.4, 0.3], std=[0.25, 0.2, 0.1])


def shown(ax) -> np.ndarray:
    """The array an axes displays (its only image)."""
    (image,) = ax.get_images()
    return np.asarray(image.get_array())


def visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.axison]


# ------------------------------------------------------------------ denormalize


def test_denormalize_inverts_normalize():
    images = torch.rand(4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(denormalize(NORMALIZER(images), NORMALIZER), images)


def test_denormalize_uses_each_channels_statistics():
    zeros = torch.zeros(1, 3, 2, 2)
    restored = denormalize(zeros, NORMALIZER)
    # a normalized 0 is the channel mean
    assert restored[0, :, 0, 0].tolist() == pytest.approx([0.5, 0.4, 0.3])


# ------------------------------------------------------------------ show_images


def test_show_images_grid_titles_and_hidden_spare_axes():
    images = torch.zeros(7, 3, 4, 4)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    fig = show_images(images, labels, CLASSES, ncols=3, title="a batch")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 9  # 3 rows of 3
    assert [len(ax.get_images()) for ax in fig.axes] == [1] * 7 + [0] * 2
    assert [ax.get_title() for ax in fig.axes[:7]] == [CLASSES[i] for i in labels]
    assert not any(ax.axison for ax in fig.axes)  # pictures have no ticks or frames
    assert fig.get_suptitle() == "a batch"


def test_show_images_titles_are_label_numbers_without_classes():
    fig = show_images(torch.zeros(2, 3, 4, 4), [2, 0])
    assert [ax.get_title() for ax in fig.axes] == ["2", "0"]


def test_show_images_denormalizes_then_clips_instead_of_wrapping():
    # Denormalized channel 0 values (x * 0.25 + 0.5): -0.5, 0.25, 1.5 and exactly 1.
    normalized = torch.zeros(1, 3, 1, 4)
    normalized[0, 0, 0] = torch.tensor([-4.0, -1.0, 4.0, 2.0])
    fig = show_images(normalized, normalizer=NORMALIZER)
    pixels = shown(fig.axes[0])
    assert pixels.shape == (1, 4, 3)  # (H, W, C) for imshow
    np.testing.assert_allclose(pixels[0, :, 0], [0.0, 0.25, 1.0, 1.0], atol=1e-7)
    # The other channels hold their mean (a normalized 0).
    np.testing.assert_allclose(pixels[0, :, 1:], [[0.4, 0.3]] * 4, atol=1e-7)
    # A uint8 cast would have turned -0.5 into a bright byte: check we are not doing that.
    wrapped = int(torch.tensor(-0.5 * 255).to(torch.int64).to(torch.uint8))
    assert wrapped > 127 and pixels[0, 0, 0] == 0.0


def test_show_images_accepts_uint8_and_scales_to_unit_range():
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).reshape(1, 1, 1, 3).expand(1, 3, 1, 3)
    pixels = shown(show_images(images).axes[0])
    np.testing.assert_allclose(pixels[0, :, 0], [0.0, 0.2, 1.0], atol=1e-7)


def test_show_images_leaves_the_input_untouched():
    images = torch.full((1, 3, 2, 2), -4.0)
    show_images(images, normalizer=NORMALIZER)
    assert torch.equal(images, torch.full((1, 3, 2, 2), -4.0))


@pytest.mark.parametrize(
    ("images", "labels", "match"),
    [
        (torch.zeros(3, 4, 4), None, r"\(N, C, H, W\)"),
        (torch.zeros(2, 3, 4, 4), [0], "1 labels for 2 images"),
    ],
)
def test_show_images_rejects_bad_input(images, labels, match):
    with pytest.raises(ValueError, match=match):
        show_images(images, labels)


# ------------------------------------------------------------------ plot_class_examples


def test_plot_class_examples_picks_the_first_image_of_each_class_in_class_order():
    labels = torch.tensor([1, 0, 0, 2, 1])
    images = torch.arange(5.0).div(10).reshape(5, 1, 1, 1).expand(5, 3, 2, 2)
    fig = plot_class_examples(images, labels, CLASSES, title="one per class")
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == list(CLASSES)
    # paper: image 1, rock: image 0, scissors: image 3
    assert [float(shown(ax)[0, 0, 0]) for ax in fig.axes] == pytest.approx([0.1, 0.0, 0.3])
    assert fig.get_suptitle() == "one per class"


def test_plot_class_examples_names_the_missing_class():
    with pytest.raises(ValueError, match="'scissors'"):
        plot_class_examples(torch.zeros(2, 3, 2, 2), torch.tensor([0, 1]), CLASSES)


# ------------------------------------------------------------------ plot_filters


def test_plot_filters_grid_labels_and_shared_color_scale():
    weights = torch.arange(2 * 3 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3, 3) - 20
    fig = plot_filters(weights, title="conv1")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 7  # six cells and the colour bar
    assert [ax.get_title() for ax in fig.axes[:3]] == ["channel 0", "channel 1", "channel 2"]
    assert [ax.get_title() for ax in fig.axes[3:6]] == ["", "", ""]
    assert [fig.axes[i].get_ylabel() for i in (0, 3)] == ["filter 0", "filter 1"]
    assert {ax.get_images()[0].get_clim() for ax in fig.axes[:6]} == {(-20.0, 33.0)}
    # the colour bar spans the weights' range and marks zero
    bar = fig.axes[6]
    assert bar.get_ylabel() == "weight"
    assert bar.get_ylim() == (-20.0, 33.0)
    assert [tuple(line.get_ydata()) for line in bar.lines] == [(0, 0)]
    np.testing.assert_array_equal(shown(fig.axes[4]), weights[1, 1].numpy())
    assert fig.get_suptitle() == "conv1"


def test_plot_filters_rejects_non_4d_weights():
    with pytest.raises(ValueError, match="out, in, kH, kW"):
        plot_filters(torch.zeros(3, 3, 3))


# ------------------------------------------------------------------ plot_feature_maps


def test_plot_feature_maps_rows_per_channel_columns_per_image():
    maps = torch.arange(4 * 2 * 5 * 5, dtype=torch.float32).reshape(4, 2, 5, 5)
    features = torch.arange(4 * 7, dtype=torch.float32).reshape(4, 7)
    y, yhat = torch.tensor([0, 1, 2, 0]), torch.tensor([0, 2, 2, 1])
    fig = plot_feature_maps(
        {"conv1": maps, "fc1": features}, n_images=3, y=y, yhat=yhat, classes=CLASSES
    )
    assert len(fig.axes) == 3 * 3  # rows: conv1 ch 0, conv1 ch 1, fc1; columns: 3 images
    axes = np.array(fig.axes).reshape(3, 3)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["conv1\nch 0", "conv1\nch 1", "fc1"]
    assert [ax.get_title() for ax in axes[0]] == [
        "label paper\npred paper",
        "label rock\npred scissors",
        "label scissors\npred scissors",
    ]
    np.testing.assert_array_equal(shown(axes[1, 2]), maps[2, 1].numpy())
    assert shown(axes[2, 0]).shape == (1, 7)
    # one colour scale per row, over the images shown only (the 4th is not drawn)
    shown_maps = maps[:3]
    for row, expected in enumerate(
        [
            (shown_maps[:, 0].min(), shown_maps[:, 0].max()),
            (shown_maps[:, 1].min(), shown_maps[:, 1].max()),
            (features[:3].min(), features[:3].max()),
        ]
    ):
        clims = {ax.get_images()[0].get_clim() for ax in axes[row]}
        assert clims == {(float(expected[0]), float(expected[1]))}


def test_plot_feature_maps_titles_with_indices_without_classes():
    fig = plot_feature_maps({"conv": torch.zeros(2, 1, 3, 3)}, y=torch.tensor([2, 1]))
    assert [ax.get_title() for ax in fig.axes] == ["label 2", "label 1"]


@pytest.mark.parametrize(
    ("outputs", "match"),
    [({}, "empty"), ({"conv": torch.zeros(2, 3, 4)}, "'conv' has shape")],
)
def test_plot_feature_maps_rejects_bad_outputs(outputs, match):
    with pytest.raises(ValueError, match=match):
        plot_feature_maps(outputs)


# ------------------------------------------------------------------ plot_run_losses


def test_plot_run_losses_training_and_validation_on_a_log_axis():
    fig = plot_run_losses([1.0, 0.5, 0.25], [1.2, 0.8, 0.7])
    (ax,) = fig.axes
    training, validation = ax.get_lines()
    assert training.get_xdata().tolist() == [1, 2, 3]
    assert training.get_ydata().tolist() == [1.0, 0.5, 0.25]
    assert validation.get_ydata().tolist() == [1.2, 0.8, 0.7]
    assert validation.get_linestyle() == "--"
    assert validation.get_color() == training.get_color()
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training", "validation"]


def test_plot_run_losses_labels_levels_between_powers_of_ten():
    """A final loss of 0.12 can be read off: the axis starts at a labelled 0.1, and 0.2,
    0.3 and 0.5 are labelled between 0.1 and 1."""
    fig = plot_run_losses([1.1, 0.5, 0.3, 0.2, 0.12], [1.0, 0.6, 0.35, 0.3, 0.26])
    fig.canvas.draw()
    (ax,) = fig.axes
    low, high = ax.get_ylim()
    assert low == pytest.approx(0.1)
    labelled = {
        float(label.get_text()): tick
        for ticks in (ax.yaxis.get_major_ticks(), ax.yaxis.get_minor_ticks())
        for tick in ticks
        for label in [tick.label1]
        if label.get_text() and low <= tick.get_loc() <= high
    }
    assert {0.1, 0.2, 0.3, 0.5, 1.0} <= set(labelled)
    assert {0.4, 0.6} & set(labelled) == set()
    assert all(tick.get_loc() == pytest.approx(value) for value, tick in labelled.items())
    plt.close(fig)


def test_plot_run_losses_on_shared_axes_starts_below_every_panels_lowest_loss():
    """Two panels sharing their y axis: the second call must not cut off the first's curve."""
    fig, axes = plt.subplots(1, 2, sharey=True)
    plot_run_losses([0.5, 0.1, 0.035], [0.3, 0.2, 0.29], ax=axes[0])
    plot_run_losses([1.0, 0.5, 0.12], [1.0, 0.6, 0.26], ax=axes[1])
    assert axes[0].get_ylim()[0] == axes[1].get_ylim()[0] == pytest.approx(0.03)
    assert axes[0].get_ylim()[1] == axes[1].get_ylim()[1] > 1.0  # nor its tops
    plt.close(fig)


def test_plot_run_losses_compares_runs_on_a_given_axes():
    fig, ax = plt.subplots()
    returned = plot_run_losses([1.0, 0.5], [1.1, 0.9], ax=ax, label="p=0.3")
    plot_run_losses([0.9, 0.3], ax=ax, label="p=0")
    assert returned is fig
    assert len(fig.axes) == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "p=0.3: training",
        "p=0.3: validation",
        "p=0: training",
    ]


def test_plot_run_losses_linear_axis_on_request():
    fig = plot_run_losses([1.0, 0.5], log=False)
    assert fig.axes[0].get_yscale() == "linear"
    assert len(fig.axes[0].get_lines()) == 1  # no validation curve without val_losses


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
    """``tensor``'s values as a CUDA-like, non-contiguous tensor (requiring grad if float)."""
    tensor = tensor.detach().clone()
    if tensor.is_floating_point():
        tensor.requires_grad_()
    tensor = tensor.as_subclass(CudaLike)
    if tensor.ndim >= 2:
        tensor = tensor.mT.contiguous().mT  # same values, transposed strides
    return tensor


def test_cuda_like_refuses_numpy_until_moved_to_the_cpu():
    tensor = cuda_like(torch.ones(2, 3))
    assert not tensor.is_contiguous() and tensor.requires_grad
    with pytest.raises(TypeError, match="cpu"):
        tensor.numpy()
    with pytest.raises(TypeError, match="cpu"):
        np.asarray(tensor)
    assert tensor.detach().cpu().numpy().tolist() == [[1.0] * 3] * 2


GENERATOR = torch.Generator().manual_seed(3)
BATCH = torch.randn(4, 3, 6, 6, generator=GENERATOR)
LABELS = torch.tensor([0, 1, 2, 1])


@pytest.mark.parametrize(
    "draw",
    [
        lambda: show_images(cuda_like(BATCH), cuda_like(LABELS), CLASSES, normalizer=NORMALIZER),
        lambda: show_images(cuda_like((BATCH.abs() * 40).to(torch.uint8))),
        lambda: plot_class_examples(cuda_like(BATCH), cuda_like(LABELS), CLASSES),
        lambda: show_standardized(cuda_like(BATCH), cuda_like(LABELS), normalizer=NORMALIZER),
        lambda: plot_filters(cuda_like(torch.randn(2, 3, 3, 3, generator=GENERATOR))),
        lambda: plot_feature_maps(
            {"conv": cuda_like(BATCH), "fc": cuda_like(BATCH.flatten(1))},
            y=cuda_like(LABELS),
            yhat=cuda_like(LABELS),
        ),
        lambda: plot_run_losses([cuda_like(torch.tensor(0.5)), cuda_like(torch.tensor(0.25))]),
        lambda: plot_run_losses(
            cuda_like(torch.tensor([0.5, 0.25])), cuda_like(torch.tensor([1.0]))
        ),
    ],
    ids=[
        "show_images",
        "show_images-uint8",
        "plot_class_examples",
        "show_standardized",
        "plot_filters",
        "plot_feature_maps",
        "plot_run_losses-list",
        "plot_run_losses-tensor",
    ],
)
def test_every_helper_accepts_gpu_tensors_that_require_grad(draw):
    fig = draw()
    assert isinstance(fig, Figure)
    plt.close(fig)


def test_plot_run_losses_draws_the_values_of_tensor_losses():
    fig = plot_run_losses(cuda_like(torch.tensor([0.5, 0.25])), [cuda_like(torch.tensor(1.0))])
    training, validation = fig.axes[0].get_lines()
    assert training.get_ydata().tolist() == [0.5, 0.25]
    assert validation.get_ydata().tolist() == [1.0]
    plt.close(fig)


# ------------------------------------------------------------------ show_standardized


def test_show_standardized_shows_originals_standardized_values_and_wrapped_bytes():
    standardized = NORMALIZER(torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(1)))
    fig = show_standardized(standardized, torch.tensor([2, 0]), CLASSES, normalizer=NORMALIZER)
    rows = [ax for ax in fig.axes if ax.get_images()]
    assert len(rows) == 3  # one strip per row (the colorbar comes after them)
    m = standardized.abs().max()
    gap = 1  # 4 // 14, at least one column
    strips = [rows[r].get_images()[0].get_array() for r in range(3)]
    assert all(strip.shape == (4, 2 * 4 + gap, 4) for strip in strips)
    assert all((strip[:, 4:5, 3] == 0).all() for strip in strips)  # the gap is transparent
    for i in range(2):
        columns = slice(i * (4 + gap), i * (4 + gap) + 4)
        original, middle, wrapped = (np.asarray(strip[:, columns, :3]) for strip in strips)
        assert all((strip[:, columns, 3] == 1).all() for strip in strips)
        hwc = standardized[i].permute(1, 2, 0)
        np.testing.assert_allclose(
            original, denormalize(standardized, NORMALIZER)[i].permute(1, 2, 0), atol=1e-6
        )
        # the model's input itself: one linear map from [-m, m] to [0, 1], nothing clipped
        np.testing.assert_allclose(middle, (hwc + m) / (2 * m), atol=1e-6)
        assert middle.min() >= 0 and middle.max() <= 1
        # the book's figure: floats * 255 cast to bytes, which wraps negatives to bright
        bytes_ = (hwc * 255).to(torch.int64).to(torch.uint8)
        np.testing.assert_allclose(wrapped, bytes_.float() / 255, atol=1e-6)
    assert standardized.min() < 0  # so the wrapped row differs from any clipped one
    assert [label.get_text() for label in rows[0].get_xticklabels()] == ["scissors", "paper"]
    assert rows[0].get_xticks().tolist() == [1.5, 6.5]  # the centres of the two images
    assert fig.axes[-1].get_ylabel() == "standardized value\n(3 channels equal)"
    plt.close(fig)


def test_show_standardized_rejects_bytes():
    with pytest.raises(ValueError, match="standardized floats"):
        show_standardized(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), normalizer=NORMALIZER)


# ------------------------------------------------------------------ empty and odd input


@pytest.mark.parametrize(
    ("draw", "match"),
    [
        (lambda: show_images(torch.zeros(0, 3, 4, 4)), r"N >= 1, got shape \(0, 3, 4, 4\)"),
        (lambda: show_images(torch.zeros(2, 3, 4, 4), ncols=0), "ncols must be a positive int"),
        (lambda: show_standardized(torch.zeros(0, 3, 2, 2), normalizer=NORMALIZER), "N >= 1"),
        (lambda: plot_filters(torch.zeros(0, 3, 3, 3)), "at least one filter"),
        (
            lambda: plot_feature_maps({"conv": torch.zeros(2, 1, 3, 3)}, n_images=0),
            "n_images must be a positive integer, got 0",
        ),
        (lambda: plot_feature_maps({"conv": torch.zeros(2, 0, 3, 3)}), "'conv' is empty"),
        (lambda: show_images(torch.zeros(1, 3, 2, 2), [3], CLASSES), "label 3 has no name"),
        (lambda: plot_class_examples(torch.zeros(1, 3, 2, 2), [0], []), "classes is empty"),
    ],
    ids=[
        "no-images",
        "ncols-0",
        "standardized-no-images",
        "no-filters",
        "n_images-0",
        "no-channels",
        "label-out-of-range",
        "no-classes",
    ],
)
def test_empty_or_out_of_range_input_is_named(draw, match):
    with pytest.raises(ValueError, match=match):
        draw()


def test_numpy_arrays_are_drawn_as_the_same_tensors_would_be():
    images = np.random.default_rng(0).random((3, 3, 4, 4)).astype(np.float32)
    labels = np.array([2, 0, 1])
    tensors = torch.from_numpy(images)
    pairs = [
        (show_images(images, labels, CLASSES), show_images(tensors, labels, CLASSES)),
        (
            show_standardized(images, normalizer=NORMALIZER),
            show_standardized(tensors, normalizer=NORMALIZER),
        ),
        (
            plot_class_examples(images, labels, CLASSES),
            plot_class_examples(tensors, labels, CLASSES),
        ),
        (plot_filters(images), plot_filters(tensors)),
    ]
    for from_numpy, from_tensor in pairs:
        assert len(from_numpy.axes) == len(from_tensor.axes)
        for a, b in zip(from_numpy.axes, from_tensor.axes, strict=True):
            assert a.get_title() == b.get_title()
            for x, y in zip(a.get_images(), b.get_images(), strict=True):
                np.testing.assert_array_equal(x.get_array(), y.get_array())
    restored = denormalize(images, NORMALIZER)
    np.testing.assert_array_equal(restored, denormalize(tensors, NORMALIZER))
    with pytest.raises(TypeError, match=r"images must be a torch\.Tensor or NumPy array"):
        show_images(images.tolist())
