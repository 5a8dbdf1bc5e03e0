"""Mini-batch steps: the running-mean update, small-cluster reassignment, early stopping."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from clusterlab_algorithms._kmeans.assign import accumulate_dtype, nearest_center
from clusterlab_algorithms._shared.blocks import row_blocks, rows_per_block
from clusterlab_algorithms._shared.distances import squared_norms


def minibatch_step(
    batch: torch.Tensor,
    centers: torch.Tensor,
    counts: torch.Tensor,
    generator: torch.Generator,
    *,
    reassign: bool,
    reassignment_ratio: float,
    budget: int,
) -> float:
    """Move ``centers`` towards one batch and update ``counts``, both in place.

    Each centre becomes the running mean of every point assigned to it so far, so its
    learning rate falls as its count grows (scikit-learn's update). With ``reassign``,
    centres whose count is below ``reassignment_ratio`` times the largest move to random
    points of the batch. Returns the batch's inertia on the centres before the update.
    """
    k = centers.shape[0]
    x_sq = squared_norms(batch)
    labels, min_sq = nearest_center(batch, centers, budget, x_sq=x_sq)
    inertia = float(min_sq.sum(dtype=accumulate_dtype(batch.device)))
    sums = torch.zeros_like(centers).index_add_(0, labels, batch)
    batch_counts = torch.bincount(labels, minlength=k).to(centers.dtype)
    total = counts + batch_counts
    updated = (centers * counts.unsqueeze(1) + sums) / total.clamp(min=1).unsqueeze(1)
    centers.copy_(torch.where((batch_counts > 0).unsqueeze(1), updated, centers))
    counts.copy_(total)
    if reassign and reassignment_ratio > 0:
        _reassign_small_clusters(batch, centers, counts, generator, reassignment_ratio)
    return inertia


def _reassign_small_clusters(
    batch: torch.Tensor,
    centers: torch.Tensor,
    counts: torch.Tensor,
    generator: torch.Generator,
    ratio: float,
) -> None:
    """Move centres with very low counts onto random points of the batch (in place)."""
    to_reassign = counts < ratio * counts.max()
    # At most half the batch becomes new centres; the smallest counts go first.
    limit = int(0.5 * batch.shape[0])
    if int(to_reassign.sum()) > limit:
        to_reassign[torch.argsort(counts)[limit:]] = False
    n_reassign = int(to_reassign.sum())
    if n_reassign:
        picks = torch.randperm(batch.shape[0], generator=generator, device=batch.device)
        centers[to_reassign] = batch[picks[:n_reassign]]
    if n_reassign and bool((~to_reassign).any()):
        # Not zero, or the new centres would be reassigned again at once.
        counts[to_reassign] = counts[~to_reassign].min()


@dataclass
class EarlyStopping:
    """scikit-learn's stopping rule: a smoothed batch inertia that stops improving."""

    batch_size: int
    n_samples: int
    tol: float
    max_no_improvement: int | None
    ewa_inertia: float | None = None
    ewa_inertia_min: float | None = None
    no_improvement: int = 0

    def converged(self, step: int, centers_squared_diff: float, batch_inertia: float) -> bool:
        """Whether to stop after ``step`` (0-based) given its centre shift and inertia."""
        batch_inertia /= self.batch_size
        if step == 0:
            # The first batch's inertia only reflects the initialisation.
            return False
        if self.ewa_inertia is None:
            self.ewa_inertia = batch_inertia
        else:
            alpha = min(self.batch_size * 2.0 / (self.n_samples + 1), 1.0)
            self.ewa_inertia = self.ewa_inertia * (1 - alpha) + batch_inertia * alpha
        if self.tol > 0.0 and centers_squared_diff <= self.tol:
            return True
        if self.ewa_inertia_min is None or self.ewa_inertia < self.ewa_inertia_min:
            self.no_improvement = 0
            self.ewa_inertia_min = self.ewa_inertia
        else:
            self.no_improvement += 1
        return self.max_no_improvement is not None and (
            self.no_improvement >= self.max_no_improvement
        )


def mean_variance(data: torch.Tensor, budget: int) -> float:
    """Mean of the per-feature variances of ``data``, in blocks (it may be large and on the CPU)."""
    acc = accumulate_dtype(data.device)
    n, d = data.shape
    total = torch.zeros(d, dtype=acc, device=data.device)
    total_sq = torch.zeros(d, dtype=acc, device=data.device)
    rows = rows_per_block(d, 8, budget)
    for start, stop in row_blocks(n, rows):
        block = data[start:stop].to(acc)
        total += block.sum(0)
        total_sq += (block * block).sum(0)
    mean = total / n
    return float((total_sq / n - mean * mean).clamp(min=0).mean())
