"""The look the built-in plots share: one colour per cluster label, and figure sizes."""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def new_figure(figsize: tuple[float, float] = FIGSIZE) -> Figure:
    """A figure of the shared size, not attached to pyplot, so nothing global needs closing."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=DPI, layout="constrained")
