"""Single linkage from a minimum spanning tree grown with Prim's algorithm, in O(n) memory.

Single-linkage merges are the edges of a minimum spanning tree taken by increasing
length. Prim's algorithm needs only each point's distance to the tree so far: one
matrix-vector product per added point, ``O(n^2 d)`` time and no ``n x n`` matrix. The
loop writes into buffers allocated once and never reads a value back to the host, so on
a GPU it runs without synchronising. On the CPU the same loop runs on numpy arrays in
float64: each step is a few operations on one vector, where numpy's cost per call is a
fraction of torch's, and float64 keeps the ``|x|^2 - 2 x.y + |y|^2`` form from
reordering nearly equal edges.
"""

from __future__ import annotations

import numpy as np
import torch

# Points already in the tree are dropped from the arrays once they are this share of them:
# a copy of the arrays costs about as much as one step, and every step scans them all.
_COMPACT_SHARE = 0.1


def minimum_spanning_tree(X: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of a euclidean minimum spanning tree of the rows of ``X``.

    Returns the two end points and the length of each of the ``n - 1`` edges. Lengths
    are recomputed from coordinate differences at the end, so they do not carry the
    rounding of the ``|x|^2 - 2 x.y + |y|^2`` form used to grow the tree.
    """
    n = X.shape[0]
    device = X.device
    ends = torch.empty((2, n - 1), dtype=torch.int64, device=device)
    # Arrays over the points not yet in the tree (plus some already in, until compacted).
    ids = torch.arange(n, device=device)
    points = X - X.mean(0)
    norms = (points * points).sum(1)
    best = torch.full((n,), torch.inf, dtype=X.dtype, device=device)
    source = torch.zeros(n, dtype=torch.int64, device=device)
    dist = torch.empty_like(best)
    closer = torch.empty(n, dtype=torch.bool, device=device)
    position = torch.zeros((), dtype=torch.int64, device=device)  # of the newest tree point
    newest = torch.zeros((), dtype=torch.int64, device=device)  # its id
    in_arrays = n
    for step in range(n - 1):
        # The newest tree point gets an infinite norm: it is never closer to anything again.
        row = points[position]
        norms[position] = torch.inf
        best[position] = torch.inf
        torch.addmv(norms, points, row, alpha=-2.0, out=dist)
        dist.add_((row * row).sum())
        torch.lt(dist, best, out=closer)
        torch.minimum(best, dist, out=best)
        source.masked_fill_(closer, newest)
        position = torch.argmin(best)
        newest = ids[position]
        ends[0, step] = source[position]
        ends[1, step] = newest
        outside = n - step - 1  # points not processed yet, the newest one included
        if in_arrays - outside >= _COMPACT_SHARE * in_arrays and outside > 1:
            # Processed points have infinite norms; the newest one is still finite.
            keep = torch.nonzero(torch.isfinite(norms)).flatten()
            ids, points, norms = ids[keep], points[keep], norms[keep]
            best, source = best[keep], source[keep]
            in_arrays = keep.numel()
            dist, closer = dist[:in_arrays], closer[:in_arrays]
            position = torch.nonzero(ids == newest).flatten()[0]
    lengths = torch.linalg.vector_norm(X[ends[0]] - X[ends[1]], dim=1)
    return ends[0].cpu().numpy(), ends[1].cpu().numpy(), lengths.cpu().numpy()


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
