"""The bundled real datasets against scikit-learn's own loaders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn import datasets as skd

import clusterlab_datasets.plugin
from clusterlab.plugins import build_plugins

CASES = [
    # name, scikit-learn loader, samples, features, classes
    ("iris", skd.load_iris, 150, 4, 3),
    ("wine", skd.load_wine, 178, 13, 3),
    ("breast_cancer", skd.load_breast_cancer, 569, 30, 2),
    ("digits", skd.load_digits, 1797, 64, 10),
]


@pytest.fixture(scope="module")
def registry() -> Any:
    plugins = build_plugins(autoload=False, extra=[("datasets", clusterlab_datasets.plugin)])
    return plugins.registry


@pytest.mark.parametrize(("name", "reference", "n", "d", "k"), CASES)
def test_matches_scikit_learns_loader(
    registry: Any, name: str, reference: Callable[..., Any], n: int, d: int, k: int
) -> None:
    entry = registry.get("dataset", name)
    assert entry.has_labels is True
    assert entry.params == {}
    X, y = entry.obj(seed=0)
    X_ref, y_ref = reference(return_X_y=True)
    assert X.shape == (n, d) and X.dtype == np.float64
    assert y is not None and y.shape == (n,) and y.dtype == np.int64
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert len(np.unique(y)) == k


@pytest.mark.parametrize("name", [case[0] for case in CASES])
def test_seed_does_not_change_fixed_data(registry: Any, name: str) -> None:
    loader = registry.get("dataset", name).obj
    X0, y0 = loader(seed=0)
    X1, y1 = loader(seed=12345)
    np.testing.assert_array_equal(X0, X1)
    np.testing.assert_array_equal(y0, y1)


def test_iris_has_fifty_flowers_per_species(registry: Any) -> None:
    _, y = registry.get("dataset", "iris").obj(seed=0)
    np.testing.assert_array_equal(np.bincount(y), [50, 50, 50])
