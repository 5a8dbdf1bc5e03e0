"""Preprocessing steps against scikit-learn's scalers and PCA."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine, make_blobs
from sklearn.decomposition import PCA
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import clusterlab_datasets.plugin
from clusterlab.plugins import build_plugins
from clusterlab_datasets.preprocess import drop_nonfinite, minmax, pca, standardize


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    # Features on very different scales, one of them constant.
    X, _ = make_blobs(n_samples=300, n_features=4, centers=3, random_state=0)
    X = X * np.array([1.0, 100.0, 0.01, 5.0]) + np.array([0.0, -50.0, 3.0, 1e3])
    return np.column_stack([X, np.full(len(X), 0.1)])


@pytest.fixture(scope="module")
def wine() -> np.ndarray:
    return StandardScaler().fit_transform(load_wine().data)


def test_registered_with_their_parameters() -> None:
    plugins = build_plugins(autoload=False, extra=[("datasets", clusterlab_datasets.plugin)])
    registry = plugins.registry
    assert registry.names("preprocessor") == ["drop_nonfinite", "minmax", "pca", "standardize"]
    params = {
        name: {p: v.default for p, v in registry.get("preprocessor", name).params.items()}
        for name in registry.names("preprocessor")
    }
    assert params == {
        "drop_nonfinite": {},
        "minmax": {"feature_range": (0.0, 1.0)},
        "pca": {"n_components": 2, "whiten": False},
        "standardize": {"with_mean": True, "with_std": True},
    }


def test_standardize_matches_standard_scaler(data: np.ndarray) -> None:
    labels = np.arange(len(data))
    out, y = standardize(torch.from_numpy(data), labels)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    assert y is labels
    np.testing.assert_allclose(out.numpy(), StandardScaler().fit_transform(data), atol=1e-12)
    np.testing.assert_array_equal(out.numpy()[:, -1], 0.0)  # the constant feature


@pytest.mark.parametrize(("with_mean", "with_std"), [(False, True), (True, False)])
def test_standardize_options(data: np.ndarray, with_mean: bool, with_std: bool) -> None:
    out, _ = standardize(torch.from_numpy(data), None, with_mean=with_mean, with_std=with_std)
    reference = StandardScaler(with_mean=with_mean, with_std=with_std).fit_transform(data)
    np.testing.assert_allclose(out.numpy(), reference, rtol=1e-12, atol=1e-12)


def test_standardize_keeps_float32(data: np.ndarray) -> None:
    out, _ = standardize(torch.from_numpy(data).float(), None)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), StandardScaler().fit_transform(data), atol=1e-4)
    np.testing.assert_array_equal(out.numpy()[:, -1], 0.0)


@pytest.mark.parametrize("feature_range", [(0.0, 1.0), [-1, 2]])
def test_minmax_matches_minmax_scaler(data: np.ndarray, feature_range: Any) -> None:
    out, _ = minmax(torch.from_numpy(data), None, feature_range=feature_range)
    reference = MinMaxScaler(feature_range=tuple(feature_range)).fit_transform(data)
    np.testing.assert_allclose(out.numpy(), reference, rtol=1e-12, atol=1e-12)
    assert out.numpy()[:, -1].tolist() == [feature_range[0]] * len(data)


def _assert_same_up_to_sign(ours: np.ndarray, reference: np.ndarray) -> None:
    assert ours.shape == reference.shape
    for j in range(reference.shape[1]):
        sign = np.sign(ours[:, j] @ reference[:, j])
        scale = np.abs(reference[:, j]).max()
        np.testing.assert_allclose(
            sign * ours[:, j], reference[:, j], rtol=1e-5, atol=1e-5 * scale, err_msg=f"pc {j}"
        )


@pytest.mark.parametrize(
    ("n_components", "whiten"), [(2, False), (5, False), (0.9, False), (3, True)]
)
def test_pca_matches_scikit_learn(wine: np.ndarray, n_components: float, whiten: bool) -> None:
    reference = PCA(n_components=n_components, whiten=whiten, svd_solver="full").fit_transform(wine)
    out, _ = pca(torch.from_numpy(wine), None, n_components=n_components, whiten=whiten)
    assert out.dtype == torch.float64
    _assert_same_up_to_sign(out.numpy(), reference)


def test_pca_fraction_picks_the_same_count(wine: np.ndarray) -> None:
    for fraction in (0.5, 0.75, 0.95):
        expected = PCA(n_components=fraction, svd_solver="full").fit(wine).n_components_
        out, _ = pca(torch.from_numpy(wine), None, n_components=fraction)
        assert out.shape[1] == expected, fraction


def test_pca_on_more_features_than_samples() -> None:
    X = np.random.default_rng(3).normal(size=(12, 40))
    out, _ = pca(torch.from_numpy(X), None, n_components=5)
    _assert_same_up_to_sign(out.numpy(), PCA(n_components=5).fit_transform(X))


def test_pca_float32(wine: np.ndarray) -> None:
    out, _ = pca(torch.from_numpy(wine).float(), None, n_components=2)
    assert out.dtype == torch.float32
    reference = PCA(n_components=2).fit_transform(wine)
    scale = np.abs(reference).max()
    for j in range(2):
        sign = np.sign(out.numpy()[:, j] @ reference[:, j])
        np.testing.assert_allclose(sign * out.numpy()[:, j], reference[:, j], atol=1e-4 * scale)


def test_drop_nonfinite_drops_the_same_rows_of_labels() -> None:
    X = np.random.default_rng(0).normal(size=(8, 3))
    X[1, 0], X[4, 2], X[6, 1] = np.nan, np.inf, -np.inf
    labels = np.arange(8) * 10
    out, y = drop_nonfinite(torch.from_numpy(X), labels)
    keep = np.isfinite(X).all(axis=1)
    np.testing.assert_array_equal(out.numpy(), X[keep])
    np.testing.assert_array_equal(y, labels[keep])
    out_unlabelled, none = drop_nonfinite(torch.from_numpy(X), None)
    assert none is None and out_unlabelled.shape == (5, 3)


def test_drop_nonfinite_on_clean_data_changes_nothing() -> None:
    X = torch.arange(6.0).reshape(3, 2)
    out, y = drop_nonfinite(X, np.array([1, 2, 3]))
    assert torch.equal(out, X)
    np.testing.assert_array_equal(y, [1, 2, 3])


@pytest.mark.parametrize("step", [standardize, minmax, pca])
def test_steps_refuse_nonfinite_and_suggest_drop_nonfinite(step: Any) -> None:
    X = torch.ones(4, 3, dtype=torch.float64)
    X[2, 1] = float("nan")
    with pytest.raises(ValueError) as info:
        step(X, None)
    message = str(info.value)
    assert message.startswith("1 of 4 rows hold NaN or ±inf")
    assert f"add drop_nonfinite as a preprocess step before {step.__name__}" in message


@pytest.mark.parametrize(
    ("step", "kwargs", "message"),
    [
        (minmax, {"feature_range": [1, 0]}, "feature_range must be two numbers [low, high]"),
        (minmax, {"feature_range": 1}, "feature_range must be two numbers"),
        (pca, {"n_components": 4}, "n_components=4 is out of range"),
        (pca, {"n_components": 0}, "n_components=0 is out of range"),
        (pca, {"n_components": 0.0}, "neither a whole number of components nor a fraction"),
        (pca, {"n_components": 1.5}, "neither a whole number"),
        (pca, {"n_components": "two"}, "must be a number of components"),
    ],
)
def test_bad_options_are_explained(step: Any, kwargs: dict[str, Any], message: str) -> None:
    X = torch.from_numpy(np.random.default_rng(1).normal(size=(10, 3)))
    with pytest.raises(ValueError) as info:
        step(X, None, **kwargs)
    assert message in str(info.value)
    if "out of range" in message:
        assert "with 10 rows and 3 features it must be between 1 and 3" in str(info.value)


def test_drop_nonfinite_refuses_to_drop_everything() -> None:
    X = torch.full((3, 2), float("nan"))
    with pytest.raises(ValueError, match="every one of the 3 rows holds NaN"):
        drop_nonfinite(X, None)


@pytest.mark.cuda
def test_steps_stay_on_the_gpu_and_agree_with_the_cpu(wine: np.ndarray) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    cpu = torch.from_numpy(wine)
    gpu = cpu.to("cuda")
    gpu_nan = gpu.clone()
    gpu_nan[0, 0] = float("nan")
    dropped, y = drop_nonfinite(gpu_nan, np.arange(len(wine)))
    assert dropped.device.type == "cuda" and y is not None and y[0] == 1
    for step in (standardize, minmax, pca):
        on_gpu, _ = step(gpu, None)
        on_cpu, _ = step(cpu, None)
        assert on_gpu.device.type == "cuda", step.__name__
        # Same sign rule on both devices, so the projections agree without flipping.
        np.testing.assert_allclose(on_gpu.cpu().numpy(), on_cpu.numpy(), atol=1e-8)


def test_pca_signs_follow_scikit_learns_rule(wine: np.ndarray) -> None:
    # No flipping here: the same sign convention makes runs comparable with scikit-learn's.
    out, _ = pca(torch.from_numpy(wine), None, n_components=4)
    reference = PCA(n_components=4, svd_solver="full").fit_transform(wine)
    np.testing.assert_allclose(out.numpy(), reference, rtol=1e-5, atol=1e-9)


def test_pca_fraction_on_the_boundary_counts_as_scikit_learn() -> None:
    # Variances 8 and 2: the first component explains exactly 0.8 of the total.
    X = np.array([[0.0, 1.0], [0.0, -1.0], [2.0, 0.0], [-2.0, 0.0], [0.0, 0.0]])
    expected = PCA(n_components=0.8, svd_solver="full").fit(X).n_components_
    out, _ = pca(torch.from_numpy(X), None, n_components=0.8)
    assert out.shape[1] == expected == 2
