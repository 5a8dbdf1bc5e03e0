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

import torch
from sklearn.exceptions import ConvergenceWarning

from clusterlab_algorithms._neighbors.components import new_forest, union_flat

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
        op = torch.sparse_coo_tensor(
            torch.stack([rows, cols]), values, (n, n), check_invariants=False
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


def is_connected(affinity: torch.Tensor) -> bool:
    """Whether the graph of the nonzero entries of ``affinity`` is connected.

    Sparse graphs go through the project's union-find; a dense one is taken as connected
    unless a point has no neighbour at all, as rbf kernels are positive everywhere but
    where they underflow.
    """
    n = affinity.shape[0]
    if not affinity.is_sparse:
        # In blocks of rows: a whole n x n mask would be a third dense matrix.
        step = max(1, 2**24 // max(1, n))
        alone = torch.zeros((), dtype=torch.bool, device=affinity.device)
        for start in range(0, n, step):
            counts = torch.count_nonzero(affinity[start : start + step], dim=1)
            alone |= (counts <= 1).any()
        return not bool(alone)
    rows, cols = affinity.coalesce().indices()
    parent = new_forest(n, affinity.device)
    union_flat(parent, rows, cols)
    return bool((parent == 0).all())


def _sqrt_degree(degree: torch.Tensor) -> torch.Tensor:
    return torch.where(degree == 0, torch.ones_like(degree), degree).sqrt_()


def auto_tol(dtype: torch.dtype) -> float:
    """The residual tolerance ``eigen_tol="auto"`` means: near the dtype's attainable floor."""
    return 1e-5 if dtype == torch.float32 else 1e-8


def spectral_embedding(
    affinity: torch.Tensor,
    n_components: int,
    tol: float,
    generator: torch.Generator,
    *,
    dense_max: int = DENSE_MAX,
) -> Embedding:
    """The embedding of the symmetric graph ``affinity`` (dense or sparse), first vector kept."""
    op, dd = normalized_operator(affinity)
    n = op.shape[0]
    if not is_connected(affinity):
        warnings.warn(
            "Graph is not fully connected, spectral embedding may not work as expected.",
            UserWarning,
            stacklevel=3,
        )
    if n <= dense_max or n < 4 * n_components:
        dense = op.to_dense() if op.layout != torch.strided else op
        mu, vectors = torch.linalg.eigh(dense)
        mu, vectors = mu.flip(0)[:n_components], vectors.flip(1)[:, :n_components]
    else:
        mu, vectors = largest_eigenpairs(op, dd, n_components, tol, generator)
    maps = vectors / dd[:, None]
    maps = sign_flip(maps)
    return Embedding(maps, 1.0 - mu)


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
