"""HDBSCAN in torch: scikit-learn's clusters from core distances and a Borůvka tree."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from clusterlab.device import memory_budget
from clusterlab_algorithms._hdbscan import leaves
from clusterlab_algorithms._hdbscan.reachability import Points, core_distances, reachability_tree
from clusterlab_algorithms._hdbscan.tree import (
    CONDENSED_DTYPE,
    NOISE,
    condense_tree,
    select_clusters,
    single_linkage,
)
from clusterlab_algorithms._shared.distances import pairwise_sq_dists
from clusterlab_algorithms._shared.estimator_io import (
    estimator_input,
    to_output,
)
from clusterlab_algorithms._shared.params import estimator_params

__all__ = ["CONDENSED_DTYPE", "HDBSCAN", "NOISE"]

METRICS = ("euclidean",)


@estimator_params
class HDBSCAN(ClusterMixin, BaseEstimator):
    """Hierarchical density-based clustering (HDBSCAN) on the CPU or a GPU, as scikit-learn's.

    A point's *core distance* is the distance to its ``min_samples``-th nearest point
    (itself included); the *mutual reachability* of two points is the largest of their
    core distances and their distance divided by ``alpha``. The minimum spanning tree of
    that graph, merged by increasing weight, is a single-linkage hierarchy; condensed to
    clusters of at least ``min_cluster_size`` points, it yields the most stable clusters
    (``"eom"``) or its leaves (``"leaf"``). Points outside every selected cluster are
    noise (``-1``).

    Core distances and the tree are computed on the chosen device in blocks within
    ``clusterlab.device.memory_budget`` (never an ``n x n`` matrix); the condensed tree
    and the selection run on the CPU (see ``docs/algorithms/hdbscan.md``).

    Parameters:
        min_cluster_size: smallest group that counts as a cluster, >= 2.
        min_samples: neighbours (the point included) that set the core distance;
            ``None`` means ``min_cluster_size``.
        cluster_selection_epsilon: clusters split below this distance are merged back.
        max_cluster_size: clusters larger than this are not selected by ``"eom"``;
            ``None`` for no limit.
        alpha: distance scaling of robust single linkage, > 0.
        cluster_selection_method: ``"eom"`` (excess of mass) or ``"leaf"``.
        allow_single_cluster: whether ``"eom"`` may select the root as the one cluster.
        store_centers: ``None``, ``"centroid"``, ``"medoid"`` or ``"both"``.
        metric: ``"euclidean"``.
        device: where to compute (``"cpu"``, ``"cuda"``, ...); ``None`` follows the input.

    Attributes:
        labels_: cluster of each point, ``-1`` for noise (int64).
        probabilities_: strength of each point's membership of its cluster, 0 for noise.
        centroids_, medoids_: per cluster, when ``store_centers`` asks for them.
        single_linkage_tree_: scipy's ``(n - 1) x 4`` linkage matrix (float64) of the
            mutual-reachability tree: merged nodes, height, size.
        condensed_tree_: numpy structured array (``CONDENSED_DTYPE``) with rows
            ``(parent, child, lambda_val, child_size)``; points are ``0 .. n-1``,
            clusters ``n`` (the root) and above, ``lambda_val`` is ``1 / distance``.
        selected_clusters_: condensed-tree ids of the clusters behind labels 0, 1, ...
        n_features_in_: number of features seen in ``fit``.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "min_cluster_size": [Interval(Integral, 2, None, closed="left")],
        "min_samples": [Interval(Integral, 1, None, closed="left"), None],
        "cluster_selection_epsilon": [Interval(Real, 0, None, closed="left")],
        "max_cluster_size": [None, Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "cluster_selection_method": [StrOptions({"eom", "leaf"})],
        "allow_single_cluster": ["boolean"],
        "store_centers": [None, StrOptions({"centroid", "medoid", "both"})],
        "metric": [StrOptions(set(METRICS))],
        "device": [None, str, torch.device],
    }

    min_cluster_size: int = 5
    min_samples: int | None = None
    cluster_selection_epsilon: float = 0.0
    max_cluster_size: int | None = None
    alpha: float = 1.0
    cluster_selection_method: str = "eom"
    allow_single_cluster: bool = False
    store_centers: str | None = None
    metric: str = "euclidean"
    device: Any = None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> HDBSCAN:
        """Cluster ``X`` (numpy array or torch tensor, ``n x d``); ``y`` is ignored."""
        data, as_tensor = estimator_input(self, X, reset=True, ensure_min_samples=2)
        device = data.device
        n = data.shape[0]
        min_samples = self.min_cluster_size if self.min_samples is None else self.min_samples
        if min_samples > n:
            raise ValueError(
                f"min_samples ({min_samples}) must be at most the number of samples in X ({n})"
            )
        with torch.no_grad():
            Z = mutual_reachability_linkage(data, min_samples, self.alpha)
        tree = condense_tree(Z, self.min_cluster_size)
        selection = select_clusters(
            tree,
            n,
            method=self.cluster_selection_method,
            allow_single_cluster=self.allow_single_cluster,
            epsilon=float(self.cluster_selection_epsilon),
            max_cluster_size=self.max_cluster_size,
        )
        self.single_linkage_tree_ = Z
        self.condensed_tree_ = tree
        self.selected_clusters_ = selection.clusters
        labels = torch.from_numpy(selection.labels).to(device)
        strength = torch.from_numpy(selection.probabilities).to(device=device, dtype=data.dtype)
        self.labels_ = to_output(labels, as_tensor)
        self.probabilities_ = to_output(strength, as_tensor)
        if self.store_centers in ("centroid", "both"):
            self.centroids_ = to_output(centroids(data, labels, strength), as_tensor)
        if self.store_centers in ("medoid", "both"):
            budget = memory_budget(device)
            self.medoids_ = to_output(medoids(data, labels, strength, budget), as_tensor)
        return self


def mutual_reachability_linkage(X: torch.Tensor, min_samples: int, alpha: float) -> np.ndarray:
    """scipy's linkage matrix of the minimum spanning tree of ``X``'s mutual reachability."""
    budget = memory_budget(X.device)
    n = X.shape[0]
    if n >= leaves.MIN_POINTS:
        layout = leaves.Leaves(X, leaves.leaf_size(n, X.shape[1], budget))
        core, near = leaves.core_distances(layout, min_samples)
        first, second, weights = leaves.reachability_tree(layout, core, near, alpha)
        first, second = layout.ids[first], layout.ids[second]
    else:
        points = Points(X)
        core = core_distances(points, min_samples, budget)
        first, second, weights = reachability_tree(points, core, alpha, budget)
    return single_linkage(
        first.cpu().numpy(), second.cpu().numpy(), weights.to(torch.float64).cpu().numpy()
    )


def centroids(X: torch.Tensor, labels: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Each cluster's mean of its points weighted by membership strength."""
    n_clusters = int(labels.max()) + 1 if labels.numel() else 0
    member = labels >= 0
    sums = torch.zeros((n_clusters, X.shape[1]), dtype=X.dtype, device=X.device)
    weights = strength[member]
    sums.index_add_(0, labels[member], X[member] * weights[:, None])
    total = torch.zeros(n_clusters, dtype=X.dtype, device=X.device)
    total.index_add_(0, labels[member], weights)
    return sums / total[:, None]


def medoids(
    X: torch.Tensor, labels: torch.Tensor, strength: torch.Tensor, budget_bytes: int
) -> torch.Tensor:
    """Each cluster's point with the least strength-weighted sum of distances to the others.

    As scikit-learn defines it; the distances within a cluster go in row blocks.
    """
    n_clusters = int(labels.max()) + 1 if labels.numel() else 0
    out = torch.empty((n_clusters, X.shape[1]), dtype=X.dtype, device=X.device)
    for cluster in range(n_clusters):
        members = X[labels == cluster]
        weights = strength[labels == cluster]
        m = members.shape[0]
        rows = max(1, budget_bytes // max(1, 2 * m * X.element_size()))
        cost = torch.empty(m, dtype=X.dtype, device=X.device)
        for start in range(0, m, rows):
            block = pairwise_sq_dists(members[start : start + rows], members).sqrt_()
            cost[start : start + rows] = block @ weights
        out[cluster] = members[torch.argmin(cost)]
    return out
