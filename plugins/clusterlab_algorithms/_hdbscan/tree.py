"""From the minimum spanning tree to clusters: single linkage, condensed tree, selection.

Everything here is ``O(n)`` or ``O(n log n)`` work on ``n - 1`` edges and runs on the
CPU in numpy whatever the device: the single-linkage merges are one sequential
union-find pass (no accelerator helps a chain of dependent lookups), and the condensed
tree is built without walking the hierarchy, by pointer jumping over parent arrays.
The cluster selection then loops over clusters only, of which there are at most
``2 n / min_cluster_size``. The rules are scikit-learn's ``_tree.pyx``, rule for rule,
so that labels and probabilities are the same.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NOISE = -1
#: dtype of the condensed tree, as the ``hdbscan`` package names its fields.
CONDENSED_DTYPE = np.dtype(
    [
        ("parent", np.int64),
        ("child", np.int64),
        ("lambda_val", np.float64),
        ("child_size", np.int64),
    ]
)


def single_linkage(first: np.ndarray, second: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """scipy's ``(n - 1) x 4`` linkage matrix of the spanning tree with these edges.

    Edges merge by increasing weight (stably); merge ``i`` forms node ``n + i``; each row
    holds the two merged nodes (smaller id first), the weight and the new size.
    """
    n = len(weights) + 1
    order = np.argsort(weights, kind="stable")
    # Typed arrays of 64-bit integers: each step is a few scalar lookups, which these
    # serve faster than numpy and in a quarter of a list's memory.
    a_seq = _int64s(first[order])
    b_seq = _int64s(second[order])
    parent = array("q", range(2 * n - 1))
    size = array("q", [1]) * (2 * n - 1)
    left = array("q", bytes(8 * (n - 1)))
    right = array("q", bytes(8 * (n - 1)))
    sizes = array("q", bytes(8 * (n - 1)))
    for row in range(n - 1):
        a = a_seq[row]
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        b = b_seq[row]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        new = n + row
        parent[a] = parent[b] = new
        size[new] = size[a] + size[b]
        if a < b:
            left[row], right[row] = a, b
        else:
            left[row], right[row] = b, a
        sizes[row] = size[new]
    Z = np.empty((n - 1, 4), dtype=np.float64)
    Z[:, 0] = np.frombuffer(left, dtype=np.int64)
    Z[:, 1] = np.frombuffer(right, dtype=np.int64)
    Z[:, 2] = weights[order]
    Z[:, 3] = np.frombuffer(sizes, dtype=np.int64)
    return Z


def _int64s(values: np.ndarray) -> array[int]:
    """``values`` as a typed array of 64-bit integers."""
    out = array("q")
    out.frombytes(np.ascontiguousarray(values, dtype=np.int64).tobytes())
    return out


def _jump(pointer: np.ndarray) -> np.ndarray:
    """Follow ``pointer`` to its fixed points (every chain must end in a self-loop)."""
    while True:
        up = pointer[pointer]
        if np.array_equal(up, pointer):
            return up
        pointer = up


def _lambdas(heights: np.ndarray) -> np.ndarray:
    """``1 / height``, infinite where the height is 0 (as scikit-learn does)."""
    out = np.full(heights.shape, np.inf)
    np.divide(1.0, heights, out=out, where=heights > 0.0)
    return out


def condense_tree(Z: np.ndarray, min_cluster_size: int) -> np.ndarray:
    """The condensed tree of the linkage matrix ``Z`` (scikit-learn's ``_condense_tree``).

    Rows ``(parent, child, lambda_val, child_size)`` in ``CONDENSED_DTYPE``: points are
    ``0 .. n-1``, clusters ``n, n+1, ...`` with the root ``n``, and a child cluster
    always has a larger id than its parent. A point's row says at which ``lambda``
    (1 / distance) it left its cluster; a cluster's row when it split from its parent.

    A single-linkage node is *big* with at least ``min_cluster_size`` points (the root
    always counts as big); a big node starts a cluster when its sibling is big too, and
    otherwise continues its parent's. A point leaves the cluster of its lowest big
    ancestor, at that ancestor's height: exactly where scikit-learn's walk from the root
    lets it fall out.
    """
    n = len(Z) + 1
    n_nodes = 2 * n - 1
    root = n_nodes - 1
    left = Z[:, 0].astype(np.int64)
    right = Z[:, 1].astype(np.int64)
    inner = np.arange(n, n_nodes)
    parent_of = np.empty(n_nodes, dtype=np.int64)
    parent_of[left] = inner
    parent_of[right] = inner
    parent_of[root] = root
    size = np.ones(n_nodes, dtype=np.int64)
    size[n:] = Z[:, 3].astype(np.int64)
    lam = np.zeros(n_nodes)
    lam[n:] = _lambdas(Z[:, 2])
    big = size >= min_cluster_size
    big[root] = True
    sibling = np.empty(n_nodes, dtype=np.int64)
    sibling[left] = right
    sibling[right] = left
    sibling[root] = root
    starts = big & big[sibling]
    starts[root] = True
    nodes = np.arange(n_nodes)
    # For every node its lowest big ancestor-or-self; for big nodes, the cluster node
    # they belong to (all ancestors of a big node are big).
    lowest_big = _jump(np.where(big, nodes, parent_of))
    cluster_of = _jump(np.where(starts, nodes, parent_of))
    # Cluster ids: root n, then the other cluster nodes from the top down, so that a
    # child's id exceeds its parent's.
    cluster_nodes = np.flatnonzero(starts)[::-1]
    new_id = np.full(n_nodes, -1, dtype=np.int64)
    new_id[cluster_nodes] = n + np.arange(cluster_nodes.size)
    points = np.arange(n)
    point_home = lowest_big[parent_of[points]]
    children = cluster_nodes[1:]
    split = parent_of[children]
    tree = np.empty(n + children.size, dtype=CONDENSED_DTYPE)
    tree["parent"][:n] = new_id[cluster_of[point_home]]
    tree["child"][:n] = points
    tree["lambda_val"][:n] = lam[point_home]
    tree["child_size"][:n] = 1
    tree["parent"][n:] = new_id[cluster_of[split]]
    tree["child"][n:] = new_id[children]
    tree["lambda_val"][n:] = lam[split]
    tree["child_size"][n:] = size[children]
    return tree[np.argsort(tree["parent"], kind="stable")]


@dataclass
class Selection:
    """Clusters picked from a condensed tree, and each point's label and membership."""

    labels: np.ndarray
    probabilities: np.ndarray
    #: Selected cluster ids of the condensed tree, in label order.
    clusters: np.ndarray


def stabilities(tree: np.ndarray, n: int) -> np.ndarray:
    """Stability of each cluster ``n + i``: ``sum((lambda - birth) * size)`` over its rows."""
    n_clusters = int(tree["parent"].max()) - n + 1 if tree.size else 1
    births = np.zeros(n_clusters)
    is_cluster = tree["child"] >= n
    births[tree["child"][is_cluster] - n] = tree["lambda_val"][is_cluster]
    parent = tree["parent"] - n
    with np.errstate(invalid="ignore"):
        terms = (tree["lambda_val"] - births[parent]) * tree["child_size"]
    return np.bincount(parent, weights=terms, minlength=n_clusters)


def select_clusters(
    tree: np.ndarray,
    n: int,
    *,
    method: str = "eom",
    allow_single_cluster: bool = False,
    epsilon: float = 0.0,
    max_cluster_size: int | None = None,
) -> Selection:
    """Labels and membership strengths from the condensed ``tree`` of ``n`` points.

    scikit-learn's ``_get_clusters``, ``_do_labelling`` and ``get_probabilities``: excess
    of mass (``"eom"``) or leaves (``"leaf"``), merged up to ``epsilon``; labels follow
    the selected clusters' ids.
    """
    root = n
    stability = stabilities(tree, n).tolist()
    n_clusters = len(stability)
    rows = tree[tree["child"] >= n]
    kids: list[list[int]] = [[] for _ in range(n_clusters)]
    parent_of = [root] * n_clusters
    birth = [0.0] * n_clusters
    size = [0] * n_clusters
    for p, c, lam, s in zip(
        rows["parent"].tolist(),
        rows["child"].tolist(),
        rows["lambda_val"].tolist(),
        rows["child_size"].tolist(),
        strict=True,
    ):
        kids[p - n].append(c)
        parent_of[c - n] = p
        birth[c - n] = lam
        size[c - n] = s

    def below(node: int) -> list[int]:
        found, queue = [], [node]
        while queue:
            found.extend(queue)
            queue = [c for q in queue for c in kids[q - n]]
        return found

    nodes = list(range(n + n_clusters - 1, n - 1, -1))
    if not allow_single_cluster:
        nodes = nodes[:-1]
    selected = dict.fromkeys(nodes, True)
    limit = n + 1 if max_cluster_size is None else max_cluster_size
    if allow_single_cluster:
        size[0] = sum(size[c - n] for c in kids[0])
    has_splits = rows.size > 0
    if method == "eom":
        for node in nodes:
            subtree = float(np.sum([stability[c - n] for c in kids[node - n]]))
            if subtree > stability[node - n] or size[node - n] > limit:
                selected[node] = False
                stability[node - n] = subtree
            else:
                for sub in below(node)[1:]:
                    selected[sub] = False
        if epsilon != 0.0 and has_splits:
            chosen = [c for c, keep in selected.items() if keep]
            if len(chosen) == 1 and chosen[0] == root:
                picked = set(chosen) if allow_single_cluster else set()
            else:
                picked = _epsilon_search(
                    chosen, parent_of, birth, below, root, n, epsilon, allow_single_cluster
                )
            selected = {c: c in picked for c in selected}
    else:
        leaves = [c for c in below(root) if not kids[c - n]] if has_splits else []
        if epsilon != 0.0:
            picked = _epsilon_search(
                leaves, parent_of, birth, below, root, n, epsilon, allow_single_cluster
            )
        else:
            picked = set(leaves)
        selected = {c: c in picked for c in selected}
    clusters = np.array(sorted(c for c, keep in selected.items() if keep), dtype=np.int64)
    return _label(tree, n, clusters, allow_single_cluster, epsilon)


def _epsilon_search(
    leaves: list[int],
    parent_of: list[int],
    birth: list[float],
    below: Callable[[int], list[int]],
    root: int,
    n: int,
    epsilon: float,
    allow_single_cluster: bool,
) -> set[int]:
    """scikit-learn's ``epsilon_search``: clusters born below ``epsilon`` climb up."""

    def climb(leaf: int) -> int:
        while True:
            parent = parent_of[leaf - n]
            if parent == root:
                return root if allow_single_cluster else leaf
            if 1 / birth[parent - n] > epsilon:
                return parent
            leaf = parent

    chosen: list[int] = []
    processed: set[int] = set()
    for leaf in leaves:
        if 1 / birth[leaf - n] < epsilon:
            if leaf not in processed:
                top = climb(leaf)
                chosen.append(top)
                processed.update(c for c in below(top) if c != top)
        else:
            chosen.append(leaf)
    return set(chosen)


def _label(
    tree: np.ndarray, n: int, clusters: np.ndarray, allow_single_cluster: bool, epsilon: float
) -> Selection:
    """Each point's label (its lowest selected ancestor) and membership strength."""
    root = n
    n_clusters = int(tree["parent"].max()) - n + 1
    is_point = tree["child"] < n
    point_rows = tree[is_point]
    home = np.empty(n, dtype=np.int64)
    home[point_rows["child"]] = point_rows["parent"]
    lam = np.empty(n)
    lam[point_rows["child"]] = point_rows["lambda_val"]
    # Each cluster climbs to its lowest selected ancestor-or-self (the root stays).
    up = np.arange(n, n + n_clusters)
    cluster_rows = tree[~is_point]
    up[cluster_rows["child"] - n] = cluster_rows["parent"]
    chosen = np.zeros(n_clusters, dtype=bool)
    chosen[clusters - n] = True
    chosen[0] = True
    anchor = _jump(np.where(chosen, np.arange(n, n + n_clusters), up) - n) if n_clusters else up
    owner = anchor[home - n] + n if n_clusters else home
    label_of = np.full(n_clusters, NOISE, dtype=np.int64)
    label_of[clusters - n] = np.arange(clusters.size)
    labels = label_of[owner - n]
    at_root = owner == root
    if clusters.size == 1 and allow_single_cluster and clusters[0] == root:
        root_rows = tree["parent"] == root
        threshold = 1 / epsilon if epsilon != 0.0 else tree["lambda_val"][root_rows].max()
        labels = np.where(at_root, np.where(lam >= threshold, 0, NOISE), labels)
    else:
        labels[at_root] = NOISE
    # Membership: lambda of leaving, against the largest lambda in the cluster's rows.
    deaths = np.zeros(n_clusters)
    np.maximum.at(deaths, tree["parent"] - n, tree["lambda_val"])
    probabilities = np.zeros(n)
    member = labels != NOISE
    death = deaths[owner[member] - n]
    lam_m = lam[member]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.minimum(lam_m, death) / death
    probabilities[member] = np.where((death == 0.0) | np.isinf(lam_m), 1.0, share)
    return Selection(labels, probabilities, clusters)
