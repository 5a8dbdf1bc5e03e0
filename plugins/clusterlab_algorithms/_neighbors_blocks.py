"""Radius-neighbour tiles in any dimension: compact blocks of points, pruned by bounding balls.

Points are put in k-d tree order (split each group at the median of its widest
coordinate until groups are small), so each *leaf* of consecutive points is compact.
A query leaf is compared only with the data leaves whose bounding balls come within
``eps`` of its own; on clustered data that skips most pairs. Bounds use euclidean
distances between the prepared points: a manhattan distance is never smaller, and for
normalised rows a cosine distance ``c`` is a squared euclidean distance ``2 c``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from clusterlab_algorithms._neighbors import Metric, Tile, Workspace

# Points per leaf: big enough for an efficient GEMM, small enough for tight balls.
LEAF_SIZE = 256
# Below this many data points one brute-force block is as fast.
MIN_POINTS = 4 * LEAF_SIZE
# Point-to-ball distances computed at once when bounding leaf pairs.
_CHUNK_PAIRS = 1 << 22
# A split keeps at least 1 / _SPLIT_CLAMP of its group on either side.
_SPLIT_CLAMP = 10
# Tiles below this many pairs are joined even when most of their pairs are wasted.
_SMALL_TILE_PAIRS = 1 << 16


def kd_order(X: torch.Tensor, leaf_size: int) -> tuple[torch.Tensor, np.ndarray]:
    """A permutation of the rows of ``X`` in k-d tree order, and the leaves' start offsets.

    Every level sorts each group along the coordinate where it is widest and splits it
    at the middle of that coordinate's range (a sliding midpoint: sparse outliers end in
    leaves of their own instead of widening every leaf), the split position clamped to
    keep at least a tenth of the group on either side; all groups of a level are split
    at once.
    """
    n = X.shape[0]
    device = X.device
    order = torch.arange(n, device=device)
    bounds = np.array([0, n])
    while int(np.max(np.diff(bounds))) > leaf_size:
        group = torch.from_numpy(np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))).to(device)
        points = X[order]
        n_groups = len(bounds) - 1
        index = group[:, None].expand(-1, X.shape[1])
        low = torch.full((n_groups, X.shape[1]), torch.inf, dtype=X.dtype, device=device)
        high = torch.full_like(low, -torch.inf)
        low.scatter_reduce_(0, index, points, reduce="amin")
        high.scatter_reduce_(0, index, points, reduce="amax")
        widest = torch.argmax(high - low, dim=1)
        value = points.gather(1, widest[group][:, None]).squeeze(1)
        # Sort by value within each group: by value first, then stably by group.
        by_value = torch.argsort(value, stable=True)
        by_group = by_value[torch.argsort(group[by_value], stable=True)]
        order = order[by_group]
        widest_low = low.gather(1, widest[:, None]).squeeze(1)
        widest_high = high.gather(1, widest[:, None]).squeeze(1)
        middle = (widest_low + widest_high) / 2
        below = torch.zeros(n_groups, dtype=torch.int64, device=device)
        below.index_add_(0, group, (value < middle[group]).to(torch.int64))
        sizes = np.diff(bounds)
        least = np.maximum(1, sizes // _SPLIT_CLAMP)
        cut = np.clip(below.cpu().numpy(), least, sizes - least)
        splits = (bounds[:-1] + cut)[sizes > leaf_size]
        bounds = np.unique(np.concatenate([bounds, splits]))
    return order, bounds[:-1]


class BlockIndex:
    """Data in k-d tree leaves; tiles compare query leaves with nearby data leaves only."""

    def __init__(
        self,
        data: torch.Tensor,
        data_ids: torch.Tensor,
        metric: Metric,
        max_pairs: int,
        ws: Workspace,
    ) -> None:
        self.metric = metric
        self.max_pairs = max_pairs
        self.ws = ws
        order, starts = kd_order(data, LEAF_SIZE)
        # Queries given with these very ids are these points: their order is reused.
        self._input_ids = data_ids
        self.data = data[order]
        self.data_ids = data_ids[order]
        self.data_sq = (self.data * self.data).sum(1)
        self.starts = starts
        self.stops = np.append(starts[1:], data.shape[0])
        self.centers, self.radii = _balls(self.data, starts)
        # Cosine distances on normalised rows: c = |u - v|^2 / 2 (zero rows stay within).
        self.reach = math.sqrt(2 * metric.eps) if metric.name == "cosine" else metric.eps

    def tiles(self, queries: torch.Tensor, query_ids: torch.Tensor) -> Iterator[Tile]:
        """Yield tiles covering ``queries`` (prepared points) against nearby data leaves.

        Queries with no data leaf in reach appear in no tile.
        """
        if queries.shape[0] == 0 or self.data.shape[0] == 0:
            return
        if query_ids is self._input_ids:
            queries, query_ids = self.data, self.data_ids
            starts, stops = self.starts, self.stops
            centers, radii = self.centers, self.radii
        else:
            order, starts = kd_order(queries, LEAF_SIZE)
            queries, query_ids = queries[order], query_ids[order]
            stops = np.append(starts[1:], queries.shape[0])
            centers, radii = _balls(queries, starts)
        # A pair within reach needs each point within reach of the other's leaf ball.
        query_near = _points_near_balls(queries, starts, self.centers, self.radii, self.reach)
        data_near = _points_near_balls(self.data, self.starts, centers, radii, self.reach)
        near = (query_near & data_near.T).cpu().numpy()
        sizes = self.stops - self.starts
        for first, last in _group_leaves(near, stops - starts, sizes, self.max_pairs):
            leaves = np.flatnonzero(near[first : last + 1].any(0))
            if leaves.size == 0:
                continue
            positions = _merged_positions(self.starts[leaves][None, :], self.stops[leaves][None, :])
            cand = torch.from_numpy(positions).to(queries.device)
            cand_points, cand_sq, cand_ids = (
                self.data[cand],
                self.data_sq[cand],
                self.data_ids[cand],
            )
            # A single leaf with very many candidates is split by rows to fit the budget.
            rows = max(1, self.max_pairs // positions.size)
            for q_start in range(int(starts[first]), int(stops[last]), rows):
                q_stop = min(q_start + rows, int(stops[last]))
                scores, within = self.metric.compare(
                    queries[q_start:q_stop], cand_points, self.ws, cand_sq
                )
                yield Tile(query_ids[q_start:q_stop], cand_ids, scores, within)


def _balls(points: torch.Tensor, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre (mean) and radius of each leaf of consecutive ``points``."""
    n = points.shape[0]
    sizes = np.diff(np.append(starts, n))
    leaf = torch.from_numpy(np.repeat(np.arange(len(starts)), sizes)).to(points.device)
    centers = torch.zeros((len(starts), points.shape[1]), dtype=points.dtype, device=points.device)
    centers.index_add_(0, leaf, points)
    centers /= torch.from_numpy(sizes).to(points)[:, None]
    spread = torch.linalg.vector_norm(points - centers[leaf], dim=1)
    radii = torch.zeros(len(starts), dtype=points.dtype, device=points.device)
    radii.scatter_reduce_(0, leaf, spread, reduce="amax")
    # A little slack: the radius is rounded, and the bound must never cut a true pair.
    return centers, radii * (1 + 1e-6) + 1e-12


def _points_near_balls(
    points: torch.Tensor,
    starts: np.ndarray,
    centers: torch.Tensor,
    radii: torch.Tensor,
    reach: float,
) -> torch.Tensor:
    """``near[a, b]``: whether some point of leaf ``a`` comes within ``reach`` of ball ``b``.

    Points are compared with the balls in chunks of ``_CHUNK_PAIRS`` distances.
    """
    n = points.shape[0]
    n_leaves = len(starts)
    sizes = np.diff(np.append(starts, n))
    leaf = torch.from_numpy(np.repeat(np.arange(n_leaves), sizes)).to(points.device)
    gap = torch.full(
        (n_leaves, centers.shape[0]), torch.inf, dtype=points.dtype, device=points.device
    )
    rows = max(1, _CHUNK_PAIRS // max(1, centers.shape[0]))
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        chunk = torch.cdist(points[start:stop], centers) - radii[None, :]
        index = leaf[start:stop, None].expand(-1, centers.shape[0])
        gap.scatter_reduce_(0, index, chunk, reduce="amin")
    return gap <= reach


def _group_leaves(
    near: np.ndarray, q_sizes: np.ndarray, d_sizes: np.ndarray, max_pairs: int
) -> Iterator[tuple[int, int]]:
    """Runs ``(first, last)`` of consecutive query leaves compared together in one tile.

    A joint tile compares every query with the union of the leaves' candidates, so a
    leaf joins the run only while the tile fits ``max_pairs`` and, unless the tile is
    small (its fixed cost then dominates), does at most twice the useful work.
    """
    small = min(max_pairs, _SMALL_TILE_PAIRS)
    first = 0
    union = near[0].copy()
    n_q = int(q_sizes[0])
    useful = n_q * int(d_sizes[union].sum())
    for leaf in range(1, len(q_sizes)):
        joined = union | near[leaf]
        pairs = (n_q + int(q_sizes[leaf])) * int(d_sizes[joined].sum())
        needed = useful + int(q_sizes[leaf]) * int(d_sizes[near[leaf]].sum())
        if pairs <= max(small, min(max_pairs, 2 * needed)):
            union, n_q, useful = joined, n_q + int(q_sizes[leaf]), needed
            continue
        yield first, leaf - 1
        first, union, n_q = leaf, near[leaf].copy(), int(q_sizes[leaf])
        useful = n_q * int(d_sizes[union].sum())
    yield first, len(q_sizes) - 1


def _merged_positions(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sorted positions covered by the union of the ranges ``[lo, hi)``, each once."""
    if lo.shape[0] == 1:
        # One query cell: its ranges lie in different rows, so they are already disjoint.
        return np.concatenate([np.arange(a, b) for a, b in zip(lo[0], hi[0], strict=True)])
    lo = lo.ravel()
    hi = hi.ravel()
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    if lo.size == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    reach = np.maximum.accumulate(hi)
    # A range starts a new run where it begins past everything covered so far.
    starts = np.flatnonzero(lo[1:] > reach[:-1]) + 1
    bounds = np.concatenate(([0], starts))
    run_lo = lo[bounds]
    run_hi = np.maximum.reduceat(hi, bounds)
    return np.concatenate([np.arange(a, b) for a, b in zip(run_lo, run_hi, strict=True)])
