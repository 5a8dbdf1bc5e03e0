"""Registers the built-in torch estimators through clusterlab's hooks."""

from __future__ import annotations

from typing import Any

from clusterlab import hookimpl


@hookimpl
def register_algorithms(register: Any) -> None:
    """Register ``kmeans``, ``minibatch_kmeans``, ``dbscan``, ``agglomerative`` and ``hdbscan``."""
    from clusterlab_algorithms.agglomerative import AgglomerativeClustering
    from clusterlab_algorithms.dbscan import DBSCAN
    from clusterlab_algorithms.gmm import GaussianMixture
    from clusterlab_algorithms.hdbscan import HDBSCAN
    from clusterlab_algorithms.kmeans import KMeans
    from clusterlab_algorithms.minibatch_kmeans import MiniBatchKMeans
    from clusterlab_algorithms.spectral import SpectralClustering

    register("kmeans", KMeans)
    register("minibatch_kmeans", MiniBatchKMeans)
    register("dbscan", DBSCAN)
    register("agglomerative", AgglomerativeClustering)
    register("hdbscan", HDBSCAN)
    register("gmm", GaussianMixture)
    register("spectral", SpectralClustering)
