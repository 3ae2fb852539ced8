"""Figs 6.6-6.9: dropout's mask and scaling, the spread of its sums, and channel dropout."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase
from torch import Tensor

from .._figures import axes_list
from .._utils import seeded_cpu_rng
from ._cells import _as_float, _channel_name, _heatmap, _new_figure, _range_norm, _short


def _check_p(p: float) -> float:
    # p = 1 drops everything and makes the 1 / (1 - p) scale infinite: nothing left to show.
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be a probability in [0, 1), got {p!r}")
    return float(p)


def seeded_dropout(inputs: Tensor, p: float = 0.5, seed: int = 44) -> Tensor:
    """Train-mode dropout with a fixed seed, leaving the caller's random state alone.

    Equal to ``torch.manual_seed(seed); nn.Dropout(p)(inputs)`` on a contiguous CPU tensor,
    whatever the device and memory layout of ``inputs``: each value is zeroed with
    probability ``p`` and the kept ones are scaled by ``1 / (1 - p)``.

    Parameters
    ----------
    inputs : Tensor (*)
    p : float
        Probability of dropping each value.
    seed : int
        The chapter uses 44.

    Returns
    -------
    Tensor (*)
        On the device of ``inputs`` (computed on the CPU so the seed means the same anywhere).
    """
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs)!r}")
    p = _check_p(p)
    with seeded_cpu_rng(seed):
        # contiguous: the mask is drawn in memory order, so a view would get another one
        outputs = F.dropout(inputs.detach().cpu().contiguous(), p, training=True)
    return outputs.to(inputs.device)


def dropout_sums(inputs: Tensor, p: float = 0.5, n: int = 1000, seed: int = 44) -> Tensor:
    """Sums of the dropped-out inputs over ``n`` independent dropout masks (Figs 6.7/6.8).

    The sum is what a linear layer with all weights one (and no bias) outputs. One dropout
    call over an (n, d) stack of copies draws all n masks at once.

    Parameters
    ----------
    inputs : Tensor (d,)
    p : float
        Dropout probability.
    n : int
        Number of masks.
    seed : int
        Seed for the masks; the caller's random state is restored afterwards.

    Returns
    -------
    Tensor (n,)
        Their mean tends to ``inputs.sum()``, their variance to
        :func:`dropout_sum_variance`.
    """
    inputs = _as_float(inputs, "inputs", 1, "(d,)")
    p = _check_p(p)
    if n < 1:
        raise ValueError(f"n must be a positive number of draws, got {n}")
    # contiguous: dropout on a stride-0 (expanded) tensor would not draw n distinct masks
    copies = inputs.expand(n, -1).contiguous()
    with seeded_cpu_rng(seed):
        dropped = F.dropout(copies, p, training=True)
    return dropped.sum(dim=1)


def dropout_sum_variance(inputs: Tensor, p: float) -> Tensor:
    """Exact variance of the sum of dropped-out inputs: ``p / (1 - p) * sum(inputs**2)``.

    Each output is ``x * B / (1 - p)`` with ``B ~ Bernoulli(1 - p)``, whose variance is
    ``x**2 * p / (1 - p)``; the masks are independent, so the variances add.

    Parameters
    ----------
    inputs : Tensor (d,)
    p : float

    Returns
    -------
    Tensor ()
    """
    inputs = _as_float(inputs, "inputs", 1, "(d,)")
    p = _check_p(p)
    return p / (1 - p) * inputs.square().sum()


def plot_dropout_mask(inputs: Tensor, outputs: Tensor, p: float, ax: Axes | None = None) -> Figure:
    """Fig 6.6: which inputs dropout zeroed and which it kept and scaled by ``1 / (1 - p)``.

    Grey bars are the inputs; next to each, the output: a blue bar if kept (``1 / (1 - p)``
    times taller), a red cross at zero if dropped. The title carries the sum of the inputs,
    the unscaled sum of the kept ones and the sum of the outputs (that times ``1 / (1 - p)``).

    Parameters
    ----------
    inputs, outputs : Tensor (d,)
        ``outputs`` is ``inputs`` through train-mode dropout with probability ``p``.
    p : float
    ax : Axes, optional
        A new pyplot figure by default.

    Returns
    -------
    Figure
    """
    inputs = _as_float(inputs, "inputs", 1, "(d,)")
    outputs = _as_float(outputs, "outputs", 1, "(d,)")
    p = _check_p(p)
    if inputs.shape != outputs.shape:
        raise ValueError(
            f"inputs {tuple(inputs.shape)} and outputs {tuple(outputs.shape)} differ in shape"
        )
    scale = 1 / (1 - p)
    dropped = outputs == 0
    if not torch.allclose(outputs[~dropped], inputs[~dropped] * scale, rtol=1e-5, atol=1e-6):
        raise ValueError(
            f"outputs are not inputs through dropout with p={p}: every output must be 0 or "
            f"its input times 1 / (1 - p) = {scale:g}"
        )
    (ax,) = axes_list(ax, 1, panel=(max(6.0, 0.75 * len(inputs) + 1.5), 4), layout="constrained")

    positions = np.arange(len(inputs), dtype=float)
    width = 0.38
    kept = (~dropped).numpy()
    input_bars = ax.bar(positions - width / 2, inputs.numpy(), width, color="0.78")
    for bar in np.asarray(input_bars.patches, dtype=object)[~kept]:
        bar.set(edgecolor="tab:red", hatch="///", linewidth=0)
    kept_bars = ax.bar(positions[kept] + width / 2, outputs[~dropped].numpy(), width)
    crosses = ax.scatter(
        positions[~kept] + width / 2,
        np.zeros(int(dropped.sum())),
        marker="x",
        s=80,
        linewidths=2.5,
        color="tab:red",
        zorder=3,
        clip_on=False,
    )
    for x, y in zip(positions[kept] + width / 2, outputs[~dropped].tolist(), strict=True):
        ax.annotate(_short(y), (x, y), xytext=(0, 3), textcoords="offset points", ha="center")
    ax.set_xticks(positions, [_short(v) for v in inputs.tolist()])
    ax.set_xlabel("input value")
    ax.set_ylabel("value")
    ax.set_ylim(0, float(torch.cat([inputs, outputs]).max()) * 1.2)
    ax.legend(
        [input_bars, kept_bars, crosses],
        [
            "input (hatched: dropped)",
            f"output, kept: input × 1/(1-p) = × {scale:g}",
            "output, dropped: 0",
        ],
        loc="upper left",
        frameon=False,
    )
    ax.set_title(
        f"nn.Dropout(p={p:g}) in train mode: "
        f"{int(dropped.sum())} of {len(inputs)} inputs dropped\n"
        f"sum of inputs {inputs.sum().item():.2f}; kept inputs {inputs[~dropped].sum().item():.2f}"
        f" × {scale:g} = sum of outputs {outputs.sum().item():.2f}"
    )
    return ax.figure.figure


def _lattice_edges(sums: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin edges of about the width of ``edges`` holding the same number of the sums' possible
    values each, when those lie on a regular grid (for the chapter's inputs, multiples of
    ``0.1 / (1 - p)``); ``edges`` otherwise. Bins that hold two grid values and then three
    would draw spikes that are not in the distribution."""
    values = np.unique(sums.round(4))  # float sums of the same values differ in last bits
    if len(values) < 2:
        return edges
    # the smallest difference carries the rounding error; the whole span divides it out
    span = float(values[-1] - values[0])
    gap = span / round(span / float(np.diff(values).min()))
    steps = (values - values[0]) / gap
    if not np.allclose(steps, steps.round(), atol=1e-2):
        return edges
    width = gap * max(1, round((edges[1] - edges[0]) / gap))
    start = values[0] - gap / 2  # grid values fall mid-way between edges
    return start + width * np.arange(int(np.ceil((values[-1] - start) / width)) + 1)


def plot_sums_histogram(
    sums: Tensor,
    p: float,
    ax: Axes | None = None,
    *,
    bins: int | Sequence[float] | np.ndarray = 30,
    exact_variance: float | None = None,
) -> Figure:
    """One panel of Figs 6.7/6.8: the histogram of given dropout sums ``(n,)`` for ``p``.

    Marks their mean (dashed) and gives their variance, next to ``exact_variance`` when
    known (:func:`dropout_sum_variance`). ``ax``: a new pyplot figure by default.
    """
    sums = _as_float(sums, "sums", 1, "(n,)")
    if not len(sums):
        raise ValueError("sums is empty: pass at least one sum, e.g. dropout_sums(inputs, p)")
    (ax,) = axes_list(ax, 1, panel=(5.5, 3.4), layout="constrained")
    mean = sums.mean().item()
    text = f"mean (dashed) {mean:.2f}\nvariance {sums.var().item():.2f}"
    if exact_variance is not None:
        text += f"\n(exact {exact_variance:.2f})"
    if isinstance(bins, int):  # bins that hold as many possible sums each (no false spikes)
        lo, hi = float(sums.min()), float(sums.max())
        margin = 0.03 * (hi - lo) or 0.5
        bins = _lattice_edges(sums.numpy(), np.linspace(lo - margin, hi + margin, bins + 1))
    counts, edges, _ = ax.hist(sums.numpy(), bins=bins, color="tab:blue", alpha=0.8)
    ax.axvline(mean, color="black", linestyle="--", linewidth=1.5)
    # the text goes to the side away from the tallest bar, so it never covers it
    tallest = np.argmax(counts)
    right = edges[tallest] + edges[tallest + 1] < edges[0] + edges[-1]
    x, ha = (0.98, "right") if right else (0.02, "left")
    ax.text(x, 0.95, text, transform=ax.transAxes, ha=ha, va="top", fontsize=11)
    ax.set_title(f"p = {p:g}", fontsize=13)
    ax.set_xlabel("sum of outputs", fontsize=11)
    ax.set_ylabel("count", fontsize=11)
    ax.tick_params(labelsize=11)
    return ax.figure.figure


def plot_dropout_sums(
    inputs: Tensor,
    ps: float | Sequence[float] = (0.1, 0.3, 0.5, 0.9),
    n: int = 1000,
    seed: int = 44,
    axes: Axes | Sequence[Axes] | None = None,
    *,
    sharex: bool = True,
) -> Figure:
    """Figs 6.7/6.8: histograms of :func:`dropout_sums`, one panel per dropout probability.

    Each panel marks the mean of the sums (close to ``inputs.sum()`` whatever ``p`` is) and
    gives their variance next to the exact one, which grows like ``p / (1 - p)``. By default
    panels share their x-axis and their bin edges so the spreads compare at a glance; with
    ``sharex=False`` each panel has its own range and bins, one possible sum per bin where
    they fit (the narrow distributions then fill their panels).

    Parameters
    ----------
    inputs : Tensor (d,)
    ps : float or sequence of floats
        One float (Fig 6.7) or several (Fig 6.8).
    n : int
        Number of dropout masks per ``p``.
    seed : int
        Seed for every ``p``'s masks; the caller's random state is left alone.
    axes : Axes or sequence of Axes, optional
        One per ``p``; a new pyplot figure (a grid of at most two columns) by default.
    sharex : bool
        One x-range and one set of bin edges for all panels (``True``), or each its own.

    Returns
    -------
    Figure
    """
    inputs = _as_float(inputs, "inputs", 1, "(d,)")
    ps = (ps,) if isinstance(ps, int | float) else tuple(ps)
    if not ps:
        raise ValueError("ps must hold at least one dropout probability")
    axes = axes_list(
        axes, len(ps), per="p", name="axes", ncols=2, panel=(5.5, 3.4), layout="constrained"
    )
    fig = axes[0].figure

    expected = inputs.sum().item()
    all_sums = [dropout_sums(inputs, p, n=n, seed=seed) for p in ps]
    lo = min(float(sums.min()) for sums in all_sums)
    hi = max(float(sums.max()) for sums in all_sums)
    margin = 0.03 * (hi - lo) or 0.5
    # Shared bin edges: bars of one width in every panel, so heights compare across panels
    # too (per-panel bins would make the narrowest distribution's bars the thinnest).
    edges = np.linspace(lo - margin, hi + margin, (30 if len(ps) == 1 else 50) + 1)
    if len(ps) == 1:
        edges = _lattice_edges(all_sums[0].numpy(), edges)
    for ax, p, sums in zip(axes, ps, all_sums, strict=True):
        exact = dropout_sum_variance(inputs, p).item()
        plot_sums_histogram(sums, p, ax, bins=edges if sharex else 30, exact_variance=exact)
        if sharex:  # one x-range for every panel, so the spreads compare at a glance
            ax.set_xlim(lo - margin, hi + margin)
    per_p = " per p" if len(ps) > 1 else ""
    fig.suptitle(
        f"Sums of {n:,} dropout outputs{per_p} (sum of inputs {expected:.2f})", fontsize=13
    )
    return fig.figure


def dropout_vs_dropout2d(image: Tensor, p: float = 0.33, seed: int = 44) -> tuple[Tensor, Tensor]:
    """The same image through regular dropout and through channel dropout (Fig 6.9).

    Both use ``seed`` (as if ``torch.manual_seed(seed)`` came right before each) and leave
    the caller's random state alone.

    Parameters
    ----------
    image : Tensor (C, H, W)
    p : float
        Dropout probability.
    seed : int

    Returns
    -------
    pixels : Tensor (C, H, W)
        ``nn.Dropout``: each value zeroed independently.
    channels : Tensor (C, H, W)
        ``nn.Dropout2d``: whole channels zeroed. Kept values are scaled by ``1 / (1 - p)``
        in both.
    """
    image = _as_float(image, "image", 3, "(C, H, W)")
    p = _check_p(p)
    pixels = seeded_dropout(image, p, seed)
    with seeded_cpu_rng(seed):
        # Dropout2d wants (N, C, H, W); a 3-D input would be read ambiguously (and warn)
        channels = F.dropout2d(image[None], p, training=True)[0]
    return pixels, channels


def plot_dropout2d(
    image: Tensor, p: float = 0.33, seed: int = 44, fig: FigureBase | None = None
) -> Figure:
    """Fig 6.9: an image, regular dropout (single values) and ``Dropout2d`` (whole channels).

    Rows: original, ``nn.Dropout``, ``nn.Dropout2d``; columns: each channel in grey, then the
    RGB composite (for three channels). Display is honest about scale: every panel maps the
    same value range, the minimum and maximum over all three tensors, linearly to
    black..white (no clipping), so kept values visibly brighten by ``1 / (1 - p)`` and dropped
    ones show where zero falls in that range.

    Parameters
    ----------
    image : Tensor (C, H, W)
        Normalized or not.
    p : float
    seed : int
    fig : Figure or SubFigure, optional
        A new pyplot figure by default.

    Returns
    -------
    Figure
        With ``3 * (C + 1) + 1`` axes for three channels (``3 * C + 1`` otherwise; the last
        is the colorbar).
    """
    image = _as_float(image, "image", 3, "(C, H, W)")
    pixels, channels = dropout_vs_dropout2d(image, p, seed)
    n_channels = image.shape[0]
    composite = n_channels == 3
    n_cols = n_channels + composite
    fig = _new_figure(fig, figsize=(2.3 * n_cols + 1.2, 7.2))
    grid = fig.subplots(3, n_cols, squeeze=False)

    norm = _range_norm(image, pixels, channels, headroom=1.0)
    rows = {"original": image, "nn.Dropout": pixels, "nn.Dropout2d": channels}
    for r, (label, tensor) in enumerate(rows.items()):
        for c in range(n_channels):
            ax = grid[r, c]
            shown = _heatmap(ax, tensor[c], "gray", norm, annotate=False)
            if r == 0:
                ax.set_title(_channel_name(c, n_channels), fontsize=11)
        if composite:
            rgb = (tensor - norm.vmin) / (norm.vmax - norm.vmin)
            grid[r, -1].imshow(rgb.permute(1, 2, 0).numpy())
            grid[r, -1].set_xticks([])
            grid[r, -1].set_yticks([])
            if r == 0:
                grid[r, -1].set_title("composite", fontsize=11)
        grid[r, 0].set_ylabel(label, fontsize=11)
    fig.colorbar(shown, ax=grid.ravel().tolist(), shrink=0.6, label="value (every panel)")
    fig.suptitle(
        f"Dropout vs Dropout2d, p={p:g}, seed {seed}\n"
        f"every panel maps [{norm.vmin:.2f}, {norm.vmax:.2f}] linearly to black..white",
        fontsize=12,
    )
    return fig.figure
