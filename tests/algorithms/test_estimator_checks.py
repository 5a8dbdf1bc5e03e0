"""Every torch estimator passes scikit-learn's estimator checks, on the CPU and on CUDA.

Every check applies to every estimator, so no expected failure is declared.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from clusterlab_algorithms.agglomerative import AgglomerativeClustering
from clusterlab_algorithms.dbscan import DBSCAN
from clusterlab_algorithms.gmm import GaussianMixture
from clusterlab_algorithms.hdbscan import HDBSCAN
from clusterlab_algorithms.kmeans import KMeans
from clusterlab_algorithms.minibatch_kmeans import MiniBatchKMeans
from clusterlab_algorithms.spectral import SpectralClustering

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def _estimators(device: str | None) -> list[Any]:
    # Small settings, as scikit-learn's own suite uses for its estimators, to keep it fast.
    return [
        KMeans(n_clusters=2, n_init=2, max_iter=5, device=device),
        KMeans(n_clusters=2, init="random", n_init=2, max_iter=5, device=device),
        MiniBatchKMeans(n_clusters=2, n_init=2, max_iter=5, batch_size=10, device=device),
        DBSCAN(device=device),
        AgglomerativeClustering(device=device),
        HDBSCAN(device=device),
        GaussianMixture(n_components=2, max_iter=5, device=device),
        GaussianMixture(n_components=2, covariance_type="diag", n_init=2, device=device),
        GaussianMixture(n_components=2, init_params="random_from_data", device=device),
        SpectralClustering(n_clusters=2, random_state=0, device=device),
        SpectralClustering(
            n_clusters=2,
            affinity="nearest_neighbors",
            assign_labels="cluster_qr",
            n_neighbors=5,
            device=device,
        ),
    ]


@parametrize_with_checks(_estimators(None))
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


CUDA_ESTIMATORS = _estimators("cuda") if torch.cuda.is_available() else []


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
@parametrize_with_checks(CUDA_ESTIMATORS)
def test_sklearn_estimator_checks_on_cuda(estimator: Any, check: Any) -> None:
    check(estimator)


@pytest.mark.cuda
def test_cuda_checks_are_collected_where_cuda_exists() -> None:
    if not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    assert len(CUDA_ESTIMATORS) == len(_estimators(None))
