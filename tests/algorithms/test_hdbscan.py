"""The torch HDBSCAN against scikit-learn's: same clusters, same noise, same probabilities.

Mutual-reachability distances tie often (two points that are each other's
``min_samples``-th neighbour share their core distance), and tied edges leave several
minimum spanning trees, merged in several orders, all valid. Where such ties decide a
point's cluster, scikit-learn's choice is the order of its unstable sort, so two checks
are made on every fixture: the merge heights equal scikit-learn's (the tree is a
minimum spanning tree), and scikit-learn's own condensing and selection, run on this
tree, give exactly these labels and probabilities. The end-to-end label comparison runs
on the fixtures and settings where no tie decides a cluster.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from sklearn.cluster import HDBSCAN as SklearnHDBSCAN
from sklearn.cluster._hdbscan._tree import HIERARCHY_dtype, tree_to_labels
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.utils._param_validation import InvalidParameterError

import clusterlab_algorithms._hdbscan.leaves as leaves_module
from clusterlab_algorithms._hdbscan.tree import condense_tree, select_clusters, single_linkage
from clusterlab_algorithms.hdbscan import HDBSCAN
from tests.algorithms.devices import DEVICES, device_or_skip

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def _varied(seed: int, d: int = 2) -> np.ndarray:
    """Three blobs of very different spread and uniform noise around them."""
    rng = np.random.default_rng(seed)
    centers = [[0.0] * d, [6.0] * d, [-6.0] + [3.0] * (d - 1)]
    X, _ = make_blobs(500, d, centers=centers, cluster_std=[0.3, 1.0, 2.0], random_state=seed)
    return np.r_[X, rng.uniform(-12, 12, (40, d))]


def _duplicates(seed: int) -> np.ndarray:
    """Blobs where a third of the points appear two or three times."""
    X, _ = make_blobs(300, 2, centers=3, cluster_std=0.6, random_state=seed)
    return np.r_[X, X[:100], X[:40]]


def _noisy_blobs(seed: int, d: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X, _ = make_blobs(700, d, centers=5, cluster_std=rng.uniform(0.3, 1.5, 5), random_state=seed)
    return np.r_[X, rng.uniform(X.min(0), X.max(0), (70, d))]


DATA = {
    "varied-2d": _varied(0),
    "varied-5d": _varied(1, 5),
    "moons": make_moons(400, noise=0.06, random_state=0)[0],
    "blobs-3d": make_blobs(400, 3, centers=3, random_state=2)[0],
    "noisy-blobs-2d": _noisy_blobs(0, 2),
    "noisy-blobs-8d": _noisy_blobs(0, 8),
    "duplicates": _duplicates(3),
}

# (data, parameters): fixtures and settings where no tie decides any point's cluster,
# which ``test_no_tie_decides_a_cluster_in_the_exact_cases`` checks. Where one does,
# scikit-learn's choice among the tied merges follows numpy's unstable argsort, whose
# order of equal keys depends on the CPU's sorting kernel, so such cases are compared up
# to ties only.
EXACT = [
    ("varied-2d", {"min_cluster_size": 10, "min_samples": 1}),
    ("varied-2d", {"min_cluster_size": 20, "min_samples": 1, "alpha": 0.7}),
    ("varied-5d", {"min_cluster_size": 10, "min_samples": 1}),
    ("varied-5d", {"min_cluster_size": 10, "cluster_selection_epsilon": 0.5}),
    (
        "varied-5d",
        {
            "min_cluster_size": 10,
            "min_samples": 1,
            "cluster_selection_method": "leaf",
            "cluster_selection_epsilon": 0.3,
        },
    ),
    ("moons", {"min_cluster_size": 15, "allow_single_cluster": True}),
    ("moons", {"min_cluster_size": 20, "min_samples": 1, "alpha": 0.7}),
    ("blobs-3d", {"min_cluster_size": 15}),
    ("blobs-3d", {"min_cluster_size": 10, "cluster_selection_epsilon": 0.5}),
    ("blobs-3d", {"min_cluster_size": 15, "allow_single_cluster": True}),
    ("noisy-blobs-8d", {"min_cluster_size": 10, "min_samples": 1}),
]

# Every fixture with every selection setting, checked tie-aware.
SETTINGS = [
    {"min_cluster_size": 15},
    {"min_cluster_size": 10, "min_samples": 5},
    {"min_cluster_size": 15, "cluster_selection_method": "leaf"},
    {"min_cluster_size": 15, "allow_single_cluster": True},
    {"min_cluster_size": 10, "cluster_selection_epsilon": 0.5},
    {"min_cluster_size": 10, "cluster_selection_method": "leaf", "cluster_selection_epsilon": 0.4},
    {"min_cluster_size": 10, "max_cluster_size": 100},
    {"min_cluster_size": 8, "min_samples": 3, "alpha": 0.8},
]


def _reference(X: np.ndarray, params: dict[str, Any]) -> SklearnHDBSCAN:
    return SklearnHDBSCAN(copy=False, **params).fit(X)


def _assert_same(labels: np.ndarray, probs: np.ndarray, ref_labels: Any, ref_probs: Any) -> None:
    ref_labels, ref_probs = np.asarray(ref_labels), np.asarray(ref_probs)
    np.testing.assert_array_equal(labels == -1, ref_labels == -1)
    assert adjusted_rand_score(ref_labels, labels) == 1.0
    np.testing.assert_allclose(probs, ref_probs, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("name", "params"), EXACT)
def test_labels_and_probabilities_equal_sklearn(name: str, params: dict[str, Any]) -> None:
    X = DATA[name]
    ours = HDBSCAN(**params).fit(X)
    reference = _reference(X, params)
    _assert_same(ours.labels_, ours.probabilities_, reference.labels_, reference.probabilities_)


def _tree_edges(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A spanning tree whose single linkage is ``Z``: each merge as an edge between one
    point of each side."""
    n = len(Z) + 1
    representative = list(range(n))
    for left, _right, _height, _size in Z:
        representative.append(representative[int(left)])
    first = np.array([representative[int(row[0])] for row in Z], dtype=np.int64)
    second = np.array([representative[int(row[1])] for row in Z], dtype=np.int64)
    return first, second, Z[:, 2].copy()


def _sklearn_selection(Z: np.ndarray, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's condensing and selection run on the linkage matrix ``Z``."""
    tree = np.zeros(len(Z), dtype=HIERARCHY_dtype)
    tree["left_node"], tree["right_node"] = Z[:, 0], Z[:, 1]
    tree["value"], tree["cluster_size"] = Z[:, 2], Z[:, 3]
    return tree_to_labels(
        tree,
        params["min_cluster_size"],
        params.get("cluster_selection_method", "eom"),
        params.get("allow_single_cluster", False),
        params.get("cluster_selection_epsilon", 0.0),
        params.get("max_cluster_size"),
    )


@pytest.mark.parametrize(("name", "params"), EXACT)
def test_no_tie_decides_a_cluster_in_the_exact_cases(name: str, params: dict[str, Any]) -> None:
    """Merging every group of equal-height edges in the opposite order changes no label
    or probability, so the end-to-end comparison above does not hang on a tie."""
    Z = HDBSCAN(**params).fit(DATA[name]).single_linkage_tree_
    first, second, weights = _tree_edges(Z)
    forward = _sklearn_selection(single_linkage(first, second, weights), params)
    backward = _sklearn_selection(single_linkage(first[::-1], second[::-1], weights[::-1]), params)
    _assert_same(*forward, *backward)


@pytest.mark.parametrize(
    "params", SETTINGS, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items())
)
@pytest.mark.parametrize("name", sorted(DATA))
def test_tree_and_selection_equal_sklearn_up_to_ties(name: str, params: dict[str, Any]) -> None:
    X = DATA[name]
    ours = HDBSCAN(**params).fit(X)
    Z = ours.single_linkage_tree_
    try:
        reference = _reference(X, params)
    except (TypeError, KeyError) as error:
        # scikit-learn's epsilon search and labelling fail on some trees (a size-one
        # array taken as a scalar, a root left out of its label map).
        pytest.skip(f"scikit-learn fails on this fixture: {type(error).__name__}")
    # The same merge heights: both are minimum spanning trees of the same graph.
    np.testing.assert_allclose(
        Z[:, 2], np.sort(reference._single_linkage_tree_["value"]), rtol=1e-12, atol=1e-12
    )
    assert np.all(np.diff(Z[:, 2]) >= 0)
    np.testing.assert_array_equal(Z[-1, 3], len(X))
    labels, probs = _sklearn_selection(Z, params)
    _assert_same(ours.labels_, ours.probabilities_, labels, probs)


def test_tree_code_equals_sklearn_on_its_own_tree() -> None:
    """Condensing and selection given scikit-learn's exact tree reproduce its result."""
    X = DATA["noisy-blobs-2d"]
    for params in SETTINGS:
        try:
            reference = _reference(X, params)
        except (TypeError, KeyError):
            continue
        slt = reference._single_linkage_tree_
        Z = np.c_[slt["left_node"], slt["right_node"], slt["value"], slt["cluster_size"]]
        tree = condense_tree(Z.astype(np.float64), params["min_cluster_size"])
        selection = select_clusters(
            tree,
            len(X),
            method=params.get("cluster_selection_method", "eom"),
            allow_single_cluster=params.get("allow_single_cluster", False),
            epsilon=params.get("cluster_selection_epsilon", 0.0),
            max_cluster_size=params.get("max_cluster_size"),
        )
        _assert_same(
            selection.labels, selection.probabilities, reference.labels_, reference.probabilities_
        )


def test_single_linkage_matches_scipy() -> None:
    from scipy.cluster.hierarchy import linkage
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial.distance import pdist, squareform

    X = make_blobs(60, 2, random_state=0)[0]
    mst = minimum_spanning_tree(squareform(pdist(X))).tocoo()
    Z = single_linkage(mst.row.astype(np.int64), mst.col.astype(np.int64), mst.data)
    np.testing.assert_allclose(Z, linkage(X, "single"), rtol=1e-12)


def test_condensed_tree_form() -> None:
    X = DATA["varied-2d"]
    ours = HDBSCAN(min_cluster_size=15).fit(X)
    tree = ours.condensed_tree_
    n = len(X)
    assert set(tree.dtype.names) == {"parent", "child", "lambda_val", "child_size"}
    points = tree[tree["child"] < n]
    np.testing.assert_array_equal(np.sort(points["child"]), np.arange(n))
    clusters = tree[tree["child"] >= n]
    assert tree["parent"].min() == n
    assert np.all(clusters["child"] > clusters["parent"])
    np.testing.assert_array_equal(np.sort(ours.selected_clusters_), ours.selected_clusters_)


@pytest.mark.parametrize("store", ["centroid", "medoid", "both"])
def test_centers_equal_sklearn(store: str) -> None:
    X = DATA["varied-2d"]
    params = EXACT[0][1]
    ours = HDBSCAN(**params, store_centers=store).fit(X)
    reference = SklearnHDBSCAN(**params, store_centers=store, copy=False).fit(X)
    assert adjusted_rand_score(reference.labels_, ours.labels_) == 1.0
    # Labels are numbered differently: match clusters by their members.
    order = [int(np.bincount(reference.labels_[ours.labels_ == c]).argmax()) for c in range(3)]
    for name in ("centroids_", "medoids_"):
        if hasattr(reference, name):
            np.testing.assert_allclose(getattr(ours, name), getattr(reference, name)[order])


def test_float32_and_tensor_input() -> None:
    X = DATA["varied-2d"]
    params = EXACT[0][1]
    reference = _reference(X, params)
    ours = HDBSCAN(**params).fit(torch.from_numpy(X.astype(np.float32)))
    assert isinstance(ours.labels_, torch.Tensor)
    assert ours.probabilities_.dtype == torch.float32
    assert adjusted_rand_score(reference.labels_, ours.labels_.numpy()) == 1.0


def test_min_samples_above_n_is_refused() -> None:
    with pytest.raises(ValueError, match="min_samples"):
        HDBSCAN(min_cluster_size=5, min_samples=50).fit(
            np.random.default_rng(0).normal(size=(20, 2))
        )
    with pytest.raises(InvalidParameterError):
        HDBSCAN(min_cluster_size=1).fit(np.zeros((5, 2)))


def test_memory_budget_blocks_give_the_same_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny budget (many row blocks) changes nothing in the result."""
    X = DATA["noisy-blobs-8d"]
    whole = HDBSCAN(min_cluster_size=15).fit(X)
    monkeypatch.setenv("CLUSTERLAB_MEMORY_BUDGET_MB", "0.05")
    blocked = HDBSCAN(min_cluster_size=15).fit(X)
    np.testing.assert_array_equal(
        whole.single_linkage_tree_[:, 2], blocked.single_linkage_tree_[:, 2]
    )
    assert adjusted_rand_score(whole.labels_, blocked.labels_) == 1.0


@pytest.mark.parametrize("device", DEVICES)
def test_device_result_equals_sklearn(device: str) -> None:
    device = device_or_skip(device)
    X = DATA["varied-5d"]
    params = {"min_cluster_size": 10, "min_samples": 1}
    ours = HDBSCAN(device=device, **params).fit(torch.from_numpy(X).to(device))
    reference = _reference(X, params)
    assert ours.labels_.device.type == device
    _assert_same(
        ours.labels_.cpu().numpy(),
        ours.probabilities_.cpu().numpy(),
        reference.labels_,
        reference.probabilities_,
    )


def _big_varied(seed: int, d: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-10, 10, (6, d))
    X, _ = make_blobs(
        3000, d, centers=centers, cluster_std=rng.uniform(0.2, 1.5, 6), random_state=seed
    )
    return np.r_[X, rng.uniform(-14, 14, (150, d))]


# Enough points for the k-d tree leaves (fewer are searched in brute-force blocks).
LEAF_DATA = {
    "leaves-2d": _big_varied(10, 2),
    "leaves-3d": _big_varied(11, 3),
    "leaves-12d": _big_varied(12, 12),
}


@pytest.fixture(params=["kd-tree", "blocks"])
def core_search(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Core distances by scipy's k-d tree (the CPU's search in few features) or by the
    blocked leaf search (the GPU's, forced here on the CPU)."""
    if request.param == "blocks":
        monkeypatch.setattr(leaves_module, "use_kd_tree", lambda X: False)
    return request.param


@pytest.mark.parametrize("d", [2, 3, 8, 16, 20])
def test_blocked_core_distances_equal_the_kd_tree(d: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leaves_module, "use_kd_tree", lambda X: False)
    X = torch.from_numpy(_big_varied(20 + d, d))
    layout = leaves_module.Leaves(X, 64)
    blocked = leaves_module.core_distances(layout, 7)
    dist, index = cKDTree(layout.X.numpy()).query(layout.X.numpy(), k=7)
    np.testing.assert_allclose(blocked[0].numpy(), dist[:, -1], rtol=1e-12, atol=1e-12)
    # the neighbours found are as near as the tree's (ties may pick other ones)
    found = np.linalg.norm(layout.X.numpy()[:, None] - layout.X.numpy()[blocked[1]], axis=2)
    np.testing.assert_allclose(np.sort(found, axis=1), dist, rtol=1e-12, atol=1e-12)
    assert index.shape == tuple(blocked[1].shape)


@pytest.mark.parametrize(
    "params", SETTINGS[:5], ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items())
)
@pytest.mark.parametrize("name", sorted(LEAF_DATA))
def test_leaf_search_equals_sklearn_up_to_ties(
    name: str, params: dict[str, Any], core_search: str
) -> None:
    X = LEAF_DATA[name]
    ours = HDBSCAN(**params).fit(X)
    reference = _reference(X, params)
    Z = ours.single_linkage_tree_
    np.testing.assert_allclose(
        Z[:, 2], np.sort(reference._single_linkage_tree_["value"]), rtol=1e-12, atol=1e-12
    )
    labels, probs = _sklearn_selection(Z, params)
    _assert_same(ours.labels_, ours.probabilities_, labels, probs)


@pytest.mark.parametrize("name", sorted(LEAF_DATA))
def test_leaf_search_labels_equal_sklearn(name: str, core_search: str) -> None:
    """Without ties (``min_samples=1``) the labels are scikit-learn's end to end."""
    X = LEAF_DATA[name]
    params = {"min_cluster_size": 20, "min_samples": 1}
    ours = HDBSCAN(**params).fit(X)
    reference = _reference(X, params)
    _assert_same(ours.labels_, ours.probabilities_, reference.labels_, reference.probabilities_)


@pytest.mark.parametrize("leaf", [8, 33])
@pytest.mark.parametrize("name", ["noisy-blobs-2d", "noisy-blobs-8d", "duplicates", "varied-5d"])
def test_small_leaves_give_the_brute_force_tree(
    monkeypatch: pytest.MonkeyPatch, name: str, leaf: int, core_search: str
) -> None:
    """Many small leaves (most pairs pruned) give the same heights as brute-force blocks."""
    X = DATA[name]
    params = {"min_cluster_size": 10, "min_samples": 4}
    brute = HDBSCAN(**params).fit(X)
    monkeypatch.setattr(leaves_module, "MIN_POINTS", 0)
    monkeypatch.setattr(leaves_module, "LEAF_SIZE", {True: leaf, False: leaf})
    pruned = HDBSCAN(**params).fit(X)
    np.testing.assert_allclose(
        pruned.single_linkage_tree_[:, 2], brute.single_linkage_tree_[:, 2], rtol=1e-13, atol=0
    )
    labels, probs = _sklearn_selection(pruned.single_linkage_tree_, params)
    _assert_same(pruned.labels_, pruned.probabilities_, labels, probs)
