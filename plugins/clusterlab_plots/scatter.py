"""The ``scatter`` plot: points coloured by cluster, in 2-D or a PCA projection, centres marked."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from clusterlab_plots._data import as_matrix, as_numpy, sample_note, subsample
from clusterlab_plots._style import (
    NEUTRAL_COLOR,
    PALETTE,
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
# Found and true labels side by side: two of the shared figure's axes across.
PAIR_FIGSIZE = (10.4, 4.8)
TITLE_WIDTH = 110
# What every trial logs among its scores besides the metrics (see clusterlab.trial).
TRIAL_FACTS = frozenset({"fit_time_s", "n_clusters_found", "noise_fraction", "peak_memory_mb"})


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

    Where the dataset has ground-truth labels the same points are drawn a second time,
    beside the first, coloured by them. 2-D data is drawn as is, 1-D data against zero,
    wider data through its first two principal components. Noise is grey, centres
    (``cluster_centers_``) are marked with a cross, and more than ``MAX_POINTS`` rows
    are subsampled (seeded by the trial) for drawing only: the cluster counts come from
    all labels. The title carries the trial's swept and fixed algorithm parameters and
    its main score (the first metric's, see :func:`main_score`).
    """
    X = as_matrix(trial.X)
    labels = np.asarray(as_numpy(trial.labels)).ravel()
    n, d = X.shape
    if n == 0 or d == 0 or len(labels) != n:
        return None
    truth = as_numpy(trial.y_true)
    truth = None if truth is None or truth.size != n else as_classes(truth.ravel())
    keep = subsample(n, MAX_POINTS, trial.seed)
    shown_X = X if keep is None else X[keep]
    centres = as_numpy(getattr(trial.estimator, "cluster_centers_", None))
    if centres is not None:
        centres = np.asarray(centres, dtype=np.float64).reshape(len(centres), -1)
        if centres.shape[1] != d:
            centres = None
    projection = project(shown_X, centres, seed=trial.seed)
    panels = [_Panel(labels, centres=projection.centres)]
    if truth is not None:
        panels.append(_Panel(truth, truth=True, colours=matched_colours(truth, labels)))

    head = _heading(trial)
    if len(panels) == 1:
        figure = new_figure()
        axes = figure.add_subplot()
        _draw_panel(axes, projection, panels[0], keep, d)
        notes = [panels[0].summary(), *_notes(projection, len(shown_X), n)]
        axes.set_title(f"{head}\n{' · '.join(notes)}", fontsize=TITLE_SIZE)
        return figure
    figure = new_figure(figsize=PAIR_FIGSIZE)
    grid = figure.subplots(1, 2, sharex=True, sharey=True)
    for axes, panel in zip(grid, panels, strict=True):
        _draw_panel(axes, projection, panel, keep, d)
        axes.set_title(panel.summary(), fontsize=TITLE_SIZE)
    notes = _notes(projection, len(shown_X), n)
    figure.suptitle("\n".join([head, *([" · ".join(notes)] if notes else [])]), fontsize=TITLE_SIZE)
    return figure


@dataclass
class _Panel:
    """One labelling of the points: the labels found, or the ground truth."""

    labels: np.ndarray
    truth: bool = False
    centres: np.ndarray | None = None
    # Label -> colour where it is not the label's own palette colour.
    colours: Mapping[int, str] = field(default_factory=dict)

    def colour(self, label: int) -> str:
        """The colour label ``label`` is drawn in."""
        return self.colours.get(int(label)) or label_color(label)

    def name(self, label: int) -> str:
        """How label ``label`` reads in the legend."""
        return f"class {int(label)}" if self.truth and label >= 0 else label_name(label)

    def summary(self) -> str:
        """The panel's title: how many clusters (or true classes) and noise points."""
        count = cluster_count(self.labels)
        if self.truth:
            parts = [f"ground truth: {count} class{'es' if count != 1 else ''}"]
        else:
            parts = [f"{count} cluster{'s' if count != 1 else ''} found"]
        noise = int((self.labels < 0).sum())
        if noise:
            parts.append(f"{noise:,} noise points")
        return " · ".join(parts)


def as_classes(truth: np.ndarray) -> np.ndarray:
    """Ground-truth labels as whole numbers: integers as they are, other labels (text,
    say) numbered in sorted order."""
    if truth.dtype.kind in "iub":
        return truth.astype(np.int64)
    if truth.dtype.kind == "f" and np.isfinite(truth).all() and (truth == np.round(truth)).all():
        return truth.astype(np.int64)
    return np.unique(truth, return_inverse=True)[1].astype(np.int64).ravel()


def matched_colours(truth: np.ndarray, found: np.ndarray) -> dict[int, str]:
    """A colour per true class: that of the found cluster sharing most of its points.

    Classes and clusters are paired one to one (the assignment that keeps the most points
    together), so that where the clustering agrees with the truth both panels show the
    same colour. A class left without a cluster gets a palette colour no cluster uses.
    """
    from scipy.optimize import linear_sum_assignment

    classes, class_of = np.unique(truth, return_inverse=True)
    clusters, cluster_of = np.unique(found, return_inverse=True)
    if min(len(classes), len(clusters)) > SEPARATE_MAX_LABELS:
        return {}  # colours no eye could pair up; each class keeps its own
    overlap = np.zeros((len(classes), len(clusters)))
    np.add.at(overlap, (class_of, cluster_of), 1)
    # Noise is grey on both sides and never paired.
    overlap[classes < 0, :] = 0
    overlap[:, clusters < 0] = 0
    rows, cols = linear_sum_assignment(-overlap)
    colours = {
        int(classes[r]): label_color(clusters[c])
        for r, c in zip(rows, cols, strict=True)
        if overlap[r, c] > 0
    }
    taken = {label_color(c) for c in clusters if c >= 0} | set(colours.values())
    spare = (colour for colour in PALETTE if colour not in taken)
    for label in classes[classes >= 0].tolist():
        if label not in colours:
            colours[label] = next(spare, label_color(label))
    return colours


def _draw_panel(
    axes: Any, projection: Projection, panel: _Panel, keep: np.ndarray | None, d: int
) -> None:
    """The points coloured by one labelling, with centres where the panel has them."""
    shown = panel.labels if keep is None else panel.labels[keep]
    size = _marker_size(len(shown))
    _draw_points(axes, projection.points, shown, size, panel.colour, panel.name)
    if panel.centres is not None and len(panel.centres):
        axes.scatter(
            panel.centres[:, 0],
            panel.centres[:, 1],
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
    if len(np.unique(shown)) <= LEGEND_MAX_LABELS:
        # "best" tests every point against every spot: too slow for large samples.
        axes.legend(
            loc="best" if len(shown) <= 5_000 else "upper right",
            fontsize="small",
            markerscale=max(1.0, 24 / size) ** 0.5,
        )


def main_score(scores: Mapping[str, float]) -> tuple[str, float] | None:
    """The trial's main score: the first of ``scores`` that is a metric, not a trial fact.

    The trial logs its facts (fit time, clusters found, ...) among the scores ahead of
    the metrics, which follow in the experiment's order; a metric undefined for the
    trial is absent, so the first defined one is shown.
    """
    for name, value in scores.items():
        if name not in TRIAL_FACTS:
            return name, float(value)
    return None


def _heading(trial: TrialView) -> str:
    """The trial's title, then its fixed algorithm parameters and its main score."""
    fixed = {k: v for k, v in trial.algorithm_params.items() if k not in trial.swept}
    parts = []
    if fixed:
        parts.append(", ".join(f"{k}={v}" for k, v in fixed.items()))
    score = main_score(trial.scores)
    if score is not None:
        parts.append(f"{score[0]} {score[1]:.4g}")
    if not parts:
        return trial.title
    return f"{trial.title}\n{textwrap.shorten(' · '.join(parts), width=TITLE_WIDTH)}"


def _draw_points(
    axes: Any,
    points: np.ndarray,
    labels: np.ndarray,
    size: float,
    colour: Callable[[int], str] = label_color,
    name: Callable[[int], str] = label_name,
) -> None:
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
            color=colour(label),
            alpha=0.6 if label < 0 else 0.85,
            linewidths=0,
            label=name(label),
        )
    if many:
        mask = labels >= 0
        axes.scatter(
            points[mask, 0],
            points[mask, 1],
            s=size,
            marker=point_marker(),
            c=[colour(label) for label in labels[mask].tolist()],
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


def _notes(projection: Projection, shown: int, total: int) -> list[str]:
    notes = [projection.note] if projection.note else []
    if shown < total:
        notes.append(sample_note(shown, total))
    return notes
