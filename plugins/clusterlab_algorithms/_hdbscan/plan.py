"""Which leaf pairs a Borůvka round measures, planned by leaf and by group of leaves.

Every leaf and every *group* of ``GROUP`` consecutive leaves (in k-d order, so compact)
gets a bounding ball around its points. A round plans in two steps, neither of which
holds an ``L x L`` matrix (``L`` leaves):

1. Each leaf is bounded against every group (an ``L x L / GROUP`` product, computed in
   chunks of leaves): the groups that surely hold a point of another component give the
   leaf an upper bound of its points' shortest outgoing edge, and the groups whose lower
   bound is within the leaf's reach are kept.
2. Each kept (leaf, group) pair is split into its leaf pairs, which are kept where the
   leaves' own balls say the pair can still matter.

Both balls bound the distances of their points, so a pair is dropped only where one of
them proves it cannot matter: the kept pairs are those of a dense leaf-by-leaf plan
under the same reach, less some that a group's ball rules out. Only the upper bound is
looser (a group's ball is wider than a leaf's), which may widen a leaf's reach, never
cut a pair that matters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

#: Leaves per group of the first planning step.
GROUP = 4
# Leaf x group bounds computed at once (each of a few temporaries this many elements).
_CHUNK = 1 << 18
# Slack on the balls: radii and centre distances are rounded, and a bound must never
# cut a true pair.
_SLACK = 1e-6


@dataclass(frozen=True)
class Balls:
    """Bounding balls of consecutive ranges of points."""

    centers: torch.Tensor
    radii: torch.Tensor

    @classmethod
    def around(cls, X: torch.Tensor, owner: torch.Tensor, sizes: torch.Tensor) -> Balls:
        """The ball of each range: its points' mean, and the farthest point's distance."""
        count = sizes.numel()
        centers = torch.zeros((count, X.shape[1]), dtype=X.dtype, device=X.device)
        centers.index_add_(0, owner, X)
        centers /= sizes[:, None].to(X.dtype)
        spread = torch.linalg.vector_norm(X - centers[owner], dim=1)
        radii = torch.zeros(count, dtype=X.dtype, device=X.device)
        radii.scatter_reduce_(0, owner, spread, reduce="amax")
        return cls(centers, radii * (1 + _SLACK) + 1e-12)

    def gap_span(self, rows: torch.Tensor, other: Balls) -> tuple[torch.Tensor, torch.Tensor]:
        """Lower and upper bounds of the distances between the points of the balls
        ``rows`` and those of every ball of ``other`` (``rows x len(other)``)."""
        between = torch.cdist(self.centers[rows], other.centers)
        reach = self.radii[rows, None] + other.radii[None, :]
        gap = (between - reach).clamp_(min=0).mul_(1 - _SLACK)
        return gap, between.add_(reach).mul_(1 + _SLACK)

    def pair_gap(self, rows: torch.Tensor, other: Balls, cols: torch.Tensor) -> torch.Tensor:
        """Lower bound of the distances between the points of balls ``rows[i]``, ``cols[i]``."""
        between = torch.linalg.vector_norm(self.centers[rows] - other.centers[cols], dim=1)
        reach = self.radii[rows] + other.radii[cols]
        return (between - reach).clamp_(min=0).mul_(1 - _SLACK)


@dataclass(frozen=True)
class LeafPairs:
    """A round's plan: for each leaf ``A``, the leaves ``pair_leaf[offsets[A]:offsets[A+1]]``
    (ascending) that its active rows are measured against (host arrays)."""

    offsets: np.ndarray
    pair_leaf: np.ndarray

    def of(self, leaf: int) -> np.ndarray:
        """The candidate leaves of ``leaf``."""
        return self.pair_leaf[self.offsets[leaf] : self.offsets[leaf + 1]]

    def counts(self) -> np.ndarray:
        """Candidate leaves per leaf."""
        return np.diff(self.offsets)


class Planner:
    """The balls of a fit's leaves and groups, and each round's plan from them."""

    def __init__(self, X: torch.Tensor, leaf_of: torch.Tensor, sizes: torch.Tensor) -> None:
        """Balls for the leaves (``leaf_of`` each position's leaf, ``sizes`` per leaf)."""
        device = X.device
        n_leaves = sizes.numel()
        self.n_leaves = n_leaves
        self.leaves = Balls.around(X, leaf_of, sizes)
        self.group_of = torch.arange(n_leaves, device=device) // GROUP
        n_groups = -(-n_leaves // GROUP)
        group_sizes = torch.zeros(n_groups, dtype=sizes.dtype, device=device)
        group_sizes.index_add_(0, self.group_of, sizes)
        self.groups = Balls.around(X, self.group_of[leaf_of], group_sizes)
        self.n_groups = n_groups
        self.first_leaf = torch.arange(n_groups, device=device) * GROUP
        self.group_len = torch.clamp(n_leaves - self.first_leaf, max=GROUP)

    def _per_group(self, values: torch.Tensor, reduce: str) -> torch.Tensor:
        """``reduce`` of the per-leaf ``values`` over each group's leaves."""
        out = torch.zeros(self.n_groups, dtype=values.dtype, device=values.device)
        return out.scatter_reduce_(0, self.group_of, values, reduce=reduce, include_self=False)

    def _chunks(self) -> list[torch.Tensor]:
        rows = max(1, _CHUNK // max(1, self.n_groups))
        device = self.group_of.device
        return [
            torch.arange(start, min(start + rows, self.n_leaves), device=device)
            for start in range(0, self.n_leaves, rows)
        ]

    def bounds(
        self,
        low: torch.Tensor,
        high: torch.Tensor,
        high_core: torch.Tensor,
        scale: float,
    ) -> torch.Tensor:
        """Per leaf, an upper bound of the mutual reachability from any of its points to
        the nearest point of another component (``inf`` where no group surely has one).

        ``low`` and ``high`` are the least and greatest component of each leaf's points,
        ``high_core`` its largest core distance.
        """
        low_g = self._per_group(low, "amin")
        high_g = self._per_group(high, "amax")
        core_g = self._per_group(high_core, "amax")
        single = low == high
        single_g = low_g == high_g
        out = torch.empty(self.n_leaves, dtype=high_core.dtype, device=high_core.device)
        for rows in self._chunks():
            _, span = self.leaves.gap_span(rows, self.groups)
            upper = torch.maximum(span.mul_(scale), core_g[None, :])
            upper = torch.maximum(upper, high_core[rows, None], out=upper)
            # A group surely holds a point outside the component of each of the leaf's
            # points when it holds two components, or both are single and differ.
            other = ~single_g[None, :] | (
                single[rows, None] & single_g[None, :] & (low[rows, None] != low_g[None, :])
            )
            out[rows] = upper.masked_fill_(~other, torch.inf).amin(1)
        return out

    def pairs(
        self,
        low: torch.Tensor,
        high: torch.Tensor,
        low_core: torch.Tensor,
        reach: torch.Tensor,
        low_active: torch.Tensor,
        scale: float,
    ) -> LeafPairs:
        """The leaf pairs ``(A, B)`` whose squared lower bound ``max(gap * scale, low_core)^2``
        (and ``A``'s least active core distance, squared in ``low_active``) is within
        ``A``'s squared ``reach``, other than pairs of one and the same component."""
        low_g = self._per_group(low, "amin")
        high_g = self._per_group(high, "amax")
        core_g = self._per_group(low_core, "amin")
        single = low == high
        single_g = low_g == high_g
        owners: list[torch.Tensor] = []
        partners: list[torch.Tensor] = []
        # Leaves with nothing to search: no active row, or all rows beyond reach.
        searching = (low_active <= reach) & (low_core.square() <= reach)
        for rows in self._chunks():
            rows = rows[searching[rows]]
            if rows.numel() == 0:
                continue
            gap, _ = self.leaves.gap_span(rows, self.groups)
            floor = torch.maximum(gap.mul_(scale), core_g[None, :]).square_()
            keep = floor <= reach[rows, None]
            keep &= ~(single[rows, None] & single_g[None, :] & (low[rows, None] == low_g[None, :]))
            at, group = torch.nonzero(keep, as_tuple=True)
            # Every (leaf, group) pair as the pairs of the leaf with each of the group's
            # leaves, then each by the leaves' own balls; in pieces, as each pair
            # gathers two centres.
            piece = max(1, _CHUNK // (GROUP * (self.leaves.centers.shape[1] + 8)))
            for owner_piece, group_piece in zip(
                torch.split(rows[at], piece), torch.split(group, piece), strict=True
            ):
                spread = self.group_len[group_piece]
                leaf = torch.repeat_interleave(owner_piece, spread)
                other = torch.repeat_interleave(self.first_leaf[group_piece], spread)
                step = torch.arange(leaf.numel(), device=leaf.device)
                step -= torch.repeat_interleave(torch.cumsum(spread, 0) - spread, spread)
                other += step
                gap = self.leaves.pair_gap(leaf, self.leaves, other)
                floor = torch.maximum(gap.mul_(scale), low_core[other])
                floor = torch.maximum(floor, low_core[leaf]).square_()
                floor = torch.maximum(floor, low_active[leaf])
                same = single[leaf] & single[other] & (low[leaf] == low[other])
                kept = (floor <= reach[leaf]) & ~same
                owners.append(leaf[kept])
                partners.append(other[kept])
        if owners:
            owner = torch.cat(owners).cpu().numpy()
            pair_leaf = torch.cat(partners).cpu().numpy()
        else:
            owner = pair_leaf = np.empty(0, dtype=np.int64)
        offsets = np.zeros(self.n_leaves + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner, minlength=self.n_leaves), out=offsets[1:])
        return LeafPairs(offsets, pair_leaf)
