"""The ``condensed_tree`` plot: HDBSCAN's condensed tree as an icicle, selected clusters marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from clusterlab_plots._style import NEUTRAL_COLOR, TITLE_SIZE, label_color, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from clusterlab.plotting import TrialView

# A cluster's bar is drawn in at most this many steps of lambda, so that large trees stay
# cheap to draw; the width is exact at every step drawn.
MAX_STEPS = 64


@dataclass
class Icicle:
    """A condensed tree (``parent, child, lambda_val, child_size`` rows) and its selection."""

    tree: np.ndarray
    n_points: int
    selected: np.ndarray


def condensed_tree(trial: TrialView) -> Figure | None:
    """Draw the condensed tree: each cluster a bar whose width is its number of points.

    The vertical axis is ``lambda = 1 / distance``, growing downwards from the root; a
    bar narrows as points leave its cluster and ends where the cluster splits or
    empties, and its children hang below it from a horizontal line at the split. The
    selected clusters are outlined in their label's colour, as the ``hdbscan``
    package draws it. The tree comes from ``condensed_tree_`` (clusterlab's ``hdbscan``)
    or is condensed from scikit-learn's single-linkage tree; other estimators give
    ``None``.
    """
    icicle = icicle_of(trial.estimator)
    if icicle is None:
        return None
    from matplotlib.patches import Rectangle

    tree, n = icicle.tree, icicle.n_points
    clusters = np.unique(tree["parent"])
    finite = tree["lambda_val"][np.isfinite(tree["lambda_val"])]
    floor = float(finite.max()) * 1.05 if finite.size and finite.max() > 0 else 1.0
    lam = np.minimum(tree["lambda_val"], floor)
    birth = {int(c): 0.0 for c in clusters}
    size = {n: n}
    kids: dict[int, list[int]] = {int(c): [] for c in clusters}
    for parent, child, value, count in zip(
        tree["parent"].tolist(),
        tree["child"].tolist(),
        lam.tolist(),
        tree["child_size"].tolist(),
        strict=True,
    ):
        if child >= n:
            kids[parent].append(child)
            birth[child] = value
            size[child] = count
    size[n] = n
    centre = _layout(n, kids, size)

    figure = new_figure()
    axes = figure.add_subplot()
    death: dict[int, float] = {}
    for cluster in clusters.tolist():
        rows = tree["parent"] == cluster
        steps, widths = _profile(lam[rows], tree["child_size"][rows], birth[cluster])
        death[cluster] = float(steps[-1])
        axes.bar(
            np.full(len(widths), centre[cluster]),
            np.diff(steps),
            bottom=steps[:-1],
            width=widths,
            color=NEUTRAL_COLOR,
            alpha=0.35,
            align="center",
            linewidth=0,
        )
        if kids[cluster]:
            xs = [centre[c] for c in kids[cluster]]
            split = birth[kids[cluster][0]]
            axes.plot([min(xs), max(xs)], [split, split], color=NEUTRAL_COLOR, linewidth=1)
    for label, cluster in enumerate(icicle.selected.tolist()):
        if cluster not in centre:
            continue
        width = size[cluster]
        axes.add_patch(
            Rectangle(
                (centre[cluster] - width / 2, birth[cluster]),
                width,
                death[cluster] - birth[cluster],
                fill=False,
                edgecolor=label_color(label),
                linewidth=2,
            )
        )
    axes.set_xlim(-0.02 * n, 1.02 * size[n] if size[n] else n)
    axes.set_ylim(floor, 0.0)
    axes.set_xticks([])
    axes.set_ylabel("λ = 1 / distance")
    axes.set_title(
        f"{trial.title} — condensed tree, {len(icicle.selected)} selected clusters",
        fontsize=TITLE_SIZE,
    )
    return figure


def icicle_of(estimator: Any) -> Icicle | None:
    """The condensed tree and selected clusters of a fitted HDBSCAN, else ``None``."""
    tree = getattr(estimator, "condensed_tree_", None)
    if isinstance(tree, np.ndarray) and tree.dtype.names and "lambda_val" in tree.dtype.names:
        n = int(tree["parent"].min())
        selected = np.asarray(getattr(estimator, "selected_clusters_", []), dtype=np.int64)
        return Icicle(tree, n, selected)
    slt = getattr(estimator, "_single_linkage_tree_", None)
    if slt is None or getattr(slt, "dtype", None) is None or "left_node" not in slt.dtype.names:
        return None
    # scikit-learn's HDBSCAN keeps only its single-linkage tree: condense and select it
    # with the estimator's own settings.
    from clusterlab_algorithms._hdbscan.tree import condense_tree, select_clusters

    Z = np.c_[slt["left_node"], slt["right_node"], slt["value"], slt["cluster_size"]]
    if not np.all(np.isfinite(Z[:, 2])):
        return None
    n = len(Z) + 1
    tree = condense_tree(Z.astype(np.float64), int(estimator.min_cluster_size))
    selection = select_clusters(
        tree,
        n,
        method=estimator.cluster_selection_method,
        allow_single_cluster=bool(estimator.allow_single_cluster),
        epsilon=float(estimator.cluster_selection_epsilon),
        max_cluster_size=estimator.max_cluster_size,
    )
    return Icicle(tree, n, selection.clusters)


def _layout(root: int, kids: dict[int, list[int]], size: dict[int, int]) -> dict[int, float]:
    """Horizontal centre of every cluster: children side by side, centred under the parent."""
    centre = {root: size[root] / 2}
    queue = [root]
    while queue:
        node = queue.pop()
        children = kids.get(node, [])
        total = sum(size[c] for c in children)
        left = centre[node] - total / 2
        for child in children:
            centre[child] = left + size[child] / 2
            left += size[child]
            queue.append(child)
    return centre


def _profile(
    lambdas: np.ndarray, counts: np.ndarray, birth: float
) -> tuple[np.ndarray, np.ndarray]:
    """Steps of lambda and the cluster's width (points still in it) between them."""
    order = np.argsort(lambdas, kind="stable")
    lambdas, counts = lambdas[order], counts[order]
    left = counts.sum() - np.cumsum(counts)
    values, last = np.unique(lambdas, return_index=False, return_counts=True)
    ends = np.cumsum(last) - 1
    if values.size > MAX_STEPS:
        keep = np.linspace(0, values.size - 1, MAX_STEPS).round().astype(np.int64)
        values, ends = values[keep], ends[keep]
    widths = np.concatenate(([counts.sum()], left[ends[:-1]]))
    steps = np.concatenate(([birth], values))
    return steps, widths.astype(np.float64)
