"""Exact ward/complete/average linkage on the CPU by the nearest-neighbour chain.

For these *reducible* linkages a chain that follows nearest neighbours until two
clusters are each other's nearest neighbour finds a pair the greedy algorithm merges;
after the merge the rest of the chain stays valid, so every step is one search of one
row (``O(n)``) and the whole tree ``O(n^2)`` work. The loop is sequential: each step is
a handful of operations on one vector, so it runs on numpy views of the data, whose
per-call cost is a fraction of torch's (the GPU path merges in vectorised rounds
instead, see :mod:`.rnn`).

Ties follow scipy's ``nn_chain``: the previous chain element wins a tie, then the lowest
position. Rounding can never make the chain loop: a node already in the chain is taken
as the previous one.

Ward with few features needs no matrix: its distance is a function of the clusters'
sizes and centroids, and the search computes one row of it from the centroids (a
matrix-vector product on data that stays in cache). Merge heights come from the
centroids in float64, so they carry no accumulated rounding.
"""

from __future__ import annotations

import numpy as np
import torch

# Rows dropped from the arrays once they are this share of them: a copy costs about as
# much as a few searches, and every search scans the dead rows too.
_CENTROID_COMPACT_SHARE = 0.1
# Matrix rows and columns are dropped once half of them are dead: the compaction rewrites
# the whole matrix, and writing a column costs one cache line per (dead or live) row.
_MATRIX_COMPACT_SHARE = 0.5
# Rows gathered per block when the matrix is compacted.
_COMPACT_BLOCK = 256

Merges = tuple[np.ndarray, np.ndarray, np.ndarray]


class _Chain:
    """The chain of positions, with a mark on each position that is in it."""

    def __init__(self, n: int) -> None:
        self.nodes: list[int] = []
        self.member = np.zeros(n, dtype=bool)

    def push(self, position: int) -> None:
        self.nodes.append(position)
        self.member[position] = True

    def pop_pair(self) -> tuple[int, int]:
        top, below = self.nodes.pop(), self.nodes.pop()
        self.member[top] = self.member[below] = False
        return top, below

    def renumber(self, new_position: np.ndarray, size: int) -> None:
        self.nodes = [int(new_position[p]) for p in self.nodes]
        self.member[:] = False
        self.member[self.nodes] = True
        self.member[size:] = False


def _follow(chain: _Chain, row: np.ndarray) -> int:
    """The next chain node after the top, given the top's distances ``row`` to all.

    Returns ``-1`` when the top and the node below it are each other's nearest neighbours.
    """
    nearest = int(row.argmin())
    if len(chain.nodes) > 1:
        below = chain.nodes[-2]
        if row[below] <= row[nearest] or chain.member[nearest]:
            return -1
    return nearest


def ward_centroid_chain(X: torch.Tensor) -> Merges:
    """All ``n - 1`` ward merges of the rows of ``X``, from cluster centroids.

    Returns, per merge, a sample of each merged cluster and the merge height (scipy's
    ward distance, not squared), in the order the chain made them.
    """
    points = X.detach().cpu().numpy().astype(np.float64)
    n = points.shape[0]
    # Centred, so that |a|^2 - 2 a.b + |b|^2 cancels on small numbers.
    centroids = points - points.mean(0)
    norms = np.einsum("ij,ij->i", centroids, centroids)
    size = np.ones(n)
    rep = np.arange(n)
    dots = np.empty(n)
    factor = np.empty(n)
    first = np.empty(n - 1, dtype=np.int64)
    second = np.empty(n - 1, dtype=np.int64)
    heights = np.empty(n - 1)
    chain = _Chain(n)
    m, dead = n, 0
    for step in range(n - 1):
        if not chain.nodes:
            chain.push(int(np.argmax(np.isfinite(norms[:m]))))
        while True:
            x = chain.nodes[-1]
            c_x, s_x = centroids[x], size[x]
            # Ward's distance to k is 2 s_x s_k / (s_x + s_k) |c_x - c_k|^2; the search
            # drops the constant 2 s_x. Dead rows have an infinite norm.
            row = np.dot(centroids[:m], c_x, out=dots[:m])
            row *= -2.0
            row += norms[:m]
            row += norms[x]
            np.add(size[:m], s_x, out=factor[:m])
            np.divide(size[:m], factor[:m], out=factor[:m])
            row *= factor[:m]
            row[x] = np.inf
            nearest = _follow(chain, row)
            if nearest < 0:
                break
            chain.push(nearest)
        x, y = chain.pop_pair()
        s_x, s_y = size[x], size[y]
        diff = centroids[x] - centroids[y]
        heights[step] = np.sqrt(2.0 * s_x * s_y / (s_x + s_y) * np.dot(diff, diff))
        first[step], second[step] = rep[x], rep[y]
        # Moving c_y towards c_x keeps equal centroids bitwise equal: duplicates merge
        # at height 0, as in scipy.
        centroids[y] += diff * (s_x / (s_x + s_y))
        norms[y] = np.dot(centroids[y], centroids[y])
        size[y] = s_x + s_y
        norms[x] = np.inf
        dead += 1
        if dead >= _CENTROID_COMPACT_SHARE * m and m - dead > 1:
            kept = np.flatnonzero(np.isfinite(norms[:m]))
            new_position = np.full(m, -1, dtype=np.int64)
            new_position[kept] = np.arange(kept.size)
            m = kept.size
            centroids[:m] = centroids[kept]
            norms[:m], size[:m], rep[:m] = norms[kept], size[kept], rep[kept]
            chain.renumber(new_position, m)
            dead = 0
    return first, second, heights


def matrix_chain(D: torch.Tensor, method: str) -> Merges:
    """All ``n - 1`` merges of the clusters of CPU distance matrix ``D`` (overwritten).

    ``D`` is bitwise symmetric with ``inf`` on the diagonal, and squared for ward.
    Returns, per merge, a sample of each merged cluster and the merge distance in the
    matrix's form, in the order the chain made them.

    A new cluster writes only its row: writing its column too would touch one cache line
    in every row of the matrix, which cost more than everything else together. A row is
    brought up to date when it is next searched or merged, by copying the entries of the
    live clusters made since it last was from their rows (each position records the step
    its cluster was made at, each row the step it was last brought up to date at). Rows
    that are never searched again are never updated.
    """
    n = D.shape[0]
    flat = D.view(-1)
    buffer = flat.numpy()
    A = buffer[: n * n].reshape(n, n)
    m = n
    penalty = np.zeros(n, dtype=A.dtype)  # inf: dead position
    size = np.ones(n, dtype=A.dtype)
    rep = np.arange(n)
    row = np.empty(n, dtype=A.dtype)
    scratch = np.empty(n, dtype=A.dtype)
    made_at = np.zeros(n, dtype=np.int64)  # step + 1 that made the cluster; -1: dead
    seen = np.zeros(n, dtype=np.int64)  # steps each row is up to date with
    first = np.empty(n - 1, dtype=np.int64)
    second = np.empty(n - 1, dtype=np.int64)
    heights = np.empty(n - 1, dtype=A.dtype)
    chain = _Chain(n)
    dead = 0

    def refresh(x: int, step: int) -> None:
        if seen[x] < step:
            # Ascending positions: the gather reads the rows in memory order.
            newer = np.flatnonzero(made_at[:m] > seen[x])
            A[x, newer] = buffer[newer * m + x]
            seen[x] = step

    for step in range(n - 1):
        if not chain.nodes:
            chain.push(int(np.argmin(penalty[:m])))
        while True:
            x = chain.nodes[-1]
            refresh(x, step)
            np.add(A[x], penalty[:m], out=row[:m])
            nearest = _follow(chain, row[:m])
            if nearest < 0:
                break
            chain.push(nearest)
        x, y = chain.pop_pair()
        refresh(y, step)
        height = A[x, y]
        heights[step] = height
        first[step], second[step] = rep[x], rep[y]
        # The new cluster takes row y (and, once other rows are refreshed, column y).
        _lance_williams(method, A[y], A[x], height, size[y], size[x], size[:m], scratch[:m])
        A[y, y] = np.inf
        size[y] += size[x]
        penalty[x] = np.inf
        made_at[x] = -1
        made_at[y] = seen[y] = step + 1
        dead += 1
        if dead >= _MATRIX_COMPACT_SHARE * m and m - dead > 1:
            kept = np.flatnonzero(penalty[:m] == 0)
            _compact_matrix(buffer, m, kept, scratch_rows=_COMPACT_BLOCK)
            new_position = np.full(m, -1, dtype=np.int64)
            new_position[kept] = np.arange(kept.size)
            m = kept.size
            size[:m], rep[:m] = size[kept], rep[kept]
            seen[:m], made_at[:m] = seen[kept], made_at[kept]
            penalty[:m] = 0
            chain.renumber(new_position, m)
            A = buffer[: m * m].reshape(m, m)
            dead = 0
    return first, second, heights


def _lance_williams(
    method: str,
    into: np.ndarray,
    other: np.ndarray,
    d_ij: float,
    n_i: float,
    n_j: float,
    n_k: np.ndarray,
    scratch: np.ndarray,
) -> None:
    """Distances from every cluster ``k`` to the union of ``i`` and ``j``, into ``into``.

    ``into`` holds the distances to ``i`` on entry, ``other`` those to ``j``; scipy's
    formulas, in the matrix's form (squared for ward).
    """
    if method == "complete":
        np.maximum(into, other, out=into)
    elif method == "average":
        np.multiply(other, n_j, out=scratch)
        into *= n_i
        into += scratch
        into /= n_i + n_j
    elif method == "ward":
        # (n_i + n_k) a + (n_j + n_k) b - n_k c  ==  n_i a + n_j b + n_k (a + b - c)
        np.add(into, other, out=scratch)
        scratch -= d_ij
        scratch *= n_k
        into *= n_i
        scratch += into
        np.multiply(other, n_j, out=into)
        into += scratch
        np.add(n_k, n_i + n_j, out=scratch)
        into /= scratch
    else:
        raise ValueError(f"no Lance-Williams update for linkage {method!r}")


def _compact_matrix(buffer: np.ndarray, m: int, kept: np.ndarray, scratch_rows: int) -> None:
    """Write the rows and columns ``kept`` of the ``m x m`` matrix over its own start.

    Row ``r`` of the new matrix ends before old row ``kept[r + 1]`` begins, so no row is
    overwritten before it has been read.
    """
    A = buffer[: m * m].reshape(m, m)
    k = kept.size
    for start in range(0, k, scratch_rows):
        rows = kept[start : start + scratch_rows]
        block = np.take(A[rows], kept, axis=1)
        buffer[start * k : (start + rows.size) * k] = block.reshape(-1)
