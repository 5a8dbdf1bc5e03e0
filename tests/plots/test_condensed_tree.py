"""The condensed_tree plot: HDBSCAN's icicle, its selected clusters checked against scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.patches import Rectangle
from sklearn.cluster import HDBSCAN as SklearnHDBSCAN
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from clusterlab.plotting import TrialView
from clusterlab_algorithms.hdbscan import HDBSCAN
from clusterlab_plots._style import label_color
from clusterlab_plots.condensed_tree import condensed_tree


def _data() -> np.ndarray:
    rng = np.random.default_rng(0)
    centers = [[0.0, 0.0], [6.0, 6.0], [-6.0, 3.0]]
    X, _ = make_blobs(500, 2, centers=centers, cluster_std=[0.3, 1.0, 2.0], random_state=0)
    return np.r_[X, rng.uniform(-12, 12, (40, 2))]


def _trial(X: np.ndarray, estimator: Any) -> TrialView:
    return TrialView(
        X=X,
        labels=np.asarray(estimator.labels_),
        y_true=None,
        estimator=estimator,
        dataset="varied",
        algorithm="hdbscan",
        swept={"min_cluster_size": 15},
    )


def _outlines(figure: Any) -> list[Rectangle]:
    axes = figure.axes[0]
    return [p for p in axes.patches if isinstance(p, Rectangle) and not p.get_fill()]


@pytest.mark.parametrize("method", ["eom", "leaf"])
def test_selected_clusters_outlined_as_sklearn_selects(method: str) -> None:
    X = _data()
    # min_samples=1 leaves no tie between merges to decide a cluster (with more, which
    # of the tied merges scikit-learn takes first follows numpy's unstable sort).
    params = {"min_cluster_size": 10, "min_samples": 1, "cluster_selection_method": method}
    ours = HDBSCAN(**params).fit(X)
    reference = SklearnHDBSCAN(**params, copy=False).fit(X)
    figures = [condensed_tree(_trial(X, est)) for est in (ours, reference)]
    outlined = [_outlines(f) for f in figures]
    n_clusters = len(set(reference.labels_.tolist()) - {-1})
    assert [len(o) for o in outlined] == [n_clusters, n_clusters]
    # Each outline is as wide as its cluster was at birth, which holds at least the points
    # labelled with it; the widths agree between the two estimators' trees.
    widths = [sorted(r.get_width() for r in o) for o in outlined]
    assert widths[0] == widths[1]
    counts = sorted(np.bincount(ours.labels_[ours.labels_ >= 0]).tolist())
    assert all(w >= c for w, c in zip(widths[0], counts, strict=True))
    colours = {to_rgba(r.get_edgecolor()) for r in outlined[0]}
    assert colours == {to_rgba(label_color(k)) for k in range(n_clusters)}


def test_root_bar_holds_every_point() -> None:
    X = _data()
    ours = HDBSCAN(min_cluster_size=15).fit(X)
    figure = condensed_tree(_trial(X, ours))
    assert figure is not None
    bars = [p for p in figure.axes[0].patches if isinstance(p, Rectangle) and p.get_fill()]
    assert max(b.get_width() for b in bars) == len(X)
    assert figure.axes[0].yaxis_inverted()


def test_other_algorithms_get_no_figure() -> None:
    X = _data()
    estimator = KMeans(3, n_init=1, random_state=0).fit(X)
    assert condensed_tree(_trial(X, estimator)) is None
