"""scikit-learn's estimator contract checks for the torch SpectralClustering."""

from __future__ import annotations

from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from clusterlab_algorithms.spectral import SpectralClustering


@parametrize_with_checks(
    [
        SpectralClustering(n_clusters=2, random_state=0),
        SpectralClustering(
            n_clusters=2, affinity="nearest_neighbors", assign_labels="cluster_qr", n_neighbors=5
        ),
    ]
)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)
