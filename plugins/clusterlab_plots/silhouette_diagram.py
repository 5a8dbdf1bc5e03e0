"""The ``silhouette_diagram`` plot: each sample's silhouette, grouped and sorted by cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clusterlab_plots._data import as_matrix, as_numpy, subsample
from clusterlab_plots._style import NEUTRAL_COLOR, TITLE_SIZE, label_color, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from clusterlab.plotting import TrialView

MAX_SAMPLES = 20_000


def silhouette_diagram(trial: TrialView) -> Figure | None:
    """Draw per-sample silhouettes as one sorted band per cluster, with their mean dashed.

    Noise is left out. More than ``MAX_SAMPLES`` clustered points are sampled (seeded by
    the trial), since the silhouette costs a distance from every point to every other.
    ``None`` when fewer than two clusters remain or every sampled point is its own cluster.
    """
    from sklearn.metrics import silhouette_samples

    X = as_matrix(trial.X)
    labels = np.asarray(as_numpy(trial.labels)).ravel()
    if len(labels) != len(X):
        return None
    clustered = np.flatnonzero(labels >= 0)
    keep = subsample(len(clustered), MAX_SAMPLES, trial.seed)
    rows = clustered if keep is None else clustered[keep]
    sampled = labels[rows]
    clusters = np.unique(sampled)
    if not 2 <= len(clusters) <= len(rows) - 1:
        return None
    values = silhouette_samples(X[rows], sampled)
    mean = float(values.mean())

    figure = new_figure()
    axes = figure.add_subplot()
    gap = max(1, round(0.02 * len(rows)))
    bottom = 0
    ticks: list[float] = []
    for cluster in clusters:
        ordered = np.sort(values[sampled == cluster])
        span = np.arange(bottom, bottom + len(ordered))
        axes.fill_betweenx(
            span, 0, ordered, facecolor=label_color(cluster), edgecolor="none", alpha=0.85
        )
        ticks.append(bottom + (len(ordered) - 1) / 2)
        bottom += len(ordered) + gap
    axes.axvline(mean, linestyle="--", color=NEUTRAL_COLOR, linewidth=1, label=f"mean {mean:.3f}")
    axes.set_yticks(ticks, labels=[str(int(c)) for c in clusters])
    axes.set_ylim(-gap, bottom)
    axes.set_xlim(min(-0.1, float(values.min()) - 0.05), 1.0)
    axes.set_xlabel("silhouette coefficient")
    axes.set_ylabel("cluster")
    axes.legend(loc="lower right", fontsize="small")
    parts = [f"mean silhouette {mean:.3f}"]
    noise = len(labels) - len(clustered)
    if noise:
        parts.append(f"{noise:,} noise points left out")
    if keep is not None:
        parts.append(f"{len(rows):,} of {len(clustered):,} points sampled")
    axes.set_title(f"{trial.title}\n{' · '.join(parts)}", fontsize=TITLE_SIZE)
    return figure
