"""scikit-learn's estimator contract checks for the torch HDBSCAN."""

from __future__ import annotations

from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from clusterlab_algorithms.hdbscan import HDBSCAN


@parametrize_with_checks([HDBSCAN()])
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)
