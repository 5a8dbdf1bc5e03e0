"""The ``scatter`` plot: points coloured by cluster, in 2-D or a PCA projection, centres marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from clusterlab_plots._data import as_matrix, as_numpy, sample_note, subsample
from clusterlab_plots._style import (
    NEUTRAL_COLOR,
    TITLE_SIZE,
    cluster_count,
    label_color,
    label_name,
    new_figure,
    point_marker,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from clusterlab.plotting import TrialView

MAX_POINTS = 50_000
# Principal axes are fitted on at most this many of the drawn rows: the directions are
# stable long before that, and the SVD stays quick for wide data.
PCA_FIT_ROWS = 10_000
LEGEND_MAX_LABELS = 12
SEPARATE_MAX_LABELS = 100


@dataclass
class Projection:
    """Points and centres in the two plotted coordinates, with the axis names."""

    points: np.ndarray
    centres: np.ndarray | None
    xlabel: str
    ylabel: str
    note: str = ""


def scatter(trial: TrialView) -> Figure | None:
    """Scatter the trial's data coloured by the labels found; ``None`` when there is no data.

    2-D data is drawn as is, 1-D data against zero, wider data through its first two
    principal components. Noise is grey, centres (``cluster_centers_``) are marked with
    a cross, and more than ``MAX_POINTS`` rows are subsampled (seeded by the trial) for
    drawing only: the title's cluster count comes from all labels.
    """
    X = as_matrix(trial.X)
    labels = np.asarray(as_numpy(trial.labels)).ravel()
    n, d = X.shape
    if n == 0 or d == 0 or len(labels) != n:
        return None
    keep = subsample(n, MAX_POINTS, trial.seed)
    shown_X, shown_labels = (X, labels) if keep is None else (X[keep], labels[keep])
    centres = as_numpy(getattr(trial.estimator, "cluster_centers_", None))
    if centres is not None:
        centres = np.asarray(centres, dtype=np.float64).reshape(len(centres), -1)
        if centres.shape[1] != d:
            centres = None
    projection = project(shown_X, centres, seed=trial.seed)

    figure = new_figure()
    axes = figure.add_subplot()
    size = _marker_size(len(shown_X))
    _draw_points(axes, projection.points, shown_labels, size)
    if projection.centres is not None and len(projection.centres):
        axes.scatter(
            projection.centres[:, 0],
            projection.centres[:, 1],
            marker="x",
            s=90,
            color=NEUTRAL_COLOR,
            linewidths=2.5,
            zorder=3,
            label="centres",
        )
    axes.set_xlabel(projection.xlabel)
    axes.set_ylabel(projection.ylabel)
    if d == 1:
        axes.set_yticks([])
    if len(np.unique(shown_labels)) <= LEGEND_MAX_LABELS:
        # "best" tests every point against every spot: too slow for large samples.
        axes.legend(
            loc="best" if len(shown_X) <= 5_000 else "upper right",
            fontsize="small",
            markerscale=max(1.0, 24 / size) ** 0.5,
        )
    axes.set_title(
        _title(trial.title, labels, projection.note, len(shown_X), n), fontsize=TITLE_SIZE
    )
    return figure


def _draw_points(axes: Any, points: np.ndarray, labels: np.ndarray, size: float) -> None:
    """One collection per label (noise first, so clusters lie over it), legend-ready.

    Beyond ``SEPARATE_MAX_LABELS`` labels a legend is useless and one collection per
    label gets slow, so the clusters share a single collection coloured point by point.
    """
    present = np.unique(labels)
    many = len(present) > SEPARATE_MAX_LABELS
    groups = [label for label in present.tolist() if label < 0 or not many]
    for label in sorted(groups):
        mask = labels == label
        axes.scatter(
            points[mask, 0],
            points[mask, 1],
            s=size,
            marker=point_marker(),
            color=label_color(label),
            alpha=0.6 if label < 0 else 0.85,
            linewidths=0,
            label=label_name(label),
        )
    if many:
        mask = labels >= 0
        axes.scatter(
            points[mask, 0],
            points[mask, 1],
            s=size,
            marker=point_marker(),
            c=[label_color(label) for label in labels[mask].tolist()],
            alpha=0.85,
            linewidths=0,
            label="clusters",
        )


def project(X: np.ndarray, centres: np.ndarray | None, *, seed: int = 0) -> Projection:
    """Map rows of ``X`` (and ``centres``, the same way) to the two plotted coordinates."""
    d = X.shape[1]
    if d == 1:
        return Projection(
            np.column_stack([X[:, 0], np.zeros(len(X))]),
            None if centres is None else np.column_stack([centres[:, 0], np.zeros(len(centres))]),
            "x0",
            "",
        )
    if d == 2:
        return Projection(X, centres, "x0", "x1")
    mean, components, ratios = principal_axes(X, seed=seed)
    return Projection(
        (X - mean) @ components.T,
        None if centres is None else (centres - mean) @ components.T,
        f"PC1 ({ratios[0]:.0%} of variance)",
        f"PC2 ({ratios[1]:.0%} of variance)",
        f"PCA of {d}-D",
    )


def principal_axes(X: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean, the first two principal directions (2 x d) and their shares of the variance.

    Each direction's sign is fixed so its largest loading is positive: the same data
    then always gives the same picture.
    """
    keep = subsample(len(X), PCA_FIT_ROWS, seed)
    fit = X if keep is None else X[keep]
    mean = fit.mean(axis=0)
    _, singular, vt = np.linalg.svd(fit - mean, full_matrices=False)
    components = vt[:2].copy()
    if len(components) < 2:  # a single row has one direction; the second axis is flat
        components = np.vstack([components, np.zeros_like(components)])
    signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
    components *= np.where(signs == 0, 1.0, signs)[:, None]
    variance = singular**2
    total = variance.sum()
    ratios = np.zeros(2)
    if total > 0:
        share = variance[:2] / total
        ratios[: len(share)] = share
    return mean, components, ratios


def _marker_size(n: int) -> float:
    # Smaller markers as points grow, so dense regions stay readable.
    if n <= 2_000:
        return 14.0
    if n <= 20_000:
        return 5.0
    return 1.5


def _title(head: str, labels: np.ndarray, note: str, shown: int, total: int) -> str:
    found = cluster_count(labels)
    parts = [f"{found} cluster{'s' if found != 1 else ''} found"]
    noise = int((labels < 0).sum())
    if noise:
        parts.append(f"{noise:,} noise points")
    if note:
        parts.append(note)
    if shown < total:
        parts.append(sample_note(shown, total))
    return f"{head}\n{' · '.join(parts)}"
