"""Labels from the embedding: scikit-learn's ``discretize`` and ``cluster_qr``, in torch."""

from __future__ import annotations

import torch


def cluster_qr(maps: torch.Tensor) -> torch.Tensor:
    """Labels by the column-pivoted QR of ``maps.T`` (Damle, Minden and Ying), as scikit-learn.

    The pivots are the rows of ``maps`` that a pivoted QR picks (LAPACK's ``geqp3``:
    each step the remaining row of largest norm after projecting out the ones picked,
    the first on ties); the polar factor of those ``k`` rows rotates the embedding and
    each point takes the column of its largest absolute entry.
    """
    k = maps.shape[1]
    residual = maps.clone()
    norms = torch.linalg.vector_norm(residual, dim=1).square_()
    picked = []
    for _ in range(k):
        pivot = torch.argmax(norms)
        picked.append(pivot)
        q = residual[pivot] / torch.linalg.vector_norm(residual[pivot])
        residual -= torch.outer(residual @ q, q)
        norms = torch.linalg.vector_norm(residual, dim=1).square_()
        norms[torch.stack(picked)] = -1.0
    rows = maps[torch.stack(picked)]
    U, _, Vh = torch.linalg.svd(rows.T)
    return torch.argmax((maps @ (U @ Vh)).abs_(), dim=1)


def discretize(maps: torch.Tensor, first_row: int, *, n_iter_max: int = 20) -> torch.Tensor:
    """Labels by Yu and Shi's discretisation, as scikit-learn's ``discretize``.

    ``first_row`` is the row that seeds the rotation (scikit-learn draws it from its
    random state). Alternates the partition closest to the rotated embedding and the
    rotation closest to that partition until the normalised cut stops changing by more
    than machine epsilon, or after ``n_iter_max`` rounds: one host synchronisation per
    round.
    """
    n, k = maps.shape
    eps = torch.finfo(torch.float64).eps
    vectors = maps / torch.linalg.vector_norm(maps, dim=0) * (n**0.5)
    first = vectors[0]
    vectors = vectors * torch.where(first != 0, -torch.sign(first), torch.ones_like(first))
    vectors = vectors / torch.linalg.vector_norm(vectors, dim=1, keepdim=True)
    rotation = torch.zeros((k, k), dtype=maps.dtype, device=maps.device)
    rotation[:, 0] = vectors[first_row]
    c = torch.zeros(n, dtype=maps.dtype, device=maps.device)
    for j in range(1, k):
        c += (vectors @ rotation[:, j - 1]).abs_()
        rotation[:, j] = vectors[torch.argmin(c)]
    last_objective = 0.0
    n_iter = 0
    while True:
        n_iter += 1
        labels = torch.argmax(vectors @ rotation, dim=1)
        # The partition matrix's transpose times the vectors: per-cluster sums of rows.
        t_svd = torch.zeros((k, k), dtype=maps.dtype, device=maps.device)
        t_svd.index_add_(0, labels, vectors)
        U, S, Vh = torch.linalg.svd(t_svd)
        ncut = 2.0 * (n - float(S.sum()))
        if abs(ncut - last_objective) < eps or n_iter > n_iter_max:
            return labels
        last_objective = ncut
        rotation = Vh.T @ U.T
