"""Every pair of points within ``eps`` in low dimensions, listed once, from a grid of cells.

Points are sorted by the cell of side ``eps`` they fall in, with the first coordinate
varying fastest, so the cells ``(c0 - 1 .. c0 + 1, r)`` of one *row* ``r`` (all other
coordinates fixed) are one contiguous range of the sorted points. Euclidean and
manhattan balls of radius ``eps`` lie inside the ``3^d`` neighbouring cells, so a
point's neighbours lie in ``3^(d-1)`` ranges. Each unordered pair is taken once: from
the point that comes first in the sorted order, whose later neighbours lie in the rest
of its own row and in the ``(3^(d-1) - 1) / 2`` rows with larger keys.

Candidate pairs are generated, measured and filtered in chunks of a bounded size, so
the work is the candidate pairs alone (no padding to dense blocks), every operation is
vectorised over a whole chunk, and memory stays ``O(n)`` plus one chunk.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import torch

from clusterlab_algorithms._neighbors.metric import Metric, PairChunk

# Beyond three features the 3^d neighbouring cells cost more than they save.
GRID_MAX_DIM = 3
# Cell keys must stay well inside int64.
_MAX_KEY = 1 << 62
# Cells a little wider than eps keep pairs at distance exactly eps within one cell step
# despite rounding in the cell coordinates.
_SIDE_SLACK = 1e-9
# Bytes one candidate pair takes while a chunk is measured: two int64 positions, the
# index arithmetic that builds them, the gathered coordinates and the mask.
_BYTES_PER_CANDIDATE = 64
# Candidate pairs per chunk. On the CPU a chunk's temporaries (about 8 MB) stay small
# next to scikit-learn's neighbourhoods and a few hundred chunks cost little dispatch.
# A GPU wants bigger launches, but not without limit: all candidates in one chunk are
# fastest but take more GPU memory than scikit-learn takes of host memory; chunks of
# 1 Mi stay below it, and smaller ones are slower again.
CPU_CHUNK_PAIRS = 1 << 17
CUDA_CHUNK_PAIRS = 1 << 20
# On the CPU small inputs are cut into at least this many chunks, of at least
# MIN_CHUNK_PAIRS: a whole-input chunk's temporaries outweigh the few neighbours
# scikit-learn keeps there. A GPU keeps its big launches.
MIN_CHUNKS = 16
MIN_CHUNK_PAIRS = 1 << 14


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


def chunk_pairs(budget_bytes: int, device: torch.device) -> int:
    """Candidate pairs one chunk may hold within ``budget_bytes`` on ``device``."""
    cap = CUDA_CHUNK_PAIRS if device.type == "cuda" else CPU_CHUNK_PAIRS
    return max(1, min(cap, budget_bytes // _BYTES_PER_CANDIDATE))


class GridPairs:
    """The pairs of points within ``eps`` of each other, in chunks; points sorted by cell."""

    def __init__(
        self, points: torch.Tensor, metric: Metric, lattice: Lattice, max_pairs: int
    ) -> None:
        """Sort ``points`` by cell and plan chunks of at most ``max_pairs`` candidate pairs.

        A single point with more candidates than ``max_pairs`` forms a chunk alone.
        """
        self.metric = metric
        device = points.device
        n = points.shape[0]
        keys = lattice.keys(points)
        order = torch.argsort(keys, stable=True)
        keys = keys[order]
        #: Original index of the point at each sorted position.
        self.ids = order
        # One contiguous row per coordinate: a chunk gathers each coordinate separately.
        self._coords = points[order].T.contiguous()
        positions = torch.arange(n, device=device)
        new_cell = torch.ones(n, dtype=torch.bool, device=device)
        new_cell[1:] = keys[1:] != keys[:-1]
        cell_keys = keys[new_cell]
        self._cell_of = torch.cumsum(new_cell, 0) - 1
        # Ranges of later rows, one column per row offset: cells c0-1..c0+1 of that row.
        # Column 0 is the point's own row: it starts after the point itself.
        offsets = lattice.row_offsets()
        later = torch.as_tensor(offsets[offsets > 0], dtype=torch.int64, device=device)
        row_keys = torch.cat([cell_keys[:, None], cell_keys[:, None] + later[None, :]], dim=1)
        self._cell_lo = torch.searchsorted(keys, row_keys - 1, side="left")
        self._cell_hi = torch.searchsorted(keys, row_keys + 1, side="right")
        own_row = self._cell_hi[self._cell_of, 0] - positions - 1
        other_rows = (self._cell_hi - self._cell_lo)[:, 1:].sum(1)[self._cell_of]
        per_point = own_row + other_rows
        ends = torch.cumsum(per_point, 0).cpu().numpy()
        self.n_candidates = int(ends[-1]) if n else 0
        if device.type == "cpu":
            shared = max(MIN_CHUNK_PAIRS, -(-self.n_candidates // MIN_CHUNKS))
            max_pairs = min(max_pairs, shared)
        # Chunk boundaries: the last point whose candidates end within each multiple.
        marks = np.arange(max_pairs, self.n_candidates, max_pairs)
        cuts = np.searchsorted(ends, marks, side="right")
        bounds = np.unique(np.concatenate(([0], cuts, [n])))
        # A point heavier than a whole chunk sits between two equal cuts: keep it alone.
        self._bounds = bounds
        self._ends = ends
        self._per_point = per_point

    def chunks(self) -> Iterator[PairChunk]:
        """Yield the pairs within ``eps``, every unordered pair exactly once."""
        bounds = self._bounds.tolist()
        for a, b in itertools.pairwise(bounds):
            if b > a:
                yield self._chunk(a, b)

    def _chunk(self, a: int, b: int) -> PairChunk:
        device = self._coords.device
        total = int(self._ends[b - 1] - (self._ends[a - 1] if a > 0 else 0))
        rows = torch.arange(a, b, device=device)
        cells = self._cell_of[a:b]
        lo = self._cell_lo[cells]
        lo[:, 0] = rows + 1
        hi = self._cell_hi[cells]
        lengths = (hi - lo).clamp_min_(0).flatten()
        lo = lo.flatten()
        # Candidate k of a range starting at lo, whose first candidate is pair number s,
        # is pair number s + k: so each pair's position is its number plus (lo - s).
        first_pair = torch.cumsum(lengths, 0) - lengths
        second = torch.repeat_interleave(lo - first_pair, lengths, output_size=total)
        second += torch.arange(total, device=device)
        first = torch.repeat_interleave(rows, self._per_point[a:b], output_size=total)
        within = torch.le(self.score(first, second), self.metric.radius)
        return PairChunk(first[within], second[within])

    def score(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Squared euclidean (or manhattan) distances of the pairs at these positions.

        Summed feature by feature: the terms and their order are those of the
        neighbour test, so a pair compares with ``eps`` as it was listed.
        """
        squared = self.metric.name == "euclidean"
        score: torch.Tensor | None = None
        for column in self._coords:
            term = column[first] - column[second]
            term = term.mul_(term) if squared else term.abs_()
            score = term if score is None else score.add_(term)
        assert score is not None
        return score
