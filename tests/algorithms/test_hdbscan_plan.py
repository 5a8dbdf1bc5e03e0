"""The HDBSCAN tree's round plans and bounded blocks against brute force.

A plan may drop a leaf pair only where no pair of its points can matter, and never keeps
one that the dense leaf-by-leaf plan would drop; a leaf's bound must be reachable from
every one of its points. Both are checked against every point pair, by numpy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist
from sklearn.datasets import make_blobs

import clusterlab_algorithms._hdbscan.leaves as leaves_module
import clusterlab_algorithms._neighbors.kdtree as kdtree_module
from clusterlab_algorithms._hdbscan.leaves import Leaves, _per_leaf
from clusterlab_algorithms.hdbscan import HDBSCAN

pytestmark = pytest.mark.usefixtures("one_cpu_thread")

MIN_SAMPLES = 5


def _points(d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X, _ = make_blobs(1500, d, centers=5, cluster_std=rng.uniform(0.3, 1.5, 5), random_state=seed)
    return np.r_[X, rng.uniform(X.min(0), X.max(0), (100, d))]


def _round(d: int, seed: int, scale: float) -> dict[str, object]:
    """Leaves of small size, core distances, and components as after a few rounds: the
    points grouped by a coarse grid, a tenth of them still on their own."""
    X = torch.from_numpy(_points(d, seed))
    leaves = Leaves(X, 16)
    points = leaves.X.numpy()
    core = np.sort(cdist(points, points), axis=1)[:, MIN_SAMPLES - 1]
    rng = np.random.default_rng(seed)
    cell = np.floor(points[:, :2] / 4.0).astype(np.int64)
    _, component = np.unique(cell, axis=0, return_inverse=True)
    alone = rng.random(len(points)) < 0.1
    component = np.where(alone, len(points) + np.arange(len(points)), component)
    # Components are labelled by their lowest member, as the tree labels them.
    order = np.argsort(component, kind="stable")
    first = np.unique(component[order], return_index=True)[1]
    lowest = np.minimum.reduceat(order, first)
    component = lowest[np.searchsorted(np.unique(component), component)]
    reach_sq = cdist(points, points) * scale
    mutual = np.maximum(np.maximum(reach_sq, core[:, None]), core[None, :]) ** 2
    return {
        "leaves": leaves,
        "core": torch.from_numpy(core),
        "component": torch.from_numpy(component.astype(np.int64)),
        "mutual_sq": mutual,
        "rng": rng,
    }


@pytest.mark.parametrize("d", [2, 8])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_plan_keeps_every_pair_that_can_matter_and_none_the_dense_plan_drops(
    d: int, scale: float
) -> None:
    state = _round(d, d, scale)
    leaves: Leaves = state["leaves"]  # type: ignore[assignment]
    core: torch.Tensor = state["core"]  # type: ignore[assignment]
    component: torch.Tensor = state["component"]  # type: ignore[assignment]
    mutual_sq: np.ndarray = state["mutual_sq"]  # type: ignore[assignment]
    rng: np.random.Generator = state["rng"]  # type: ignore[assignment]
    n_leaves = len(leaves.starts)
    low = _per_leaf(leaves, component, "amin")
    high = _per_leaf(leaves, component, "amax")
    low_core = _per_leaf(leaves, core, "amin")
    # Every row active, each leaf with a reach somewhere among its pairs' distances.
    reach = torch.from_numpy(np.quantile(mutual_sq, rng.uniform(0.0, 0.2, n_leaves)))
    low_active = low_core.square()
    plan = leaves.planner.pairs(low, high, low_core, reach, low_active, scale)

    leaf_of = leaves.leaf_of.numpy()
    comp = component.numpy()
    other = comp[:, None] != comp[None, :]
    can_matter = np.zeros((n_leaves, n_leaves), dtype=bool)
    within = (mutual_sq <= reach.numpy()[leaf_of][:, None]) & other
    rows, cols = np.nonzero(within)
    can_matter[leaf_of[rows], leaf_of[cols]] = True

    lower = np.maximum(leaves.gap.numpy() * scale, low_core.numpy()[:, None])
    lower = np.maximum(lower, low_core.numpy()[None, :]) ** 2
    single = (low == high).numpy()
    same = single[:, None] & single[None, :] & (low.numpy()[:, None] == low.numpy()[None, :])
    dense = (lower <= reach.numpy()[:, None]) & ~same

    kept = np.zeros((n_leaves, n_leaves), dtype=bool)
    owner = np.repeat(np.arange(n_leaves), plan.counts())
    kept[owner, plan.pair_leaf] = True
    assert kept.sum() == plan.pair_leaf.size  # no pair twice
    assert np.all(np.diff(plan.pair_leaf)[owner[1:] == owner[:-1]] > 0)  # ascending
    assert not np.any(can_matter & ~kept)
    assert not np.any(kept & ~dense)
    assert can_matter.sum() > n_leaves  # the check is not empty


@pytest.mark.parametrize("d", [2, 8])
def test_every_point_reaches_another_component_within_its_leafs_bound(d: int) -> None:
    state = _round(d, 10 + d, 1.0)
    leaves: Leaves = state["leaves"]  # type: ignore[assignment]
    core: torch.Tensor = state["core"]  # type: ignore[assignment]
    component: torch.Tensor = state["component"]  # type: ignore[assignment]
    mutual_sq: np.ndarray = state["mutual_sq"]  # type: ignore[assignment]
    low = _per_leaf(leaves, component, "amin")
    high = _per_leaf(leaves, component, "amax")
    high_core = _per_leaf(leaves, core, "amax")
    bound = leaves.planner.bounds(low, high, high_core, 1.0).numpy()
    comp = component.numpy()
    shortest = np.where(comp[:, None] != comp[None, :], mutual_sq, np.inf).min(1)
    per_point = bound[leaves.leaf_of.numpy()]
    finite = np.isfinite(per_point)
    assert finite.mean() > 0.5
    assert np.all(shortest[finite] <= per_point[finite] ** 2 * (1 + 1e-9))


@pytest.mark.parametrize("d", [2, 8])
def test_blocks_bounded_to_a_few_pairs_give_the_same_tree(
    d: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks cut to a few dozen pairs (padded tables and candidate pieces) change
    nothing in the tree."""
    X = _points(d, 30 + d)
    params = {"min_cluster_size": 15, "min_samples": MIN_SAMPLES}
    whole = HDBSCAN(**params).fit(X)
    monkeypatch.setattr(leaves_module, "_BATCH_PAIRS", 64)
    monkeypatch.setattr(leaves_module, "_NEAR_CHUNK", 40)
    cut = HDBSCAN(**params).fit(X)
    np.testing.assert_allclose(
        cut.single_linkage_tree_[:, 2], whole.single_linkage_tree_[:, 2], rtol=1e-13, atol=0
    )
    np.testing.assert_array_equal(cut.labels_, whole.labels_)


def test_nearest_points_in_chunks_equal_one_query(monkeypatch: pytest.MonkeyPatch) -> None:
    X = _points(3, 40)
    dist, _ = cKDTree(X).query(X, k=6)
    monkeypatch.setattr(kdtree_module, "_QUERY_CHUNK", 50)
    got_dist, got_index = kdtree_module.nearest_points(torch.from_numpy(X), 6, torch.int32)
    last, last_index = kdtree_module.nearest_points(torch.from_numpy(X), 6, last_only=True)
    assert got_index.dtype == torch.int32 and last_index.dtype == torch.int64
    np.testing.assert_array_equal(got_dist.numpy(), dist)
    np.testing.assert_array_equal(last.numpy(), dist[:, -1])
    # equal distances may list their points in either order
    chosen = np.take_along_axis(cdist(X, X), got_index.numpy().astype(np.int64), axis=1)
    np.testing.assert_allclose(chosen, dist, rtol=1e-12, atol=0)
