"""A uniform grid of cells of side ``eps`` for radius-neighbour tiles in low dimensions.

Points are sorted by cell, with the first coordinate varying fastest, so the cells
``(c0 - 1 .. c0 + 1, r)`` of one *row* ``r`` (all other coordinates fixed) are one
contiguous range of the sorted data. A query cell's neighbours are then ``3^(d-1)``
ranges, and a tile is a group of query cells (split when one cell alone is too big)
compared densely with the union of their ranges. Euclidean and manhattan balls both lie
inside the ``3^d`` neighbouring cells, so no neighbour is missed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import torch

from clusterlab_algorithms._neighbors import Metric, Tile, Workspace

# Beyond three features the 3^d neighbouring cells cost more than they save.
GRID_MAX_DIM = 3
# Cell keys must stay well inside int64.
_MAX_KEY = 1 << 62
# Cells a little wider than eps keep pairs at distance exactly eps within one cell step
# despite rounding in the cell coordinates.
_SIDE_SLACK = 1e-9
# Below this many pairs the fixed cost of a tile (a few hundred microseconds of
# dispatch) outweighs the wasted comparisons of joining query cells.
_SMALL_TILE_PAIRS = 1 << 16


class Lattice:
    """The cell geometry shared by every point set of one fit: origin, side, key strides."""

    def __init__(self, X: torch.Tensor, eps: float) -> None:
        X64 = X.to(torch.float64)
        self.origin = X64.min(0).values
        self.side = float(eps) * (1.0 + _SIDE_SLACK)
        extent = torch.floor((X64.max(0).values - self.origin) / self.side).to(torch.int64) + 1
        # One empty cell of padding on each side so that offsets -1 and +1 never wrap.
        widths = (extent + 2).tolist()
        strides = [1]
        for width in widths[:-1]:
            strides.append(strides[-1] * width)
        self.widths = widths
        self.strides = strides
        self.fits = float(np.prod(np.asarray(widths, dtype=np.float64))) < _MAX_KEY

    def keys(self, X: torch.Tensor) -> torch.Tensor:
        """Cell key of each point: ``sum((cell_k + 1) * stride_k)``."""
        cells = torch.floor((X.to(torch.float64) - self.origin) / self.side).to(torch.int64) + 1
        strides = torch.tensor(self.strides, dtype=torch.int64, device=X.device)
        return (cells * strides).sum(1)

    def row_offsets(self) -> np.ndarray:
        """Key offsets of the ``3^(d-1)`` neighbouring rows, ascending."""
        steps = [(-s, 0, s) for s in self.strides[1:]]
        return np.asarray(sorted(sum(combo) for combo in itertools.product(*steps)) or [0])


def grid_applies(metric: Metric, n_features: int) -> bool:
    """Whether a grid pays off for this metric and dimension (the lattice must also fit)."""
    return metric.name in ("euclidean", "manhattan") and n_features <= GRID_MAX_DIM


class GridIndex:
    """Data points sorted by cell; tiles compare query cells with their neighbouring cells."""

    def __init__(
        self,
        data: torch.Tensor,
        data_ids: torch.Tensor,
        metric: Metric,
        lattice: Lattice,
        max_pairs: int,
        ws: Workspace,
    ) -> None:
        self.metric = metric
        self.ws = ws
        self.lattice = lattice
        self.max_pairs = max_pairs
        keys = lattice.keys(data)
        order = torch.argsort(keys, stable=True)
        self.data = data[order]
        self.data_ids = data_ids[order]
        self.keys_np = keys[order].cpu().numpy()

    def tiles(self, queries: torch.Tensor, query_ids: torch.Tensor) -> Iterator[Tile]:
        """Yield tiles covering ``queries`` (prepared points) against their neighbouring cells.

        Queries with no data point in any neighbouring cell appear in no tile.
        """
        if queries.shape[0] == 0 or self.data.shape[0] == 0:
            return
        keys = self.lattice.keys(queries)
        order = torch.argsort(keys, stable=True)
        queries = queries[order]
        query_ids = query_ids[order]
        device = queries.device
        for q_start, q_stop, positions in self._plan(keys[order].cpu().numpy()):
            if positions.size == 0:
                continue  # no data near these queries: they have no neighbours
            cand = torch.from_numpy(positions).to(device)
            scores, within = self.metric.compare(queries[q_start:q_stop], self.data[cand], self.ws)
            yield Tile(query_ids[q_start:q_stop], self.data_ids[cand], scores, within)

    def _plan(self, query_keys: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
        """Group sorted query keys into tiles: (query slice, candidate positions) each."""
        cell_start = np.concatenate(([0], np.flatnonzero(query_keys[1:] != query_keys[:-1]) + 1))
        cell_stop = np.append(cell_start[1:], query_keys.size)
        cell_keys = query_keys[cell_start]
        offsets = self.lattice.row_offsets()
        # Candidate ranges of each query cell: one per neighbouring row, cells c0-1..c0+1.
        low_keys = cell_keys[:, None] + offsets[None, :] - 1
        lo = np.searchsorted(self.keys_np, low_keys, side="left")
        hi = np.searchsorted(self.keys_np, low_keys + 2, side="right")
        n_cand = (hi - lo).sum(1)
        pieces = _split_cells(cell_start, cell_stop, n_cand, self.max_pairs)
        for first, last, q_start, q_stop in _group_pieces(pieces, n_cand, self.max_pairs):
            yield q_start, q_stop, _merged_positions(lo[first : last + 1], hi[first : last + 1])


def _split_cells(
    start: np.ndarray, stop: np.ndarray, n_cand: np.ndarray, max_pairs: int
) -> list[tuple[int, int, int]]:
    """Pieces ``(cell, q_start, q_stop)``: a cell whose block alone is too big is cut in rows."""
    rows_allowed = np.maximum(1, max_pairs // np.maximum(1, n_cand))
    pieces: list[tuple[int, int, int]] = []
    for cell, (a, b, step) in enumerate(
        zip(start.tolist(), stop.tolist(), rows_allowed.tolist(), strict=True)
    ):
        if b - a <= step:
            pieces.append((cell, a, b))
        else:
            pieces.extend((cell, s, min(s + step, b)) for s in range(a, b, step))
    return pieces


def _group_pieces(
    pieces: list[tuple[int, int, int]], n_cand: np.ndarray, max_pairs: int
) -> Iterator[tuple[int, int, int, int]]:
    """Join consecutive pieces into tiles: ``(first cell, last cell, q_start, q_stop)`` each.

    A joined tile compares every query with the candidates of every cell in it, so it
    does more work than its cells would alone. Joining pays only while tiles are small
    (the fixed cost per tile dominates) or the extra work stays below the useful work.
    The candidate count of a tile is over-estimated by a sum (neighbouring cells share
    ranges), which only makes tiles smaller. A cut cell is never joined with another.
    """
    cand = n_cand.tolist()
    limit_small = min(max_pairs, _SMALL_TILE_PAIRS)
    first_cell, q_start, q_stop = pieces[0]
    last_cell = first_cell
    n_q, n_c = q_stop - q_start, cand[first_cell]
    useful = n_q * n_c
    for cell, a, b in pieces[1:]:
        pairs = (n_q + b - a) * (n_c + cand[cell])
        needed = useful + (b - a) * cand[cell]
        joinable = cell != last_cell and pairs <= max(limit_small, min(max_pairs, 2 * needed))
        if joinable:
            last_cell, q_stop = cell, b
            n_q += b - a
            n_c += cand[cell]
            useful = needed
            continue
        yield first_cell, last_cell, q_start, q_stop
        first_cell = last_cell = cell
        q_start, q_stop = a, b
        n_q, n_c = b - a, cand[cell]
        useful = n_q * n_c
    yield first_cell, last_cell, q_start, q_stop


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
