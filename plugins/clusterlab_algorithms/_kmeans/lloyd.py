"""Lloyd's iterations for one data set: bounded passes on the CPU, dense ones elsewhere."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from clusterlab_algorithms._kmeans.assign import (
    accumulate_dtype,
    center_scores,
    column_argmin,
    inertia_of_labels,
)
from clusterlab_algorithms._shared.blocks import block_rows, even_row_blocks, row_blocks
from clusterlab_algorithms._shared.distances import pairwise_sq_dists, squared_norms
from clusterlab_algorithms._shared.scratch import ScratchBuffers
from clusterlab_algorithms._shared.threads import SERIAL, block_workers


@dataclass
class Run:
    """The outcome of one k-means run from one initialisation."""

    centers: torch.Tensor
    labels: torch.Tensor
    inertia: float
    n_iter: int


def relocate_empty_clusters(
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


class Lloyd:
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
    read and every small launch of the bounds' bookkeeping costs more: a bounded fit
    there spends most of its time launching and waiting, little of it on the GPU.
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
    # process slowed each other's blocks down on a 2-core machine, so a short pass gained
    # nothing from them; a long one did.
    MIN_THREADED_SAMPLES = 200_000
    # ... unless a pass's distance products are this many multiply-adds (n d k) or more:
    # then the products outweigh the hand-off (20k x 128, k = 256: 13.8 -> 10.5 ms per
    # iteration on two threads, where 100k x 32, k = 16 went from 1.9 to 2.1 ms).
    MIN_THREADED_WORK = 2**26
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
        self.scratch = ScratchBuffers(X.device)
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
        scores = center_scores(rows, centers, c_sq, self.scratch)
        first, labels = column_argmin(scores, self.scratch)
        margin = (x_sq + c_sq.max()).mul_(self.slack)
        upper = (first + x_sq).add_(margin).clamp_(min=0).sqrt_()
        if centers.shape[0] == 1:
            return labels, upper, torch.full_like(upper, float("inf"))
        scores.scatter_(0, labels.unsqueeze(0), float("inf"))
        lower = (scores.amin(dim=0) + x_sq).sub_(margin).clamp_(min=0).sqrt_()
        return labels, upper, lower

    def _assign(self, block: slice, centers: torch.Tensor, c_sq: torch.Tensor) -> torch.Tensor:
        """Nearest centre of the rows ``block``, written into the labels and returned."""
        scores = center_scores(self.X[block], centers, c_sq, self.scratch)
        _, labels = column_argmin(scores, self.scratch)
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
        the two). The first, over all points, settles nearly all. The second settles few
        of the rest, on blobs of every spread tried, for a dozen operations that cost a
        noticeable share of a fit; it runs only when the first leaves many, as when a
        centre jumped far (an empty cluster moved) and every lower bound dropped by that
        jump.
        """
        shifts = torch.linalg.vector_norm(centers - previous, dim=1).mul_(1 + self.slack)
        self.upper += torch.index_select(shifts, 0, self.labels)
        self.lower -= shifts.max()
        candidates = indices_above(self.upper, self.lower)
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
        # centres first (Hamerly's second test) settled many of them, but its six
        # operations over the candidates cost more than the GEMM they saved, at every
        # shape of the benchmark cases.
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

    @classmethod
    def uses_threads(cls, n: int, d: int, k: int) -> bool:
        """Whether the block loops for ``n`` points, ``d`` features and ``k`` centres run
        on threads (on the CPU; below, the whole fit is better on one thread)."""
        return n >= cls.MIN_THREADED_SAMPLES or n * d * k >= cls.MIN_THREADED_WORK

    def run(self, centers: torch.Tensor, *, max_iter: int, tol: float, verbose: int) -> Run:
        """Iterate from ``centers`` until the labels stop changing or the shift is small.

        Mirrors scikit-learn: stop when no label changed (strict convergence) or when the
        summed squared centre shift is ``<= tol``; then assign once more so that the
        labels match the returned centres. On the CPU, from ``MIN_THREADED_SAMPLES``
        points or ``MIN_THREADED_WORK`` multiply-adds per pass up, the block loops run on
        threads (see :mod:`clusterlab_algorithms._shared.threads`).
        """
        n, d = self.X.shape
        threaded = self.uses_threads(n, d, centers.shape[0])
        with block_workers(self.X.device, threaded=threaded) as workers:
            self.workers = workers
            try:
                iterate = self._iterate_dense if self.dense else self._iterate
                return iterate(centers, max_iter=max_iter, tol=tol, verbose=verbose)
            finally:
                self.workers = SERIAL

    def _iterate(self, centers: torch.Tensor, *, max_iter: int, tol: float, verbose: int) -> Run:
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
                relocate_empty_clusters(
                    X, centers, self.labels, self.sums, self.counts, self.budget
                )
                self.sums_stale = True
            # A cluster still empty (only when points repeat) keeps a zero sum, as in
            # scikit-learn.
            new_centers = means(self.sums, self.counts, X.dtype)
            if verbose:
                inertia = inertia_of_labels(X, centers, self.labels, self.budget)
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
        inertia = inertia_of_labels(X, centers, self.labels, self.budget, self.workers)
        return Run(
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
    ) -> Run:
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
            new_centers = means(sums, counts, X.dtype)
            shift = ((new_centers - centers) ** 2).sum()
            flags = torch.stack([changed.to(acc), empty.to(acc), shift.to(acc)]).tolist()
            strict = iteration > 0 and not flags[0]
            shift_value = flags[2]
            if flags[1]:
                relocate_empty_clusters(X, centers, self.labels, sums, counts, self.budget)
                new_centers = means(sums, counts, X.dtype)
                shift_value = float(((new_centers - centers) ** 2).sum())
            if verbose:
                inertia = inertia_of_labels(X, centers, self.labels, self.budget)
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
        inertia = inertia_of_labels(X, centers, self.labels, self.budget)
        return Run(
            centers=centers, labels=self.labels.clone(), inertia=inertia, n_iter=iteration + 1
        )


def indices_above(values: torch.Tensor, limits: torch.Tensor) -> torch.Tensor:
    """Indices of the entries where ``values > limits``, in order.

    On the CPU numpy compares and lists them in a fraction of the time of torch's
    comparison and nonzero.
    """
    if values.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(values.numpy() > limits.numpy()))
    return torch.nonzero(values > limits).squeeze(1)


def means(sums: torch.Tensor, counts: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
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
