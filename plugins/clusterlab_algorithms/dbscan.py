"""DBSCAN in torch: density-based clusters found block by block, never an n x n matrix."""

from __future__ import annotations

from contextlib import nullcontext
from numbers import Integral, Real
from typing import Any, ClassVar

import torch
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from clusterlab.device import memory_budget
from clusterlab_algorithms._neighbors.blocks import BlockPairs
from clusterlab_algorithms._neighbors.grid import GridPairs, Lattice, chunk_pairs, grid_applies
from clusterlab_algorithms._neighbors.labels import NOISE, labels_from_pairs
from clusterlab_algorithms._neighbors.metric import METRICS, Metric, max_tile_pairs
from clusterlab_algorithms._shared.estimator_io import (
    estimator_input,
    to_output,
)
from clusterlab_algorithms._shared.params import estimator_params
from clusterlab_algorithms._shared.scratch import ScratchBuffers
from clusterlab_algorithms._shared.threads import one_cpu_thread

__all__ = ["DBSCAN", "NOISE", "dbscan_labels"]

#: Below this many points, without a grid, one brute-force tile list is faster than the
#: k-d tree leaves (crossover measured between 2k and 3k points in 16-D, see
#: ``docs/algorithms/dbscan.md``).
MIN_POINTS = 2048
#: Below this many points DBSCAN runs on one CPU thread: its operations are many and
#: small, and a second thread woken for each cost more than it gave (100k points in 2-D:
#: 160.7 ms on one thread against 193.9 ms on two; 200k: 400.2 against 369.4 ms; see
#: ``docs/algorithms/dbscan.md``).
MIN_THREADED_SAMPLES = 150_000
#: Between k-d leaves, a CPU tile holds at most this many pairs per point (and at least
#: MIN_TILE_PAIRS): a smaller input's tile then stays below the neighbourhoods
#: scikit-learn keeps, while from 64k points the tiles keep their full size, whose GEMMs
#: are faster (see ``docs/algorithms/dbscan.md``).
TILE_PAIRS_PER_POINT = 16
MIN_TILE_PAIRS = 1 << 15


@estimator_params
class DBSCAN(ClusterMixin, BaseEstimator):
    """Density-based clustering (DBSCAN) on the CPU or a GPU, with scikit-learn's API.

    A point is a *core* point when at least ``min_samples`` points (itself included)
    lie within ``eps`` of it. Core points within ``eps`` of each other share a cluster;
    a non-core point within ``eps`` of a core point joins the cluster of its nearest
    core neighbour; every other point is noise (label ``-1``).

    Distances are computed in tiles sized to ``clusterlab.device.memory_budget``, so
    memory stays ``O(n * d)`` plus that budget. With up to three features and the
    euclidean or manhattan metric, tiles only compare neighbouring cells of a grid of
    side ``eps``; otherwise they compare compact blocks of points whose bounding balls
    come within ``eps`` of each other.

    Parameters:
        eps: neighbourhood radius, > 0.
        min_samples: neighbours (the point included) that make a point a core point.
        metric: ``"euclidean"``, ``"cosine"`` or ``"manhattan"``.
        device: where to compute (``"cpu"``, ``"cuda"``, ...); ``None`` follows the input.

    Attributes:
        labels_: cluster of each point, ``-1`` for noise (int64).
        core_sample_indices_: indices of the core points, ascending (int64).
        components_: the core points themselves.
        n_features_in_: number of features seen in ``fit``.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "eps": [Interval(Real, 0.0, None, closed="neither")],
        "min_samples": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions(set(METRICS))],
        "device": [None, str, torch.device],
    }

    eps: float = 0.5
    min_samples: int = 5
    metric: str = "euclidean"
    device: Any = None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> DBSCAN:
        """Cluster ``X`` (numpy array or torch tensor, ``n x d``); ``y`` is ignored."""
        data, as_tensor = estimator_input(self, X, reset=True)
        threaded = data.shape[0] >= MIN_THREADED_SAMPLES
        with torch.no_grad(), nullcontext() if threaded else one_cpu_thread(data.device):
            labels, core = dbscan_labels(data, self.eps, self.min_samples, self.metric)
        core_ids = torch.nonzero(core).flatten()
        self.labels_ = to_output(labels, as_tensor)
        self.core_sample_indices_ = to_output(core_ids, as_tensor)
        self.components_ = to_output(data[core_ids], as_tensor)
        return self


def dbscan_labels(
    X: torch.Tensor, eps: float, min_samples: int, metric: str = "euclidean"
) -> tuple[torch.Tensor, torch.Tensor]:
    """DBSCAN of the float tensor ``X``: returns int64 labels (``-1`` noise) and the core mask.

    Clusters are numbered by their smallest core index; a non-core point takes the
    cluster of its nearest core neighbour (the smallest index among equally near ones).
    The pairs within ``eps`` come from a grid in up to three dimensions, else from the
    leaves of a k-d tree (see :mod:`clusterlab_algorithms._neighbors.labels`).
    """
    n_features = X.shape[1]
    device = X.device
    measure = Metric(metric, eps, n_features)
    budget = memory_budget(device)
    lattice = Lattice(X, eps) if grid_applies(measure, n_features) else None
    if lattice is not None and lattice.fits:
        points = measure.prepare(X, None)
        grid = GridPairs(points, measure, lattice, chunk_pairs(budget, device))
        return labels_from_pairs(grid, min_samples, budget // 4)
    points = measure.prepare(X, X.mean(0))
    max_pairs = max_tile_pairs(budget, X.dtype, device)
    leaves = X.shape[0] >= MIN_POINTS
    if leaves and device.type == "cpu":
        max_pairs = min(max_pairs, max(MIN_TILE_PAIRS, TILE_PAIRS_PER_POINT * X.shape[0]))
    blocks = BlockPairs(points, measure, max_pairs, ScratchBuffers(device), blocks=leaves)
    return labels_from_pairs(blocks, min_samples, budget // 4)
