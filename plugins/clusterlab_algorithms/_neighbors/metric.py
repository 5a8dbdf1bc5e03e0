"""Radius neighbours: the metrics, their neighbour test, and the chunks of pairs found.

Two sources list the pairs of points within ``eps``, each pair once, in chunks of
bounded size: :mod:`.grid` in up to three dimensions, :mod:`.blocks` (dense ``Q x C``
blocks of nearby k-d tree leaves) otherwise.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from clusterlab_algorithms._shared.distances import SMALL_DIM, coordinatewise
from clusterlab_algorithms._shared.scratch import ScratchBuffers

METRICS = ("euclidean", "cosine", "manhattan")
# Bytes a block needs per (query, candidate) pair: distances, a scratch block and the
# mask, with room to spare for the listed pairs and the allocator.
BYTES_PER_PAIR = {torch.float32: 32, torch.float64: 48}
# Large tiles mean few operations, each worth its fixed cost (and, with several
# threads, its synchronisation); 4 Mi pairs stay well inside the default budget.
CPU_MAX_PAIRS = 1 << 20
CUDA_MAX_PAIRS = 1 << 26


class PairChunk(NamedTuple):
    """Pairs of points within ``eps``, as positions in the pair source's order.

    ``first < second`` in every pair, and every unordered pair comes once over all
    chunks.
    """

    first: torch.Tensor
    second: torch.Tensor


def max_tile_pairs(budget_bytes: int, dtype: torch.dtype, device: torch.device) -> int:
    """How many (query, candidate) pairs one tile may hold within ``budget_bytes``."""
    pairs = max(1, budget_bytes // BYTES_PER_PAIR[dtype])
    cap = CUDA_MAX_PAIRS if device.type == "cuda" else CPU_MAX_PAIRS
    return min(pairs, cap)


class Metric:
    """A distance, its neighbour test, and a cheap score that orders neighbours by it."""

    def __init__(self, name: str, eps: float, n_features: int) -> None:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; use one of {', '.join(METRICS)}")
        self.name = name
        self.eps = float(eps)
        self.direct = n_features <= SMALL_DIM and name != "cosine"
        # Squared euclidean distances avoid a square root per pair.
        self.radius = self.eps * self.eps if name == "euclidean" else self.eps

    def prepare(self, X: torch.Tensor, center: torch.Tensor | None) -> torch.Tensor:
        """Transform points once so that ``compare`` is cheap and accurate.

        Cosine normalises rows (zero rows stay zero, as scikit-learn's ``normalize``);
        a GEMM-based euclidean distance subtracts ``center`` so that the cancellation in
        ``|x|^2 + |y|^2 - 2 x.y`` happens on small numbers.
        """
        if self.name == "cosine":
            norms = torch.linalg.vector_norm(X, dim=1, keepdim=True)
            return X / torch.where(norms == 0, torch.ones_like(norms), norms)
        if self.name == "euclidean" and not self.direct and center is not None:
            return X - center
        return X

    def compare(
        self,
        q: torch.Tensor,
        c: torch.Tensor,
        ws: ScratchBuffers,
        c_sq: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores and neighbour mask of the prepared points ``q`` against ``c``.

        ``scores[i, j]`` orders the candidates of query ``i`` by distance (it may be
        shifted by a constant per row); ``within[i, j]`` says whether the distance is at
        most ``eps``. Both live in ``ws`` and are valid until the next call. ``c_sq`` may
        give the squared norms of ``c`` when the caller keeps them.
        """
        scores = ws.get("dist", (q.shape[0], c.shape[0]), q.dtype)
        within = ws.get("within", scores.shape, torch.bool)
        if self.direct:
            scratch = ws.get("dist_scratch", scores.shape, q.dtype)
            squared = self.name == "euclidean"
            coordinatewise(q, c, squared=squared, out=scores, scratch=scratch)
            return scores, torch.le(scores, self.radius, out=within)
        if self.name == "cosine":
            # 1 - q.c <= eps  <=>  -q.c <= eps - 1
            torch.mm(q, c.T, out=scores).neg_()
            return scores, torch.le(scores, self.eps - 1.0, out=within)
        if self.name == "euclidean":
            # |q|^2 + |c|^2 - 2 q.c <= eps^2  <=>  |c|^2 - 2 q.c <= eps^2 - |q|^2
            if c_sq is None:
                c_sq = (c * c).sum(1)
            torch.addmm(c_sq[None, :], q, c.T, alpha=-2.0, out=scores)
            limit = (self.radius - (q * q).sum(1))[:, None]
            return scores, torch.le(scores, limit, out=within)
        scores.copy_(torch.cdist(q, c, p=1.0))
        return scores, torch.le(scores, self.eps, out=within)
