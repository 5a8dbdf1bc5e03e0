"""Affinities: the rbf kernel in tiles within a budget, and k-nearest-neighbour graphs.

The neighbour graphs are sparse (``n * n_neighbors`` entries, never ``n x n``); the rbf
affinity is dense by nature, built tile by tile so that no temporary exceeds the memory
budget, and refused when the ``n x n`` result itself would not fit in it.
"""

from __future__ import annotations

import torch

from clusterlab_algorithms._shared.blocks import block_rows, row_blocks
from clusterlab_algorithms._shared.distances import (
    SMALL_DIM,
    coordinatewise,
    pairwise_sq_dists,
    squared_norms,
)

# In more than SMALL_DIM features, distances come from one GEMM per block, whose
# rounding can reorder nearly equal neighbours: this many extra candidates are kept and
# measured again from coordinate differences.
_EXACT_MARGIN = 4


class AffinityTooLarge(MemoryError):
    """The dense ``n x n`` affinity would not fit in the memory budget."""


def rbf_affinity(X: torch.Tensor, gamma: float, budget_bytes: int) -> torch.Tensor:
    """``exp(-gamma * |x_i - x_j|^2)`` for all pairs, as a dense ``n x n`` tensor.

    Raises :class:`AffinityTooLarge` when the matrix alone exceeds ``budget_bytes``.
    """
    n = X.shape[0]
    need = n * n * X.element_size()
    if need > budget_bytes:
        raise AffinityTooLarge(
            f"affinity='rbf' needs a dense {n} x {n} matrix of {need / 2**20:.0f} MiB, "
            f"more than the memory budget of {budget_bytes / 2**20:.0f} MiB "
            "(CLUSTERLAB_MEMORY_BUDGET_MB raises it); use affinity='nearest_neighbors' "
            "for data this large"
        )
    centered = X - X.mean(0)
    norms = squared_norms(centered)
    out = torch.empty((n, n), dtype=X.dtype, device=X.device)
    # The output is already counted; each tile's temporary is one block of rows.
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

    Rows are compared against all points in blocks within ``budget_bytes``; in more than
    ``SMALL_DIM`` features the GEMM's candidates are measured again exactly.
    """
    n = X.shape[0]
    direct = X.shape[1] <= SMALL_DIM
    centered = X - X.mean(0)
    norms = None if direct else squared_norms(centered)
    k = min(n, n_neighbors if direct else n_neighbors + _EXACT_MARGIN)
    # A block holds its distances and topk's working copy.
    rows = block_rows(n, 2 * X.element_size(), budget_bytes, X.device)
    out = torch.empty((n, n_neighbors), dtype=torch.int64, device=X.device)
    for start, stop in row_blocks(n, rows):
        q = centered[start:stop]
        if direct:
            dist = coordinatewise(q, centered, squared=True)
        else:
            assert norms is not None
            dist = pairwise_sq_dists(q, centered, norms[start:stop], norms)
        # Each point's own distance is exactly zero, as a tree search finds it.
        dist[
            torch.arange(stop - start, device=X.device), torch.arange(start, stop, device=X.device)
        ] = 0
        _, index = torch.topk(dist, k, dim=1, largest=False, sorted=direct)
        if not direct:
            diff = X[index] - X[start:stop].unsqueeze(1)
            exact = diff.mul_(diff).sum(-1)
            exact[index == torch.arange(start, stop, device=X.device)[:, None]] = -1.0
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
    """``0.5 * (C + C.T)`` of the k-nearest-neighbour connectivity ``C``, sparse COO.

    As scikit-learn's ``SpectralClustering``: an entry is 1 where both points are among
    each other's neighbours, 0.5 where only one is.
    """
    n, k = index.shape
    rows = torch.arange(n, device=index.device).repeat_interleave(k)
    cols = index.reshape(-1)
    values = torch.full((2 * n * k,), 0.5, dtype=dtype, device=index.device)
    both = torch.stack([torch.cat([rows, cols]), torch.cat([cols, rows])])
    return torch.sparse_coo_tensor(both, values, (n, n), check_invariants=False).coalesce()
