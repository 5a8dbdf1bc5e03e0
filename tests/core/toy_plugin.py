"""A small plugin registered in-process by the core tests, independent of the built-ins."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from clusterlab import ScoreUndefined, hookimpl


class ToyKMeans(SklearnKMeans):
    """scikit-learn's KMeans on numpy copies of the data (the runner passes tensors)."""

    def fit(self, X, y=None, sample_weight=None):
        return super().fit(np.asarray(X.cpu() if hasattr(X, "cpu") else X), y, sample_weight)


class Exploding:
    """An algorithm whose fit always raises, for failure handling."""

    def __init__(self, n_clusters: int = 2):
        self.n_clusters = n_clusters

    def fit(self, X):
        raise RuntimeError("exploded on purpose")


class OneCluster:
    """Puts every point in one cluster (internal scores are then undefined)."""

    def __init__(self, *, random_state=None):
        self.random_state = random_state

    def fit(self, X):
        self.labels_ = np.zeros(len(X), dtype=np.int64)
        return self


def toy_blobs(n_samples: int = 60, centers: int = 3, *, seed: int = 0):
    """Well separated Gaussian blobs with labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % centers
    X = rng.normal(scale=0.3, size=(n_samples, 2)) + np.c_[y * 5.0, y * -3.0]
    return X, y


def toy_noise(n_samples: int = 50, *, seed: int = 0):
    """Uniform points without labels."""
    return np.random.default_rng(seed).random((n_samples, 2)), None


def toy_silhouette(X, labels, y_true, estimator):
    """scikit-learn's silhouette on the CPU."""
    if len(set(labels.tolist())) < 2:
        raise ScoreUndefined("fewer than two clusters")
    return float(silhouette_score(X.cpu().numpy(), labels))


def toy_ari(X, labels, y_true, estimator):
    """scikit-learn's adjusted Rand index."""
    return float(adjusted_rand_score(y_true, labels))


def scale(X, y, *, factor: float = 2.0):
    """Multiply the data by ``factor``."""
    return X * factor, y


@hookimpl
def register_algorithms(register):
    register("toy_kmeans", ToyKMeans)
    register("exploding", Exploding)
    register("one_cluster", OneCluster)


@hookimpl
def register_datasets(register):
    register("toy_blobs", toy_blobs)
    register("toy_noise", toy_noise, has_labels=False)


@hookimpl
def register_metrics(register):
    register("toy_silhouette", toy_silhouette, greater_is_better=True)
    register("toy_ari", toy_ari, greater_is_better=True, needs_ground_truth=True)


@hookimpl
def register_preprocessors(register):
    register("scale", scale)
