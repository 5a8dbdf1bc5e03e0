"""Points to their nearest centre, block by block, and the exact inertia of a labelling."""

from __future__ import annotations

import functools

import torch

from clusterlab_algorithms._shared.blocks import block_rows, even_row_blocks, row_blocks
from clusterlab_algorithms._shared.distances import squared_norms
from clusterlab_algorithms._shared.scratch import ScratchBuffers
from clusterlab_algorithms._shared.threads import SERIAL, BlockWorkers

# Above this many centres the index sums of column_argmin's CPU path could lose
# integer exactness in float32, so it falls back to torch's own reduction.
_MAX_FAST_COLUMNS = 4096


def accumulate_dtype(device: torch.device) -> torch.dtype:
    """The dtype for sums over all samples: float64, except where the device lacks it (MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64


def center_scores(
    X: torch.Tensor, C: torch.Tensor, c_sq: torch.Tensor, scratch: ScratchBuffers | None = None
) -> torch.Tensor:
    """``‖c‖² − 2 x·c`` for every centre (rows) and point (columns): a ``k x n`` block.

    It differs from the squared distance by ``‖x‖²``, a constant per column, so its
    column minimum is the nearest centre; one GEMM, with no term per point. With
    ``scratch`` the block is written into its buffer, valid until the thread's next call.
    """
    out = None
    if scratch is not None:
        out = scratch.get("scores", (C.shape[0], X.shape[0]), X.dtype)
    return torch.addmm(c_sq.unsqueeze(1), C, X.T, beta=1, alpha=-2, out=out)


@functools.lru_cache(maxsize=64)
def _index_weights(k: int, dtype: torch.dtype) -> torch.Tensor:
    """Rows ``0, 1, …, k-1`` and ``1, …, 1``: one product gives index sums and counts."""
    weights = torch.ones((2, k), dtype=dtype)
    weights[0] = torch.arange(k, dtype=dtype)
    return weights


def column_argmin(
    V: torch.Tensor, scratch: ScratchBuffers | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimum and its index (the first, on ties) of every column of ``V`` (k x b).

    On the CPU torch's indexed reductions are several times slower than plain ones, so
    the index is found with vectorised steps instead: the column minimum, the indicator
    of entries above it, and one small matrix product that sums their indices; the rare
    columns with tied minima are resolved exactly. Elsewhere it is ``V.min(0)``. The
    indicator goes into ``scratch`` where it is given.
    """
    k = V.shape[0]
    if V.device.type != "cpu" or k > _MAX_FAST_COLUMNS or not V.is_floating_point():
        return V.min(dim=0)
    values = V.amin(dim=0)
    # 1 above the minimum, 0 at it; a float output skips a bool intermediate.
    above = torch.empty_like(V) if scratch is None else scratch.get("above", V.shape, V.dtype)
    torch.gt(V, values, out=above)
    index_sum, n_above = _index_weights(k, V.dtype) @ above
    # With a single minimum, its index is the sum of all indices minus those above it.
    indices = (k * (k - 1) // 2 - index_sum).to(torch.int64)
    # Every column has at most k - 1 entries above its minimum; fewer means a tie.
    if float(n_above.amin()) < k - 1:
        tied = torch.nonzero(n_above < k - 1).squeeze(1)
        at_min = (above[:, tied] == 0).to(torch.uint8)
        indices[tied] = at_min.argmax(dim=0)
    return values, indices


def nearest_center(
    X: torch.Tensor,
    C: torch.Tensor,
    budget_bytes: int,
    *,
    x_sq: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the nearest row of ``C`` for every row of ``X``, and its squared distance.

    Works through ``X`` in row blocks so that no block of distances exceeds
    ``budget_bytes``. Ties go to the lowest index. Returns ``(labels, min_sq_dist)``:
    an int64 tensor and a tensor of ``X``'s dtype, both of length ``n``, on ``X``'s device.
    """
    n = X.shape[0]
    if x_sq is None:
        x_sq = squared_norms(X)
    c_sq = squared_norms(C)
    labels = torch.empty(n, dtype=torch.int64, device=X.device)
    min_sq = torch.empty(n, dtype=X.dtype, device=X.device)
    rows = block_rows(C.shape[0], X.element_size(), budget_bytes, X.device)
    for start, stop in row_blocks(n, rows):
        values, indices = column_argmin(center_scores(X[start:stop], C, c_sq))
        labels[start:stop] = indices
        min_sq[start:stop] = values
    min_sq.add_(x_sq).clamp_(min=0)
    return labels, min_sq


def labels_inertia(
    X: torch.Tensor, centers: torch.Tensor, budget: int
) -> tuple[torch.Tensor, float]:
    """Nearest-centre labels on ``centers``' device and the exact inertia, blockwise.

    ``X`` may live on another device (the CPU, streaming to a GPU): each block moves to
    the centres' device before use. The inertia sums ``‖x − c‖²`` directly, not the
    GEMM expansion, so it carries no cancellation error.
    """
    device = centers.device
    n, d = X.shape
    k = centers.shape[0]
    labels = torch.empty(n, dtype=torch.int64, device=device)
    block_sums = []
    c_sq = squared_norms(centers)
    rows = block_rows(k + 2 * d, centers.element_size(), budget, device)
    for start, stop in row_blocks(n, rows):
        block = X[start:stop].to(device=device, dtype=centers.dtype)
        _, block_labels = column_argmin(center_scores(block, centers, c_sq))
        labels[start:stop] = block_labels
        diff = torch.index_select(centers, 0, block_labels).sub_(block)
        block_sums.append(torch.linalg.vector_norm(diff) ** 2)
    total = torch.stack(block_sums).to(accumulate_dtype(device)).sum()
    return labels, float(total)


def inertia_of_labels(
    X: torch.Tensor,
    centers: torch.Tensor,
    labels: torch.Tensor,
    budget: int,
    workers: BlockWorkers = SERIAL,
) -> float:
    """Exact ``Σ ‖x − c_label‖²``, blockwise."""

    def block(start: int, stop: int) -> torch.Tensor:
        diff = torch.index_select(centers, 0, labels[start:stop]).sub_(X[start:stop])
        return torch.linalg.vector_norm(diff) ** 2

    rows = block_rows(X.shape[1], X.element_size(), budget, X.device)
    block_sums = workers.map(block, even_row_blocks(X.shape[0], rows))
    return float(torch.stack(block_sums).to(accumulate_dtype(X.device)).sum())
