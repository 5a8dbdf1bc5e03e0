"""The data Lloyd's loop runs on: centred when their mean is far off, norms, tolerance."""

from __future__ import annotations

from typing import NamedTuple

import torch

from clusterlab_algorithms._kmeans.assign import accumulate_dtype
from clusterlab_algorithms._kmeans.lloyd import Lloyd
from clusterlab_algorithms._shared.blocks import block_rows, even_row_blocks
from clusterlab_algorithms._shared.distances import squared_norms
from clusterlab_algorithms._shared.threads import block_workers

# Data are centred before clustering when the squared norm of their mean exceeds this
# share of their mean squared norm.
CENTRING_MEAN_SHARE = 1 / 8


class WorkingData(NamedTuple):
    """The data the iterations run on, as :func:`working_data` prepares them."""

    X: torch.Tensor
    #: Squared norms of the rows of ``X``.
    x_sq: torch.Tensor
    #: The mean taken off the data, to add back to the centres; ``None`` if not centred.
    offset: torch.Tensor | None
    #: Squared norm of the mean of ``X`` (0 once centred).
    mean_sq: float


def working_data(data: torch.Tensor, budget: int) -> WorkingData:
    """The data to iterate on: centred, or as they are when their mean is small.

    The GEMM expansion of distances loses accuracy with the points' norms, so data whose
    mean lies far from the origin are centred first, as scikit-learn does, at the cost of
    a copy. When the mean's squared norm is at most ``CENTRING_MEAN_SHARE`` of the mean
    squared norm, centring would shrink the norms by that share at most, and the data
    are used as they are: the copy is a visible share of a fit, more where its pages are
    new.
    """
    x_sq = squared_norms(data)
    mean = data.mean(dim=0)
    acc = accumulate_dtype(data.device)
    mean_sq = float(torch.linalg.vector_norm(mean.to(acc)) ** 2)
    if mean_sq <= CENTRING_MEAN_SHARE * float(x_sq.mean(dtype=acc)):
        return WorkingData(data, x_sq, None, mean_sq)
    centered, x_sq = _centered_with_norms(data, mean, budget)
    return WorkingData(centered, x_sq, mean, 0.0)


def _centered_with_norms(
    data: torch.Tensor, mean: torch.Tensor, budget: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``data - mean`` and its rows' squared norms, by blocks of rows (on threads on the CPU).

    Each block's norms are taken while it is still in cache: the copy and the norms done
    whole, one after the other, took a large share of a fit.
    """
    centered = torch.empty_like(data)
    x_sq = torch.empty(data.shape[0], dtype=data.dtype, device=data.device)

    def block(start: int, stop: int) -> None:
        torch.sub(data[start:stop], mean, out=centered[start:stop])
        x_sq[start:stop] = squared_norms(centered[start:stop])

    rows = block_rows(data.shape[1], data.element_size(), budget, data.device)
    threaded = data.shape[0] >= Lloyd.MIN_THREADED_SAMPLES
    with block_workers(data.device, threaded=threaded) as workers:
        workers.map(block, even_row_blocks(data.shape[0], rows))
    return centered, x_sq


def tolerance(data: WorkingData, tol: float) -> float:
    """scikit-learn's tolerance: ``tol`` times the mean of the per-feature variances.

    The mean squared norm less the mean's squared norm is the summed variance (the data
    are centred, or their mean is small next to their norms, so nothing cancels).
    """
    if tol == 0:
        return 0.0
    acc = accumulate_dtype(data.x_sq.device)
    variance = float(data.x_sq.sum(dtype=acc)) / data.x_sq.shape[0] - data.mean_sq
    return max(variance, 0.0) / data.X.shape[1] * tol
