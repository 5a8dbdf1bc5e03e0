"""The look the built-in plots share: one colour per cluster label, and figure sizes."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# tab10 without its grey, then tab20's light shades without theirs: grey is kept for noise
# so that a cluster never looks like noise.
PALETTE: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
    "#9edae5",
)
NOISE_COLOR = "#9e9e9e"
# Lines that are not one cluster: merges above a dendrogram's cut, reference lines.
NEUTRAL_COLOR = "#404040"
FIGSIZE: tuple[float, float] = (6.4, 4.8)
DPI = 100
TITLE_SIZE = 10


def label_color(label: int) -> str:
    """The colour of cluster ``label``: the palette cycled by label, grey for noise (``-1``)."""
    label = int(label)
    if label < 0:
        return NOISE_COLOR
    return PALETTE[label % len(PALETTE)]


def label_name(label: int) -> str:
    """How a label reads in a legend: ``noise`` or ``cluster N``."""
    return "noise" if int(label) < 0 else f"cluster {int(label)}"


def cluster_count(labels: np.ndarray) -> int:
    """The number of clusters among ``labels``, noise (negative labels) not counted."""
    labels = np.asarray(labels)
    return int(np.unique(labels[labels >= 0]).size)


def point_marker() -> Any:
    """The marker of a data point: a 16-sided polygon, drawn like a circle at marker sizes.

    Matplotlib's circle marker is made of Bézier curves, and finding their extent (for
    the data limits and again for the legend) took about a fifth of a small scatter
    plot's time; a polygon's extent is its vertices' range.
    """
    from matplotlib.path import Path

    return Path.unit_regular_polygon(16)


# Space left around the axes' labels and title, in points.
MARGIN_PAD = 4.0


def new_figure(figsize: tuple[float, float] = FIGSIZE) -> Figure:
    """A figure of the shared size, not attached to pyplot, so nothing global needs closing.

    It draws with Agg and lays out its axes with :func:`snug_layout_engine`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(figure)
    figure.set_layout_engine(snug_layout_engine())
    return figure


def snug_layout_engine() -> Any:
    """A layout engine that fits one axes, or one row of axes under a figure title, with
    their labels and titles, to the figure.

    It measures the axes' decorations once and moves the axes so that they end
    ``MARGIN_PAD`` points inside the figure's edges, below the figure's title, and
    ``MARGIN_PAD`` points apart, all of one width and height. Constrained layout gives
    the same picture but measures every text on two passes, which made it most of the
    cost of saving a small plot. Any other arrangement of axes is left as it is.
    """
    return _snug_engine_class()()


@functools.cache
def _snug_engine_class() -> type:
    # Defined on first use: matplotlib is imported only when a plot is drawn.
    from matplotlib.layout_engine import LayoutEngine

    class SnugLayoutEngine(LayoutEngine):
        _adjust_compatible = True
        _colorbar_gridspec = False

        def execute(self, fig: Figure) -> None:
            row = _one_row(fig)
            if not row:
                return
            renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
            margins = []
            for axes in row:
                decorated = axes.get_tightbbox(renderer)
                if decorated is None:
                    return
                box = axes.get_window_extent(renderer)
                margins.append(
                    (
                        box.x0 - decorated.x0,
                        decorated.x1 - box.x1,
                        box.y0 - decorated.y0,
                        decorated.y1 - box.y1,
                    )
                )
            width, height = fig.bbox.width, fig.bbox.height
            pad = MARGIN_PAD * fig.dpi / 72
            title = getattr(fig, "_suptitle", None)
            top_edge = height
            if title is not None and title.get_visible() and title.get_text():
                top_edge = title.get_window_extent(renderer).y0
            bottom = max(m[2] for m in margins) + pad
            top = top_edge - max(m[3] for m in margins) - pad
            sides = sum(m[0] + m[1] for m in margins)
            each = (width - sides - pad * (len(row) + 1)) / len(row)
            if each <= 0 or top <= bottom:
                return
            left = pad
            for axes, (before, after, _, _) in zip(row, margins, strict=True):
                left += before
                axes.set_position(
                    (left / width, bottom / height, each / width, (top - bottom) / height)
                )
                left += each + after + pad

    return SnugLayoutEngine


def _one_row(fig: Figure) -> list[Any]:
    """The figure's axes from left to right where they are one axes or the columns of one
    row of a grid, else an empty list."""
    axes = list(fig.axes)
    if len(axes) == 1:
        return axes
    specs = [a.get_subplotspec() for a in axes]
    if any(spec is None for spec in specs):
        return []
    grids = {id(spec.get_gridspec()) for spec in specs}
    if len(grids) != 1 or specs[0].get_gridspec().nrows != 1:
        return []
    return sorted(axes, key=lambda a: a.get_subplotspec().colspan.start)
