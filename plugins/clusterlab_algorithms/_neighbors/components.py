"""Connected components of a graph given in batches of edges, with a vectorised union-find.

The forest lives in one ``parent`` tensor with ``parent[i] <= i``: a root only ever
points to a smaller root, so there are no cycles and every root ends as the smallest
id of its component. Between batches the forest is kept flat (every node points at its
root), so an edge's roots are one lookup away.
"""

from __future__ import annotations

import torch


def new_forest(n: int, device: torch.device) -> torch.Tensor:
    """A forest of ``n`` singleton trees: ``parent[i] = i``."""
    return torch.arange(n, dtype=torch.int64, device=device)


def union_flat(parent: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """Join the trees of ``a[k]`` and ``b[k]`` for every k; ``parent`` is flat and kept flat.

    Each round hooks the larger root of every edge still joining two trees onto the
    smallest root it meets; then the whole forest is flattened again by pointer jumping
    over all ``n`` nodes (a few passes) instead of chasing the path of every edge.
    """
    root_a, root_b = parent[a], parent[b]
    apart = root_a != root_b
    while bool(apart.any()):
        root_a, root_b = root_a[apart], root_b[apart]
        parent.scatter_reduce_(
            0, torch.maximum(root_a, root_b), torch.minimum(root_a, root_b), reduce="amin"
        )
        _flatten_in_place(parent)
        root_a, root_b = parent[root_a], parent[root_b]
        apart = root_a != root_b


def _flatten_in_place(parent: torch.Tensor) -> None:
    """Point every node of ``parent`` straight at its root, in place."""
    while True:
        up = parent[parent]
        if torch.equal(up, parent):
            return
        parent.copy_(up)
