"""The torch DBSCAN against scikit-learn's: same core points, same clusters, same noise."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest
import torch
from sklearn.cluster import DBSCAN as SklearnDBSCAN
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import InvalidParameterError

import clusterlab_algorithms._neighbors.blocks as blocks_module
import clusterlab_algorithms.dbscan as dbscan_module
from clusterlab_algorithms._neighbors.blocks import BlockPairs, kd_order
from clusterlab_algorithms._neighbors.grid import GridPairs, Lattice
from clusterlab_algorithms._neighbors.metric import Metric, PairChunk
from clusterlab_algorithms._shared.scratch import ScratchBuffers
from clusterlab_algorithms.dbscan import DBSCAN
from tests.algorithms.devices import DEVICES, device_or_skip


def _blobs(seed: int, n_features: int = 2) -> np.ndarray:
    return make_blobs(800, n_features, centers=4, cluster_std=0.8, random_state=seed)[0]


def _moons(seed: int) -> np.ndarray:
    return make_moons(700, noise=0.08, random_state=seed)[0]


def _uniform(seed: int, n_features: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(900, n_features))


def _many_blobs(seed: int) -> np.ndarray:
    return make_blobs(1500, 8, centers=6, cluster_std=1.0, random_state=seed)[0]


def _directions(seed: int) -> np.ndarray:
    """Two bundles of directions and scattered ones, at random lengths (for cosine)."""
    rng = np.random.default_rng(seed)
    angles = np.concatenate(
        [rng.normal(0, 0.05, 300), rng.normal(2, 0.05, 300), rng.uniform(-np.pi, np.pi, 100)]
    )
    return np.c_[np.cos(angles), np.sin(angles)] * rng.uniform(0.5, 2, (700, 1))


# (data, eps, min_samples, metric): each gives clusters, border points and noise.
CASES = {
    "blobs-2d": (_blobs(0), 0.3, 5, "euclidean"),
    "blobs-2d-seed1": (_blobs(1), 0.5, 10, "euclidean"),
    "moons": (_moons(2), 0.08, 6, "euclidean"),
    "uniform-2d": (_uniform(3), 0.04, 4, "euclidean"),
    "uniform-3d": (_uniform(4, 3), 0.09, 5, "euclidean"),
    "blobs-8d": (_blobs(5, 8), 2.0, 5, "euclidean"),
    "uniform-6d": (_uniform(6, 6), 0.35, 8, "euclidean"),
    "manhattan-2d": (_blobs(7), 0.35, 5, "manhattan"),
    "manhattan-8d": (_blobs(8, 8), 4.0, 5, "manhattan"),
    "cosine-8d": (_blobs(9, 8), 0.004, 5, "cosine"),
    "cosine-2d": (_directions(10), 0.002, 5, "cosine"),
    # Enough points for the k-d tree blocks (fewer are compared by brute force).
    "blocks-8d": (_many_blobs(20), 2.2, 6, "euclidean"),
    "blocks-manhattan-8d": (_many_blobs(20), 4.5, 6, "manhattan"),
    "blocks-cosine-8d": (_many_blobs(20), 0.01, 6, "cosine"),
    "blocks-normal-5d": (np.random.default_rng(21).normal(size=(1200, 5)), 0.8, 5, "euclidean"),
}
BLOCK_CASES = ["blocks-8d", "blocks-manhattan-8d", "blocks-cosine-8d", "blocks-normal-5d"]


def assert_matches_sklearn(
    X: np.ndarray, eps: float, min_samples: int, metric: str, labels: np.ndarray, core: np.ndarray
) -> None:
    """Check a DBSCAN result against scikit-learn's DBSCAN and radius-neighbour queries."""
    reference = SklearnDBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit(X)
    ref_core = reference.core_sample_indices_
    np.testing.assert_array_equal(core, ref_core)
    assert adjusted_rand_score(reference.labels_[ref_core], labels[ref_core]) == 1.0
    np.testing.assert_array_equal(labels == -1, reference.labels_ == -1)
    assert labels.max() == reference.labels_.max()
    is_core = np.zeros(len(X), dtype=bool)
    is_core[ref_core] = True
    border = np.flatnonzero(~is_core & (labels != -1))
    if border.size == 0:
        return
    neighbours = NearestNeighbors(radius=eps, metric=metric).fit(X)
    for point, near in zip(border, neighbours.radius_neighbors(X[border])[1], strict=True):
        core_near = near[is_core[near]]
        assert core_near.size > 0
        assert labels[point] in set(labels[core_near].tolist())


def _listed_pairs(
    pairs: GridPairs | BlockPairs, chunks: Iterable[PairChunk]
) -> list[tuple[int, int]]:
    """The pairs of a pair source as ``(smaller, larger)`` input indices, repeats kept."""
    found: list[tuple[int, int]] = []
    for chunk in chunks:
        assert bool((chunk.first < chunk.second).all())
        first, second = pairs.ids[chunk.first], pairs.ids[chunk.second]
        smaller = torch.minimum(first, second).tolist()
        found += zip(smaller, torch.maximum(first, second).tolist(), strict=True)
    return found


def _radius_pairs(X: np.ndarray, eps: float, metric: str) -> set[tuple[int, int]]:
    """scikit-learn's radius neighbours as a set of ``(i, j)`` with ``i < j``."""
    neighbours = NearestNeighbors(radius=eps, metric=metric).fit(X)
    return {
        (i, int(j))
        for i, near in enumerate(neighbours.radius_neighbors(X, return_distance=False))
        for j in near
        if i < j
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_sklearn(case: str) -> None:
    X, eps, min_samples, metric = CASES[case]
    model = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit(X)
    # The case must exercise every kind of point, or it proves little.
    assert model.labels_.max() >= 1
    assert (model.labels_ == -1).any()
    assert len(model.core_sample_indices_) < len(X)
    assert_matches_sklearn(X, eps, min_samples, metric, model.labels_, model.core_sample_indices_)


@pytest.mark.parametrize(
    "case", ["blobs-2d", "uniform-3d", "blobs-8d", "cosine-8d", "blocks-8d", "blocks-cosine-8d"]
)
def test_tiny_memory_budget_gives_same_result(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    X, eps, min_samples, metric = CASES[case]
    if case.startswith("blocks"):
        monkeypatch.setattr(dbscan_module, "MIN_POINTS", 0)  # the k-d leaves' path
    X = X[:400] if len(X) < dbscan_module.MIN_POINTS else X
    default = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit(X)
    monkeypatch.setenv("CLUSTERLAB_MEMORY_BUDGET_MB", "0.01")
    tiny = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit(X)
    np.testing.assert_array_equal(tiny.labels_, default.labels_)
    np.testing.assert_array_equal(tiny.core_sample_indices_, default.core_sample_indices_)
    assert_matches_sklearn(X, eps, min_samples, metric, tiny.labels_, tiny.core_sample_indices_)


@pytest.mark.parametrize("case", ["blobs-2d", "moons", "uniform-3d", "manhattan-2d"])
def test_grid_and_brute_force_agree(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    X, eps, min_samples, metric = CASES[case]
    with_grid = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit(X)
    monkeypatch.setattr(dbscan_module, "grid_applies", lambda *args: False)
    brute = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit(X)
    np.testing.assert_array_equal(brute.core_sample_indices_, with_grid.core_sample_indices_)
    np.testing.assert_array_equal(brute.labels_, with_grid.labels_)


@pytest.mark.parametrize("case", BLOCK_CASES)
def test_blocks_and_brute_force_agree(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    X, eps, min_samples, metric = CASES[case]
    monkeypatch.setattr(dbscan_module, "MIN_POINTS", 0)
    # Small leaves and tiles, so that far leaves are really skipped.
    monkeypatch.setattr(blocks_module, "LEAF_SIZE", 32)
    monkeypatch.setenv("CLUSTERLAB_MEMORY_BUDGET_MB", "0.75")
    with_blocks = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit(X)
    monkeypatch.setattr(dbscan_module, "MIN_POINTS", 10**9)
    brute = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit(X)
    np.testing.assert_array_equal(brute.core_sample_indices_, with_blocks.core_sample_indices_)
    np.testing.assert_array_equal(brute.labels_, with_blocks.labels_)


@pytest.mark.parametrize("case", ["blocks-8d", "blocks-manhattan-8d", "blocks-cosine-8d"])
def test_block_pairs_skip_far_leaves_but_no_neighbour(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blocks_module, "LEAF_SIZE", 32)
    X, eps, _, metric = CASES[case]
    data = torch.as_tensor(X)
    measure = Metric(metric, eps, X.shape[1])
    points = measure.prepare(data, data.mean(0))
    pairs = BlockPairs(points, measure, 1 << 14, ScratchBuffers(data.device))
    sizes = pairs.stops - pairs.starts
    compared = int((sizes[:, None] * sizes[None, :] * pairs.later).sum())
    assert compared < 0.25 * len(X) ** 2
    found = _listed_pairs(pairs, pairs.chunks())
    assert len(found) == len(set(found))
    assert set(found) == _radius_pairs(X, eps, metric)


@pytest.mark.parametrize("case", ["blobs-2d", "uniform-3d", "manhattan-2d"])
@pytest.mark.parametrize("max_pairs", [97, 1 << 20])
def test_grid_pairs_are_the_radius_neighbours_each_once(case: str, max_pairs: int) -> None:
    X, eps, _, metric = CASES[case]
    data = torch.as_tensor(X)
    pairs = GridPairs(data, Metric(metric, eps, X.shape[1]), Lattice(data, eps), max_pairs)
    chunks = list(pairs.chunks())
    assert len(chunks) > 1 if max_pairs < 100 else len(chunks) == 1
    found = _listed_pairs(pairs, chunks)
    assert len(found) == len(set(found))
    assert set(found) == _radius_pairs(X, eps, metric)


def test_kd_order_is_a_permutation_into_small_leaves() -> None:
    X = torch.as_tensor(_many_blobs(22))
    order, starts = kd_order(X, 64)
    assert sorted(order.tolist()) == list(range(len(X)))
    sizes = np.diff(np.append(starts, len(X)))
    assert sizes.max() <= 64
    # Splits slide to the middle of the range but keep a tenth of a group on each side.
    assert sizes.min() >= 64 // 10
    # Leaves are compact: a leaf is far narrower than the whole data set.
    points = X[order]
    widths = [
        float((points[a:b].max(0).values - points[a:b].min(0).values).norm())
        for a, b in zip(starts, np.append(starts[1:], len(X)), strict=True)
    ]
    whole = float((X.max(0).values - X.min(0).values).norm())
    assert np.median(widths) < 0.5 * whole


def test_far_from_origin_high_dimension() -> None:
    # A GEMM-based distance on raw coordinates would lose every digit that matters here.
    X = _blobs(11, 8) * 0.5 + 1e5
    model = DBSCAN(eps=1.0, min_samples=5).fit(X)
    assert model.labels_.max() >= 1
    assert_matches_sklearn(X, 1.0, 5, "euclidean", model.labels_, model.core_sample_indices_)


def test_lattice_too_fine_falls_back_to_brute_force() -> None:
    rng = np.random.default_rng(12)
    X = np.concatenate([rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) + 1e7])
    model = DBSCAN(eps=0.5, min_samples=5).fit(X)
    assert model.labels_.max() >= 1
    assert_matches_sklearn(X, 0.5, 5, "euclidean", model.labels_, model.core_sample_indices_)


def test_duplicates_and_min_samples_one() -> None:
    rng = np.random.default_rng(13)
    X = np.repeat(rng.uniform(size=(60, 2)), 3, axis=0)
    for min_samples in (1, 3, 4):
        model = DBSCAN(eps=0.05, min_samples=min_samples).fit(X)
        assert_matches_sklearn(
            X, 0.05, min_samples, "euclidean", model.labels_, model.core_sample_indices_
        )


def test_all_noise_and_single_cluster() -> None:
    X = _uniform(14)
    assert (DBSCAN(eps=1e-6, min_samples=2).fit(X).labels_ == -1).all()
    one = DBSCAN(eps=10.0, min_samples=5).fit(X)
    assert (one.labels_ == 0).all()
    assert len(one.core_sample_indices_) == len(X)


def test_components_are_the_core_points() -> None:
    X, eps, min_samples, metric = CASES["moons"]
    model = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit(X)
    np.testing.assert_array_equal(model.components_, X[model.core_sample_indices_])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype: type) -> None:
    X = _blobs(15).astype(dtype)
    model = DBSCAN(eps=0.3).fit(X)
    assert model.components_.dtype == dtype
    assert model.labels_.dtype == np.int64
    assert model.core_sample_indices_.dtype == np.int64
    reference = SklearnDBSCAN(eps=0.3).fit(X)
    assert adjusted_rand_score(reference.labels_, model.labels_) > 0.99


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tensor_input_gives_tensors_on_its_device(device: str, dtype: torch.dtype) -> None:
    device = device_or_skip(device)
    X, eps, min_samples, metric = CASES["blobs-2d"]
    tensor = torch.as_tensor(X, dtype=dtype, device=device)
    model = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit(tensor)
    assert isinstance(model.labels_, torch.Tensor)
    assert model.labels_.device.type == device
    assert model.labels_.dtype == torch.int64
    assert model.core_sample_indices_.dtype == torch.int64
    assert model.components_.dtype == dtype
    expected = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit(X)
    if dtype == torch.float64:
        np.testing.assert_array_equal(model.labels_.cpu().numpy(), expected.labels_)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", ["blobs-2d", "blobs-8d", "cosine-8d"])
def test_device_parameter(device: str, case: str) -> None:
    device = device_or_skip(device)
    X, eps, min_samples, metric = CASES[case]
    model = DBSCAN(eps=eps, min_samples=min_samples, metric=metric, device=device).fit(X)
    assert isinstance(model.labels_, np.ndarray)
    assert_matches_sklearn(X, eps, min_samples, metric, model.labels_, model.core_sample_indices_)


def test_deterministic() -> None:
    X, eps, min_samples, _ = CASES["uniform-2d"]
    first = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(X)
    second = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(X)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(
    "params", [{"eps": -1}, {"eps": 0}, {"min_samples": 0}, {"metric": "chebyshev"}]
)
def test_invalid_parameters_are_rejected_before_fit(params: dict[str, object]) -> None:
    with pytest.raises(InvalidParameterError):
        DBSCAN(**params)._validate_params()


def test_small_cpu_inputs_are_cut_into_several_chunks_and_union_batches() -> None:
    from clusterlab_algorithms._neighbors import grid as grid_module
    from clusterlab_algorithms._neighbors import labels as labels_module

    rng = np.random.default_rng(3)
    X = rng.uniform(0, 10, size=(3000, 2)).astype(np.float32)
    eps = 0.9
    data = torch.as_tensor(X)
    pairs = GridPairs(data, Metric("euclidean", eps, 2), Lattice(data, eps), 1 << 20)
    assert pairs.n_candidates > grid_module.MIN_CHUNKS * grid_module.MIN_CHUNK_PAIRS
    chunks = list(pairs.chunks())
    # Not one chunk of every candidate: at least MIN_CHUNKS of them, none much bigger.
    assert len(chunks) >= grid_module.MIN_CHUNKS
    found = _listed_pairs(pairs, chunks)
    assert len(found) == len(set(found))
    assert set(found) == _radius_pairs(X, eps, "euclidean")
    kept = labels_module._KeptPairs(1 << 30, 2 * len(X))
    for chunk in chunks:
        assert kept.add(chunk)
    batches = kept.batches()
    assert len(batches) > 1
    # A batch closes once it holds 2 pairs per point: at most one chunk's pairs beyond.
    largest = max(chunk.first.numel() for chunk in chunks)
    assert all(b.first.numel() < 2 * len(X) + largest for b in batches[:-1])
    labels = DBSCAN(eps=eps, min_samples=12).fit(X).labels_
    reference = SklearnDBSCAN(eps=eps, min_samples=12).fit(X).labels_
    assert adjusted_rand_score(reference, labels) == 1.0
    assert np.array_equal(labels == -1, reference == -1)
