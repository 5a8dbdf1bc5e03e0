"""Squared Euclidean distances: one GEMM per block, or coordinate by coordinate in few features."""

from __future__ import annotations

import torch

# Up to this many features distances come from coordinate differences, exactly as a
# tree-based scikit-learn search computes them; above it one GEMM per tile is far faster.
SMALL_DIM = 4


def squared_norms(X: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean norm of every row of ``X``, in ``X``'s dtype."""
    # The norm avoids materialising X * X, a full copy of the data; on the CPU it is also
    # faster than an einsum and rounds no worse.
    return torch.linalg.vector_norm(X, dim=1).square_()


def pairwise_sq_dists(
    X: torch.Tensor,
    Y: torch.Tensor,
    x_sq: torch.Tensor | None = None,
    y_sq: torch.Tensor | None = None,
) -> torch.Tensor:
    """Squared Euclidean distances between the rows of ``X`` (n x d) and ``Y`` (m x d).

    Computed as ``‖x‖² − 2 x·y + ‖y‖²`` with one matrix product, so the result (n x m) is
    the only large temporary; pass precomputed squared norms to skip recomputing them.
    Rounding can make the expansion slightly negative; it is clamped at zero.
    """
    if x_sq is None:
        x_sq = squared_norms(X)
    if y_sq is None:
        y_sq = squared_norms(Y)
    dist = torch.addmm(y_sq.unsqueeze(0), X, Y.T, beta=1, alpha=-2)
    dist.add_(x_sq.unsqueeze(1))
    return dist.clamp_(min=0)


def coordinatewise(
    q: torch.Tensor,
    c: torch.Tensor,
    *,
    squared: bool,
    out: torch.Tensor | None = None,
    scratch: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sum over features of squared (or absolute) differences, one ``Q x C`` block at a time.

    Each term is computed the same way for ``(i, j)`` and ``(j, i)``, so distances within
    one point set are symmetric bit for bit.
    """
    for k in range(q.shape[1]):
        target = out if k == 0 else scratch
        term = torch.sub(q[:, k : k + 1], c[None, :, k], out=target)
        term = term.mul_(term) if squared else term.abs_()
        if k == 0:
            out = term
        else:
            assert out is not None
            out.add_(term)
    assert out is not None
    return out
