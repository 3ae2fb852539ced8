"""Figs 6.18-6.29: the paths over the loss surface and the losses per configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import plotting
from .._figures import SITE_WIDTH, axes_list
from .compare import PathResult
from .regression import LossSurface


def _as_results(results: Mapping[str, PathResult] | Sequence[PathResult]) -> list[PathResult]:
    items = list(results.values()) if isinstance(results, Mapping) else list(results)
    if not items:
        raise ValueError("results is empty: pass the output of compare_optimizers(...).")
    return items


def plot_paths(
    results: Mapping[str, PathResult] | Sequence[PathResult],
    surface: LossSurface,
    ax: Axes | Sequence[Axes] | None = None,
    ncols: int = 3,
) -> Figure:
    """Figs 6.18/6.20/6.22/6.28: each path over the loss contour, the optimum as a red dot.

    Every path starts at a square. ``ax``: one Axes draws every path there (legend of the
    paths); a sequence draws one per panel; ``None`` makes a grid of ``ncols`` columns, one
    panel per result. With panels, the first one carries the legend of the markers.
    """
    items = _as_results(results)
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}.")
    ncols = min(ncols, len(items))
    # Cells of up to 4.5 inches, narrower where the row would outgrow the site's column.
    width = min(4.5, SITE_WIDTH / ncols)
    axes = axes_list(
        ax, len(items), per="result", shared=True, ncols=ncols, panel=(width, 0.93 * width)
    )
    losses = surface.losses.numpy()
    levels = np.geomspace(losses.min() * 1.5, losses.max(), 12)
    # Greys from white would hide the innermost rings, the ones around the optimum that
    # matter most; a mid-grey range keeps every level visible under the coloured paths.
    level_colors = plt.get_cmap("Greys")(np.linspace(0.4, 0.85, len(levels)))
    shared = len(set(map(id, axes))) == 1
    for i, (result, panel) in enumerate(zip(items, axes, strict=True)):
        if i == 0 or not shared:
            panel.contour(
                surface.b.numpy(),
                surface.w.numpy(),
                losses,
                levels=levels,
                colors=level_colors,
                linewidths=0.8,
            )
            b, w = surface.b.tolist(), surface.w.tolist()
            panel.set(xlabel="b", ylabel="w", xlim=(b[0], b[-1]), ylim=(w[0], w[-1]))
        path = result.path.numpy()
        color = f"C{i}" if shared else "C0"
        # One Axes: the legend names the paths. Panels: titles name them and the legend
        # explains the markers instead.
        path_label, start_label = (result.name, "_nolegend_") if shared else ("_path", "start")
        panel.plot(path[:, 0], path[:, 1], "-o", ms=2.5, lw=1, color=color, label=path_label)
        panel.plot(*path[0], "s", color=color, ms=6, label=start_label)
        if not shared:
            panel.set_title(result.name)
    for panel in dict.fromkeys(axes):
        panel.plot(*surface.optimum, "o", color="red", ms=7, label="least squares")
    if shared:
        axes[0].legend()
    else:
        axes[0].legend(loc="lower right", fontsize="small")
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_losses(
    results: Mapping[str, PathResult] | Sequence[PathResult],
    ax: Axes | Sequence[Axes] | None = None,
    log: bool = True,
    title: str | None = "Training (solid) and validation (dashed) losses",
) -> Figure:
    """Figs 6.19/6.23/6.29: training (solid) and validation (dashed) losses per configuration.

    Each result's curves are drawn by :func:`rpsbook.plotting.plot_run_losses`, labelled with
    its name. ``ax``: one Axes (the default is a new one) holds every curve; a sequence holds one
    configuration per panel. ``title`` goes on every Axes drawn on (``None``: leave them).
    """
    items = _as_results(results)
    if ax is None:
        (ax,) = axes_list(None, 1, panel=(7, 4.5))
    axes = axes_list(ax, len(items), per="result", shared=True)
    for result, panel in zip(items, axes, strict=True):
        plotting.plot_run_losses(
            result.losses, result.val_losses, ax=panel, label=result.name, log=log
        )
    if title is not None:
        for panel in dict.fromkeys(axes):
            panel.set_title(title)
    return axes[0].figure
