"""GaussianMixture passes scikit-learn's estimator checks, on the CPU and on CUDA."""

from __future__ import annotations

import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from clusterlab_algorithms.gmm import GaussianMixture

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def _estimators(device: str | None) -> list:
    # Small settings, as scikit-learn's own suite uses for its GaussianMixture.
    return [
        GaussianMixture(n_components=2, max_iter=5, device=device),
        GaussianMixture(n_components=2, covariance_type="diag", n_init=2, device=device),
        GaussianMixture(n_components=2, init_params="random_from_data", device=device),
    ]


# Every check applies and passes: no expected failures are declared.
@parametrize_with_checks(_estimators(None))
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


CUDA_ESTIMATORS = _estimators("cuda") if torch.cuda.is_available() else []


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
@parametrize_with_checks(CUDA_ESTIMATORS)
def test_sklearn_estimator_checks_on_cuda(estimator, check):
    check(estimator)


@pytest.mark.cuda
def test_cuda_checks_are_collected_where_cuda_exists():
    if not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    assert len(CUDA_ESTIMATORS) == 3
