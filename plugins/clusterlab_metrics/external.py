"""External scores: agreement of the labels found with the ground truth.

The wrappers hand the labels to ``sklearn.metrics`` unchanged. By default noise (``-1``)
is one more label, exactly as scikit-learn treats a ``-1`` it is given: all noise points
form one cluster. ``noise="exclude"`` scores only the points that were clustered.
``cluster_accuracy`` counts noise points as wrong by default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from clusterlab import ScoreUndefined
from clusterlab_metrics._labels import (
    ACCURACY_POLICIES,
    NOISE,
    AccuracyPolicy,
    ExternalPolicy,
    check_policy,
    external_pair,
)


def _score(
    fn: Callable[[np.ndarray, np.ndarray], float], labels: Any, y_true: Any, noise: str
) -> float:
    truth, predicted = external_pair(labels, y_true, noise)
    return float(fn(truth, predicted))


def adjusted_rand(
    X: Any, labels: Any, y_true: Any, estimator: Any = None, *, noise: ExternalPolicy = "cluster"
) -> float:
    """Adjusted Rand index (``sklearn.metrics.adjusted_rand_score``); 1 is a perfect match."""
    from sklearn.metrics import adjusted_rand_score

    return _score(adjusted_rand_score, labels, y_true, noise)


def adjusted_mutual_info(
    X: Any, labels: Any, y_true: Any, estimator: Any = None, *, noise: ExternalPolicy = "cluster"
) -> float:
    """Adjusted mutual information (``sklearn.metrics.adjusted_mutual_info_score``)."""
    from sklearn.metrics import adjusted_mutual_info_score

    return _score(adjusted_mutual_info_score, labels, y_true, noise)


def normalized_mutual_info(
    X: Any, labels: Any, y_true: Any, estimator: Any = None, *, noise: ExternalPolicy = "cluster"
) -> float:
    """Normalized mutual information (``sklearn.metrics.normalized_mutual_info_score``)."""
    from sklearn.metrics import normalized_mutual_info_score

    return _score(normalized_mutual_info_score, labels, y_true, noise)


def homogeneity(
    X: Any, labels: Any, y_true: Any, estimator: Any = None, *, noise: ExternalPolicy = "cluster"
) -> float:
    """Homogeneity: each cluster holds one class (``sklearn.metrics.homogeneity_score``)."""
    from sklearn.metrics import homogeneity_score

    return _score(homogeneity_score, labels, y_true, noise)


def completeness(
    X: Any, labels: Any, y_true: Any, estimator: Any = None, *, noise: ExternalPolicy = "cluster"
) -> float:
    """Completeness: each class lies in one cluster (``sklearn.metrics.completeness_score``)."""
    from sklearn.metrics import completeness_score

    return _score(completeness_score, labels, y_true, noise)


def v_measure(
    X: Any, labels: Any, y_true: Any, estimator: Any = None, *, noise: ExternalPolicy = "cluster"
) -> float:
    """V-measure, the harmonic mean of homogeneity and completeness (``v_measure_score``)."""
    from sklearn.metrics import v_measure_score

    return _score(v_measure_score, labels, y_true, noise)


def fowlkes_mallows(
    X: Any, labels: Any, y_true: Any, estimator: Any = None, *, noise: ExternalPolicy = "cluster"
) -> float:
    """Fowlkes-Mallows index (``sklearn.metrics.fowlkes_mallows_score``)."""
    from sklearn.metrics import fowlkes_mallows_score

    return _score(fowlkes_mallows_score, labels, y_true, noise)


def cluster_accuracy(
    X: Any, labels: Any, y_true: Any, estimator: Any = None, *, noise: AccuracyPolicy = "wrong"
) -> float:
    """Share of points whose cluster maps to their class under the best one-to-one matching.

    The matching maximises the matched counts of the contingency matrix (Hungarian
    algorithm); points in an unmatched cluster are wrong. ``noise="wrong"`` counts noise
    points as wrong, ``"exclude"`` leaves them out, ``"cluster"`` lets the noise be
    matched like any cluster.
    """
    from scipy.optimize import linear_sum_assignment

    check_policy(noise, ACCURACY_POLICIES)
    truth, predicted = external_pair(labels, y_true, "exclude" if noise == "exclude" else "cluster")
    total = truth.size
    if noise == "wrong":
        clustered = predicted != NOISE
        truth, predicted = truth[clustered], predicted[clustered]
    if truth.size == 0:
        return 0.0  # every point is noise, and noise counts as wrong
    classes, class_codes = np.unique(truth, return_inverse=True)
    clusters, cluster_codes = np.unique(predicted, return_inverse=True)
    counts = np.bincount(
        cluster_codes * classes.size + class_codes, minlength=clusters.size * classes.size
    ).reshape(clusters.size, classes.size)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / total)


def _renumbered(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both labellings numbered ``0 .. k - 1``: genieclust's partition comparisons read a
    gap in the numbers as an empty cluster."""
    return np.unique(truth, return_inverse=True)[1], np.unique(predicted, return_inverse=True)[1]


def normalized_clustering_accuracy(
    X: Any, labels: Any, y_true: Any, estimator: Any = None, *, noise: ExternalPolicy = "cluster"
) -> float:
    """Normalized clustering accuracy (genieclust's ``normalized_clustering_accuracy``):
    the accuracy under the best cluster-class match, rescaled so that 0 is what a
    labelling as unbalanced as the reference scores by chance and 1 a perfect match.
    Defined only where the clusters are as many as the reference's classes."""
    from genieclust.compare_partitions import normalized_clustering_accuracy as nca

    truth, predicted = _renumbered(*external_pair(labels, y_true, noise))
    n_classes, n_clusters = int(truth.max()) + 1, int(predicted.max()) + 1
    if n_classes != n_clusters:
        raise ScoreUndefined(
            f"normalized clustering accuracy needs as many clusters as reference classes: "
            f"{n_clusters} cluster(s) against {n_classes} class(es)"
        )
    return float(nca(truth, predicted))


def pair_sets_index(
    X: Any, labels: Any, y_true: Any, estimator: Any = None, *, noise: ExternalPolicy = "cluster"
) -> float:
    """Pair sets index (genieclust's ``pair_sets_index``), a matching-based agreement
    corrected for chance; 1 is a perfect match. Cluster and class counts may differ."""
    from genieclust.compare_partitions import pair_sets_index as psi

    truth, predicted = _renumbered(*external_pair(labels, y_true, noise))
    return float(psi(truth, predicted))
