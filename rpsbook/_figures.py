"""What every plotting module shares: the site's width and where a plot draws.

matplotlib is imported by the functions, not by this module, so that modules which only
plot on demand (:mod:`rpsbook.training`) can use it without importing matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

#: Width in inches of the site's content column (about 1,100 px at matplotlib's 100 dpi).
#: A wider figure is scaled down to fit, and its text with it.
SITE_WIDTH = 11.0


def axes_list(
    ax: Axes | Sequence[Axes] | None,
    n: int,
    *,
    per: str = "panel",
    name: str = "ax",
    shared: bool = False,
    panel: tuple[float, float] = (SITE_WIDTH / 3, 4.0),
    ncols: int | None = None,
    **subplots_kw: Any,
) -> list[Axes]:
    """``n`` Axes for a plot to draw on, one per ``per`` (a panel, a result, a flavour...).

    ``ax`` may be ``None`` (a new pyplot figure: a grid of ``ncols`` columns, all ``n`` by
    default, each cell ``panel`` inches, the unused cells removed), a sequence of ``n``
    Axes, or a single Axes: allowed when ``n == 1``, or with ``shared=True`` (everything
    drawn on it). ``name`` is the argument's name in the error. ``subplots_kw`` go to
    :func:`matplotlib.pyplot.subplots` (``sharey``, ``layout``...).
    """
    from matplotlib.axes import Axes

    if n < 1:
        raise ValueError(f"nothing to draw: {n} {per}s")
    if isinstance(ax, Axes):
        if n == 1 or shared:
            return [ax] * n
        given = "a single Axes"
    elif ax is not None:
        axes = list(ax)
        if len(axes) == n:
            return axes
        given = f"{len(axes)} axes"
    else:
        import matplotlib.pyplot as plt

        ncols = n if ncols is None else max(1, min(ncols, n))
        nrows = math.ceil(n / ncols)
        width, height = panel
        fig, grid = plt.subplots(
            nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **subplots_kw
        )
        for extra in grid.flat[n:]:
            fig.delaxes(extra)
        return list(grid.flat[:n])
    alternative = ", or a single Axes for all" if shared else ""
    raise ValueError(f"{name} has {given} for {n} {per}s; pass one Axes per {per}{alternative}")
