"""Label handling shared by the metrics: noise policies, re-indexing and cluster counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from clusterlab import ScoreUndefined

NOISE = -1
# The noise policies, as the annotations of the metrics' ``noise`` option: clusterlab reads
# a ``Literal`` annotation as the values an experiment file may give, so ``validate``
# refuses ``noise: bogus`` before the first trial.
InternalPolicy = Literal["exclude", "cluster"]
ExternalPolicy = Literal["cluster", "exclude"]
AccuracyPolicy = Literal["wrong", "exclude", "cluster"]
INTERNAL_POLICIES: tuple[str, ...] = get_args(InternalPolicy)
EXTERNAL_POLICIES: tuple[str, ...] = get_args(ExternalPolicy)
ACCURACY_POLICIES: tuple[str, ...] = get_args(AccuracyPolicy)


@dataclass(frozen=True)
class Clusters:
    """The points a score looks at and their clusters, numbered ``0 .. n_clusters - 1``.

    ``keep`` is the boolean mask of scored points over the input, or ``None`` when every
    point is scored; ``codes`` holds one cluster number per scored point.
    """

    keep: np.ndarray | None
    codes: np.ndarray
    n_clusters: int

    @property
    def n_points(self) -> int:
        """How many points are scored."""
        return int(self.codes.shape[0])


def as_labels(labels: Any, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as a 1-D int64 numpy array (torch tensors and lists accepted)."""
    if hasattr(labels, "detach"):  # a torch tensor, possibly on a GPU
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        rounded = array.astype(np.int64)
        if not np.array_equal(rounded, array):
            raise ValueError(f"{name} must be integers, got dtype {array.dtype}")
        return rounded
    return array.astype(np.int64, copy=False)


def check_policy(noise: str, allowed: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming the allowed values when ``noise`` is not one of them."""
    if noise not in allowed:
        raise ValueError(f"noise must be one of {', '.join(map(repr, allowed))}, got {noise!r}")


def encode(labels: Any, noise: str, n_samples: int | None = None) -> Clusters:
    """Apply a noise policy to ``labels`` and number the clusters ``0 .. k - 1``.

    ``noise="exclude"`` drops the points labelled ``-1``; ``noise="cluster"`` keeps them
    as one more cluster. ``n_samples``, where given, is checked against the label count.
    """
    check_policy(noise, INTERNAL_POLICIES)
    array = as_labels(labels)
    if n_samples is not None and array.shape[0] != n_samples:
        raise ValueError(f"got {array.shape[0]} labels for {n_samples} points")
    keep: np.ndarray | None = None
    if noise == "exclude":
        is_noise = array == NOISE
        if is_noise.any():
            keep = ~is_noise
            array = array[keep]
    uniques, codes = np.unique(array, return_inverse=True)
    return Clusters(keep=keep, codes=codes.astype(np.int64), n_clusters=int(uniques.size))


def require_clusters(clusters: Clusters, *, allow_singletons: bool = True) -> None:
    """Raise ``ScoreUndefined`` unless there are at least two clusters.

    With ``allow_singletons=False`` a result where every point is its own cluster is
    undefined too (the silhouette, Davies-Bouldin and Calinski-Harabasz need a cluster
    with two points).
    """
    if clusters.n_points == 0:
        raise ScoreUndefined("no points left to score: every point is noise")
    if clusters.n_clusters < 2:
        raise ScoreUndefined(
            f"fewer than two clusters ({clusters.n_clusters}) after noise handling"
        )
    if not allow_singletons and clusters.n_clusters >= clusters.n_points:
        raise ScoreUndefined("every point is its own cluster")


def external_pair(labels: Any, y_true: Any, noise: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(y_true, labels)`` as int64 arrays after the external noise policy.

    ``noise="cluster"`` keeps ``-1`` as one more label, exactly as scikit-learn's
    functions treat it; ``noise="exclude"`` drops the noise points from both arrays.
    """
    check_policy(noise, EXTERNAL_POLICIES)
    if y_true is None:
        raise ScoreUndefined("no ground-truth labels for this dataset")
    predicted = as_labels(labels)
    truth = as_labels(y_true, "y_true")
    if truth.shape != predicted.shape:
        raise ValueError(f"got {predicted.shape[0]} labels for {truth.shape[0]} true labels")
    if noise == "exclude":
        keep = predicted != NOISE
        truth, predicted = truth[keep], predicted[keep]
    if predicted.size == 0:
        raise ScoreUndefined("no points left to score: every point is noise")
    return truth, predicted
