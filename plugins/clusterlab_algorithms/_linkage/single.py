"""Single linkage from a minimum spanning tree, in O(n) memory beyond one block.

Single-linkage merges are the edges of a minimum spanning tree taken by increasing
length. On the CPU the tree grows by Prim's algorithm, which needs only each point's
distance to the tree so far: one matrix-vector product per added point, ``O(n^2 d)``
time and no ``n x n`` matrix. It runs on numpy arrays in float64: each step is a few
operations on one vector, where numpy's cost per call is a fraction of torch's, and
float64 keeps the ``|x|^2 - 2 x.y + |y|^2`` form from reordering nearly equal edges.
On a GPU, Prim's ``n`` dependent steps are bound by kernel launches, so the tree is
built by Borůvka's rounds instead: about ``log2(n)`` passes of blocked GEMMs over all
pairs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from clusterlab_algorithms._shared.blocks import block_rows, row_blocks
from clusterlab_algorithms._shared.distances import pairwise_sq_dists, squared_norms

# Points already in the tree are dropped from the arrays once they are this share of them:
# a copy of the arrays costs about as much as one step, and every step scans them all.
_COMPACT_SHARE = 0.1


def minimum_spanning_tree(
    X: torch.Tensor, budget_bytes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of a euclidean minimum spanning tree of the rows of ``X``, by Borůvka's rounds.

    For accelerators, where Prim's ``n`` small steps would each wait on a kernel launch:
    each round finds, for every point, its nearest point in another component (blocks of
    at most ``budget_bytes`` of distances, one GEMM each), keeps every component's
    shortest such edge and joins the components along them, so the number of
    components at least halves per round. Returns the two end points and the length of
    each of the ``n - 1`` edges; lengths are recomputed from coordinate differences.
    """
    n = X.shape[0]
    device = X.device
    if n < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), np.empty(0, dtype=np.float64)
    points = X - X.mean(0)
    norms = squared_norms(points)
    # Distances and the same-component mask, per entry of a block.
    rows = block_rows(n, points.element_size() + 1, budget_bytes, device)

    def distances(start: int, stop: int) -> torch.Tensor:
        return pairwise_sq_dists(points[start:stop], points, norms[start:stop], norms)

    ends_first, ends_second = boruvka_tree(n, X.dtype, device, rows, distances)
    lengths = torch.linalg.vector_norm(X[ends_first] - X[ends_second], dim=1)
    return ends_first.cpu().numpy(), ends_second.cpu().numpy(), lengths.cpu().numpy()


def boruvka_tree(
    n: int,
    dtype: torch.dtype,
    device: torch.device,
    rows: int,
    distances: Callable[[int, int], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n - 1`` edges of a minimum spanning tree by Borůvka's rounds, over blocks of
    ``rows`` rows of a dissimilarity that only ``distances(start, stop)`` computes (a
    fresh tensor of those rows against every point, which the rounds overwrite). Returns
    the edges' two ends, in the order the rounds found them."""
    ids = torch.arange(n, device=device)
    component = ids.clone()
    nearest = torch.empty(n, dtype=dtype, device=device)
    partner = torch.empty(n, dtype=torch.int64, device=device)
    first: list[torch.Tensor] = []
    second: list[torch.Tensor] = []
    joined = 0
    while joined < n - 1:
        for start, stop in row_blocks(n, rows):
            block = distances(start, stop)
            block.masked_fill_(component[start:stop, None] == component[None, :], torch.inf)
            torch.min(block, dim=1, out=(nearest[start:stop], partner[start:stop]))
        sources, targets, component = boruvka_step(component, nearest, partner, ids)
        first.append(sources)
        second.append(targets)
        joined += int(sources.numel())
    return torch.cat(first), torch.cat(second)


def boruvka_step(
    component: torch.Tensor, nearest: torch.Tensor, partner: torch.Tensor, ids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Borůvka round from each point's nearest point in another component (``nearest``,
    ``partner``): every component's shortest outgoing edge, from its lowest point on ties,
    joined without cycles. Returns the edges' two ends and each point's new component."""
    n = component.numel()
    shortest = torch.full((n,), torch.inf, dtype=nearest.dtype, device=nearest.device)
    shortest.scatter_reduce_(0, component, nearest, "amin")
    at_shortest = torch.where(nearest == shortest[component], ids, n)
    source = torch.full((n,), n, dtype=torch.int64, device=nearest.device)
    source.scatter_reduce_(0, component, at_shortest, "amin")
    roots = torch.nonzero(component == ids).squeeze(1)
    source = source[roots]
    target = component[partner[source]]
    keep, root_of = join_components(roots, target, n)
    return source[keep], partner[source[keep]], root_of[component]


def join_components(
    roots: torch.Tensor, target: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Join each component (``roots``, labelled by their ids below ``n``) to ``target``.

    Following every component to its target forms trees that end in cycles: of two
    components that chose each other, or longer where rounding made equal edges look
    unequal. In each cycle the lowest component drops its edge, which leaves a forest.
    Returns which of the roots' edges to keep, and for every id the root of its tree
    (ids that are not roots map to themselves, as they are not used as labels).
    """
    ids = torch.arange(n, device=roots.device)
    successor = ids.clone()
    successor[roots] = target
    steps = max(1, int(roots.numel()).bit_length() + 1)
    # After the doublings, ahead[c] lies on the cycle below c, and lowest[c] is the lowest
    # id on the first 2^steps nodes from c: the lowest of the cycle, for nodes on it.
    ahead, lowest = successor.clone(), torch.minimum(ids, successor)
    for _ in range(steps):
        lowest = torch.minimum(lowest, lowest[ahead])
        ahead = ahead[ahead]
    breaks = lowest[ahead] == ids
    successor[breaks] = ids[breaks]
    keep = ~breaks[roots]
    for _ in range(steps):
        successor = successor[successor]
    return keep, successor


def minimum_spanning_tree_cpu(X: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``minimum_spanning_tree`` of a CPU tensor, in float64 numpy (same result format)."""
    data = X.detach().cpu().numpy().astype(np.float64)
    n = data.shape[0]
    first = np.empty(n - 1, dtype=np.int64)
    second = np.empty(n - 1, dtype=np.int64)
    ids = np.arange(n)
    points = data - data.mean(0)
    # -2 x in the arrays: one product gives -2 x.y, and |x|^2 of the row is added once.
    scaled = -2.0 * points
    norms = np.einsum("ij,ij->i", points, points)
    best = np.full(n, np.inf)
    source = np.zeros(n, dtype=np.int64)
    dist = np.empty(n)
    closer = np.empty(n, dtype=bool)
    position, newest = 0, 0
    in_arrays = n
    for step in range(n - 1):
        m = in_arrays
        row_norm = norms[position]
        # The newest tree point gets an infinite norm: it is never closer to anything again.
        norms[position] = np.inf
        best[position] = np.inf
        d = np.dot(scaled[:m], points[position], out=dist[:m])
        d += norms[:m]
        d += row_norm
        np.less(d, best[:m], out=closer[:m])
        np.minimum(best[:m], d, out=best[:m])
        np.copyto(source[:m], newest, where=closer[:m])
        position = int(best[:m].argmin())
        newest = int(ids[position])
        first[step] = source[position]
        second[step] = newest
        outside = n - step - 1  # points not processed yet, the newest one included
        if in_arrays - outside >= _COMPACT_SHARE * in_arrays and outside > 1:
            keep = np.flatnonzero(np.isfinite(norms[:m]))
            k = keep.size
            ids[:k], points[:k], scaled[:k] = ids[keep], points[keep], scaled[keep]
            norms[:k], best[:k], source[:k] = norms[keep], best[keep], source[keep]
            in_arrays = k
            position = int(np.flatnonzero(ids[:k] == newest)[0])
    diff = data[first] - data[second]
    lengths = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return first, second, lengths
