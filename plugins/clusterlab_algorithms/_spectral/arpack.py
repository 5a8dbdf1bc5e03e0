"""The smallest eigenpairs of a connected sparse graph's Laplacian by scipy's ARPACK.

scikit-learn's own call: ``eigsh`` in shift-invert mode just below zero
(``sigma=-1e-5``), which factorises ``L + 1e-5 I`` once (a sparse LU) and then needs
few iterations however close the smallest eigenvalues lie, since the shift spreads
them far apart. It runs on the CPU in float64. The factorisation is SuperLU's as in
``eigsh``, told that the matrix is symmetric positive definite (a minimum-degree
ordering of ``A + A^T``, pivots on the diagonal), which roughly halves its fill on
neighbour graphs. A repeated eigenvalue (a graph of
several components) is where Lanczos iterations can miss an eigenvector, so callers
use it for connected graphs only.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, eigsh, splu

# scikit-learn's shift: just below the Laplacian's zero eigenvalue, so that L - sigma I
# is never singular.
SHIFT = -1e-5


def smallest_eigenpairs(
    op: torch.Tensor, k: int, tol: float, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``k`` smallest eigenvalues of ``L = I - op`` (``op`` the sparse CSR
    ``D^-1/2 A D^-1/2``), ascending, and their eigenvectors, in float64.

    ``tol`` is ARPACK's relative tolerance (0: machine precision) and ``start`` its
    starting vector. ``None`` where ARPACK does not converge or fails.
    """
    n = op.shape[0]
    normalized = sp.csr_matrix(
        (
            op.values().to(torch.float64).numpy(force=True),
            op.col_indices().numpy(force=True),
            op.crow_indices().numpy(force=True),
        ),
        shape=(n, n),
    )
    laplacian = (sp.identity(n, format="csr") - normalized).tocsc()
    try:
        factor = splu(
            laplacian - SHIFT * sp.identity(n, format="csc"),
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
        inverse = LinearOperator((n, n), matvec=factor.solve, dtype=np.float64)
        values, vectors = eigsh(
            laplacian,
            k=k,
            sigma=SHIFT,
            which="LM",
            tol=tol,
            v0=start.astype(np.float64),
            OPinv=inverse,
        )
    except (ArpackNoConvergence, ArpackError, RuntimeError):
        return None
    order = np.argsort(values)
    return values[order], vectors[:, order]
