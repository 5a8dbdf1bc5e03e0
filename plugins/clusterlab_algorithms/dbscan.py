"""DBSCAN in torch: density-based clusters found block by block, never an n x n matrix."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real
from typing import Any, ClassVar

import torch
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from clusterlab.device import memory_budget
from clusterlab_algorithms._common import resolve_estimator_device, to_output, validate_input
from clusterlab_algorithms._neighbors import (
    METRICS,
    BruteIndex,
    Metric,
    Workspace,
    max_tile_pairs,
    one_cpu_thread,
)
from clusterlab_algorithms._neighbors_blocks import MIN_POINTS, BlockIndex
from clusterlab_algorithms._neighbors_components import (
    flatten,
    new_forest,
    union_block,
    union_flat,
)
from clusterlab_algorithms._neighbors_grid import (
    GridPairs,
    Lattice,
    PairChunk,
    chunk_pairs,
    grid_applies,
)

NOISE = -1
IndexBuilder = Callable[[torch.Tensor], "BruteIndex | BlockIndex"]


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

    def __init__(
        self,
        eps: float = 0.5,
        min_samples: int = 5,
        metric: str = "euclidean",
        device: Any = None,
    ) -> None:
        self.eps = eps
        self.min_samples = min_samples
        self.metric = metric
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> DBSCAN:
        """Cluster ``X`` (numpy array or torch tensor, ``n x d``); ``y`` is ignored."""
        device = resolve_estimator_device(self.device, X)
        data, as_tensor = validate_input(self, X, device, reset=True)
        with torch.no_grad():
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
    In up to three dimensions the pairs within ``eps`` come from a grid (see
    :func:`_grid_labels`); otherwise two passes over tiles: the first counts neighbours
    (core points) and joins core points within ``eps``, the second labels the others.
    """
    n_features = X.shape[1]
    device = X.device
    measure = Metric(metric, eps, n_features)
    budget = memory_budget(device)
    lattice = Lattice(X, eps) if grid_applies(measure, n_features) else None
    if lattice is not None and lattice.fits:
        points = measure.prepare(X, None)
        pairs = GridPairs(points, measure, lattice, chunk_pairs(budget, device))
        return _grid_labels(pairs, min_samples, budget // 4)
    max_pairs = max_tile_pairs(budget, X.dtype, device)
    points = measure.prepare(X, X.mean(0))
    ws = Workspace(device)

    def build(ids: torch.Tensor) -> BruteIndex | BlockIndex:
        if ids.numel() >= MIN_POINTS:
            return BlockIndex(points[ids], ids, measure, max_pairs, ws)
        return BruteIndex(points[ids], ids, measure, max_pairs, ws)

    with one_cpu_thread(device):
        core, parent = _count_and_join(points, min_samples, build, ws)
        return _label(points, core, parent, build), core


def _count_and_join(
    points: torch.Tensor, min_samples: int, build: IndexBuilder, ws: Workspace
) -> tuple[torch.Tensor, torch.Tensor]:
    """Core mask, and a forest whose trees are the clusters of core points.

    A core-core edge is joined in the tile of whichever end comes later: by then both
    ends' neighbour counts are final.
    """
    n = points.shape[0]
    device = points.device
    all_ids = torch.arange(n, device=device)
    known_core = torch.zeros(n, dtype=torch.bool, device=device)
    parent = new_forest(n, device)
    for tile in build(all_ids).tiles(points, all_ids):
        row_core = tile.within.sum(1) >= min_samples
        known_core[tile.query_ids] = row_core
        n_core_rows = int(row_core.sum())
        if n_core_rows == 0:
            continue
        col_core = known_core[tile.cand_ids]
        if 2 * n_core_rows < row_core.numel():
            # Few core rows: join on the block of core rows and core columns only.
            rows, cols = torch.nonzero(row_core).flatten(), torch.nonzero(col_core).flatten()
            adjacent = tile.within[rows][:, cols]
            union_block(parent, tile.query_ids[rows], tile.cand_ids[cols], adjacent, ws)
        else:
            adjacent = tile.within.logical_and_(row_core[:, None])
            adjacent.logical_and_(col_core[None, :])
            union_block(parent, tile.query_ids, tile.cand_ids, adjacent, ws)
    return known_core, parent


def _label(
    points: torch.Tensor, core: torch.Tensor, parent: torch.Tensor, build: IndexBuilder
) -> torch.Tensor:
    """Cluster labels: core points by tree, other points by their nearest core neighbour."""
    labels = torch.full((points.shape[0],), NOISE, dtype=torch.int64, device=points.device)
    core_ids = torch.nonzero(core).flatten()
    if core_ids.numel() == 0:
        return labels
    roots = flatten(parent)[core_ids]
    _, cluster = torch.unique(roots, sorted=True, return_inverse=True)
    labels[core_ids] = cluster
    other_ids = torch.nonzero(~core).flatten()
    for tile in build(core_ids).tiles(points[other_ids], other_ids):
        scores = tile.scores.masked_fill_(tile.within.logical_not_(), torch.inf)
        nearest_score, nearest = scores.min(1)
        reached = torch.isfinite(nearest_score)
        labels[tile.query_ids[reached]] = labels[tile.cand_ids[nearest[reached]]]
    return labels


def _grid_labels(
    pairs: GridPairs, min_samples: int, keep_bytes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and core mask from the pairs within ``eps``.

    The first pass counts each point's neighbours; the second joins core pairs and keeps,
    for every non-core point, its nearest core neighbour. The first pass keeps its pairs
    (positions as int32) for the second while they fit in ``keep_bytes``; beyond that the
    second pass measures them again. Work happens at the pairs' sorted positions; the
    results are put back in the input's order at the end.
    """
    ids = pairs.ids
    n = ids.shape[0]
    device = ids.device
    counts = torch.ones(n, dtype=torch.int64, device=device)  # every point is its own neighbour
    kept: list[PairChunk] | None = [] if n < 2**31 else None
    kept_bytes = 0
    for chunk in pairs.chunks():
        counts.index_add_(0, chunk.first, torch.ones_like(chunk.first))
        counts.index_add_(0, chunk.second, torch.ones_like(chunk.second))
        if kept is not None:
            kept_bytes += chunk.first.numel() * (8 + chunk.score.element_size())
            if kept_bytes > keep_bytes:
                kept = None
            else:
                small = torch.int32
                kept.append(PairChunk(chunk.first.to(small), chunk.second.to(small), chunk.score))
    core = counts >= min_samples
    del counts
    parent = new_forest(n, device)
    nearest = _NearestCore(n, ids)
    for chunk in pairs.chunks() if kept is None else kept:
        first_core, second_core = core[chunk.first], core[chunk.second]
        both = first_core & second_core
        union_flat(parent, chunk.first[both], chunk.second[both])
        one = first_core ^ second_core
        first, second, score = chunk.first[one].long(), chunk.second[one].long(), chunk.score[one]
        first_is_core = first_core[one]
        nearest.offer(
            torch.where(first_is_core, second, first),
            torch.where(first_is_core, first, second),
            score,
        )
    del kept
    labels_at = torch.full((n,), NOISE, dtype=torch.int64, device=device)
    core_at = torch.nonzero(core).flatten()
    if core_at.numel() > 0:
        roots = parent[core_at]  # the forest is kept flat
        # A cluster's number follows its smallest core index in the input's order.
        smallest = torch.full((n,), n, dtype=torch.int64, device=device)
        smallest.scatter_reduce_(0, roots, ids[core_at], reduce="amin")
        _, cluster = torch.unique(smallest[roots], sorted=True, return_inverse=True)
        labels_at[core_at] = cluster
        reached = torch.nonzero(nearest.position < n).flatten()
        labels_at[reached] = labels_at[nearest.position[reached]]
    labels = torch.empty_like(labels_at)
    labels[ids] = labels_at
    is_core = torch.empty_like(core)
    is_core[ids] = core
    return labels, is_core


class _NearestCore:
    """For each point, the nearest core neighbour offered so far (ties: smallest index).

    Offers come in chunks; a point's best distance may improve in a later chunk, and
    equally near neighbours may come in different chunks.
    """

    def __init__(self, n: int, ids: torch.Tensor) -> None:
        self.n = n
        self.ids = ids
        self.score = torch.full((n,), torch.inf, device=ids.device)
        #: Sorted position of the nearest core neighbour, ``n`` where none.
        self.position = torch.full((n,), n, dtype=torch.int64, device=ids.device)
        self._index = torch.full((n,), n, dtype=torch.int64, device=ids.device)

    def offer(self, point: torch.Tensor, neighbour: torch.Tensor, score: torch.Tensor) -> None:
        """Offer ``neighbour[k]`` at distance score ``score[k]`` to ``point[k]``."""
        if point.numel() == 0:
            return
        if self.score.dtype != score.dtype:
            self.score = self.score.to(score.dtype)
        before = self.score[point]
        self.score.scatter_reduce_(0, point, score, reduce="amin")
        best = self.score[point]
        improved = point[best < before]
        self._index[improved] = self.n
        self.position[improved] = self.n
        hit = score == best
        point, neighbour = point[hit], neighbour[hit]
        self._index.scatter_reduce_(0, point, self.ids[neighbour], reduce="amin")
        # The winner's position: the offered neighbour whose index won.
        won = self.ids[neighbour] == self._index[point]
        self.position[point[won]] = neighbour[won]
