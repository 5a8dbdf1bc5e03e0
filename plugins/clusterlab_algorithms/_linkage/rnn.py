"""Exact ward/complete/average linkage by merging reciprocal nearest neighbours in rounds.

For these *reducible* linkages a pair of clusters that are each other's nearest
neighbour can be merged at once, in any order with other such pairs, and the tree is the
one the greedy algorithm builds (the idea behind the nearest-neighbour chain). Each round
merges every reciprocal pair, vectorised, and updates the distance matrix with the
Lance-Williams formulas. A merge never brings a cluster closer to anyone than its
nearest neighbour was, so only rows whose nearest neighbour was merged need a new
search.

New cluster ``p`` takes the row and column of one of its halves; the other half's row
and column are dead, skipped through an infinite penalty until the matrix is compacted.
Columns are written a block of rows at a time: column by column, every element would
sit on another memory page. (Rewriting the whole matrix compacted in every round, with
the new columns in place, measured slower on a CPU: gathering columns is no cheaper.)
"""

from __future__ import annotations

import numpy as np
import torch

from clusterlab_algorithms._linkage.matrix import lance_williams_
from clusterlab_algorithms._shared.scratch import ScratchBuffers

# Compact the matrix once fewer than this share of its rows are alive: every search and
# every column write scans the dead ones too.
_COMPACT_SHARE = 0.5
# Rows per block when writing columns: enough to amortise the call, few enough to stay
# in cache.
_COLUMN_BLOCK = 512


class _State:
    """The matrix, what each of its rows stands for, and each row's nearest neighbour."""

    def __init__(self, D: torch.Tensor, budget_bytes: int) -> None:
        n = D.shape[0]
        device, dtype = D.device, D.dtype
        self.buffer = D.view(-1)
        self.m = n
        self.rep = torch.arange(n, device=device)  # a sample of each row's cluster
        # Dead rows keep size 1 so that Lance-Williams never multiplies 0 by infinity.
        self.size = torch.ones(n, dtype=dtype, device=device)
        self.penalty = torch.zeros(n, dtype=dtype, device=device)  # inf: dead row
        self.nn_dist = torch.empty(n, dtype=dtype, device=device)
        self.nn = torch.empty(n, dtype=torch.int64, device=device)
        self.ws = ScratchBuffers(device)
        self.budget = budget_bytes

    @property
    def D(self) -> torch.Tensor:
        return self.buffer[: self.m * self.m].view(self.m, self.m)

    def rows_fitting(self, copies: int) -> int:
        """Rows of the matrix of which ``copies`` copies fit in the memory budget."""
        return max(1, self.budget // (copies * self.m * self.buffer.element_size()))


def reciprocal_merges(
    D: torch.Tensor, method: str, budget_bytes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ``n - 1`` merges of the clusters of distance matrix ``D`` (overwritten).

    Returns, per merge, a sample of each merged cluster and the merge distance (in the
    matrix's form: squared for ward), in the order they happened.
    """
    state = _State(D, budget_bytes)
    _nearest(state, torch.arange(state.m, device=D.device))
    firsts, seconds, heights = [], [], []
    alive = state.m
    while alive > 1:
        i_pos, j_pos = _reciprocal_pairs(state)
        if i_pos.numel() == 0:
            # Stale neighbours tied with a newer cluster can form a cycle; a full search
            # with first-index ties (on a bitwise symmetric matrix) cannot.
            _nearest(state, torch.nonzero(state.penalty == 0).flatten())
            i_pos, j_pos = _reciprocal_pairs(state)
            if i_pos.numel() == 0:
                raise RuntimeError("no reciprocal nearest neighbours: distance matrix is corrupt")
        # Pairs left for later stay reciprocal: merges elsewhere never come closer.
        cap = state.rows_fitting(3)
        i_pos, j_pos = i_pos[:cap], j_pos[:cap]
        firsts.append(state.rep[i_pos])
        seconds.append(state.rep[j_pos])
        heights.append(state.nn_dist[i_pos])
        alive -= i_pos.numel()
        _merge(state, method, i_pos, j_pos)
        if should_compact(alive, state.m):
            _compact(state)
    return (
        torch.cat(firsts).cpu().numpy(),
        torch.cat(seconds).cpu().numpy(),
        torch.cat(heights).cpu().numpy(),
    )


def should_compact(alive: int, rows: int) -> bool:
    """Whether to drop the dead rows and columns now."""
    return alive > 1 and alive < _COMPACT_SHARE * rows


def _reciprocal_pairs(state: _State) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``i < j`` that are each other's nearest neighbour, among live rows."""
    index = torch.arange(state.m, device=state.nn.device)
    live = state.penalty == 0
    mutual = live & (state.nn[state.nn] == index) & (index < state.nn)
    i_pos = torch.nonzero(mutual).flatten()
    return i_pos, state.nn[i_pos]


def _nearest(state: _State, rows: torch.Tensor) -> None:
    """Recompute the nearest live neighbour of ``rows`` (first index on ties)."""
    D = state.D
    block = state.rows_fitting(2)
    for start in range(0, rows.numel(), block):
        chunk = rows[start : start + block]
        scratch = state.ws.get("nearest", (chunk.numel(), state.m), D.dtype)
        torch.index_select(D, 0, chunk, out=scratch).add_(state.penalty)
        state.nn_dist[chunk], state.nn[chunk] = scratch.min(1)


def _between_new(
    state: _State,
    method: str,
    i_pos: torch.Tensor,
    j_pos: torch.Tensor,
    to_i: torch.Tensor,
    to_j: torch.Tensor,
) -> torch.Tensor:
    """Distances between the new clusters of one round, symmetric, ``inf`` on the diagonal.

    ``to_i[p, q]`` and ``to_j[p, q]`` are the distances from new cluster ``p`` to the two
    halves of new cluster ``q``; a second Lance-Williams step joins those halves.
    """
    d_ij = state.nn_dist[i_pos][None, :]
    n_i = state.size[i_pos]
    n_j = state.size[j_pos]
    # to_i is a copy (advanced indexing), so the update may overwrite it.
    cross = lance_williams_(
        method,
        to_i,
        to_j,
        d_ij,
        n_i[None, :],
        n_j[None, :],
        (n_i + n_j)[:, None],
        scratch=torch.empty_like(to_i),
    )
    upper = torch.ones_like(cross, dtype=torch.bool).triu_(1)
    cross = torch.where(upper, cross, cross.T)
    return cross.fill_diagonal_(torch.inf)


def _merge(state: _State, method: str, i_pos: torch.Tensor, j_pos: torch.Tensor) -> None:
    """Merge each pair ``(i_pos[p], j_pos[p])`` into row and column ``i_pos[p]``."""
    D, ws = state.D, state.ws
    n_pairs, m = i_pos.numel(), state.m
    new = torch.index_select(D, 0, i_pos, out=ws.get("rows_i", (n_pairs, m), D.dtype))
    rows_j = torch.index_select(D, 0, j_pos, out=ws.get("rows_j", (n_pairs, m), D.dtype))
    lance_williams_(
        method,
        new,
        rows_j,
        state.nn_dist[i_pos][:, None],
        state.size[i_pos][:, None],
        state.size[j_pos][:, None],
        state.size[None, :],
        scratch=ws.get("scratch", (n_pairs, m), D.dtype),
    )
    new[:, i_pos] = _between_new(state, method, i_pos, j_pos, new[:, i_pos], new[:, j_pos])
    new[:, j_pos] = torch.inf
    D.index_copy_(0, i_pos, new)
    columns = ws.get("columns", (m, n_pairs), D.dtype)
    columns.copy_(new.T)
    for start in range(0, m, _COLUMN_BLOCK):
        stop = min(start + _COLUMN_BLOCK, m)
        D[start:stop].index_copy_(1, i_pos, columns[start:stop])
    state.size[i_pos] += state.size[j_pos]
    state.size[j_pos] = 1.0
    state.penalty[j_pos] = torch.inf
    merged = torch.zeros(m, dtype=torch.bool, device=D.device)
    merged[i_pos] = True
    merged[j_pos] = True
    stale = (merged[state.nn] | merged) & (state.penalty == 0)
    _nearest(state, torch.nonzero(stale).flatten())


def _compact(state: _State) -> None:
    """Drop dead rows and columns, writing the smaller matrix over the start of the old one.

    Row ``r`` of the new matrix ends before old row ``kept[r + 1]`` begins, so no row is
    overwritten before it has been read.
    """
    D = state.D
    kept = torch.nonzero(state.penalty == 0).flatten()
    n_kept = kept.numel()
    block = state.rows_fitting(1)
    for start in range(0, n_kept, block):
        rows = kept[start : start + block]
        scratch = state.ws.get("compact", (rows.numel(), state.m), D.dtype)
        torch.index_select(D, 0, rows, out=scratch)
        target = state.buffer[start * n_kept : (start + rows.numel()) * n_kept]
        torch.index_select(scratch, 1, kept, out=target.view(rows.numel(), n_kept))
    new_position = torch.full((state.m,), -1, dtype=torch.int64, device=D.device)
    new_position[kept] = torch.arange(n_kept, device=D.device)
    state.nn = new_position[state.nn[kept]]
    state.nn_dist = state.nn_dist[kept]
    state.rep = state.rep[kept]
    state.size = state.size[kept]
    state.penalty = torch.zeros(n_kept, dtype=D.dtype, device=D.device)
    state.m = n_kept
