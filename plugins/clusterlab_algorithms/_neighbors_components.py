"""Connected components of a graph given block by block, with a vectorised union-find in torch.

The forest lives in one ``parent`` tensor with ``parent[i] <= i``: a root only ever
points to a smaller root, so there are no cycles and every root ends as the smallest
id of its component. Edges arrive as dense ``Q x C`` adjacency blocks and are never
listed one by one.
"""

from __future__ import annotations

import torch

from clusterlab_algorithms._neighbors import Workspace


def new_forest(n: int, device: torch.device) -> torch.Tensor:
    """A forest of ``n`` singleton trees: ``parent[i] = i``."""
    return torch.arange(n, dtype=torch.int64, device=device)


def find_roots(parent: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Roots of ``ids``; the nodes asked about are pointed straight at their roots."""
    roots = parent[ids]
    while True:
        up = parent[roots]
        if torch.equal(up, roots):
            break
        roots = up
    parent[ids] = roots
    return roots


def union_block(
    parent: torch.Tensor,
    row_ids: torch.Tensor,
    col_ids: torch.Tensor,
    adjacent: torch.Tensor,
    ws: Workspace,
) -> None:
    """Join the trees of ``row_ids[i]`` and ``col_ids[j]`` wherever ``adjacent[i, j]``.

    Dense rounds hook roots onto the smallest root they touch through the block: first
    the rows' roots; if that leaves every row with an edge in one tree (usual inside a
    big cluster), each column with an edge just joins it. Otherwise the columns' roots
    hook too, and the few edges still joining two different trees are listed and joined.
    """
    active = adjacent.any(1)
    rows = row_ids[active]
    if rows.numel() == 0:
        return
    roots = find_roots(parent, rows)
    if not _one_tree(roots):
        # Labels go through Q x C blocks as int32 where they fit: half the memory traffic.
        label_dtype = torch.int32 if parent.shape[0] < 2**31 - 1 else parent.dtype
        none = torch.tensor(parent.shape[0], dtype=label_dtype, device=parent.device)
        labels = ws.get("union_labels", adjacent.shape, label_dtype)
        col_roots = find_roots(parent, col_ids).to(label_dtype)
        row_min = torch.where(adjacent, col_roots[None, :], none, out=labels).amin(1)
        _hook(parent, find_roots(parent, row_ids), row_min.to(parent.dtype))
        roots = find_roots(parent, rows)
        if not _one_tree(roots):
            _join_remaining(parent, row_ids, col_ids, adjacent, labels, none, ws)
            return
    touched = adjacent.any(0)
    cols = col_ids[touched]
    apart = find_roots(parent, cols) != roots[0]
    if bool(apart.any()):
        cols = cols[apart]
        union_edges(parent, cols, rows[:1].expand(cols.numel()))


def _one_tree(roots: torch.Tensor) -> bool:
    return bool((roots == roots[0]).all())


def _hook(parent: torch.Tensor, roots: torch.Tensor, targets: torch.Tensor) -> None:
    """Point each root at its target where the target is a smaller id."""
    lower = targets < roots
    parent.scatter_reduce_(0, roots[lower], targets[lower], reduce="amin")


def _join_remaining(
    parent: torch.Tensor,
    row_ids: torch.Tensor,
    col_ids: torch.Tensor,
    adjacent: torch.Tensor,
    labels: torch.Tensor,
    none: torch.Tensor,
    ws: Workspace,
) -> None:
    """Hook the columns' roots too, then join the edges that still link two trees."""
    label_dtype = labels.dtype
    row_roots = find_roots(parent, row_ids).to(label_dtype)
    col_min = torch.where(adjacent, row_roots[:, None], none, out=labels).amin(0)
    _hook(parent, find_roots(parent, col_ids), col_min.to(parent.dtype))
    row_roots = find_roots(parent, row_ids).to(label_dtype)
    col_roots = find_roots(parent, col_ids).to(label_dtype)
    # An edge is left where the neighbour's root differs from the row's own.
    torch.where(adjacent, col_roots[None, :], row_roots[:, None], out=labels)
    left = torch.ne(labels, row_roots[:, None], out=ws.get("union_left", labels.shape, torch.bool))
    rows, cols = torch.nonzero(left, as_tuple=True)
    union_edges(parent, row_ids[rows], col_ids[cols])


def union_edges(parent: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """Join the trees of ``a[k]`` and ``b[k]`` for every k: larger roots hook onto smaller."""
    while a.numel() > 0:
        root_a = find_roots(parent, a)
        root_b = find_roots(parent, b)
        apart = root_a != root_b
        if not bool(apart.any()):
            return
        a, b = a[apart], b[apart]
        root_a, root_b = root_a[apart], root_b[apart]
        parent.scatter_reduce_(
            0, torch.maximum(root_a, root_b), torch.minimum(root_a, root_b), reduce="amin"
        )


def flatten(parent: torch.Tensor) -> torch.Tensor:
    """Point every node straight at its root (pointer jumping); returns the roots."""
    while True:
        up = parent[parent]
        if torch.equal(up, parent):
            return parent
        parent = up


def union_flat(parent: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """:func:`union_edges` for a *flat* forest (every node points at its root), kept flat.

    With the forest flat, an edge's roots are one lookup each, and after each round of
    hooking the whole forest is flattened again by pointer jumping over all ``n`` nodes
    (a few passes) instead of chasing the paths of every edge separately.
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
