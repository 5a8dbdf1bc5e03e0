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
from clusterlab_algorithms._neighbors_grid import _merged_positions

# Points per leaf: big enough for an efficient GEMM, small enough for tight balls.
LEAF_SIZE = 256
# Below this many data points one brute-force block is as fast.
MIN_POINTS = 4 * LEAF_SIZE
# Tiles below this many pairs are joined even when most of their pairs are wasted.
_SMALL_TILE_PAIRS = 1 << 16


def kd_order(X: torch.Tensor, leaf_size: int) -> tuple[torch.Tensor, np.ndarray]:
    """A permutation of the rows of ``X`` in k-d tree order, and the leaves' start offsets.

    Every level splits each group at its middle position after sorting it along the
    coordinate where it is widest; all groups of a level are split at once.
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
        middles = (bounds[:-1] + bounds[1:]) // 2
        bounds = np.unique(np.concatenate([bounds, middles]))
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
        order, starts = kd_order(queries, LEAF_SIZE)
        queries, query_ids = queries[order], query_ids[order]
        stops = np.append(starts[1:], queries.shape[0])
        centers, radii = _balls(queries, starts)
        gap = torch.cdist(centers, self.centers) - radii[:, None] - self.radii[None, :]
        near = (gap <= self.reach).cpu().numpy()
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
