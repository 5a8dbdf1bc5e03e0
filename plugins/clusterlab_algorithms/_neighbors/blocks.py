"""Pairs of points within ``eps`` in any dimension: compact blocks of points, pruned by balls.

Points are put in k-d tree order (split each group in the middle of its widest
coordinate until groups are small), so each *leaf* of consecutive points is compact.
A leaf is compared only with itself and the later leaves whose bounding balls come
within ``eps`` of its points (and its ball within ``eps`` of theirs); on clustered
data that skips most pairs. Bounds use euclidean
distances between the prepared points: a manhattan distance is never smaller, and for
normalised rows a cosine distance ``c`` is a squared euclidean distance ``2 c``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from clusterlab_algorithms._neighbors.metric import Metric, PairChunk
from clusterlab_algorithms._shared.scratch import ScratchBuffers

# Points per leaf: big enough for an efficient GEMM, small enough for tight balls.
LEAF_SIZE = 256
# Below this many data points one brute-force block is as fast.
MIN_POINTS = 4 * LEAF_SIZE
# Point-to-ball distances computed at once when bounding leaf pairs. With 4 Mi the
# chunk's temporaries set DBSCAN's peak memory in 16-D; 1 Mi takes much less and is no
# slower.
_CHUNK_PAIRS = 1 << 20
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


class BlockPairs:
    """The pairs of points within ``eps`` of each other, found leaf pair by leaf pair.

    Each unordered pair of leaves is compared once (the later leaf's points are the
    candidates of the earlier one's), and of the pairs measured only those within
    ``eps`` are listed, each once, as positions in :attr:`ids` order with
    ``first < second``.
    """

    def __init__(
        self,
        points: torch.Tensor,
        metric: Metric,
        max_pairs: int,
        ws: ScratchBuffers,
        *,
        blocks: bool = True,
    ) -> None:
        """Order ``points`` in k-d tree leaves and find the leaf pairs within reach.

        With ``blocks=False`` all points form one leaf: every pair is measured (for few
        points that is as fast as pruning).
        """
        n = points.shape[0]
        self.metric = metric
        self.max_pairs = max_pairs
        self.ws = ws
        if blocks:
            order, starts = kd_order(points, LEAF_SIZE)
        else:
            order, starts = torch.arange(n, device=points.device), np.zeros(1, dtype=np.int64)
        #: Original index of the point at each position.
        self.ids = order
        self.data = points[order]
        self.data_sq = (self.data * self.data).sum(1)
        self.starts = starts
        self.stops = np.append(starts[1:], n)
        centers, radii = _balls(self.data, starts)
        # Cosine distances on normalised rows: c = |u - v|^2 / 2 (zero rows stay within).
        reach = math.sqrt(2 * metric.eps) if metric.name == "cosine" else metric.eps
        # A pair within reach needs each point within reach of the other's leaf ball.
        near = _points_near_balls(self.data, starts, centers, radii, reach)
        near = (near & near.T).cpu().numpy()
        #: ``later[a, b]``: leaves ``a <= b`` whose points may come within ``eps``.
        self.later = np.triu(near)

    def chunks(self) -> Iterator[PairChunk]:
        """Yield the pairs within ``eps``, every unordered pair exactly once."""
        sizes = self.stops - self.starts
        device = self.data.device
        for first, last in _group_leaves(self.later, sizes, sizes, self.max_pairs):
            leaves = np.flatnonzero(self.later[first : last + 1].any(0))
            if leaves.size == 0:
                continue
            positions = _merged_positions(self.starts[leaves][None, :], self.stops[leaves][None, :])
            cand = torch.from_numpy(positions).to(device)
            cand_points, cand_sq = self.data[cand], self.data_sq[cand]
            # A single leaf with very many candidates is split by rows to fit the budget.
            rows = max(1, self.max_pairs // positions.size)
            for q_start in range(int(self.starts[first]), int(self.stops[last]), rows):
                q_stop = min(q_start + rows, int(self.stops[last]))
                yield self._measure(q_start, q_stop, cand, cand_points, cand_sq)

    def _measure(
        self,
        q_start: int,
        q_stop: int,
        cand: torch.Tensor,
        cand_points: torch.Tensor,
        cand_sq: torch.Tensor,
    ) -> PairChunk:
        """The pairs within ``eps`` between positions ``q_start:q_stop`` and ``cand``."""
        queries = self.data[q_start:q_stop]
        _, within = self.metric.compare(queries, cand_points, self.ws, cand_sq)
        row, col = torch.nonzero(within, as_tuple=True)
        first = row + q_start
        second = cand[col]
        # Leaves compared with themselves (and with each other inside one tile) give
        # both orders of a pair: keep one.
        once = first < second
        return PairChunk(first[once], second[once])

    def score(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Distances of the pairs at these positions, in an order-preserving form.

        The squared euclidean or the manhattan distance from coordinate differences
        (not the GEMM expansion, whose rounding depends on the block), or the negated
        cosine similarity.
        """
        a, b = self.data[first], self.data[second]
        if self.metric.name == "cosine":
            return (a * b).sum(1).neg_()
        diff = a.sub_(b)
        if self.metric.name == "euclidean":
            return diff.mul_(diff).sum(1)
        return diff.abs_().sum(1)


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
        chunk = torch.cdist(points[start:stop], centers).sub_(radii[None, :])
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
