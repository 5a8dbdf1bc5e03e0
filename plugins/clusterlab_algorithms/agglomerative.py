"""Agglomerative (hierarchical) clustering in torch, with scipy's merge heights."""

from __future__ import annotations

from dataclasses import KW_ONLY
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.cluster.hierarchy import linkage as scipy_linkage
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from threadpoolctl import threadpool_limits

from clusterlab.device import memory_budget, total_memory
from clusterlab_algorithms._linkage.chain import matrix_chain, ward_centroid_chain
from clusterlab_algorithms._linkage.matrix import SQUARED, distance_matrix
from clusterlab_algorithms._linkage.rnn import reciprocal_merges
from clusterlab_algorithms._linkage.single import (
    minimum_spanning_tree,
    minimum_spanning_tree_cpu,
)
from clusterlab_algorithms._linkage.tree import (
    cut_first_merges,
    cut_maxclust,
    linkage_matrix,
    n_clusters_below,
)
from clusterlab_algorithms._shared.estimator_io import (
    estimator_input,
    to_output,
)
from clusterlab_algorithms._shared.params import estimator_params
from clusterlab_algorithms._shared.threads import one_cpu_thread

LINKAGES = ("ward", "complete", "average", "single")
# Without memory_limit_bytes, the distance matrix may take this share of the device.
DEFAULT_MEMORY_FRACTION = 0.5
# Up to this many features, ward on the CPU searches from centroids instead of a matrix:
# a search then reads n x d values that stay in cache, against n values of a matrix row
# from memory plus one strided column write per merge.
CENTROID_MAX_FEATURES = 64
# Devices where single linkage grows its tree by Prim's steps (cheap there); elsewhere by
# Borůvka's rounds, whose few large launches suit an accelerator.
PRIM_DEVICES = frozenset({"cpu"})
# Up to this many samples on the CPU, per linkage, scipy's compiled linkage builds the
# tree: below the crossovers measured in docs/algorithms/agglomerative.md a merge loop
# driven from Python costs more than the whole of scipy's, whose tree is the one this
# estimator reproduces.
SCIPY_MAX_SAMPLES = {"ward": 2000, "average": 2000, "complete": 2000, "single": 2000}


class LinkageMemoryError(MemoryError):
    """The distance matrix that an exact linkage needs does not fit in the memory allowed."""


@estimator_params
class AgglomerativeClustering(ClusterMixin, BaseEstimator):
    """Hierarchical clustering on the CPU or a GPU, with scikit-learn's API and scipy's tree.

    ``single`` linkage grows a minimum spanning tree (``O(n d)`` memory, ``O(n^2 d)``
    time). ``ward``, ``complete`` and ``average`` merge reciprocal nearest neighbours on
    the full ``n x n`` distance matrix (``O(n^2)`` memory, checked before it is built).
    Distances are euclidean; merge heights equal ``scipy.cluster.hierarchy.linkage``'s.

    Parameters:
        n_clusters: clusters to cut the tree into (as ``fcluster(Z, n_clusters,
            'maxclust')``); ``None`` when ``distance_threshold`` is given.
        linkage: ``"ward"``, ``"complete"``, ``"average"`` or ``"single"``.
        distance_threshold: merges at or above this height are not made (as in
            scikit-learn); requires ``n_clusters=None``.
        device: where to compute; ``None`` follows the input.
        memory_limit_bytes: the most the distance matrix may take; ``None`` allows half
            of the device's memory (of the free memory on a GPU).

    Attributes:
        labels_: cluster of each sample (int64).
        n_clusters_: number of clusters in ``labels_``.
        children_: ``(n - 1) x 2`` merged nodes per step (ids ``>= n`` are earlier merges).
        distances_: height of each merge.
        linkage_matrix_: scipy's ``(n - 1) x 4`` linkage matrix (float64).
        n_leaves_: number of samples.
        n_connected_components_: always 1 (no connectivity constraint).
        n_features_in_: number of features seen in ``fit``.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_clusters": [Interval(Integral, 1, None, closed="left"), None],
        "linkage": [StrOptions(set(LINKAGES))],
        "distance_threshold": [Interval(Real, 0, None, closed="left"), None],
        "device": [None, str, torch.device],
        "memory_limit_bytes": [Interval(Integral, 1, None, closed="left"), None],
    }

    n_clusters: int | None = 2
    _: KW_ONLY
    linkage: str = "ward"
    distance_threshold: float | None = None
    device: Any = None
    memory_limit_bytes: int | None = None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> AgglomerativeClustering:
        """Build the merge tree of ``X`` (numpy array or tensor, ``n x d``) and cut it."""
        if (self.n_clusters is None) == (self.distance_threshold is None):
            raise ValueError(
                "Exactly one of n_clusters and distance_threshold has to be set, and the "
                "other needs to be None."
            )
        data, as_tensor = estimator_input(self, X, reset=True, ensure_min_samples=2)
        device = data.device
        if self.n_clusters is not None and self.n_clusters > data.shape[0]:
            raise ValueError(
                f"Cannot extract more clusters than samples: {self.n_clusters} clusters were "
                f"given for a tree with {data.shape[0]} leaves."
            )
        with torch.no_grad():
            Z = linkage_tree(data, self.linkage, memory_limit_bytes=self.memory_limit_bytes)
        if self.distance_threshold is not None:
            self.n_clusters_ = n_clusters_below(Z, self.distance_threshold)
            labels = cut_first_merges(Z, self.n_clusters_)
        else:
            labels = cut_maxclust(Z, int(self.n_clusters))
            self.n_clusters_ = int(labels.max()) + 1
        self.n_leaves_ = data.shape[0]
        self.n_connected_components_ = 1

        def out(array: np.ndarray, dtype: torch.dtype) -> Any:
            return to_output(torch.as_tensor(array, dtype=dtype).to(device), as_tensor)

        self.labels_ = out(labels, torch.int64)
        self.children_ = out(Z[:, :2].astype(np.int64), torch.int64)
        self.distances_ = out(Z[:, 2], data.dtype)
        self.linkage_matrix_ = out(Z, torch.float64)
        return self


def linkage_tree(
    X: torch.Tensor, linkage: str, *, memory_limit_bytes: int | None = None
) -> np.ndarray:
    """scipy's linkage matrix of the euclidean hierarchical clustering of ``X``.

    Raises ``LinkageMemoryError`` before allocating anything when ward, complete or
    average linkage would need more memory than allowed.
    """
    cpu = X.device.type == "cpu"
    if cpu and X.shape[0] <= SCIPY_MAX_SAMPLES[linkage]:
        if linkage != "single":
            check_matrix_memory(X, linkage, memory_limit_bytes)
        return scipy_linkage(X.numpy().astype(np.float64, copy=False), method=linkage)
    if linkage == "single":
        if X.device.type in PRIM_DEVICES:
            # Prim's loop is n steps of a few vector operations each: too small for threads.
            with one_cpu_thread(X.device), threadpool_limits(1, user_api="blas"):
                first, second, heights = minimum_spanning_tree_cpu(X)
        else:
            first, second, heights = minimum_spanning_tree(X, memory_budget(X.device))
        return linkage_matrix(first, second, heights)
    # Checked for ward too, though on the CPU with few features it builds no matrix: the
    # limit then does not depend on where and on how many features ward runs.
    check_matrix_memory(X, linkage, memory_limit_bytes)
    if cpu and linkage == "ward" and X.shape[1] <= CENTROID_MAX_FEATURES:
        with threadpool_limits(1, user_api="blas"):
            first, second, heights = ward_centroid_chain(X)
        return linkage_matrix(first, second, heights)
    budget = memory_budget(X.device)
    D = distance_matrix(X, squared=SQUARED[linkage], budget_bytes=budget)
    with one_cpu_thread(X.device), threadpool_limits(1, user_api="blas"):
        if cpu:
            first, second, heights = matrix_chain(D, linkage)
        else:
            first, second, heights = reciprocal_merges(D, linkage, budget)
    del D
    heights = heights.astype(np.float64)
    if SQUARED[linkage]:
        heights = np.sqrt(heights)
    return linkage_matrix(first, second, heights)


def available_memory(device: torch.device) -> int:
    """Bytes a distance matrix may take on ``device`` when no limit is given."""
    share = int(DEFAULT_MEMORY_FRACTION * total_memory(device))
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        share = min(share, int(free))
    return share


def check_matrix_memory(X: torch.Tensor, linkage: str, limit: int | None) -> None:
    """Raise ``LinkageMemoryError`` if the ``n x n`` matrix of ``linkage`` would not fit."""
    n = X.shape[0]
    needed = n * n * X.element_size()
    allowed = limit if limit is not None else available_memory(X.device)
    source = "memory_limit_bytes" if limit is not None else f"half of {X.device.type} memory"
    if needed > allowed:
        raise LinkageMemoryError(
            f"linkage='{linkage}' on {n} samples needs a {n} x {n} distance matrix of "
            f"{_readable(needed)} ({X.dtype}), but only {_readable(allowed)} is available "
            f"({source}). "
            "Use fewer samples, float32 data, linkage='single' (which needs no matrix), or "
            "raise memory_limit_bytes."
        )


def _readable(n_bytes: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} bytes"
