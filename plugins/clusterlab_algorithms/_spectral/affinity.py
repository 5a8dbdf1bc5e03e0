"""Affinities: the rbf kernel in tiles within a budget, and k-nearest-neighbour graphs.

The neighbour graphs are sparse (``n * n_neighbors`` entries, never ``n x n``); the rbf
affinity is dense by nature, built tile by tile so that no temporary exceeds the memory
budget, and refused when the ``n x n`` result itself would not fit in it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from clusterlab_algorithms._neighbors.blocks import MIN_POINTS, BlockPairs
from clusterlab_algorithms._neighbors.grid import GridPairs, Lattice, chunk_pairs, grid_applies
from clusterlab_algorithms._neighbors.kdtree import nearest_points, use_kd_tree
from clusterlab_algorithms._neighbors.metric import Metric, max_tile_pairs
from clusterlab_algorithms._shared.blocks import block_rows, row_blocks, rows_per_block
from clusterlab_algorithms._shared.distances import (
    SMALL_DIM,
    coordinatewise,
    pairwise_sq_dists,
    squared_norms,
)
from clusterlab_algorithms._shared.scratch import ScratchBuffers

# In more than SMALL_DIM features, distances come from one GEMM per block, whose
# rounding can reorder nearly equal neighbours: this many extra candidates are kept and
# measured again from coordinate differences.
_EXACT_MARGIN = 4


# Dense n x n matrices an rbf fit holds at once: the affinity and the operator.
DENSE_COPIES = 2


class AffinityTooLarge(MemoryError):
    """The dense ``n x n`` affinity would not fit in the memory budget."""


def rbf_affinity(X: torch.Tensor, gamma: float, budget_bytes: int) -> torch.Tensor:
    """``exp(-gamma * |x_i - x_j|^2)`` for all pairs, as a dense ``n x n`` tensor.

    Raises :class:`AffinityTooLarge` when two such matrices (the affinity, kept as the
    fitted ``affinity_matrix_``, and the normalised operator made from it) exceed
    ``budget_bytes``.
    """
    n = X.shape[0]
    need = DENSE_COPIES * n * n * X.element_size()
    if need > budget_bytes:
        raise AffinityTooLarge(
            f"affinity='rbf' needs {DENSE_COPIES} dense {n} x {n} matrices, "
            f"{need / 2**20:.0f} MiB, "
            f"more than the memory budget of {budget_bytes / 2**20:.0f} MiB "
            "(CLUSTERLAB_MEMORY_BUDGET_MB raises it); use affinity='nearest_neighbors' "
            "for data this large"
        )
    centered = X - X.mean(0)
    norms = squared_norms(centered)
    out = torch.empty((n, n), dtype=X.dtype, device=X.device)
    # The matrices are already counted; each tile's temporary is one block of rows.
    rows = block_rows(n, X.element_size(), max(1, budget_bytes - need), X.device)
    for start, stop in row_blocks(n, rows):
        tile = out[start:stop]
        if X.shape[1] <= SMALL_DIM:
            coordinatewise(centered[start:stop], centered, squared=True, out=tile)
        else:
            tile.copy_(pairwise_sq_dists(centered[start:stop], centered, norms[start:stop], norms))
        tile.mul_(-float(gamma)).exp_()
    return out


def knn_indices(X: torch.Tensor, n_neighbors: int, budget_bytes: int) -> torch.Tensor:
    """Indices (``n x n_neighbors``) of every point's nearest points, itself included.

    Above ``_RADIUS_MIN`` points the project's radius-neighbour search (a grid in up to
    three dimensions, k-d tree leaves otherwise) lists the pairs within a radius ``r``
    estimated from a sample; a point with at least ``n_neighbors`` points within ``r``
    has its nearest ones among them, exactly. Where the pairs within ``r`` would exceed
    the budget a smaller radius is tried; the points left over are searched against all
    points in blocks. On the CPU in few features scipy's k-d tree is the faster search
    and is used instead.
    """
    if use_kd_tree(X):
        return nearest_points(X, n_neighbors)[1]
    n = X.shape[0]
    out = torch.empty((n, n_neighbors), dtype=torch.int64, device=X.device)
    rest = torch.arange(n, device=X.device)
    if n >= _RADIUS_MIN:
        for radius in _sample_radii(X, n_neighbors, budget_bytes):
            found = _radius_knn(X, n_neighbors, radius, budget_bytes) if radius > 0 else None
            if found is not None:
                index, ok = found
                out[ok] = index[ok]
                rest = torch.nonzero(~ok).flatten()
                break
    if rest.numel():
        out[rest] = _brute_knn(X, rest, n_neighbors, budget_bytes)
    return out


# Below this many points the blocked search over all pairs is as fast as a pruned one.
_RADIUS_MIN = 4096
# Points sampled to estimate the radius, and the quantiles of their n_neighbors-th
# distance tried, largest first: the points beyond it are searched in full, few for the
# first (and for data of even density, the fastest), more for the smaller radii that
# data of very uneven density need to keep their pairs within the budget.
_RADIUS_SAMPLE = 512
_RADIUS_QUANTILES = (0.98, 0.9, 0.7, 0.5)
_BRUTE_BLOCK_BYTES = 32 * 2**20
# Bytes held per listed pair: positions and distance in both directions, and sorting.
_BYTES_PER_PAIR = 64


def _sample_radii(X: torch.Tensor, n_neighbors: int, budget_bytes: int) -> list[float]:
    """Radii holding ``n_neighbors`` points around most points, one per quantile."""
    n = X.shape[0]
    # Evenly spaced rows: deterministic, and data come in any order.
    sample = torch.linspace(0, n - 1, min(n, _RADIUS_SAMPLE), device=X.device).long()
    index = _brute_knn(X, sample, n_neighbors, budget_bytes)
    kth = X[index[:, -1]] - X[sample]
    dist = torch.linalg.vector_norm(kth, dim=1).to(torch.float64)
    levels = torch.tensor(_RADIUS_QUANTILES, dtype=torch.float64, device=X.device)
    return torch.quantile(dist, levels).tolist()


def _radius_knn(
    X: torch.Tensor, n_neighbors: int, radius: float, budget_bytes: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The nearest points among those within ``radius``, and which rows have enough.

    ``None`` when the pairs within ``radius`` would not fit in the budget.
    """
    n = X.shape[0]
    device = X.device
    measure = Metric("euclidean", radius, X.shape[1])
    lattice = Lattice(X, radius) if grid_applies(measure, X.shape[1]) else None
    pairs: GridPairs | BlockPairs
    if lattice is not None and lattice.fits:
        pairs = GridPairs(
            measure.prepare(X, None), measure, lattice, chunk_pairs(budget_bytes, device)
        )
    else:
        max_pairs = max_tile_pairs(budget_bytes, X.dtype, device)
        pairs = BlockPairs(
            measure.prepare(X, X.mean(0)),
            measure,
            max_pairs,
            ScratchBuffers(device),
            blocks=n >= MIN_POINTS,
        )
    limit = max(1, budget_bytes // _BYTES_PER_PAIR)
    firsts, seconds, scores = [], [], []
    listed = 0
    for chunk in pairs.chunks():
        listed += chunk.first.numel()
        if listed > limit:
            return None
        firsts.append(chunk.first)
        seconds.append(chunk.second)
        scores.append(pairs.score(chunk.first, chunk.second))
    positions = torch.arange(n, device=device)
    first = torch.cat([*firsts, *seconds, positions])
    second = torch.cat([*seconds, *firsts, positions])
    # Each point is its own nearest, at distance zero.
    score = torch.cat([*scores, *scores, torch.zeros(n, dtype=X.dtype, device=device)])
    del firsts, seconds, scores
    # Lay each point's candidates out in a row of a padded matrix (one integer sort
    # groups them) and take the row's nearest; a point with more candidates than a row
    # holds is left to the full search.
    counts = torch.bincount(first, minlength=n)
    width = min(int(counts.max()), max(n_neighbors, limit // max(1, n)))
    order = torch.argsort(first)
    first, second, score = first[order], second[order], score[order]
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(first.numel(), device=device) - starts[first]
    fits = slot < width
    padded = torch.full((n, width), torch.inf, dtype=X.dtype, device=device)
    padded[first[fits], slot[fits]] = score[fits]
    _, nearest = torch.topk(padded, n_neighbors, dim=1, largest=False, sorted=True)
    del padded
    take = (starts[:, None] + nearest).clamp_(max=max(0, first.numel() - 1))
    heavy = counts > width
    if bool(heavy.any()):
        # Points in dense regions: their candidates sorted by distance, then by point.
        mine = torch.nonzero(heavy[first]).flatten()
        by_score = mine[torch.argsort(score[mine], stable=True)]
        grouped = by_score[torch.argsort(first[by_score], stable=True)]
        rows = torch.nonzero(heavy).flatten()
        heavy_starts = torch.cumsum(counts[rows], 0) - counts[rows]
        picks = heavy_starts[:, None] + torch.arange(n_neighbors, device=device)[None, :]
        take[rows] = grouped[picks]
    ok_at = counts >= n_neighbors
    second = second[take]
    ids = pairs.ids
    index = torch.empty((n, n_neighbors), dtype=torch.int64, device=device)
    index[ids] = ids[second]
    ok = torch.empty_like(ok_at)
    ok[ids] = ok_at
    return index, ok


def _brute_knn(
    X: torch.Tensor, queries: torch.Tensor, n_neighbors: int, budget_bytes: int
) -> torch.Tensor:
    """The nearest points of the rows ``queries`` among all points, in blocks of rows."""
    n = X.shape[0]
    direct = X.shape[1] <= SMALL_DIM
    centered = X - X.mean(0)
    norms = None if direct else squared_norms(centered)
    k = min(n, n_neighbors if direct else n_neighbors + _EXACT_MARGIN)
    # A block holds its distances and topk's working copy. Blocks far larger than the
    # cache are still worth it here: each is a few whole-block passes, and blocks of a
    # few rows cost more in per-operation overhead than in memory traffic.
    rows = rows_per_block(n, 2 * X.element_size(), min(budget_bytes, _BRUTE_BLOCK_BYTES))
    out = torch.empty((queries.numel(), n_neighbors), dtype=torch.int64, device=X.device)
    for start, stop in row_blocks(queries.numel(), rows):
        ids = queries[start:stop]
        q = centered[ids]
        if direct:
            dist = coordinatewise(q, centered, squared=True)
        else:
            assert norms is not None
            dist = pairwise_sq_dists(q, centered, norms[ids], norms)
        # Each point's own distance is exactly zero, as a tree search finds it.
        dist[torch.arange(stop - start, device=X.device), ids] = 0
        _, index = torch.topk(dist, k, dim=1, largest=False, sorted=direct)
        if not direct:
            diff = X[index] - X[ids].unsqueeze(1)
            exact = diff.mul_(diff).sum(-1)
            exact[index == ids[:, None]] = -1.0
            order = torch.argsort(exact, dim=1, stable=True)
            index = torch.gather(index, 1, order)
        out[start:stop] = index[:, :n_neighbors]
    return out


def precomputed_knn_indices(D: torch.Tensor, n_neighbors: int, budget_bytes: int) -> torch.Tensor:
    """Indices of the ``n_neighbors`` smallest entries of every row of the distances ``D``."""
    n = D.shape[0]
    rows = block_rows(n, D.element_size(), budget_bytes, D.device)
    out = torch.empty((n, n_neighbors), dtype=torch.int64, device=D.device)
    for start, stop in row_blocks(n, rows):
        _, index = torch.topk(D[start:stop], n_neighbors, dim=1, largest=False, sorted=True)
        out[start:stop] = index
    return out


def connectivity_affinity(index: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``0.5 * (C + C.T)`` of the k-nearest-neighbour connectivity ``C``, sparse COO,
    coalesced.

    As scikit-learn's ``SpectralClustering``: an entry is 1 where both points are among
    each other's neighbours, 0.5 where only one is. On the CPU scipy's sparse sum builds
    it (a merge of sorted rows); elsewhere torch sorts the entries.
    """
    n, k = index.shape
    if index.device.type == "cpu":
        return _scipy_connectivity(index, dtype)
    rows = torch.arange(n, device=index.device).repeat_interleave(k)
    cols = index.reshape(-1)
    values = torch.full((2 * n * k,), 0.5, dtype=dtype, device=index.device)
    both = torch.stack([torch.cat([rows, cols]), torch.cat([cols, rows])])
    return torch.sparse_coo_tensor(both, values, (n, n), check_invariants=False).coalesce()


def _scipy_connectivity(index: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    n, k = index.shape
    numpy_dtype = torch.empty((), dtype=dtype).numpy().dtype
    half = np.full(n * k, 0.5, dtype=numpy_dtype)
    connectivity = sp.csr_matrix(
        (half, index.reshape(-1).numpy(), np.arange(0, n * k + 1, k)), shape=(n, n)
    )
    graph = (connectivity + connectivity.T).tocsr()
    graph.sum_duplicates()  # sorted column indices, one entry per pair
    rows = np.repeat(np.arange(n), np.diff(graph.indptr))
    indices = torch.from_numpy(np.vstack([rows, graph.indices]).astype(np.int64))
    return torch.sparse_coo_tensor(
        indices, torch.from_numpy(graph.data), (n, n), check_invariants=False, is_coalesced=True
    )
