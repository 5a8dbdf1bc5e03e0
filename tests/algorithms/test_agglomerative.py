"""The torch agglomerative clustering against scipy's linkage and scikit-learn's estimator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.cluster.hierarchy import fcluster, linkage, maxdists
from scipy.spatial.distance import pdist, squareform
from sklearn.cluster import AgglomerativeClustering as SklearnAgglomerative
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils._param_validation import InvalidParameterError

import clusterlab_algorithms._linkage.chain as chain_module
import clusterlab_algorithms._linkage.rnn as rnn_module
import clusterlab_algorithms.agglomerative as agglomerative_module
from clusterlab_algorithms._linkage.matrix import SQUARED, distance_matrix
from clusterlab_algorithms._linkage.single import join_components
from clusterlab_algorithms._linkage.tree import linkage_matrix, monotone_heights
from clusterlab_algorithms.agglomerative import AgglomerativeClustering, LinkageMemoryError
from tests.algorithms.devices import DEVICES, device_or_skip

LINKAGES = ["ward", "complete", "average", "single"]
# Continuous random data: no two merge heights tie, so the tree is unique.
DATASETS = {
    "normal-3d": np.random.default_rng(0).normal(size=(300, 3)),
    "normal-12d": np.random.default_rng(1).normal(size=(260, 12)),
    "uniform-2d": np.random.default_rng(2).uniform(size=(400, 2)),
    "blobs-5d": make_blobs(250, 5, centers=5, random_state=3)[0],
    "offset-8d": np.random.default_rng(4).normal(size=(200, 8)) + 1e4,
}


@pytest.fixture(autouse=True)
def torch_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs the torch merge loops, however small its data, except those
    marked ``size_dispatch``, which check the dispatch to scipy for small inputs."""
    if "size_dispatch" not in request.keywords:
        monkeypatch.setattr(agglomerative_module, "SCIPY_MAX_SAMPLES", dict.fromkeys(LINKAGES, 0))


def _assert_same_tree(ours: np.ndarray, reference: np.ndarray) -> None:
    np.testing.assert_allclose(ours[:, 2], reference[:, 2], rtol=1e-5)
    # Without ties the merge order, the ids merged and the sizes are the same too.
    np.testing.assert_array_equal(ours[:, [0, 1, 3]], reference[:, [0, 1, 3]])


@pytest.mark.parametrize("method", LINKAGES)
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_linkage_matrix_equals_scipy(method: str, dataset: str) -> None:
    X = DATASETS[dataset]
    model = AgglomerativeClustering(3, linkage=method).fit(X)
    reference = linkage(X, method)
    _assert_same_tree(model.linkage_matrix_, reference)
    np.testing.assert_allclose(model.distances_, reference[:, 2], rtol=1e-5)
    np.testing.assert_array_equal(model.children_, reference[:, :2].astype(np.int64))
    assert model.n_leaves_ == len(X)


@pytest.mark.parametrize("method", LINKAGES)
@pytest.mark.parametrize("n_clusters", [2, 3, 7, 40])
def test_labels_equal_fcluster_maxclust(method: str, n_clusters: int) -> None:
    X = DATASETS["normal-3d"]
    model = AgglomerativeClustering(n_clusters, linkage=method).fit(X)
    expected = fcluster(linkage(X, method), n_clusters, "maxclust")
    assert adjusted_rand_score(expected, model.labels_) == 1.0
    assert model.n_clusters_ == n_clusters == len(np.unique(model.labels_))
    assert model.labels_.dtype == np.int64
    assert set(np.unique(model.labels_)) == set(range(n_clusters))


@pytest.mark.parametrize("method", LINKAGES)
@pytest.mark.parametrize("quantile", [0.5, 0.9, 0.99])
def test_distance_threshold_as_sklearn(method: str, quantile: float) -> None:
    X = DATASETS["blobs-5d"]
    heights = linkage(X, method)[:, 2]
    # Halfway between two merges, so that rounding in the last digit cannot matter.
    at = int(quantile * (len(heights) - 1))
    threshold = float(heights[at] + heights[at + 1]) / 2
    params = {"n_clusters": None, "distance_threshold": threshold, "linkage": method}
    model = AgglomerativeClustering(**params).fit(X)
    reference = SklearnAgglomerative(**params).fit(X)
    assert model.n_clusters_ == reference.n_clusters_ > 1
    assert adjusted_rand_score(reference.labels_, model.labels_) == 1.0


@pytest.mark.parametrize("method", LINKAGES)
def test_labels_as_sklearn_at_n_clusters(method: str) -> None:
    X = DATASETS["blobs-5d"]
    model = AgglomerativeClustering(5, linkage=method).fit(X)
    reference = SklearnAgglomerative(5, linkage=method).fit(X)
    assert adjusted_rand_score(reference.labels_, model.labels_) == 1.0


@pytest.mark.parametrize("method", ["ward", "complete", "average"])
@pytest.mark.parametrize("compact", [True, False])
def test_compaction_does_not_change_the_tree(
    method: str, compact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dropping dead rows after every merge, or never, must give the same tree.
    share = 0.0 if compact else 2.0
    monkeypatch.setattr(chain_module, "_MATRIX_COMPACT_SHARE", share)
    monkeypatch.setattr(chain_module, "_CENTROID_COMPACT_SHARE", share)
    X = DATASETS["normal-12d"]
    model = AgglomerativeClustering(4, linkage=method).fit(X)
    _assert_same_tree(model.linkage_matrix_, linkage(X, method))


@pytest.mark.parametrize("method", ["ward", "complete", "average"])
@pytest.mark.parametrize("compact", [True, False])
def test_reciprocal_rounds_equal_scipy(
    method: str, compact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The GPU's merge rounds, run on the CPU, with and without compaction after each round.
    monkeypatch.setattr(rnn_module, "should_compact", lambda alive, rows: compact and alive > 1)
    X = DATASETS["normal-12d"]
    D = distance_matrix(torch.as_tensor(X), squared=SQUARED[method], budget_bytes=2**20)
    first, second, heights = rnn_module.reciprocal_merges(D, method, 2**20)
    if SQUARED[method]:
        heights = np.sqrt(heights)
    _assert_same_tree(linkage_matrix(first, second, heights), linkage(X, method))


@pytest.mark.parametrize("method", LINKAGES)
def test_many_features_equal_scipy(method: str) -> None:
    # Above CENTROID_MAX_FEATURES ward works on the distance matrix too.
    n_features = agglomerative_module.CENTROID_MAX_FEATURES + 6
    X = np.random.default_rng(6).normal(size=(180, n_features))
    model = AgglomerativeClustering(3, linkage=method).fit(X)
    _assert_same_tree(model.linkage_matrix_, linkage(X, method))


@pytest.mark.parametrize("method", LINKAGES)
def test_float32_blobs_heights_within_1e5(method: str) -> None:
    # float32 matrices and float32 input: heights still within 1e-5 of scipy's in float64.
    X = make_blobs(1500, 16, centers=10, random_state=7)[0].astype(np.float32)
    model = AgglomerativeClustering(10, linkage=method).fit(X)
    reference = linkage(X.astype(np.float64), method)
    np.testing.assert_allclose(np.sort(model.linkage_matrix_[:, 2]), reference[:, 2], rtol=1e-5)
    expected = fcluster(reference, 10, "maxclust")
    assert adjusted_rand_score(expected, model.labels_) == 1.0


@pytest.mark.parametrize("method", LINKAGES)
def test_tiny_memory_budget_gives_same_tree(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTERLAB_MEMORY_BUDGET_MB", "0.01")
    X = DATASETS["normal-3d"][:150]
    model = AgglomerativeClustering(3, linkage=method).fit(X)
    _assert_same_tree(model.linkage_matrix_, linkage(X, method))


@pytest.mark.parametrize("method", LINKAGES)
def test_ties_and_duplicates_terminate_with_a_valid_tree(method: str) -> None:
    rng = np.random.default_rng(5)
    X = np.repeat(rng.integers(0, 4, size=(40, 2)).astype(float), 3, axis=0)
    model = AgglomerativeClustering(4, linkage=method).fit(X)
    Z = model.linkage_matrix_
    reference = linkage(X, method)
    assert Z[-1, 3] == len(X)
    assert np.all(np.diff(Z[:, 2]) >= -1e-12)
    # Zero-height merges of the duplicates: as many as scipy makes.
    assert np.count_nonzero(Z[:, 2] == 0) == np.count_nonzero(reference[:, 2] == 0)
    if method == "single":  # the heights of every minimum spanning tree are the same
        np.testing.assert_allclose(Z[:, 2], reference[:, 2], rtol=1e-12)


def test_matrix_memory_is_checked_before_it_is_built() -> None:
    X = DATASETS["normal-3d"]
    with pytest.raises(LinkageMemoryError) as error:
        AgglomerativeClustering(3, linkage="average", memory_limit_bytes=1000).fit(X)
    message = str(error.value)
    assert "300 x 300" in message
    assert "703.1 KiB" in message
    assert "1000 bytes" in message
    assert "memory_limit_bytes" in message
    assert isinstance(error.value, MemoryError)
    # Single linkage needs no matrix, so the same limit is no obstacle.
    AgglomerativeClustering(3, linkage="single", memory_limit_bytes=1000).fit(X)


def test_default_memory_limit_follows_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agglomerative_module, "total_memory", lambda device: 100_000)
    X = DATASETS["normal-3d"]
    with pytest.raises(
        LinkageMemoryError, match=r"needs a 300 x 300 distance matrix of 703\.1 KiB"
    ):
        AgglomerativeClustering(3, linkage="ward").fit(X)


@pytest.mark.parametrize("method", LINKAGES)
def test_float32_keeps_its_dtype(method: str) -> None:
    X = DATASETS["normal-3d"].astype(np.float32)
    model = AgglomerativeClustering(3, linkage=method).fit(X)
    assert model.distances_.dtype == np.float32
    assert model.linkage_matrix_.dtype == np.float64
    assert model.labels_.dtype == np.int64
    reference = linkage(X.astype(np.float64), method)
    np.testing.assert_allclose(model.distances_, reference[:, 2], rtol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", LINKAGES)
def test_tensor_input_gives_tensors_on_its_device(device: str, method: str) -> None:
    device = device_or_skip(device)
    X = DATASETS["normal-12d"]
    model = AgglomerativeClustering(3, linkage=method).fit(torch.as_tensor(X, device=device))
    for name in ("labels_", "children_", "distances_", "linkage_matrix_"):
        value = getattr(model, name)
        assert isinstance(value, torch.Tensor)
        assert value.device.type == device
    assert model.labels_.dtype == torch.int64
    assert model.distances_.dtype == torch.float64
    _assert_same_tree(model.linkage_matrix_.cpu().numpy(), linkage(X, method))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", LINKAGES)
def test_device_parameter(device: str, method: str) -> None:
    device = device_or_skip(device)
    X = DATASETS["blobs-5d"]
    model = AgglomerativeClustering(3, linkage=method, device=device).fit(X)
    assert isinstance(model.labels_, np.ndarray)
    _assert_same_tree(model.linkage_matrix_, linkage(X, method))


def test_deterministic() -> None:
    X = DATASETS["uniform-2d"]
    first = AgglomerativeClustering(6, linkage="average").fit(X)
    second = AgglomerativeClustering(6, linkage="average").fit(X)
    np.testing.assert_array_equal(first.linkage_matrix_, second.linkage_matrix_)
    np.testing.assert_array_equal(first.labels_, second.labels_)


def test_two_samples() -> None:
    model = AgglomerativeClustering(1, linkage="ward").fit(np.array([[0.0, 0.0], [3.0, 4.0]]))
    np.testing.assert_allclose(model.linkage_matrix_, [[0.0, 1.0, 5.0, 2.0]])
    np.testing.assert_array_equal(model.labels_, [0, 0])


def test_more_clusters_than_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="more clusters than samples"):
        AgglomerativeClustering(20).fit(DATASETS["normal-3d"][:10])


def test_exactly_one_of_n_clusters_and_threshold() -> None:
    X = DATASETS["normal-3d"]
    with pytest.raises(ValueError, match="Exactly one"):
        AgglomerativeClustering(3, distance_threshold=1.0).fit(X)
    with pytest.raises(ValueError, match="Exactly one"):
        AgglomerativeClustering(None).fit(X)


@pytest.mark.parametrize(
    "params",
    [
        {"n_clusters": 0},
        {"linkage": "centroid"},
        {"distance_threshold": -1.0},
        {"memory_limit_bytes": 0},
    ],
)
def test_invalid_parameters_are_rejected_before_fit(params: dict[str, object]) -> None:
    with pytest.raises(InvalidParameterError):
        AgglomerativeClustering(**params)._validate_params()


@pytest.mark.parametrize("n_features", [3, 12])
@pytest.mark.parametrize("squared", [True, False])
def test_distance_matrix_on_threads_is_scipys_and_symmetric(n_features: int, squared: bool) -> None:
    X = np.random.default_rng(7).normal(size=(700, n_features))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        # A small budget: many rows of tiles, so that the threads share the work.
        D = distance_matrix(torch.as_tensor(X), squared=squared, budget_bytes=2**15).numpy()
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(D, D.T)
    assert np.isinf(np.diag(D)).all()
    expected = squareform(pdist(X, "sqeuclidean" if squared else "euclidean"))
    off_diagonal = ~np.eye(len(X), dtype=bool)
    np.testing.assert_allclose(D[off_diagonal], expected[off_diagonal], rtol=1e-9, atol=1e-9)


@pytest.fixture
def boruvka(monkeypatch: pytest.MonkeyPatch) -> None:
    """Single linkage by Borůvka's rounds on the CPU too, as on a GPU."""
    monkeypatch.setattr(agglomerative_module, "PRIM_DEVICES", frozenset())


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_boruvka_single_linkage_equals_scipy(dataset: str, boruvka: None) -> None:
    X = DATASETS[dataset]
    model = AgglomerativeClustering(3, linkage="single").fit(X)
    _assert_same_tree(model.linkage_matrix_, linkage(X, "single"))


@pytest.mark.parametrize("budget_mb", ["0.01", "1"])
def test_boruvka_in_row_blocks_gives_the_same_tree(
    budget_mb: str, boruvka: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLUSTERLAB_MEMORY_BUDGET_MB", budget_mb)
    X = DATASETS["blobs-5d"]
    model = AgglomerativeClustering(3, linkage="single").fit(X)
    _assert_same_tree(model.linkage_matrix_, linkage(X, "single"))


def test_boruvka_float32_blobs_within_1e5(boruvka: None) -> None:
    X = make_blobs(1500, 16, centers=6, random_state=7)[0].astype(np.float32)
    model = AgglomerativeClustering(6, linkage="single").fit(X)
    reference = linkage(X.astype(np.float64), "single")
    np.testing.assert_allclose(model.distances_, reference[:, 2], rtol=1e-5, atol=1e-6)
    assert adjusted_rand_score(fcluster(reference, 6, "maxclust"), model.labels_) == 1.0


def test_boruvka_ties_and_duplicates_give_a_minimum_tree(boruvka: None) -> None:
    rng = np.random.default_rng(5)
    lattice = np.stack(np.meshgrid(np.arange(9), np.arange(9), np.arange(3)), -1).reshape(-1, 3)
    for X in (np.repeat(rng.integers(0, 4, size=(40, 2)), 3, axis=0), lattice):
        Z = AgglomerativeClustering(4, linkage="single").fit(X.astype(float)).linkage_matrix_
        assert Z[-1, 3] == len(X)
        # Every minimum spanning tree has the same lengths, whatever ties it broke.
        np.testing.assert_allclose(Z[:, 2], linkage(X, "single")[:, 2], rtol=1e-12)


def test_join_components_breaks_each_cycle_at_its_lowest_component() -> None:
    # 0 -> 2 -> 5 -> 0 is a cycle of three, 7 <-> 9 one of two, and 11 hangs on 7.
    roots = torch.tensor([0, 2, 5, 7, 9, 11])
    target = torch.tensor([2, 5, 0, 9, 7, 7])
    keep, root_of = join_components(roots, target, 12)
    assert keep.tolist() == [False, True, True, False, True, True]
    assert root_of[roots].tolist() == [0, 0, 0, 7, 7, 7]


@pytest.mark.size_dispatch
@pytest.mark.parametrize("method", LINKAGES)
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_small_inputs_on_the_cpu_get_the_same_tree_from_scipy(
    method: str, dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    X = DATASETS[dataset]
    calls: list[int] = []
    compiled = agglomerative_module.scipy_linkage

    def counted(data: np.ndarray, method: str) -> np.ndarray:
        calls.append(len(data))
        return compiled(data, method=method)

    monkeypatch.setattr(agglomerative_module, "scipy_linkage", counted)
    small = AgglomerativeClustering(3, linkage=method).fit(X)
    assert calls == [len(X)]
    monkeypatch.setitem(agglomerative_module.SCIPY_MAX_SAMPLES, method, len(X) - 1)
    loops = AgglomerativeClustering(3, linkage=method).fit(X)
    assert calls == [len(X)]  # one sample more than the limit: the torch loops ran
    _assert_same_tree(small.linkage_matrix_, linkage(X, method))
    _assert_same_tree(small.linkage_matrix_, loops.linkage_matrix_)
    np.testing.assert_array_equal(small.labels_, loops.labels_)


@pytest.mark.size_dispatch
def test_small_inputs_check_the_matrix_memory_too() -> None:
    X = np.random.default_rng(0).normal(size=(100, 2))
    with pytest.raises(LinkageMemoryError):
        AgglomerativeClustering(2, linkage="ward", memory_limit_bytes=1000).fit(X)
    AgglomerativeClustering(2, linkage="single", memory_limit_bytes=1000).fit(X)


@pytest.mark.parametrize("method", ["ward", "centroid", "median"])
def test_monotone_heights_equal_scipys_maxdists(method: str) -> None:
    # centroid and median linkages have inversions: a merge below one of its children.
    Z = linkage(np.random.default_rng(5).normal(size=(80, 2)), method)
    np.testing.assert_array_equal(monotone_heights(Z), maxdists(Z))
