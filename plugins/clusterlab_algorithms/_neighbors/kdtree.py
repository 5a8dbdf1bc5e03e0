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


def use_kd_tree(X: torch.Tensor) -> bool:
    """Whether :func:`nearest_points` is the search to use for ``X``."""
    return X.device.type == "cpu" and X.ndim == 2 and X.shape[1] <= KD_TREE_MAX_FEATURES


def nearest_points(X: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances (``X``'s dtype) and indices (int64) of each row's ``k`` nearest rows,
    itself included, nearest first; distances are computed in float64."""
    points = X.detach().numpy().astype(np.float64, copy=False)
    tree = cKDTree(points)
    dist, index = tree.query(points, k=[*range(1, k + 1)], workers=torch.get_num_threads())
    return (
        torch.from_numpy(np.ascontiguousarray(dist)).to(X.dtype),
        torch.from_numpy(np.ascontiguousarray(index, dtype=np.int64)),
    )
