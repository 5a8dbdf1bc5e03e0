"""The ``k_distance`` plot: sorted distances to the k-th nearest neighbour, the aid to pick eps."""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np

from clusterlab_plots._data import as_matrix, sample_note, subsample
from clusterlab_plots._style import PALETTE, TITLE_SIZE, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from clusterlab.plotting import TrialView

DEFAULT_K = 4
MAX_QUERIES = 20_000


def k_distance(trial: TrialView) -> Figure | None:
    """Plot each point's distance to its k-th nearest neighbour, sorted, with ``eps`` if set.

    ``k`` is the estimator's ``min_samples`` (else ``DEFAULT_K``) and, as in DBSCAN's
    ``min_samples``, counts the point itself: the points on or below the ``eps`` line are
    exactly the core points. For more than ``MAX_QUERIES`` rows a seeded sample of points
    is measured against all the data, so the distances are not inflated by the sampling.
    ``None`` when there are fewer than ``k`` points.
    """
    X = as_matrix(trial.X)
    n = len(X)
    k = neighbour_count(trial.estimator) or DEFAULT_K
    if n < k or X.shape[1] == 0:
        return None
    keep = subsample(n, MAX_QUERIES, trial.seed)
    distances = k_distances(X, k, None if keep is None else X[keep], _metric_of(trial.estimator))

    figure = new_figure()
    axes = figure.add_subplot()
    share = 100 * (np.arange(len(distances)) + 0.5) / len(distances)
    axes.plot(share, distances, color=PALETTE[0], linewidth=1.5, label=f"{k}-NN distance")
    eps = getattr(trial.estimator, "eps", None)
    if isinstance(eps, Real) and not isinstance(eps, bool):
        core = float(np.mean(distances <= eps))
        axes.axhline(
            float(eps),
            linestyle="--",
            color=PALETTE[3],
            linewidth=1,
            label=f"eps = {float(eps):g} ({core:.1%} of points are core)",
        )
    axes.set_xlabel("points, sorted by distance (%)")
    axes.set_ylabel(f"distance to the {k}-th nearest neighbour (self included)")
    axes.set_xlim(0, 100)
    axes.legend(loc="upper left", fontsize="small")
    from_estimator = neighbour_count(trial.estimator, default=None) is not None
    parts = [f"k = min_samples = {k}" if from_estimator else f"k = {k} (default)"]
    if keep is not None:
        parts.append(sample_note(len(keep), n))
    axes.set_title(f"{trial.title}\n{' · '.join(parts)}", fontsize=TITLE_SIZE)
    return figure


def neighbour_count(estimator: Any, default: int | None = DEFAULT_K) -> int | None:
    """``k``: the estimator's integer ``min_samples`` when it has one, else ``default``."""
    value = getattr(estimator, "min_samples", None)
    if isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 1:
        return int(value)
    return default


def k_distances(
    X: np.ndarray, k: int, queries: np.ndarray | None = None, metric: str = "euclidean"
) -> np.ndarray:
    """Sorted distances from each query row (default: every row) to its k-th neighbour in ``X``.

    The query points are rows of ``X``, so each one is its own first neighbour at
    distance zero, as DBSCAN counts it.
    """
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=k, metric=metric).fit(X)
    distances, _ = index.kneighbors(X if queries is None else queries)
    return np.sort(distances[:, -1])


def _metric_of(estimator: Any) -> str:
    # Follow the estimator's distance where it names one scikit-learn knows; anything
    # else (a callable, an unknown name) falls back to the Euclidean distance.
    from sklearn.neighbors import VALID_METRICS

    metric = getattr(estimator, "metric", None)
    if isinstance(metric, str) and metric != "precomputed" and metric in VALID_METRICS["brute"]:
        return metric
    return "euclidean"
