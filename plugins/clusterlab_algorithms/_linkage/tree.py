"""Merge trees in scipy's linkage format, and flat clusters cut from them.

Merge algorithms report each merge as the pair of *representative* samples of the two
clusters (any sample of each) and a height. ``linkage_matrix`` turns that into scipy's
``(n - 1) x 4`` matrix exactly as ``scipy.cluster.hierarchy.linkage`` orders and numbers
it; the cut functions follow ``fcluster(Z, k, 'maxclust')`` and scikit-learn's
``distance_threshold``.
"""

from __future__ import annotations

import numpy as np


def linkage_matrix(first: np.ndarray, second: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """scipy's linkage matrix from merges given by representative samples.

    Merges are sorted by height (stably, as scipy does), cluster ids are assigned in that
    order (``n + i`` for the cluster formed by row ``i``), each row holds the smaller id
    first, then the height and the size of the new cluster.
    """
    n = len(heights) + 1
    order = np.argsort(heights, kind="mergesort")
    parent = np.arange(2 * n - 1)
    size = np.ones(2 * n - 1)
    Z = np.empty((n - 1, 4))

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for row, merge in enumerate(order.tolist()):
        a, b = find(int(first[merge])), find(int(second[merge]))
        new = n + row
        parent[a] = parent[b] = new
        size[new] = size[a] + size[b]
        Z[row] = (min(a, b), max(a, b), heights[merge], size[new])
    return Z


def _labels_after(Z: np.ndarray, applied: np.ndarray) -> np.ndarray:
    """Flat labels when only the merges marked in ``applied`` happen.

    Labels are 0, 1, ... in the order of each cluster's first sample.
    """
    n = len(Z) + 1
    parent = np.arange(2 * n - 1)
    rows = np.flatnonzero(applied)
    # Each node is merged once, so no two of these writes share a target.
    parent[Z[rows, 0].astype(np.int64)] = n + rows
    parent[Z[rows, 1].astype(np.int64)] = n + rows
    root = parent
    while True:  # pointer jumping: every node straight to its root
        up = root[root]
        if np.array_equal(up, root):
            break
        root = up
    _, first, inverse = np.unique(root[:n], return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.ravel()]


def monotone_heights(Z: np.ndarray) -> np.ndarray:
    """Height of each merge raised to the highest merge below it (scipy's ``max_dists``)."""
    n = len(Z) + 1
    high = Z[:, 2].copy()
    if np.all(high[1:] >= high[:-1]):
        # Heights that never fall along the rows (every linkage here, as scipy writes its
        # rows): a child merge, always on an earlier row, is never higher.
        return high
    for row in range(len(Z)):
        for child in (int(Z[row, 0]), int(Z[row, 1])):
            if child >= n:
                high[row] = max(high[row], high[child - n])
    return high


def cut_maxclust(Z: np.ndarray, n_clusters: int) -> np.ndarray:
    """Labels of ``fcluster(Z, n_clusters, 'maxclust')``: the lowest cut with at most that many.

    Every merge at or below the height of the ``(n - n_clusters)``-th merge happens, so
    merges tied at that height may leave fewer than ``n_clusters`` clusters, as in scipy.
    """
    n = len(Z) + 1
    if n_clusters >= n:
        return np.arange(n, dtype=np.int64)
    high = monotone_heights(Z)
    return _labels_after(Z, high <= high[n - n_clusters - 1])


def n_clusters_below(Z: np.ndarray, distance_threshold: float) -> int:
    """How many clusters remain when no merge at or above ``distance_threshold`` happens."""
    return int(np.count_nonzero(Z[:, 2] >= distance_threshold)) + 1


def cut_first_merges(Z: np.ndarray, n_clusters: int) -> np.ndarray:
    """Labels after the first ``n - n_clusters`` merges (scikit-learn's cut of the tree)."""
    n = len(Z) + 1
    applied = np.arange(n - 1) < n - n_clusters
    return _labels_after(Z, applied)
