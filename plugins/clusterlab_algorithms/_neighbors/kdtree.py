"""Nearest points on the CPU in few features, by scipy's k-d tree.

For a fixed number of neighbours in up to ``KD_TREE_MAX_FEATURES`` features, scipy's
compiled k-d tree prunes by the point, where the blocked searches prune by the leaf and
pay torch's launch cost per block; on a GPU the blocked searches stay (see
``docs/algorithms``).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

#: Up to this many features the k-d tree is the faster search on the CPU.
KD_TREE_MAX_FEATURES = 16
# Neighbour entries queried at once.
_QUERY_CHUNK = 1 << 18


def use_kd_tree(X: torch.Tensor) -> bool:
    """Whether :func:`nearest_points` is the search to use for ``X``."""
    return X.device.type == "cpu" and X.ndim == 2 and X.shape[1] <= KD_TREE_MAX_FEATURES


def nearest_points(
    X: torch.Tensor, k: int, index_dtype: torch.dtype = torch.int64, *, last_only: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances (``X``'s dtype) and indices (``index_dtype``) of each row's ``k`` nearest
    rows, itself included, nearest first; distances are computed in float64.

    With ``last_only`` the distances are those to the ``k``-th nearest row alone (``n``).
    Rows are queried in chunks, so scipy's float64 and int64 results never exceed a
    chunk beside the returned tables.
    """
    points = X.detach().numpy().astype(np.float64, copy=False)
    tree = cKDTree(points)
    n = points.shape[0]
    dist = torch.empty((n,) if last_only else (n, k), dtype=X.dtype)
    index = torch.empty((n, k), dtype=index_dtype)
    rows = max(1, _QUERY_CHUNK // max(1, k))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        got_dist, got_index = tree.query(
            points[start:stop], k=[*range(1, k + 1)], workers=torch.get_num_threads()
        )
        dist[start:stop] = torch.from_numpy(got_dist[:, -1] if last_only else got_dist)
        index[start:stop] = torch.from_numpy(got_index.astype(np.int64, copy=False))
    return dist, index
