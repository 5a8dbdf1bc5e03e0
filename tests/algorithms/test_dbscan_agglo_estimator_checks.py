"""scikit-learn's estimator contract checks for the torch DBSCAN and agglomerative clustering.

Every check applies to both estimators, so none is listed as an expected failure.
"""

from __future__ import annotations

from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from clusterlab_algorithms.agglomerative import AgglomerativeClustering
from clusterlab_algorithms.dbscan import DBSCAN


@parametrize_with_checks([DBSCAN(), AgglomerativeClustering()])
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)
