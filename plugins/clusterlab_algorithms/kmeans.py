"""K-Means (Lloyd's algorithm) in torch with the scikit-learn API, and k-means++ seeding."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from clusterlab.device import memory_budget
from clusterlab_algorithms._common import (
    make_generator,
    resolve_estimator_device,
    to_output,
    validate_input,
)
from clusterlab_algorithms._distances import (
    Workspace,
    block_rows,
    center_scores,
    column_argmin,
    even_row_blocks,
    nearest_center,
    pairwise_sq_dists,
    row_blocks,
    rows_per_block,
    squared_norms,
)
from clusterlab_algorithms._workers import SERIAL, BlockWorkers, block_workers

__all__ = ["KMeans", "kmeans_plusplus"]


# Data are centred before clustering when the squared norm of their mean exceeds this
# share of their mean squared norm.
CENTRING_MEAN_SHARE = 1 / 8


def accumulate_dtype(device: torch.device) -> torch.dtype:
    """The dtype for sums over all samples: float64, except where the device lacks it (MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64


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


def _plusplus_indices(
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
    n = X.shape[0]
    device = X.device
    acc = accumulate_dtype(device)
    trials = 2 + int(math.log(n_clusters)) if n_local_trials is None else int(n_local_trials)
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


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    *,
    random_state: Any = None,
    n_local_trials: int | None = None,
) -> tuple[Any, Any]:
    """Choose ``n_clusters`` initial centres among the rows of ``X`` by greedy k-means++.

    Works on a numpy array (on the CPU) or a torch tensor (on its device), with
    randomness from a ``torch.Generator`` seeded by ``random_state``. With
    ``n_local_trials=None`` each centre is the best of ``2 + log(n_clusters)`` candidates,
    as in scikit-learn. Returns ``(centers, indices)``: numpy arrays for numpy input,
    tensors for tensor input; ``centers == X[indices]``.
    """
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, Integral) or n_clusters < 1:
        raise ValueError(f"n_clusters should be an integer >= 1, got {n_clusters!r}.")
    if n_local_trials is not None and n_local_trials < 1:
        raise ValueError(f"n_local_trials should be >= 1 or None, got {n_local_trials!r}.")
    device = X.device if isinstance(X, torch.Tensor) else torch.device("cpu")
    data, as_tensor = validate_input(_Unfitted(), X, device, reset=True)
    if data.shape[0] < n_clusters:
        raise ValueError(f"n_samples={data.shape[0]} should be >= n_clusters={n_clusters}.")
    budget = memory_budget(device)
    with torch.no_grad():
        centered = data - data.mean(dim=0)
        indices = _plusplus_indices(
            centered,
            int(n_clusters),
            squared_norms(centered),
            make_generator(random_state, device),
            n_local_trials,
            budget,
        )
        centers = data[indices]
    return to_output(centers, as_tensor), to_output(indices, as_tensor)


class _Unfitted(BaseEstimator):
    """A stand-in estimator for validating input outside of an estimator."""


def _labels_inertia(
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


@dataclass
class _Run:
    """The outcome of one k-means run from one initialisation."""

    centers: torch.Tensor
    labels: torch.Tensor
    inertia: float
    n_iter: int


def _relocate_empty_clusters(
    X: torch.Tensor,
    centers: torch.Tensor,
    labels: torch.Tensor,
    sums: torch.Tensor,
    counts: torch.Tensor,
    budget: int,
) -> None:
    """Move each empty cluster onto one of the points farthest from their centres.

    As scikit-learn does: the i-th empty cluster takes the i-th farthest point, which
    leaves its old cluster (``sums`` and ``counts`` are updated in place; labels are not).
    """
    empty = torch.nonzero(counts == 0).squeeze(1)
    rows = block_rows(X.shape[1], X.element_size(), budget, X.device)
    dist = torch.empty(X.shape[0], dtype=X.dtype, device=X.device)
    for start, stop in row_blocks(X.shape[0], rows):
        diff = torch.index_select(centers, 0, labels[start:stop]).sub_(X[start:stop])
        dist[start:stop] = torch.linalg.vector_norm(diff, dim=1) ** 2
    if float(dist.max()) == 0.0:
        # More clusters than distinct points: there is nothing to move.
        return
    far = torch.topk(dist, empty.numel()).indices
    old = labels[far]
    moved = X[far].to(sums.dtype)
    sums.index_add_(0, old, moved, alpha=-1)
    counts.index_add_(0, old, torch.full_like(old, -1))
    sums[empty] = moved
    counts[empty] = 1


def _inertia(
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


class _Lloyd:
    """Lloyd iterations on one data set that skip the points whose label cannot change.

    The iterates are Lloyd's (every point goes to its nearest centre, every centre to the
    mean of its points), but as in Hamerly's algorithm each point keeps an upper bound on
    the distance to its centre and a lower bound on the distance to any other. When the
    centres move, the bounds move by the centres' shifts, and only points whose bounds
    overlap are measured again, with one GEMM per block of those points. Bounds carry a
    margin for the rounding of the GEMM expansion, so a point near a tie is always
    measured. The per-cluster sums change only by the points that moved, in float64 so
    that they do not drift, or are taken afresh when many moved.

    On an accelerator the same iterates are computed densely instead: every point is
    measured each time, the sums are taken afresh, and the host reads one small tensor
    per iteration. There the GEMM over all points costs microseconds, while every host
    read and every small launch of the bounds' bookkeeping costs more (20 iterations
    on 100k x 32 points, 16 centres: 32 ms, of which 4.5 ms of GPU work).
    """

    # Devices where a host read is free and small operations are cheap: the bounds and
    # the update of the sums by the moved points pay off there. Elsewhere: dense passes.
    HOST_DEVICES = frozenset({"cpu"})

    # Above this fraction of candidate points, every point is measured in place.
    MEASURE_ALL_FRACTION = 0.3
    # Above this fraction of candidates by the lower bounds, the half gaps are checked.
    GAP_TEST_FRACTION = 0.1
    # A full pass keeps no bounds while at least this share of points changed cluster in
    # the pass before (the first pass included).
    PLAIN_MOVED_SHARE = 0.3
    # Above this share of points changing cluster, the sums are taken afresh: gathering
    # the moved rows and adding them twice costs more than one pass over all rows.
    RESUM_MOVED_SHARE = 0.1
    # Below this many points the block loops run on one thread. Two threads of one
    # process slowed each other's blocks down (1.5-3x per block on a 2-core machine), so
    # a short pass gained nothing from them: at 100k points, in four alternated runs,
    # 20 iterations took 0.78-0.93x scikit-learn's time on one thread and 0.85-0.96x on
    # two (one thread faster in three runs); at 300k, 1.16x and 0.93x.
    MIN_THREADED_SAMPLES = 200_000
    # Below this many points the bookkeeping of bounds costs more than it saves.
    MIN_BOUNDED_SAMPLES = 20_000

    def __init__(self, X: torch.Tensor, x_sq: torch.Tensor, budget: int) -> None:
        self.X = X
        self.x_sq = x_sq
        self.budget = budget
        #: Where the block loops run; :meth:`run` sets it for its duration.
        self.workers = SERIAL
        n, d = X.shape
        # A generous bound on the relative rounding error of a d-term dot product.
        self.slack = 4 * (d + 2) * torch.finfo(X.dtype).eps
        self.labels = torch.empty(n, dtype=torch.int64, device=X.device)
        self.workspace = Workspace()
        self.dense = X.device.type not in self.HOST_DEVICES
        self.bounded = n >= self.MIN_BOUNDED_SAMPLES and not self.dense
        size = n if self.bounded else 0
        #: Whether ``upper`` and ``lower`` hold bounds for the current labels.
        self.bounds_valid = False
        #: Share of the points that changed cluster at the last full pass.
        self.moved_share = 1.0
        self.upper = torch.empty(size, dtype=X.dtype, device=X.device)
        self.lower = torch.empty(size, dtype=X.dtype, device=X.device)
        #: Per-cluster sums (in ``acc``) and counts under the current labels, kept by
        #: :meth:`reassign` and :meth:`full_sums`; stale after empty clusters moved.
        self.acc = accumulate_dtype(X.device)
        self.sums = torch.zeros((0, d), dtype=self.acc, device=X.device)
        self.counts = torch.zeros(0, dtype=torch.int64, device=X.device)
        self.sums_stale = False

    def _measure(
        self, index: torch.Tensor | slice, centers: torch.Tensor, c_sq: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Nearest centre of the rows ``index`` and bounds from their two smallest scores."""
        if isinstance(index, slice):
            rows, x_sq = self.X[index], self.x_sq[index]
        else:
            # index_select is several times faster than advanced indexing on the CPU.
            rows = torch.index_select(self.X, 0, index)
            x_sq = torch.index_select(self.x_sq, 0, index)
        scores = center_scores(rows, centers, c_sq, self.workspace)
        first, labels = column_argmin(scores, self.workspace)
        margin = (x_sq + c_sq.max()).mul_(self.slack)
        upper = (first + x_sq).add_(margin).clamp_(min=0).sqrt_()
        if centers.shape[0] == 1:
            return labels, upper, torch.full_like(upper, float("inf"))
        scores.scatter_(0, labels.unsqueeze(0), float("inf"))
        lower = (scores.amin(dim=0) + x_sq).sub_(margin).clamp_(min=0).sqrt_()
        return labels, upper, lower

    def _assign(self, block: slice, centers: torch.Tensor, c_sq: torch.Tensor) -> torch.Tensor:
        """Nearest centre of the rows ``block``, written into the labels and returned."""
        scores = center_scores(self.X[block], centers, c_sq, self.workspace)
        _, labels = column_argmin(scores, self.workspace)
        self.labels[block] = labels
        return labels

    def assign_all(self, centers: torch.Tensor) -> None:
        """Assign every point to its nearest centre, with no bounds and no host read."""
        c_sq = squared_norms(centers)
        rows = block_rows(centers.shape[0], self.X.element_size(), self.budget, self.X.device)
        self.workers.map(
            lambda start, stop: self._assign(slice(start, stop), centers, c_sq),
            even_row_blocks(self.X.shape[0], rows),
        )

    def measure_all(self, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Assign every point from scratch, and set its bounds where they are kept.

        Returns the points that changed cluster and their old labels. Bounds are skipped
        while many points still change cluster at each pass: the next iteration would
        then measure every point again anyway.
        """
        c_sq = squared_norms(centers)
        with_bounds = self.bounded and self.moved_share < self.PLAIN_MOVED_SHARE
        self.bounds_valid = with_bounds

        def measure(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
            block = slice(start, stop)
            before = self.labels[block].clone()
            if with_bounds:
                labels, self.upper[block], self.lower[block] = self._measure(block, centers, c_sq)
                self.labels[block] = labels
            else:
                labels = self._assign(block, centers, c_sq)
            changed = torch.nonzero(labels != before).squeeze(1)
            old = torch.index_select(before, 0, changed)
            return changed.add_(start), old

        rows = block_rows(centers.shape[0], self.X.element_size(), self.budget, self.X.device)
        return self._joined(self.workers.map(measure, even_row_blocks(self.X.shape[0], rows)))

    @staticmethod
    def _joined(
        blocks: list[tuple[torch.Tensor, torch.Tensor]],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The blocks' moved points and old labels, each joined into one tensor."""
        if len(blocks) == 1:
            return blocks[0]
        moved = [block_moved for block_moved, _ in blocks]
        old = [block_old for _, block_old in blocks]
        return torch.cat(moved), torch.cat(old)

    def _remeasure_all(self, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Assign every point again; returns the moved points and their old labels."""
        moved, old = self.measure_all(centers)
        self.moved_share = moved.numel() / self.X.shape[0]
        return moved, old

    def _half_gaps(self, centers: torch.Tensor) -> torch.Tensor:
        """Half the distance from every centre to its nearest other centre, rounded down."""
        if centers.shape[0] == 1:
            return torch.full((1,), float("inf"), dtype=centers.dtype, device=centers.device)
        k = centers.shape[0]
        c_sq = squared_norms(centers)
        gaps = torch.empty(k, dtype=centers.dtype, device=centers.device)
        # In blocks of centres: with very many clusters k x k would exceed the budget.
        rows = block_rows(k, centers.element_size(), self.budget, centers.device)
        for start, stop in row_blocks(k, rows):
            block = pairwise_sq_dists(centers[start:stop], centers, c_sq[start:stop], c_sq)
            block[:, start:stop].fill_diagonal_(float("inf"))
            gaps[start:stop] = block.amin(dim=1)
        gaps -= 2 * self.slack * float(c_sq.max())
        return gaps.clamp_(min=0).sqrt_().mul_(0.5)

    def _candidates(self, centers: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """Move the bounds by the centres' shifts; the points whose label may have changed.

        A point is settled when its upper bound is below its lower bound, or below half
        the gap from its centre to the nearest other (Hamerly's test takes the larger of
        the two). The first, over all points, settles nearly all. The second settled
        none to 7% of the rest on blobs of every spread tried, for a dozen operations
        that cost 6% of a fit at 100k x 32, k = 16 (iterations late in a run leave 3-4%
        of the points); it runs only when the first leaves many, as when a centre jumped
        far (an empty cluster moved) and every lower bound dropped by that jump.
        """
        shifts = torch.linalg.vector_norm(centers - previous, dim=1).mul_(1 + self.slack)
        self.upper += torch.index_select(shifts, 0, self.labels)
        self.lower -= shifts.max()
        candidates = _indices_above(self.upper, self.lower)
        if candidates.numel() > self.GAP_TEST_FRACTION * self.X.shape[0]:
            own = torch.index_select(self.labels, 0, candidates)
            gaps = torch.index_select(self._half_gaps(centers), 0, own)
            candidates = candidates[torch.index_select(self.upper, 0, candidates) > gaps]
        return candidates

    def reassign(self, centers: torch.Tensor, previous: torch.Tensor) -> int:
        """Update the labels and the sums after the centres moved from ``previous``.

        Returns how many points changed cluster.
        """
        if not self.bounds_valid:
            return self._update_sums(*self._remeasure_all(centers))
        candidates = self._candidates(centers, previous)
        if candidates.numel() > self.MEASURE_ALL_FRACTION * self.X.shape[0]:
            # Gathering most rows costs more than measuring every row in place.
            return self._update_sums(*self._remeasure_all(centers))
        # Candidates go straight to the GEMM: checking their exact distances to their own
        # centres first (Hamerly's second test) settled about half of them, but its six
        # operations over the candidates cost more than the GEMM they saved, from 16
        # centres in 32 features to 256 in 128 (4-12% of a fit on a 2-core machine).
        c_sq = squared_norms(centers)

        def measure(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
            index = candidates[start:stop]
            labels, upper, lower = self._measure(index, centers, c_sq)
            before = torch.index_select(self.labels, 0, index)
            changed = labels != before
            self.labels.index_copy_(0, index, labels)
            self.upper.index_copy_(0, index, upper)
            self.lower.index_copy_(0, index, lower)
            return index.masked_select(changed), before.masked_select(changed)

        rows = block_rows(centers.shape[0], self.X.element_size(), self.budget, self.X.device)
        blocks = self.workers.map(measure, even_row_blocks(candidates.numel(), rows))
        if not blocks:
            # No candidates: no point moved (the sums may still be stale).
            return self._update_sums(candidates, candidates)
        return self._update_sums(*self._joined(blocks))

    def _update_sums(self, moved: torch.Tensor, old: torch.Tensor) -> int:
        """Bring the sums and counts up to date after ``moved`` left ``old``; their number.

        The moved rows are added to their new clusters and taken from the old ones,
        unless so many moved that one pass over all rows costs less.
        """
        if self.sums_stale or moved.numel() > self.RESUM_MOVED_SHARE * self.X.shape[0]:
            self.full_sums()
        elif moved.numel():
            points = torch.index_select(self.X, 0, moved).to(self.acc)
            new = torch.index_select(self.labels, 0, moved)
            self.sums.index_add_(0, new, points).index_add_(0, old, points, alpha=-1)
            self.counts.index_add_(0, new, torch.ones_like(new))
            self.counts.index_add_(0, old, torch.ones_like(old), alpha=-1)
        return moved.numel()

    def full_sums(self, k: int | None = None) -> None:
        """Per-cluster sums (in float64 where the device has it) and counts from the labels.

        Each block of rows is summed in the data's dtype, the blocks' sums in float64.
        ``k``, the number of clusters, is needed only while there are no sums yet.
        """
        X = self.X
        k = self.sums.shape[0] if k is None else k

        def block(start: int, stop: int) -> torch.Tensor:
            part = torch.zeros((k, X.shape[1]), dtype=X.dtype, device=X.device)
            return part.index_add_(0, self.labels[start:stop], X[start:stop]).to(self.acc)

        rows = block_rows(X.shape[1], X.element_size(), self.budget, X.device)
        self.sums = torch.zeros((k, X.shape[1]), dtype=self.acc, device=X.device)
        for part in self.workers.map(block, even_row_blocks(X.shape[0], rows)):
            self.sums += part
        self.counts = torch.bincount(self.labels, minlength=k)
        self.sums_stale = False

    def run(self, centers: torch.Tensor, *, max_iter: int, tol: float, verbose: int) -> _Run:
        """Iterate from ``centers`` until the labels stop changing or the shift is small.

        Mirrors scikit-learn: stop when no label changed (strict convergence) or when the
        summed squared centre shift is ``<= tol``; then assign once more so that the
        labels match the returned centres. On the CPU, from ``MIN_THREADED_SAMPLES``
        points up, the block loops run on threads (see :mod:`clusterlab_algorithms._workers`).
        """
        threaded = self.X.shape[0] >= self.MIN_THREADED_SAMPLES
        with block_workers(self.X.device, threaded=threaded) as workers:
            self.workers = workers
            try:
                iterate = self._iterate_dense if self.dense else self._iterate
                return iterate(centers, max_iter=max_iter, tol=tol, verbose=verbose)
            finally:
                self.workers = SERIAL

    def _iterate(self, centers: torch.Tensor, *, max_iter: int, tol: float, verbose: int) -> _Run:
        X = self.X
        self.moved_share = 1.0
        self.measure_all(centers)
        self.full_sums(centers.shape[0])
        previous, strict = centers, False
        iteration = 0
        for iteration in range(max_iter):
            if iteration:
                strict = self.reassign(centers, previous) == 0
            if bool((self.counts == 0).any()):
                # Relocation moves sums and counts but not labels (as scikit-learn does):
                # the next iteration takes both afresh from the labels.
                _relocate_empty_clusters(
                    X, centers, self.labels, self.sums, self.counts, self.budget
                )
                self.sums_stale = True
            # A cluster still empty (only when points repeat) keeps a zero sum, as in
            # scikit-learn.
            new_centers = _means(self.sums, self.counts, X.dtype)
            if verbose:
                inertia = _inertia(X, centers, self.labels, self.budget)
                print(f"Iteration {iteration}, inertia {inertia}.")
            shift = float(((new_centers - centers) ** 2).sum())
            previous, centers = centers, new_centers
            if strict:
                if verbose:
                    print(f"Converged at iteration {iteration}: strict convergence.")
                break
            if shift <= tol:
                if verbose:
                    print(
                        f"Converged at iteration {iteration}: center shift {shift} within "
                        f"tolerance {tol}."
                    )
                break
        if not strict:
            self.reassign(centers, previous)
        inertia = _inertia(X, centers, self.labels, self.budget, self.workers)
        return _Run(
            centers=centers, labels=self.labels.clone(), inertia=inertia, n_iter=iteration + 1
        )

    def dense_sums(self, k: int, acc: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-cluster sums (in ``acc``) and counts under the current labels, in big blocks.

        Each block is converted to ``acc`` and added in one launch; on a GPU the budget
        usually allows one block for all points.
        """
        X = self.X
        sums = torch.zeros((k, X.shape[1]), dtype=acc, device=X.device)
        rows = block_rows(X.shape[1], torch.finfo(acc).bits // 8, self.budget, X.device)
        for start, stop in row_blocks(X.shape[0], rows):
            sums.index_add_(0, self.labels[start:stop], X[start:stop].to(acc))
        return sums, torch.bincount(self.labels, minlength=k)

    def _iterate_dense(
        self, centers: torch.Tensor, *, max_iter: int, tol: float, verbose: int
    ) -> _Run:
        """:meth:`_iterate`'s iterates and stopping rules, with one host read per iteration."""
        X, k = self.X, centers.shape[0]
        acc = accumulate_dtype(X.device)
        self.assign_all(centers)
        changed = torch.ones((), dtype=torch.bool, device=X.device)
        strict = False
        iteration = 0
        for iteration in range(max_iter):
            if iteration:
                before = self.labels.clone()
                self.assign_all(centers)
                changed = torch.ne(self.labels, before).any()
            sums, counts = self.dense_sums(k, acc)
            empty = (counts == 0).any()
            new_centers = _means(sums, counts, X.dtype)
            shift = ((new_centers - centers) ** 2).sum()
            flags = torch.stack([changed.to(acc), empty.to(acc), shift.to(acc)]).tolist()
            strict = iteration > 0 and not flags[0]
            shift_value = flags[2]
            if flags[1]:
                _relocate_empty_clusters(X, centers, self.labels, sums, counts, self.budget)
                new_centers = _means(sums, counts, X.dtype)
                shift_value = float(((new_centers - centers) ** 2).sum())
            if verbose:
                inertia = _inertia(X, centers, self.labels, self.budget)
                print(f"Iteration {iteration}, inertia {inertia}.")
            centers = new_centers
            if strict:
                if verbose:
                    print(f"Converged at iteration {iteration}: strict convergence.")
                break
            if shift_value <= tol:
                if verbose:
                    print(
                        f"Converged at iteration {iteration}: center shift {shift_value} "
                        f"within tolerance {tol}."
                    )
                break
        if not strict:
            self.assign_all(centers)
        inertia = _inertia(X, centers, self.labels, self.budget)
        return _Run(
            centers=centers, labels=self.labels.clone(), inertia=inertia, n_iter=iteration + 1
        )


class _WorkingData(NamedTuple):
    """The data the iterations run on, as :func:`_working_data` prepares them."""

    X: torch.Tensor
    #: Squared norms of the rows of ``X``.
    x_sq: torch.Tensor
    #: The mean taken off the data, to add back to the centres; ``None`` if not centred.
    offset: torch.Tensor | None
    #: Squared norm of the mean of ``X`` (0 once centred).
    mean_sq: float


def _working_data(data: torch.Tensor, budget: int) -> _WorkingData:
    """The data to iterate on: centred, or as they are when their mean is small.

    The GEMM expansion of distances loses accuracy with the points' norms, so data whose
    mean lies far from the origin are centred first, as scikit-learn does, at the cost of
    a copy. When the mean's squared norm is at most ``CENTRING_MEAN_SHARE`` of the mean
    squared norm, centring would shrink the norms by that share at most, and the data
    are used as they are: the copy was 6% of a fit on 100k x 32 points, more where its
    pages are new.
    """
    x_sq = squared_norms(data)
    mean = data.mean(dim=0)
    acc = accumulate_dtype(data.device)
    mean_sq = float(torch.linalg.vector_norm(mean.to(acc)) ** 2)
    if mean_sq <= CENTRING_MEAN_SHARE * float(x_sq.mean(dtype=acc)):
        return _WorkingData(data, x_sq, None, mean_sq)
    centered, x_sq = _centered_with_norms(data, mean, budget)
    return _WorkingData(centered, x_sq, mean, 0.0)


def _centered_with_norms(
    data: torch.Tensor, mean: torch.Tensor, budget: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``data - mean`` and its rows' squared norms, by blocks of rows (on threads on the CPU).

    Each block's norms are taken while it is still in cache; a fit on 100k x 32 points
    spent a tenth of its time on the copy and the norms done whole, on one thread.
    """
    centered = torch.empty_like(data)
    x_sq = torch.empty(data.shape[0], dtype=data.dtype, device=data.device)

    def block(start: int, stop: int) -> None:
        torch.sub(data[start:stop], mean, out=centered[start:stop])
        x_sq[start:stop] = squared_norms(centered[start:stop])

    rows = block_rows(data.shape[1], data.element_size(), budget, data.device)
    threaded = data.shape[0] >= _Lloyd.MIN_THREADED_SAMPLES
    with block_workers(data.device, threaded=threaded) as workers:
        workers.map(block, even_row_blocks(data.shape[0], rows))
    return centered, x_sq


def _indices_above(values: torch.Tensor, limits: torch.Tensor) -> torch.Tensor:
    """Indices of the entries where ``values > limits``, in order.

    On the CPU numpy compares and lists them in a fifth of the time of torch's
    comparison and nonzero (about 50 against 250 us for 100k entries).
    """
    if values.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(values.numpy() > limits.numpy()))
    return torch.nonzero(values > limits).squeeze(1)


def _means(sums: torch.Tensor, counts: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The centres from per-cluster sums and counts; an empty cluster keeps its zero sum."""
    return (sums / counts.clamp(min=1).unsqueeze(1).to(sums.dtype)).to(dtype)


def same_partition(first: torch.Tensor, second: torch.Tensor, n_clusters: int) -> bool:
    """Whether two labelings split the points alike, whatever number each cluster has.

    Runs from different seeds often end in the same clusters under other numbers, with
    inertias that differ only by rounding (and on a GPU, from one fit to the next): the
    first such run is kept, as scikit-learn does, so the labels do not depend on rounding.
    """
    pairs = torch.unique(first * n_clusters + second).numel()
    return pairs == torch.unique(first).numel() == torch.unique(second).numel()


def _tolerance(data: _WorkingData, tol: float) -> float:
    """scikit-learn's tolerance: ``tol`` times the mean of the per-feature variances.

    The mean squared norm less the mean's squared norm is the summed variance (the data
    are centred, or their mean is small next to their norms, so nothing cancels).
    """
    if tol == 0:
        return 0.0
    acc = accumulate_dtype(data.x_sq.device)
    variance = float(data.x_sq.sum(dtype=acc)) / data.x_sq.shape[0] - data.mean_sq
    return max(variance, 0.0) / data.X.shape[1] * tol


class _BaseKMeans(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """What KMeans and MiniBatchKMeans share: parameters, seeding, predict and transform."""

    _parameter_constraints: dict[str, list[Any]] = {  # noqa: RUF012 - scikit-learn's format
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random"}), "array-like"],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "device": [None, str, torch.device],
    }
    _default_n_init = 10

    def _n_init(self) -> int:
        """Number of initialisations: ``auto`` means 1 for k-means++ or given centres."""
        init_is_array = not isinstance(self.init, str)
        if self.n_init == "auto":
            return 1 if init_is_array or self.init == "k-means++" else self._default_n_init
        if init_is_array and self.n_init != 1:
            warnings.warn(
                f"Explicit initial center position passed: performing only one init in "
                f"{type(self).__name__} instead of n_init={self.n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            return 1
        return int(self.n_init)

    def _init_array(self, X: torch.Tensor) -> torch.Tensor | None:
        """The user's initial centres as a tensor like ``X``, or ``None`` for a named method."""
        if isinstance(self.init, str):
            return None
        if isinstance(self.init, torch.Tensor):
            centers = self.init.detach().to(device=X.device, dtype=X.dtype)
        else:
            centers = torch.as_tensor(np.asarray(self.init, dtype=np.float64)).to(
                device=X.device, dtype=X.dtype
            )
        if centers.ndim != 2 or centers.shape[0] != self.n_clusters:
            raise ValueError(
                f"The shape of the initial centers {tuple(centers.shape)} does not match "
                f"the number of clusters {self.n_clusters}."
            )
        if centers.shape[1] != X.shape[1]:
            raise ValueError(
                f"The shape of the initial centers {tuple(centers.shape)} does not match "
                f"the number of features of the data {X.shape[1]}."
            )
        if not bool(torch.isfinite(centers).all()):
            raise ValueError("The initial centers contain NaN or infinity.")
        return centers.clone()

    def _initial_centers(
        self,
        X: torch.Tensor,
        x_sq: torch.Tensor,
        init_array: torch.Tensor | None,
        generator: torch.Generator,
        budget: int,
    ) -> torch.Tensor:
        """Initial centres for one run: the given array, k-means++ or random distinct rows."""
        if init_array is not None:
            return init_array.clone()
        if self.init == "k-means++":
            indices = _plusplus_indices(X, self.n_clusters, x_sq, generator, None, budget)
        else:
            indices = torch.randperm(X.shape[0], generator=generator, device=X.device)
            indices = indices[: self.n_clusters]
        return X[indices].clone()

    def _check_n_samples(self, n_samples: int) -> None:
        if n_samples < self.n_clusters:
            raise ValueError(f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}.")

    def _warn_if_fewer_clusters(self, labels: torch.Tensor) -> None:
        found = int((torch.bincount(labels, minlength=self.n_clusters) > 0).sum())
        if found < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({found}) found smaller than n_clusters "
                f"({self.n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _fitted_centers(self, X: torch.Tensor) -> torch.Tensor:
        """``cluster_centers_`` as a tensor on ``X``'s device and dtype."""
        return torch.as_tensor(self.cluster_centers_).to(device=X.device, dtype=X.dtype)

    def _test_data(self, X: Any) -> tuple[torch.Tensor, bool]:
        check_is_fitted(self)
        device = resolve_estimator_device(self.device, X)
        return validate_input(self, X, device, reset=False)

    def fit_predict(self, X: Any, y: Any = None) -> Any:
        """Fit on ``X`` and return the cluster index of every sample (``labels_``)."""
        return self.fit(X).labels_

    def predict(self, X: Any) -> Any:
        """Index of the nearest fitted centre for every sample of ``X``."""
        data, as_tensor = self._test_data(X)
        with torch.no_grad():
            labels, _ = nearest_center(data, self._fitted_centers(data), memory_budget(data.device))
        return to_output(labels, as_tensor)

    def transform(self, X: Any) -> Any:
        """Euclidean distance from every sample of ``X`` to every fitted centre (n x k)."""
        data, as_tensor = self._test_data(X)
        with torch.no_grad():
            distances = pairwise_sq_dists(data, self._fitted_centers(data)).sqrt_()
        return to_output(distances, as_tensor)

    def fit_transform(self, X: Any, y: Any = None) -> Any:
        """Fit on ``X`` and return its distances to the fitted centres."""
        return self.fit(X).transform(X)

    def score(self, X: Any, y: Any = None) -> float:
        """Opposite of the inertia of ``X`` on the fitted centres (greater is better)."""
        data, _ = self._test_data(X)
        with torch.no_grad():
            centers = self._fitted_centers(data)
            _, inertia = _labels_inertia(data, centers, memory_budget(data.device))
        return -inertia

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class KMeans(_BaseKMeans):
    """K-Means clustering by Lloyd's algorithm in torch, on the CPU or a GPU.

    Follows scikit-learn's ``KMeans`` (greedy k-means++ seeding, the same tolerance and
    empty-cluster handling) with distances computed as one matrix product per block of
    rows, sized so that no block exceeds :func:`clusterlab.device.memory_budget`.

    Args:
        n_clusters: number of clusters and centres.
        init: ``"k-means++"``, ``"random"`` (distinct random rows) or an array of shape
            ``(n_clusters, n_features)`` of initial centres.
        n_init: runs from different seeds, the lowest inertia kept; ``"auto"`` is 1 for
            k-means++ or given centres and 10 for ``"random"``.
        max_iter: most Lloyd iterations per run.
        tol: stop when the summed squared centre shift is at most ``tol`` times the mean
            per-feature variance of ``X``.
        random_state: seed (int), ``None`` or a numpy ``RandomState``; randomness comes
            only from a ``torch.Generator`` on the device.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``; ``None`` uses the input
            tensor's device (the CPU for numpy input).
        verbose: print the inertia at every iteration.

    Fitted attributes: ``cluster_centers_``, ``labels_``, ``inertia_``, ``n_iter_``,
    ``n_features_in_``: numpy arrays for numpy input, tensors on the device for tensor input.
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: Any = "k-means++",
        n_init: int | str = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: Any = None,
        device: Any = None,
        verbose: int = 0,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def fit(self, X: Any, y: Any = None) -> KMeans:
        """Cluster ``X`` (n x d, numpy or torch) and return the fitted estimator."""
        self._validate_params()
        device = resolve_estimator_device(self.device, X)
        data, as_tensor = validate_input(self, X, device, reset=True)
        self._check_n_samples(data.shape[0])
        n_init = self._n_init()
        budget = memory_budget(device)
        generator = make_generator(self.random_state, device)
        with torch.no_grad():
            working = _working_data(data, budget)
            centered, x_sq, mean = working.X, working.x_sq, working.offset
            tol = _tolerance(working, self.tol)
            lloyd = _Lloyd(centered, x_sq, budget)
            init_array = self._init_array(data)
            if init_array is not None and mean is not None:
                init_array -= mean
            best: _Run | None = None
            for _ in range(n_init):
                centers = self._initial_centers(centered, x_sq, init_array, generator, budget)
                if self.verbose:
                    print("Initialization complete")
                run = lloyd.run(centers, max_iter=self.max_iter, tol=tol, verbose=self.verbose)
                if best is None or (
                    run.inertia < best.inertia
                    and not same_partition(run.labels, best.labels, self.n_clusters)
                ):
                    best = run
            assert best is not None
            centers = best.centers if mean is None else best.centers + mean
        self._warn_if_fewer_clusters(best.labels)
        self.cluster_centers_ = to_output(centers, as_tensor)
        self.labels_ = to_output(best.labels, as_tensor)
        self.inertia_ = best.inertia
        self.n_iter_ = best.n_iter
        self._n_features_out = self.n_clusters
        return self
