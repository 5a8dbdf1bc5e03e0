"""Greedy k-means++: initial centres drawn by squared distance, the best of a few trials."""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch

from clusterlab_algorithms._kmeans.assign import accumulate_dtype
from clusterlab_algorithms._shared.blocks import row_blocks, rows_per_block
from clusterlab_algorithms._shared.distances import pairwise_sq_dists, squared_norms
from clusterlab_algorithms._shared.threads import one_cpu_thread

#: Below this many multiply-adds per centre drawn (points x features x trials), the
#: draws run on one CPU thread: each draw is a few small operations, and waking a
#: second thread for each cost more than it gave (5.1 M: 11.7 ms on one thread against
#: 14.2 ms on two for a whole seeding; 6.4 M: 15.1 against 13.7 ms).
SINGLE_THREAD_WORK = 6_000_000


def _sq_dist_to_points(
    X: torch.Tensor, x_sq: torch.Tensor, points: torch.Tensor, budget: int
) -> torch.Tensor:
    """Squared distances (n x m) from every row of ``X`` to a few ``points``, blockwise."""
    out = torch.empty((X.shape[0], points.shape[0]), dtype=X.dtype, device=X.device)
    p_sq = squared_norms(points)
    rows = rows_per_block(points.shape[0], X.element_size(), budget)
    for start, stop in row_blocks(X.shape[0], rows):
        out[start:stop] = pairwise_sq_dists(X[start:stop], points, x_sq[start:stop], p_sq)
    return out


def plusplus_indices(
    X: torch.Tensor,
    n_clusters: int,
    x_sq: torch.Tensor,
    generator: torch.Generator,
    n_local_trials: int | None,
    budget: int,
) -> torch.Tensor:
    """Greedy k-means++: indices of ``n_clusters`` rows of ``X`` chosen as initial centres.

    Each new centre is the best, by resulting potential, of ``n_local_trials`` candidates
    drawn with probability proportional to the squared distance to the nearest centre.
    """
    trials = 2 + int(math.log(n_clusters)) if n_local_trials is None else int(n_local_trials)
    small = X.shape[0] * X.shape[1] * trials < SINGLE_THREAD_WORK
    with one_cpu_thread(X.device) if small else nullcontext():
        return _draw(X, n_clusters, x_sq, generator, trials, budget)


def _draw(
    X: torch.Tensor,
    n_clusters: int,
    x_sq: torch.Tensor,
    generator: torch.Generator,
    trials: int,
    budget: int,
) -> torch.Tensor:
    """:func:`plusplus_indices` with its number of trials chosen."""
    n = X.shape[0]
    device = X.device
    acc = accumulate_dtype(device)
    indices = torch.empty(n_clusters, dtype=torch.int64, device=device)
    indices[0:1] = torch.randint(n, (1,), generator=generator, device=device)
    closest = _sq_dist_to_points(X, x_sq, X[indices[0:1]], budget)[:, 0]
    potential = closest.sum(dtype=acc)
    rows = rows_per_block(trials, X.element_size(), budget)
    for c in range(1, n_clusters):
        draws = torch.rand(trials, generator=generator, device=device, dtype=acc) * potential
        # float64 cumulative sums keep the sampling exact for millions of points.
        cumulative = torch.cumsum(closest, 0, dtype=acc)
        candidates = torch.searchsorted(cumulative, draws).clamp_(max=n - 1)
        points, p_sq = X[candidates], x_sq[candidates]
        if rows >= n:
            # The n x trials block fits the budget: keep it and read the winner's column.
            dists = torch.minimum(pairwise_sq_dists(X, points, x_sq, p_sq), closest.unsqueeze(1))
            potentials = dists.sum(0, dtype=acc)
            best = potentials.argmin()
            closest = dists[:, best].contiguous()
        else:
            potentials = torch.zeros(trials, dtype=acc, device=device)
            for start, stop in row_blocks(n, rows):
                block = pairwise_sq_dists(X[start:stop], points, x_sq[start:stop], p_sq)
                torch.minimum(block, closest[start:stop].unsqueeze(1), out=block)
                potentials += block.sum(0, dtype=acc)
            best = potentials.argmin()
            to_best = _sq_dist_to_points(X, x_sq, points[best].unsqueeze(0), budget)[:, 0]
            closest = torch.minimum(closest, to_best)
        potential = potentials[best]
        indices[c] = candidates[best]
    return indices
