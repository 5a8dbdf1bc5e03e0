"""The ``dendrogram`` plot: the merge tree of a hierarchical clustering, cut where it was cut."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from clusterlab_plots._data import as_numpy
from clusterlab_plots._style import NEUTRAL_COLOR, TITLE_SIZE, label_color, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from clusterlab.plotting import TrialView

MAX_LEAVES = 30


@dataclass
class Hierarchy:
    """A merge tree in scipy's linkage format and whether its heights are distances.

    Without distances (scikit-learn only records them with ``compute_distances=True`` or
    a ``distance_threshold``) the height of a merge is its step: 1, 2, ... n - 1.
    """

    linkage: np.ndarray
    heights_are_distances: bool

    @property
    def n_leaves(self) -> int:
        """The number of samples the tree joins."""
        return len(self.linkage) + 1


def dendrogram(trial: TrialView) -> Figure | None:
    """Draw the estimator's merge tree with the cut that gave its clusters as a dashed line.

    The tree comes from ``linkage_matrix_`` (scipy format) or scikit-learn's
    ``children_`` / ``distances_``; estimators without a complete tree give ``None``.
    Trees with more than ``MAX_LEAVES`` leaves show only the last merges. Links below the
    cut take their cluster's colour, so they match the scatter plot.
    """
    from scipy.cluster import hierarchy as scipy_hierarchy

    tree = hierarchy_of(trial.estimator)
    if tree is None:
        return None
    cut = cut_height(tree, trial.estimator, trial.labels)
    labels = np.asarray(as_numpy(trial.labels)).ravel()
    colours = _link_colours(tree, labels, cut)

    figure = new_figure()
    axes = figure.add_subplot()
    truncated = tree.n_leaves > MAX_LEAVES
    scipy_hierarchy.dendrogram(
        tree.linkage,
        ax=axes,
        truncate_mode="lastp" if truncated else None,
        p=MAX_LEAVES,
        link_color_func=colours,
        leaf_rotation=90,
        leaf_font_size=8,
    )
    if cut is not None:
        axes.axhline(cut, linestyle="--", color=NEUTRAL_COLOR, linewidth=1, label="cut")
    axes.set_ylabel("merge distance" if tree.heights_are_distances else "merge step")
    axes.set_xlabel(
        f"clusters of the last {MAX_LEAVES} merges (size in brackets)" if truncated else "sample"
    )
    axes.set_title(_title(trial, tree, cut), fontsize=TITLE_SIZE)
    return figure


def hierarchy_of(estimator: Any) -> Hierarchy | None:
    """The estimator's complete merge tree, or ``None`` when it has none.

    scikit-learn stops building the tree early when it may (``compute_full_tree``); such
    a partial tree has fewer than ``n - 1`` merges and is not drawn.
    """
    linkage = as_numpy(getattr(estimator, "linkage_matrix_", None))
    if linkage is not None:
        linkage = np.asarray(linkage, dtype=np.float64)
        if linkage.ndim == 2 and linkage.shape[1] == 4 and len(linkage) >= 1:
            return Hierarchy(linkage, heights_are_distances=True)
        return None
    children = as_numpy(getattr(estimator, "children_", None))
    if children is None or children.ndim != 2 or children.shape[1] != 2 or len(children) == 0:
        return None
    n_leaves = int(getattr(estimator, "n_leaves_", len(children) + 1))
    if len(children) != n_leaves - 1:
        return None
    distances = as_numpy(getattr(estimator, "distances_", None))
    has_distances = distances is not None and len(distances) == len(children)
    heights = (
        np.asarray(distances, dtype=np.float64)
        if has_distances
        else np.arange(1, n_leaves, dtype=np.float64)
    )
    return Hierarchy(
        np.column_stack([children, heights, _merge_sizes(children, n_leaves)]).astype(np.float64),
        heights_are_distances=has_distances,
    )


def cut_height(tree: Hierarchy, estimator: Any, labels: Any) -> float | None:
    """The height of the horizontal line that cuts ``tree`` into the clusters found.

    A ``distance_threshold`` is the cut itself. Otherwise, for ``k`` clusters the first
    ``n - k`` merges were made and the rest were not, so the line lies halfway between
    merge ``n - k`` and merge ``n - k + 1``. ``None`` for one cluster or one per sample.
    """
    threshold = getattr(estimator, "distance_threshold", None)
    if threshold is not None and tree.heights_are_distances:
        return float(threshold)
    k = _cluster_count(estimator, labels)
    n = tree.n_leaves
    if k is None or not 2 <= k <= n - 1:
        return None
    heights = tree.linkage[:, 2]
    return float((heights[n - k - 1] + heights[n - k]) / 2)


def _cluster_count(estimator: Any, labels: Any) -> int | None:
    for name in ("n_clusters_", "n_clusters"):
        value = getattr(estimator, name, None)
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            return int(value)
    if labels is None:
        return None
    found = np.asarray(as_numpy(labels)).ravel()
    return int(np.unique(found[found >= 0]).size)


def _merge_sizes(children: np.ndarray, n_leaves: int) -> np.ndarray:
    sizes = np.ones(2 * n_leaves - 1, dtype=np.int64)
    for step, (left, right) in enumerate(children.astype(np.int64)):
        sizes[n_leaves + step] = sizes[left] + sizes[right]
    return sizes[n_leaves:]


def _link_colours(tree: Hierarchy, labels: np.ndarray, cut: float | None) -> Callable[[int], str]:
    """Colour a link by the cluster under it when it lies below the cut, else neutral."""
    n = tree.n_leaves
    if cut is None or len(labels) != n:
        return lambda node: NEUTRAL_COLOR
    # Every leaf under a link below the cut is in the same cluster, so one leaf per
    # node tells the node's cluster.
    leaf_of = np.arange(2 * n - 1, dtype=np.int64)
    for step, left in enumerate(tree.linkage[:, 0].astype(np.int64)):
        leaf_of[n + step] = leaf_of[left]
    heights = tree.linkage[:, 2]

    def colour(node: int) -> str:
        if node < n or heights[node - n] >= cut:
            return NEUTRAL_COLOR
        return label_color(labels[leaf_of[node]])

    return colour


def _title(trial: TrialView, tree: Hierarchy, cut: float | None) -> str:
    parts = [f"{tree.n_leaves:,} samples"]
    if cut is not None:
        parts.append(
            f"cut at distance {cut:.4g}"
            if tree.heights_are_distances
            else f"cut after merge {int(np.floor(cut)):,}"
        )
    return f"{trial.title}\n{' · '.join(parts)}"
