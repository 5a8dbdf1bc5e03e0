"""The synthetic datasets against scikit-learn's generators and numpy with the same seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn import datasets as skd

import clusterlab_datasets.plugin
from clusterlab.plugins import build_plugins
from clusterlab_datasets import synthetic

SEEDS = [0, 30, 170]
# The matrix of scikit-learn's "comparing clustering algorithms" example, written out
# here so the test does not borrow the module's constant.
EXAMPLE_TRANSFORMATION = [[0.6, -0.6], [-0.4, 0.8]]


def _registry() -> Any:
    plugins = build_plugins(autoload=False, extra=[("datasets", clusterlab_datasets.plugin)])
    return plugins.registry


def test_registered_with_ground_truth_flags() -> None:
    registry = _registry()
    expected = {
        "uniform": False,
        "no_structure": False,
        "blobs": True,
        "anisotropic": True,
        "varied": True,
        "moons": True,
        "circles": True,
    }
    for name, has_labels in expected.items():
        entry = registry.get("dataset", name)
        assert entry.has_labels is has_labels, name
        assert entry.context == {"seed"}, name
        assert entry.description, name
        assert "seed" not in entry.params


def test_uniform_params_are_the_settable_ones() -> None:
    params = _registry().get("dataset", "uniform").params
    assert {name: p.default for name, p in params.items()} == {
        "n_samples": 500,
        "n_features": 2,
        "low": 0.0,
        "high": 1.0,
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_uniform_is_the_tutorials_rand(seed: int) -> None:
    X, y = synthetic.uniform(seed=seed)
    np.testing.assert_array_equal(X, np.random.RandomState(seed).rand(500, 2))
    assert y is None


def test_uniform_rescales_to_low_high() -> None:
    X, _ = synthetic.uniform(n_samples=2000, n_features=3, low=-2.0, high=5.0, seed=4)
    reference = -2.0 + 7.0 * np.random.RandomState(4).rand(2000, 3)
    np.testing.assert_allclose(X, reference, rtol=0, atol=1e-12)
    assert X.min() >= -2.0 and X.max() < 5.0


@pytest.mark.parametrize("seed", SEEDS)
def test_no_structure_is_uniform_on_the_unit_square(seed: int) -> None:
    X, y = synthetic.no_structure(seed=seed)
    np.testing.assert_array_equal(X, np.random.RandomState(seed).rand(1000, 2))
    assert y is None


@pytest.mark.parametrize("seed", SEEDS)
def test_blobs_match_make_blobs(seed: int) -> None:
    X, y = synthetic.blobs(seed=seed)
    X_ref, y_ref = skd.make_blobs(
        n_samples=1000,
        n_features=2,
        centers=3,
        cluster_std=1.0,
        center_box=(-10, 10),
        random_state=seed,
    )
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert y is not None and y.dtype.kind == "i"


def test_blobs_take_yaml_lists() -> None:
    # Values as an experiment file delivers them: lists, never tuples or arrays.
    centers = [[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]]
    X, y = synthetic.blobs(
        n_samples=300,
        n_features=3,
        centers=centers,
        cluster_std=[0.5, 2.0],
        center_box=[-1, 1],
        seed=2,
    )
    X_ref, y_ref = skd.make_blobs(
        n_samples=300,
        n_features=3,
        centers=np.array(centers),
        cluster_std=[0.5, 2.0],
        center_box=(-1, 1),
        random_state=2,
    )
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_anisotropic_matches_the_example(seed: int) -> None:
    X, y = synthetic.anisotropic(seed=seed)
    X_blobs, y_ref = skd.make_blobs(n_samples=1000, random_state=seed)
    np.testing.assert_allclose(X, np.dot(X_blobs, EXAMPLE_TRANSFORMATION), rtol=1e-12)
    np.testing.assert_array_equal(y, y_ref)


def test_anisotropic_takes_another_transformation() -> None:
    matrix = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.5, 0.0, 1.0]]
    X, _ = synthetic.anisotropic(n_samples=200, transformation=matrix, seed=1)
    X_blobs, _ = skd.make_blobs(n_samples=200, n_features=3, random_state=1)
    np.testing.assert_allclose(X, X_blobs @ np.array(matrix), rtol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_varied_matches_the_example(seed: int) -> None:
    X, y = synthetic.varied(seed=seed)
    X_ref, y_ref = skd.make_blobs(n_samples=1000, cluster_std=[1.0, 2.5, 0.5], random_state=seed)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_moons_match_make_moons(seed: int) -> None:
    X, y = synthetic.moons(seed=seed)
    X_ref, y_ref = skd.make_moons(n_samples=1000, noise=0.05, random_state=seed)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_circles_match_make_circles(seed: int) -> None:
    X, y = synthetic.circles(seed=seed)
    X_ref, y_ref = skd.make_circles(n_samples=1000, noise=0.05, factor=0.5, random_state=seed)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


@pytest.mark.parametrize(
    "name", ["uniform", "no_structure", "blobs", "anisotropic", "varied", "moons", "circles"]
)
def test_called_as_the_runner_calls_it(name: str) -> None:
    # The runner passes the file's params by keyword plus the seed; a seed decides the data.
    loader: Callable[..., Any] = _registry().get("dataset", name).obj
    X0, y0 = loader(n_samples=120, seed=0)
    X0_again, _ = loader(n_samples=120, seed=0)
    X1, _ = loader(n_samples=120, seed=1)
    assert X0.shape[0] == 120 and X0.ndim == 2
    assert X0.dtype == np.float64
    np.testing.assert_array_equal(X0, X0_again)
    assert not np.array_equal(X0, X1)
    if y0 is not None:
        assert y0.shape == (120,) and y0.dtype == np.int64


@pytest.mark.parametrize(
    ("loader", "kwargs", "message"),
    [
        (synthetic.uniform, {"n_samples": 0}, "n_samples must be a positive integer; got 0"),
        (synthetic.uniform, {"n_features": 2.5}, "n_features must be a positive integer"),
        (synthetic.uniform, {"low": 1.0, "high": 1.0}, "low (1.0) must be smaller than high"),
        (synthetic.no_structure, {"n_samples": True}, "n_samples must be a positive integer"),
        (synthetic.blobs, {"cluster_std": -1.0}, "cluster_std must be greater than 0"),
        (synthetic.blobs, {"cluster_std": [1.0, 2.0]}, "lists 2 spreads but there are 3"),
        (synthetic.blobs, {"centers": [[0, 0, 0]]}, "list of 2-D points"),
        (synthetic.blobs, {"center_box": [5, -5]}, "needs low < high"),
        (synthetic.blobs, {"center_box": 3}, "center_box must be two numbers"),
        (synthetic.anisotropic, {"transformation": [[1, 2, 3]]}, "square matrix"),
        (synthetic.varied, {"cluster_std": 1.0}, "one spread per blob"),
        (synthetic.varied, {"cluster_std": [1.0, 0.0]}, "cluster_std must be greater than 0"),
        (synthetic.moons, {"noise": -0.1}, "noise must be 0 or more"),
        (synthetic.circles, {"factor": 1.0}, "must be in [0, 1)"),
        (synthetic.circles, {"noise": "lots"}, "noise must be a finite number"),
    ],
)
def test_bad_parameters_are_explained(
    loader: Callable[..., Any], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        loader(**kwargs, seed=0)
    assert message in str(info.value)
