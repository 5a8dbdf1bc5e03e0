"""The full distance matrix that exact ward/complete/average linkage works on, and its updates."""

from __future__ import annotations

import torch

from clusterlab_algorithms._shared.blocks import row_blocks
from clusterlab_algorithms._shared.distances import SMALL_DIM, coordinatewise
from clusterlab_algorithms._shared.scratch import ScratchBuffers
from clusterlab_algorithms._shared.threads import block_workers

# Ward works on squared euclidean distances: its Lance-Williams update is linear in them.
SQUARED = {"ward": True, "complete": False, "average": False}
_MAX_TILE_SIDE = 512


def distance_matrix(X: torch.Tensor, *, squared: bool, budget_bytes: int) -> torch.Tensor:
    """The ``n x n`` euclidean (or squared) distance matrix with ``inf`` on the diagonal.

    Built tile by tile, each tile written together with its transpose, so the matrix
    is symmetric bit for bit (the merge loop relies on it to break ties consistently);
    on the CPU the rows of tiles are spread over threads (see ``_shared.threads``).
    Few features use coordinate differences; more use one GEMM per tile on centred data.
    Tiles are computed in float64 whatever the matrix's dtype: in float32 the GEMM form
    loses more of the smallest distances than the heights may differ from scipy's.
    """
    n, n_features = X.shape
    D = torch.empty((n, n), dtype=X.dtype, device=X.device)
    dtype = torch.float64
    # Small tiles keep the transposed copy in cache; larger ones gain nothing.
    side = max(1, min(_MAX_TILE_SIDE, int((budget_bytes / (4 * 8)) ** 0.5)))
    direct = n_features <= SMALL_DIM
    X = X.to(torch.float64)
    Xc = X if direct else X - X.mean(0)
    norms = (Xc * Xc).sum(1)

    def row_of_tiles(r0: int, r1: int) -> None:
        # The tiles right of the diagonal in rows r0:r1, and their mirror images: no
        # other row of tiles writes there, so rows of tiles may run at the same time.
        ws = ScratchBuffers(X.device)
        for c0 in range(r0, n, side):
            c1 = min(c0 + side, n)
            tile = ws.get("tile", (r1 - r0, c1 - c0), dtype)
            if direct:
                scratch = ws.get("scratch", tile.shape, dtype)
                coordinatewise(Xc[r0:r1], Xc[c0:c1], squared=True, out=tile, scratch=scratch)
            else:
                torch.addmm(norms[None, c0:c1], Xc[r0:r1], Xc[c0:c1].T, alpha=-2.0, out=tile)
                tile.add_(norms[r0:r1, None]).clamp_(min=0.0)
            if not squared:
                tile.sqrt_()
            if r0 == c0:
                upper = ws.get("upper", tile.shape, torch.bool)
                upper.fill_(True).triu_(1)
                block = D[r0:r1, c0:c1]
                block.copy_(torch.where(upper, tile, tile.T))
                block.fill_diagonal_(torch.inf)
            else:
                D[r0:r1, c0:c1] = tile
                D[c0:c1, r0:r1] = tile.T

    with block_workers(X.device) as workers:
        workers.map(row_of_tiles, row_blocks(n, side))
    return D


def lance_williams_(
    method: str,
    d_ki: torch.Tensor,
    d_kj: torch.Tensor,
    d_ij: torch.Tensor,
    n_i: torch.Tensor,
    n_j: torch.Tensor,
    n_k: torch.Tensor,
    scratch: torch.Tensor,
) -> torch.Tensor:
    """Distance from cluster ``k`` to the union of clusters ``i`` and ``j``, computed in
    place into ``d_ki`` (broadcasting the others to its shape), ``scratch`` shaped like it.

    ``d_*`` are distances in the matrix's form (squared for ward), ``n_*`` cluster sizes.
    The formulas are scipy's, so heights agree with ``scipy.cluster.hierarchy.linkage``;
    the terms are grouped to need no temporary beyond ``scratch``. Sizes must be
    positive: ward multiplies ``n_k`` by a difference that may be infinite.
    """
    if method == "complete":
        return torch.maximum(d_ki, d_kj, out=d_ki)
    if method == "average":
        return d_ki.mul_(n_i).addcmul_(d_kj, n_j).div_(n_i + n_j)
    if method == "ward":
        # (n_i + n_k) a + (n_j + n_k) b - n_k c  ==  n_i a + n_j b + n_k (a + b - c)
        torch.add(d_ki, d_kj, out=scratch).sub_(d_ij).mul_(n_k)
        d_ki.mul_(n_i).addcmul_(d_kj, n_j).add_(scratch)
        torch.add(n_i + n_j, n_k, out=scratch)
        return d_ki.div_(scratch)
    raise ValueError(f"no Lance-Williams update for linkage {method!r}")
