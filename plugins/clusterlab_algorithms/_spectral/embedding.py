"""The spectral embedding: eigenvectors of the symmetric normalised Laplacian.

As scikit-learn's ``spectral_embedding`` (with ``norm_laplacian=True``): self-loops
are ignored, ``d`` are the degrees, ``L = I - D^-1/2 A D^-1/2`` with its diagonal set
to one, and the embedding is the eigenvectors of the ``n_components`` smallest
eigenvalues divided by ``sqrt(d)``, each with the sign that makes its largest entry in
absolute value positive (``_deterministic_vector_sign_flip``). The smallest
eigenvalues of ``L`` are ``1 - mu`` for the largest eigenvalues ``mu`` of
``N = D^-1/2 A D^-1/2``, whose spectrum lies in ``[-1, 1]``; the solvers work on ``N``.

Up to ``DENSE_MAX`` points a dense symmetric eigensolver (``torch.linalg.eigh``) gives
every eigenpair; above it a Chebyshev-filtered subspace iteration finds the wanted ones
with products by ``N`` alone (sparse for neighbour graphs), on the device.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from sklearn.exceptions import ConvergenceWarning

from clusterlab_algorithms._neighbors.components import new_forest, union_flat
from clusterlab_algorithms._shared.threads import one_cpu_thread
from clusterlab_algorithms._spectral.arpack import smallest_eigenpairs

# Dense eigh costs O(n^3) however few eigenpairs are wanted; above this many points the
# iterative solver, O(nnz) per product, is the faster one.
DENSE_MAX = 500
# Chebyshev degree of the first cycle, doubled (up to the last) while a cycle cuts the
# residual by less than _SLOW: few products where the wanted eigenvalues stand apart
# (rbf kernels), high degrees where they crowd (long neighbour graphs), where a high
# degree also makes a cycle's products outweigh its orthonormalisation.
_DEGREES = (8, 16, 32, 64)
_SLOW = 0.1
_MAX_CYCLES = 1000


class Embedding(NamedTuple):
    """The embedding (``n x n_components``) and the Laplacian's eigenvalues, ascending."""

    maps: torch.Tensor
    eigenvalues: torch.Tensor


def normalized_operator(affinity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``N = D^-1/2 A D^-1/2`` without self-loops (dense, or sparse CSR) and ``sqrt(d)``.

    Isolated points get ``sqrt(d) = 1``, as in scipy's ``laplacian``.
    """
    n = affinity.shape[0]
    if affinity.is_sparse:
        coo = affinity.coalesce()
        rows, cols = coo.indices()
        values = coo.values()
        off = rows != cols
        rows, cols, values = rows[off], cols[off], values[off]
        degree = torch.zeros(n, dtype=values.dtype, device=values.device)
        degree.index_add_(0, rows, values)
        dd = _sqrt_degree(degree)
        values = values / (dd[rows] * dd[cols])
        # A subset of a coalesced tensor's entries is still sorted and unique.
        op = torch.sparse_coo_tensor(
            torch.stack([rows, cols]), values, (n, n), check_invariants=False, is_coalesced=True
        )
        with warnings.catch_warnings():
            # torch calls its CSR layout beta; products by it are all that is used here.
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
            return op.coalesce().to_sparse_csr(), dd
    op = affinity.clone()
    op.fill_diagonal_(0)
    dd = _sqrt_degree(op.sum(1))
    op.div_(dd[:, None]).div_(dd[None, :])
    return op, dd


def dense_is_connected(affinity: torch.Tensor) -> bool:
    """Whether a dense affinity's graph is taken as connected: unless a point has no
    neighbour at all, as rbf kernels are positive everywhere but where they underflow.
    (Sparse graphs have :func:`graph_components`.)"""
    n = affinity.shape[0]
    # In blocks of rows: a whole n x n mask would be a third dense matrix.
    step = max(1, 2**24 // max(1, n))
    alone = torch.zeros((), dtype=torch.bool, device=affinity.device)
    for start in range(0, n, step):
        counts = torch.count_nonzero(affinity[start : start + step], dim=1)
        alone |= (counts <= 1).any()
    return not bool(alone)


class Components(NamedTuple):
    """A sparse graph's components: each point's root (the smallest point of its
    component) and whether the point has an edge to another point."""

    roots: torch.Tensor
    linked: torch.Tensor


def graph_components(affinity: torch.Tensor) -> Components:
    """The components of the sparse symmetric graph ``affinity``, self-loops ignored: by
    scipy's ``connected_components`` on the CPU, by the project's union-find elsewhere."""
    n = affinity.shape[0]
    rows, cols = affinity.coalesce().indices()
    off = rows != cols
    rows, cols = rows[off], cols[off]
    linked = torch.zeros(n, dtype=torch.bool, device=affinity.device)
    linked[rows] = True
    if affinity.device.type == "cpu":
        return Components(scipy_roots(n, rows, cols), linked)
    return Components(union_find_roots(n, rows, cols), linked)


def scipy_roots(n: int, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Each point's smallest point of its component, the edges ``rows``-``cols`` sorted
    by row (a coalesced tensor's order), by scipy's ``connected_components``."""
    edges = np.ones(rows.shape[0], dtype=np.int8)
    indptr = np.searchsorted(rows.numpy(), np.arange(n + 1))
    graph = sp.csr_matrix((edges, cols.numpy(), indptr), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # Each component's first point in index order is its smallest.
    _, first = np.unique(labels, return_index=True)
    return torch.from_numpy(first[labels].astype(np.int64))


def union_find_roots(n: int, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Each point's smallest point of its component, by the project's union-find on the
    edges' device."""
    roots = new_forest(n, rows.device)
    union_flat(roots, rows, cols)
    return roots


def component_embedding(
    components: Components, dd: torch.Tensor, n_components: int
) -> Embedding | None:
    """The embedding, exactly, of a graph with ``n_components`` components that have edges.

    Each such component ``C`` gives the Laplacian an eigenvalue 0 with eigenvector
    ``D^1/2 1_C / sqrt(vol C)`` (a point without edges gives 1, as scipy's Laplacian has
    one on its diagonal), and every other eigenvalue is positive; so the embedding is
    ``1_C / sqrt(vol C)`` per component, ordered by the component's smallest point. With
    more or fewer such components ``None``: the eigenvalues 0 do not fill the embedding
    exactly, and the solvers find it. Iterative solvers find a repeated 0 slowly and may
    miss one of several; this needs none.
    """
    roots = components.roots[components.linked]
    found = torch.unique(roots)
    if found.numel() != n_components:
        return None
    member = (components.roots[:, None] == found[None, :]) & components.linked[:, None]
    weights = member.to(dd.dtype)
    volume = (weights * (dd * dd)[:, None]).sum(0)
    maps = weights / volume.sqrt()
    return Embedding(maps, torch.zeros(n_components, dtype=dd.dtype, device=dd.device))


def _sqrt_degree(degree: torch.Tensor) -> torch.Tensor:
    return torch.where(degree == 0, torch.ones_like(degree), degree).sqrt_()


def auto_tol(dtype: torch.dtype) -> float:
    """The residual tolerance ``eigen_tol="auto"`` means: near the dtype's attainable floor."""
    return 1e-5 if dtype == torch.float32 else 1e-8


def spectral_embedding(
    affinity: torch.Tensor,
    n_components: int,
    eigen_tol: float,
    generator: torch.Generator,
    *,
    dense_max: int = DENSE_MAX,
    start: np.ndarray | None = None,
) -> Embedding:
    """The embedding of the symmetric graph ``affinity`` (dense or sparse), first vector kept.

    ``eigen_tol`` is the subspace iteration's largest residual (0: :func:`auto_tol` of the
    dtype it runs in), and ARPACK's relative tolerance (0: machine precision) where a
    connected sparse graph on the CPU goes to ARPACK, as in scikit-learn, with ``start``
    (``n`` values) as its starting vector.
    """
    op, dd = normalized_operator(affinity)
    n = op.shape[0]
    components = graph_components(affinity) if affinity.is_sparse else None
    connected = (
        bool((components.roots == 0).all())
        if components is not None
        else dense_is_connected(affinity)
    )
    if not connected:
        warnings.warn(
            "Graph is not fully connected, spectral embedding may not work as expected.",
            UserWarning,
            stacklevel=3,
        )
        exact = None if components is None else component_embedding(components, dd, n_components)
        if exact is not None:
            return exact
    if n <= dense_max or n < 4 * n_components:
        dense = op.to_dense() if op.layout != torch.strided else op
        mu, vectors = torch.linalg.eigh(dense)
        mu, vectors = mu.flip(0)[:n_components], vectors.flip(1)[:, :n_components]
    else:
        solve = _Solve(eigen_tol, generator, start)
        mu, vectors = _iterative_eigenpairs(op, dd, n_components, solve, connected)
    maps = vectors / dd[:, None]
    maps = sign_flip(maps)
    return Embedding(maps, 1.0 - mu)


class _Solve(NamedTuple):
    """What the iterative solvers are given: the tolerance, random numbers, ARPACK's start."""

    eigen_tol: float
    generator: torch.Generator
    start: np.ndarray | None

    def residual_tol(self, dtype: torch.dtype) -> float:
        """The subspace iteration's largest residual in ``dtype``."""
        return self.eigen_tol if self.eigen_tol > 0 else auto_tol(dtype)


def _iterative_eigenpairs(
    op: torch.Tensor, dd: torch.Tensor, k: int, solve: _Solve, connected: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest eigenpairs of ``op`` where a dense solver would cost too much.

    A connected sparse graph on the CPU: ARPACK in shift-invert mode (scikit-learn's
    solver). Otherwise the subspace iteration on the device, in float64 for sparse
    graphs: their smallest eigenvalues can crowd within 1e-5 of each other (long
    neighbour graphs), closer than float32 residuals resolve the eigenvectors.
    """
    sparse = op.layout != torch.strided
    if sparse and connected and solve.start is not None and dd.device.type == "cpu":
        found = smallest_eigenpairs(op, k, solve.eigen_tol, solve.start)
        if found is not None:
            values, vectors = found
            mu = torch.from_numpy(1.0 - values).to(dd.dtype)
            return mu, torch.from_numpy(vectors).to(dd.dtype)
    if not sparse:
        # A dense kernel's products are matrix products that a second core speeds up.
        return largest_eigenpairs(op, dd, k, solve.residual_tol(dd.dtype), solve.generator)
    # Products by a sparse graph are many and small: see one_cpu_thread. MPS has no float64.
    wide = torch.float32 if dd.device.type == "mps" else torch.float64
    with one_cpu_thread(dd.device):
        mu, vectors = largest_eigenpairs(
            op.to(wide), dd.to(wide), k, solve.residual_tol(wide), solve.generator
        )
    return mu.to(dd.dtype), vectors.to(dd.dtype)


def sign_flip(maps: torch.Tensor) -> torch.Tensor:
    """Flip each column so that its largest entry in absolute value is positive."""
    at = maps.abs().argmax(0)
    signs = torch.sign(maps[at, torch.arange(maps.shape[1], device=maps.device)])
    return maps * torch.where(signs == 0, torch.ones_like(signs), signs)


def largest_eigenpairs(
    op: torch.Tensor, start: torch.Tensor, k: int, tol: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest eigenpairs of ``op`` (spectrum in ``[-1, 1]``), descending.

    Chebyshev-filtered subspace iteration (Zhou and Saad): each cycle multiplies a block
    of ``b > k`` vectors by a Chebyshev polynomial of ``op`` that is small on
    ``[-1, a]``, ``a`` the block's smallest Ritz value, and large above it, then takes
    Ritz pairs. It stops when every wanted residual ``|N v - mu v|`` is at most ``tol``;
    one host synchronisation per cycle. ``start`` (``sqrt(d)``, the top eigenvector of a
    connected graph) seeds the first column.
    """
    n = op.shape[0]
    dtype = start.dtype
    b = min(n, max(2 * k, k + 8))
    V = torch.randn((n, b), generator=generator, dtype=dtype, device=start.device)
    V[:, 0] = start
    V = torch.linalg.qr(V).Q
    mu = torch.zeros(k, dtype=dtype, device=start.device)
    step = 0
    previous = math.inf
    for _cycle in range(_MAX_CYCLES):
        W = op @ V
        H = V.T @ W
        theta, Y = torch.linalg.eigh(0.5 * (H + H.T))
        theta, Y = theta.flip(0), Y.flip(1)
        V, W = V @ Y, W @ Y
        mu = theta[:k]
        residual = float(torch.linalg.vector_norm(W[:, :k] - V[:, :k] * mu, dim=0).max())
        if residual <= tol:
            return mu, V[:, :k]
        if residual > _SLOW * previous:
            step = min(step + 1, len(_DEGREES) - 1) if _cycle else 0
        previous = residual
        # Damp [-1, a]; a is kept above -0.5 so the polynomial's growth stays in range.
        a = max(float(theta[-1]), -0.5)
        V = torch.linalg.qr(_chebyshev(op, V, W, _DEGREES[step], -1.0, a)).Q
    warnings.warn(
        f"the spectral embedding did not converge to eigen_tol={tol:g} in "
        f"{_MAX_CYCLES} cycles; the eigenvectors may be inexact",
        ConvergenceWarning,
        stacklevel=3,
    )
    return mu, V[:, :k]


def _chebyshev(
    op: torch.Tensor, V: torch.Tensor, W: torch.Tensor, degree: int, lo: float, hi: float
) -> torch.Tensor:
    """``T_degree((op - c) / e) V`` with ``[lo, hi] = [c - e, c + e]``; ``W = op @ V``."""
    e = 0.5 * (hi - lo)
    c = 0.5 * (hi + lo)
    previous, current = V, (W - c * V) / e
    for j in range(2, degree + 1):
        following = op @ current
        following.mul_(2.0 / e).add_(current, alpha=-2.0 * c / e).sub_(previous)
        previous, current = current, following
        if j % 4 == 0:
            # Rescale the pair alike: the recurrence keeps its ratios but never overflows.
            scale = torch.linalg.vector_norm(current, dim=0, keepdim=True).clamp_min_(1e-30)
            previous, current = previous / scale, current / scale
    return current
