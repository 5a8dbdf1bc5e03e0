"""Core distances and the minimum spanning tree of the mutual-reachability graph.

The mutual-reachability distance of two points is ``max(core_a, core_b, d(a, b) /
alpha)``, where a point's core distance is the distance to its ``min_samples``-th
nearest neighbour (itself counted, as scikit-learn counts it). Neither step builds an
``n x n`` matrix: both go over blocks of rows against all points, each block within the
device's memory budget, so memory is ``O(n d)`` plus one block.

The tree grows by Borůvka's rounds: every round each point finds its nearest point of
another component in mutual reachability, each component keeps its shortest such edge,
and the components join along them, at least halving their number. A round is a few
large launches per block and no host synchronisation inside the block loop, which suits
a GPU as it suits the CPU's vector units.
"""

from __future__ import annotations

import torch

from clusterlab_algorithms._linkage.single import boruvka_tree
from clusterlab_algorithms._shared.blocks import block_rows, row_blocks
from clusterlab_algorithms._shared.distances import SMALL_DIM, coordinatewise, squared_norms

# In more than SMALL_DIM features, block distances come from one GEMM, whose rounding can
# reorder nearly equal neighbours: this many extra candidates are kept and measured again
# from coordinate differences.
_EXACT_MARGIN = 4


class Points:
    """Points prepared for blocked squared euclidean distances (coordinates or one GEMM)."""

    def __init__(self, X: torch.Tensor) -> None:
        self.X = X
        self.direct = X.shape[1] <= SMALL_DIM
        # Centred data keep the GEMM's cancellation on small numbers.
        self.centered = X if self.direct else X - X.mean(0)
        self.norms = None if self.direct else squared_norms(self.centered)

    def block(self, start: int, stop: int) -> torch.Tensor:
        """Squared distances of rows ``start:stop`` to every point (``rows x n``)."""
        q = self.centered[start:stop]
        if self.direct:
            return coordinatewise(q, self.centered, squared=True)
        assert self.norms is not None
        out = torch.addmm(self.norms[None, :], q, self.centered.T, alpha=-2.0)
        return out.add_(self.norms[start:stop, None]).clamp_(min=0)

    def exact(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Squared distances of the pairs ``(rows[i], cols[i, j])`` from coordinate differences."""
        diff = self.X[cols] - self.X[rows].unsqueeze(-2)
        return diff.mul_(diff).sum(-1)


def core_distances(points: Points, min_samples: int, budget_bytes: int) -> torch.Tensor:
    """Distance of every point to its ``min_samples``-th nearest point, itself included."""
    X = points.X
    n = X.shape[0]
    device = X.device
    k = min(n, min_samples if points.direct else min_samples + _EXACT_MARGIN)
    # A block holds its distances and topk's working copy.
    rows = block_rows(n, 2 * X.element_size(), budget_bytes, device)
    core_sq = torch.empty(n, dtype=X.dtype, device=device)
    for start, stop in row_blocks(n, rows):
        block = points.block(start, stop)
        values, index = torch.topk(block, k, dim=1, largest=False, sorted=points.direct)
        if points.direct:
            core_sq[start:stop] = values[:, min_samples - 1]
            continue
        ids = torch.arange(start, stop, device=device)
        exact = points.exact(ids, index).sort(dim=1).values
        core_sq[start:stop] = exact[:, min_samples - 1]
    return core_sq.sqrt_()


def reachability_tree(
    points: Points, core: torch.Tensor, alpha: float, budget_bytes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``n - 1`` edges of a minimum spanning tree in mutual reachability.

    Returns the two end points and the weight of each edge; weights are measured again
    from coordinate differences, ``max(core_a, core_b, d / alpha)``, as scikit-learn
    measures them.
    """
    X = points.X
    n = X.shape[0]
    device = X.device
    if n < 2:
        empty = torch.empty(0, dtype=torch.int64, device=device)
        return empty, empty.clone(), torch.empty(0, dtype=X.dtype, device=device)
    core_sq = core * core
    scale = 1.0 / (float(alpha) * float(alpha))
    # A block's distances, the reachability built in place, and the mask.
    rows = block_rows(n, X.element_size() + 1, budget_bytes, device)

    def reachability(start: int, stop: int) -> torch.Tensor:
        block = points.block(start, stop)
        if scale != 1.0:
            block.mul_(scale)
        torch.maximum(block, core_sq[None, :], out=block)
        return torch.maximum(block, core_sq[start:stop, None], out=block)

    a, b = boruvka_tree(n, X.dtype, device, rows, reachability)
    dist = points.exact(a, b[:, None]).squeeze(1).sqrt_() / float(alpha)
    weights = torch.maximum(torch.maximum(core[a], core[b]), dist)
    return a, b, weights
