"""Core distances and the mutual-reachability tree pruned by k-d tree leaves.

Points are put in k-d tree order (``_neighbors.blocks.kd_order``), so each *leaf* of
consecutive points is compact, and every leaf gets a bounding ball. Two balls bound
every distance between their points from below (centre distance minus both radii) and
from above (plus both radii). A query leaf is then measured only against the leaves
that can hold what it looks for:

- its ``min_samples`` nearest points lie within the smallest radius ``R`` for which the
  leaves wholly within ``R`` hold ``min_samples`` points, so only leaves whose lower
  bound is at most ``R`` are measured;
- in a Borůvka round, a component's shortest outgoing edge weighs at most the upper
  bound of any leaf pair that pairs it with another component, so a leaf is measured
  only against leaves that could beat that, and never against a leaf of its own
  component when both lie wholly in it.

The results are those of the brute-force blocks in :mod:`.reachability`: the bounds only
skip pairs that cannot matter. A round's leaf pairs are planned on the device by
:class:`.plan.Planner`, with one transfer of the list of pairs to the host per round.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property, partial
from typing import Any

import numpy as np
import torch

from clusterlab_algorithms._hdbscan.plan import LeafPairs, Planner
from clusterlab_algorithms._hdbscan.reachability import _EXACT_MARGIN
from clusterlab_algorithms._linkage.single import boruvka_step
from clusterlab_algorithms._neighbors.blocks import kd_order
from clusterlab_algorithms._neighbors.kdtree import nearest_points, use_kd_tree
from clusterlab_algorithms._shared.blocks import row_blocks
from clusterlab_algorithms._shared.distances import SMALL_DIM, coordinatewise, squared_norms
from clusterlab_algorithms._shared.threads import block_workers

# Points per leaf: small leaves give tight balls, but every leaf costs a few launches
# per search and a row of each round's plan. With few features distances are cheap and tight
# balls pay most; with more, a GEMM wants wider blocks.
LEAF_SIZE = {True: 64, False: 128}
#: Below this many points one brute-force block is as fast (see :mod:`.reachability`).
MIN_POINTS = 1024
# Bytes per leaf pair of the blocked core search's ``L x L`` bounds and their sorts.
_PLAN_BYTES = 64


def leaf_size(n: int, n_features: int, budget_bytes: int) -> int:
    """Points per leaf for ``n`` points: the default, or more where the blocked core
    search's ``L x L`` bounds would not fit in ``budget_bytes``."""
    size = LEAF_SIZE[n_features <= SMALL_DIM]
    most_leaves = max(1, int((budget_bytes / _PLAN_BYTES) ** 0.5))
    return max(size, -(-n // most_leaves))


# The first candidates of a leaf's neighbour search: its nearest leaves holding this many
# times min_samples points (at least the leaf itself).
_FIRST_POINTS = 16
# Leaves searched by one task of the thread pool.
_LEAVES_PER_TASK = 16
# Row x candidate pairs of one padded block of the batched search (few features).
_BATCH_PAIRS = 1 << 18
# The candidate table of a padded block (a few integers per entry, where the block has
# a few bytes per pair) holds at most this share of its pairs.
_TABLE_SHARE = 4
# Integer dtypes by element size, to reuse a float buffer for components.
_SAME_SIZE_INT = {4: torch.int32, 8: torch.int64}
# Entries of the nearest-point table handled at once.
_NEAR_CHUNK = 1 << 18


class Leaves:
    """Points in k-d tree order, their leaves' ranges and bounding balls."""

    def __init__(self, X: torch.Tensor, leaf_size: int) -> None:
        """Order ``X`` in k-d tree leaves of at most ``leaf_size`` points and bound them."""
        order, starts = kd_order(X, leaf_size)
        n = X.shape[0]
        device = X.device
        #: Original index of the point at each position.
        self.ids = order
        self.X = X[order]
        self.direct = X.shape[1] <= SMALL_DIM
        self.centered = self.X if self.direct else self.X - self.X.mean(0)
        self.norms = None if self.direct else squared_norms(self.centered)
        self.starts = starts.astype(np.int64)
        self.stops = np.append(starts[1:], n).astype(np.int64)
        sizes = self.stops - self.starts
        self.sizes = torch.from_numpy(sizes).to(device)
        self.sizes_host = sizes
        self.leaf_of = torch.repeat_interleave(
            torch.arange(len(starts), device=device), self.sizes, output_size=n
        )
        #: Bounding balls of the leaves, and of groups of them, for the tree's plans.
        self.planner = Planner(self.X, self.leaf_of, self.sizes)

    @cached_property
    def gap(self) -> torch.Tensor:
        """Lower bounds of the distances between the points of two leaves (``L x L``)."""
        return self._bounds[0]

    @cached_property
    def span(self) -> torch.Tensor:
        """Upper bounds of the distances between the points of two leaves (``L x L``)."""
        return self._bounds[1]

    @cached_property
    def _bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        balls = self.planner.leaves
        every = torch.arange(len(self.starts), device=self.X.device)
        return balls.gap_span(every, balls)

    def positions(self, leaves: np.ndarray) -> torch.Tensor:
        """The positions of the points of ``leaves``, in order."""
        parts = [
            np.arange(a, b) for a, b in zip(self.starts[leaves], self.stops[leaves], strict=True)
        ]
        return torch.from_numpy(np.concatenate(parts)).to(self.X.device)

    def sq_dists(self, start: int, stop: int, cand: torch.Tensor) -> torch.Tensor:
        """Squared distances of positions ``start:stop`` to the positions ``cand``."""
        q = self.centered[start:stop]
        c = self.centered[cand]
        if self.direct:
            return coordinatewise(q, c, squared=True)
        assert self.norms is not None
        out = torch.addmm(self.norms[cand][None, :], q, c.T, alpha=-2.0)
        return out.add_(self.norms[start:stop, None]).clamp_(min=0)

    def sq_dists_rows(self, rows: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """Squared distances of the positions ``rows`` to the positions ``cand``."""
        q = self.centered[rows]
        c = self.centered[cand]
        if self.direct:
            return coordinatewise(q, c, squared=True)
        assert self.norms is not None
        out = torch.addmm(self.norms[cand][None, :], q, c.T, alpha=-2.0)
        return out.add_(self.norms[rows, None]).clamp_(min=0)

    def exact(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Squared distances of the pairs ``(rows[i], cols[i, j])`` from coordinate differences."""
        diff = self.X[cols] - self.X[rows].unsqueeze(-2)
        return diff.mul_(diff).sum(-1)


def core_distances(leaves: Leaves, min_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Core distance of every position (``min_samples``-th nearest point, itself included).

    Also returns the positions of each point's ``min_samples`` nearest points (``n x k``),
    whose edges give the tree search its first bounds. Each leaf is measured first
    against its nearest leaves (by their balls' gap), which gives every point a bound on
    its ``k``-th distance; then against the further leaves whose gap is within the
    leaf's largest bound. On the CPU in few features scipy's k-d tree is the faster
    search and is used instead (the same distances, in float64).
    """
    X = leaves.X
    n = X.shape[0]
    device = X.device
    if use_kd_tree(X):
        return nearest_points(X, min(n, min_samples), _index_dtype(n), last_only=True)
    k = min(n, min_samples if leaves.direct else min_samples + _EXACT_MARGIN)
    n_leaves = len(leaves.starts)
    # Leaves wholly within R of every point of A hold at least k points: R bounds A's
    # k-th distance, and only leaves whose gap is within R can matter.
    span, by_span = torch.sort(leaves.span, dim=1)
    held = torch.cumsum(leaves.sizes[by_span], dim=1)
    enough = torch.searchsorted(held, torch.full_like(held[:, :1], k))
    radius = span.gather(1, enough.clamp_(max=n_leaves - 1)).squeeze(1)
    needed = (leaves.gap <= radius[:, None]).cpu().numpy()
    gap_order = torch.argsort(leaves.gap, dim=1).cpu().numpy()
    gap = leaves.gap.cpu().numpy()
    sizes = leaves.sizes.cpu().numpy()
    core_sq = torch.empty(n, dtype=X.dtype, device=device)
    near = torch.empty((n, min(n, min_samples)), dtype=_index_dtype(n), device=device)

    def search(first_leaf: int, last_leaf: int) -> None:
        for leaf in range(first_leaf, last_leaf):
            start, stop = int(leaves.starts[leaf]), int(leaves.stops[leaf])
            wanted = np.flatnonzero(needed[leaf])
            # The nearest leaves first, as many as hold _FIRST_POINTS times k points.
            ranked = gap_order[leaf][needed[leaf][gap_order[leaf]]]
            count = int(np.searchsorted(np.cumsum(sizes[ranked]), _FIRST_POINTS * k)) + 1
            first = np.sort(ranked[:count])
            cand = leaves.positions(first)
            block = leaves.sq_dists(start, stop, cand)
            values, index = torch.topk(block, min(k, cand.numel()), dim=1, largest=False)
            index = cand[index]
            if first.size < wanted.size:
                # Every point's k-th distance so far bounds where its neighbours can lie.
                bound = float(values[:, -1].max().sqrt()) if values.shape[1] == k else np.inf
                rest = np.setdiff1d(wanted, first)
                rest = rest[gap[leaf, rest] <= bound]
                if rest.size and values.shape[1] < k:
                    more = leaves.positions(rest)
                    extra = leaves.sq_dists(start, stop, more)
                    values = torch.cat([values, extra], dim=1)
                    index = torch.cat([index, more.expand(stop - start, -1)], dim=1)
                    values, pick = torch.topk(values, k, dim=1, largest=False)
                    index = index.gather(1, pick)
                elif rest.size:
                    # Only the rows whose k-th distance so far reaches the nearest of the
                    # further leaves can find a nearer point there.
                    low = float(gap[leaf, rest].min())
                    sel = torch.nonzero(values[:, -1] >= low * low).squeeze(1)
                    if sel.numel():
                        more = leaves.positions(rest)
                        extra = leaves.sq_dists_rows(sel + start, more)
                        both = torch.cat([values[sel], extra], dim=1)
                        ids = torch.cat([index[sel], more.expand(sel.numel(), -1)], dim=1)
                        both, pick = torch.topk(both, k, dim=1, largest=False)
                        values[sel] = both
                        index[sel] = ids.gather(1, pick)
            if leaves.direct:
                values, pick = values.sort(dim=1)
                core_sq[start:stop] = values[:, min_samples - 1]
                near[start:stop] = index.gather(1, pick)[:, : near.shape[1]]
                continue
            rows = torch.arange(start, stop, device=device)
            exact, by_exact = leaves.exact(rows, index).sort(dim=1)
            core_sq[start:stop] = exact[:, min_samples - 1]
            near[start:stop] = index.gather(1, by_exact[:, : near.shape[1]])

    # Leaves write only their own rows, so groups of leaves may run on threads.
    with block_workers(device) as workers:
        workers.map(search, row_blocks(n_leaves, _LEAVES_PER_TASK))
    return core_sq.sqrt_(), near


def _index_dtype(n: int) -> torch.dtype:
    """The narrowest index dtype for positions below ``n`` that torch indexes with."""
    return torch.int32 if n < 2**31 else torch.int64


def reachability_tree(
    leaves: Leaves, core: torch.Tensor, near: torch.Tensor, alpha: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A minimum spanning tree in mutual reachability, as positions and weights.

    Same result format as :func:`.reachability.reachability_tree`; the end points are
    positions in :attr:`Leaves.ids` order. ``near`` holds each point's nearest points:
    their edges into other components bound each component's shortest edge, and a point
    whose core distance reaches that bound cannot beat it, so its row is not searched.
    Each round's leaf pairs come from :class:`.plan.Planner`.
    """
    X = leaves.X
    n = X.shape[0]
    device = X.device
    ids = torch.arange(n, device=device)
    n_leaves = len(leaves.starts)
    planner = leaves.planner
    scale = 1.0 / float(alpha)
    core_sq = core * core
    low_core = _per_leaf(leaves, core, "amin")
    high_core = _per_leaf(leaves, core, "amax")
    component = ids.clone()
    near_weight = _near_weights(leaves, core, near, scale)
    first: list[torch.Tensor] = []
    second: list[torch.Tensor] = []
    joined = 0
    while joined < n - 1:
        low = _per_leaf(leaves, component, "amin")
        high = _per_leaf(leaves, component, "amax")
        bound = planner.bounds(low, high, high_core, scale)
        nearest, partner = _nearest_other(near, near_weight, component)
        found = torch.full((n,), torch.inf, dtype=X.dtype, device=device)
        found.scatter_reduce_(0, component, nearest, reduce="amin")
        best = found.clone()
        best.scatter_reduce_(0, component, bound[leaves.leaf_of].square(), reduce="amin")
        # Squared reachabilities from here on; a row is searched when its core distance
        # could still beat (or, where no edge was found at the bound, reach) the bound.
        limit = best[component]
        active = (core_sq <= limit) & (core_sq < found[component])
        reach = torch.zeros(n_leaves, dtype=X.dtype, device=device)
        reach.scatter_reduce_(0, leaves.leaf_of, torch.where(active, limit, 0.0), reduce="amax")
        low_active = torch.full((n_leaves,), torch.inf, dtype=X.dtype, device=device)
        low_active.scatter_reduce_(
            0, leaves.leaf_of, torch.where(active, core_sq, torch.inf), reduce="amin"
        )
        plan = planner.pairs(low, high, low_core, reach, low_active, scale)
        active_host = active.cpu().numpy()
        counts = plan.counts()
        busy = np.flatnonzero(counts)
        if leaves.direct:
            # Leaves in order of their work, in tasks of similar leaves: one padded block
            # per task instead of a few launches per leaf.
            rows_of = np.add.reduceat(active_host.astype(np.int64), leaves.starts)[busy]
            owner = np.repeat(np.arange(n_leaves), counts)
            points = np.bincount(owner, leaves.sizes_host[plan.pair_leaf], minlength=n_leaves)
            cands_of = points[busy].astype(np.int64)
            by_work = np.argsort(cands_of, kind="stable")
            busy, rows_of, cands_of = busy[by_work], rows_of[by_work], cands_of[by_work]
            blocks = _work_blocks(rows_of, cands_of, _BATCH_PAIRS)
        else:
            blocks = list(row_blocks(busy.size, _LEAVES_PER_TASK))
        state = _Round(leaves, busy, plan, active_host, core_sq, component, nearest, partner, scale)
        search = partial(_search_batched if leaves.direct else _search_rows, state)
        with block_workers(device) as workers:
            workers.map(search, blocks)
        sources, targets, component = boruvka_step(component, nearest, partner, ids)
        first.append(sources)
        second.append(targets)
        joined += int(sources.numel())
    a, b = torch.cat(first), torch.cat(second)
    dist = leaves.exact(a, b[:, None]).squeeze(1).sqrt_() * scale
    weights = torch.maximum(torch.maximum(core[a], core[b]), dist)
    return a, b, weights


def _per_leaf(leaves: Leaves, values: torch.Tensor, reduce: str) -> torch.Tensor:
    """``reduce`` of the per-position ``values`` over each leaf's points."""
    out = torch.zeros(len(leaves.starts), dtype=values.dtype, device=values.device)
    return out.scatter_reduce_(0, leaves.leaf_of, values, reduce=reduce, include_self=False)


def _near_chunks(near: torch.Tensor, width: int = 1) -> list[tuple[int, int]]:
    """Row ranges of ``near`` of about ``_NEAR_CHUNK`` entries (of ``width`` values) each."""
    rows = max(1, _NEAR_CHUNK // max(1, near.shape[1] * width))
    return list(row_blocks(near.shape[0], rows))


def _near_weights(
    leaves: Leaves, core: torch.Tensor, near: torch.Tensor, scale: float
) -> torch.Tensor:
    """Squared mutual reachability of each point to each of its ``near`` points."""
    weights = torch.empty(near.shape, dtype=core.dtype, device=core.device)
    for start, stop in _near_chunks(near, leaves.X.shape[1]):
        rows = torch.arange(start, stop, device=near.device)
        cols = near[start:stop]
        dist = leaves.exact(rows, cols).sqrt_().mul_(scale)
        reach = torch.maximum(torch.maximum(core[start:stop, None], core[cols]), dist)
        weights[start:stop] = reach.square_()
    return weights


def _nearest_other(
    near: torch.Tensor, weights: torch.Tensor, component: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each point's lightest edge (squared) to one of its ``near`` points in another
    component (``inf`` where there is none), and that point."""
    n = near.shape[0]
    nearest = torch.empty(n, dtype=weights.dtype, device=weights.device)
    partner = torch.empty(n, dtype=torch.int64, device=weights.device)
    for start, stop in _near_chunks(near):
        cols = near[start:stop]
        inside = component[cols] == component[start:stop, None]
        value, pick = weights[start:stop].masked_fill(inside, torch.inf).min(1)
        nearest[start:stop] = value
        partner[start:stop] = cols.gather(1, pick[:, None]).squeeze(1)
    return nearest, partner


@dataclass(frozen=True)
class _Round:
    """What one Borůvka round's searches read (and, ``nearest`` and ``partner``, improve)."""

    leaves: Leaves
    #: The leaves to search, in the order the tasks' ``(first, last)`` index.
    busy: np.ndarray
    #: Which candidate leaves each leaf is measured against.
    plan: LeafPairs
    #: Per position: whether its row can still improve its component's edge.
    active: np.ndarray
    core_sq: torch.Tensor
    component: torch.Tensor
    nearest: torch.Tensor
    partner: torch.Tensor
    scale: float

    def fields(self) -> tuple[Any, ...]:
        """The fields in their order, for unpacking."""
        return tuple(getattr(self, f.name) for f in fields(self))


def _search_rows(state: _Round, first: int, last: int) -> None:
    """One Borůvka round's search for the active rows of leaves ``busy[first:last]``.

    Improves ``nearest`` (squared reachability) and ``partner`` of those rows in place.
    """
    leaves, busy, plan, active, core_sq, component, nearest, partner, scale = state.fields()
    device = leaves.X.device
    for leaf in busy[first:last].tolist():
        start, stop = int(leaves.starts[leaf]), int(leaves.stops[leaf])
        rows = np.flatnonzero(active[start:stop]) + start
        if rows.size == 0:
            continue
        rows_t = torch.from_numpy(rows).to(device)
        every = leaves.positions(plan.of(leaf))
        # Candidates in pieces, so that a block stays within _BATCH_PAIRS pairs.
        piece = max(1, _BATCH_PAIRS // rows.size)
        for cand in torch.split(every, piece):
            block = leaves.sq_dists_rows(rows_t, cand)
            if scale != 1.0:
                block.mul_(scale * scale)
            torch.maximum(block, core_sq[cand][None, :], out=block)
            torch.maximum(block, core_sq[rows_t, None], out=block)
            block.masked_fill_(component[rows_t, None] == component[cand][None, :], torch.inf)
            value, at = torch.min(block, dim=1)
            better = value < nearest[rows_t]
            nearest[rows_t] = torch.where(better, value, nearest[rows_t])
            partner[rows_t] = torch.where(better, cand[at], partner[rows_t])


def _work_blocks(rows: np.ndarray, cands: np.ndarray, pairs: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` groups of leaves whose padded blocks (their rows
    times the group's most candidates; leaves come in growing candidate counts) stay
    within ``pairs`` pairs, and whose candidate tables (leaves times most candidates)
    within ``pairs / _TABLE_SHARE``, or hold one leaf."""
    blocks = []
    start, held = 0, 0
    for leaf in range(rows.size):
        held += int(rows[leaf])
        most = int(cands[leaf])
        if leaf > start and (
            held * most > pairs or (leaf - start + 1) * most * _TABLE_SHARE > pairs
        ):
            blocks.append((start, leaf))
            start, held = leaf, int(rows[leaf])
    if start < rows.size:
        blocks.append((start, rows.size))
    return blocks


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """``concatenate([arange(a, b) for a, b in zip(starts, stops)])``, vectorised."""
    lengths = stops - starts
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) + shift


def _search_batched(state: _Round, first: int, last: int) -> None:
    """:func:`_search_rows` for leaves ``busy[first:last]`` in one padded block: each
    active row against its leaf's candidates, distances from coordinate differences.

    The candidates' coordinates, core distances and components are gathered once per
    leaf and copied to its rows whole, into two reused buffers the size of the block.
    """
    leaves, busy, plan, active, core_sq, component, nearest, partner, scale = state.fields()
    device = leaves.X.device
    group = busy[first:last]
    starts, stops = leaves.starts[group], leaves.stops[group]
    positions = _ranges(starts, stops)
    owner = np.repeat(np.arange(group.size), stops - starts)
    keep = active[positions]
    rows, row_owner = positions[keep], owner[keep]
    if rows.size == 0:
        return
    counts = plan.counts()[group]
    pair_leaf = plan.pair_leaf[_ranges(plan.offsets[group], plan.offsets[group + 1])]
    pair_owner = np.repeat(np.arange(group.size), counts)
    cand = _ranges(leaves.starts[pair_leaf], leaves.stops[pair_leaf])
    cand_owner = np.repeat(pair_owner, leaves.sizes_host[pair_leaf])
    per_leaf = np.bincount(cand_owner, minlength=group.size)
    column = np.arange(cand.size) - np.repeat(np.cumsum(per_leaf) - per_leaf, per_leaf)
    # Padding repeats a leaf's first candidate: a duplicate cannot change the minimum.
    table = np.repeat(cand[np.cumsum(per_leaf) - per_leaf][:, None], int(per_leaf.max()), axis=1)
    table[cand_owner, column] = cand
    rows_t = torch.from_numpy(rows).to(device)
    owner_t = torch.from_numpy(row_owner).to(device)
    table_t = torch.from_numpy(table).to(device)
    X = leaves.X
    shape = (rows.size, table.shape[1])
    block = torch.zeros(shape, dtype=X.dtype, device=device)
    term = torch.empty(shape, dtype=X.dtype, device=device)
    for k in range(X.shape[1]):
        torch.index_select(X[:, k][table_t], 0, owner_t, out=term)
        term.sub_(X[rows_t, k][:, None])
        block.addcmul_(term, term)
    if scale != 1.0:
        block.mul_(scale * scale)
    torch.maximum(block, torch.index_select(core_sq[table_t], 0, owner_t, out=term), out=block)
    torch.maximum(block, core_sq[rows_t, None], out=block)
    # Components are compared in the reused buffer, as integers of its element size
    # (32 bits hold them: there are fewer than 2^31 points).
    as_int = _SAME_SIZE_INT[term.element_size()]
    theirs = term.view(as_int)
    torch.index_select(component[table_t].to(as_int), 0, owner_t, out=theirs)
    block.masked_fill_(theirs == component[rows_t, None].to(as_int), torch.inf)
    value, at = torch.min(block, dim=1)
    better = value < nearest[rows_t]
    nearest[rows_t] = torch.where(better, value, nearest[rows_t])
    partner[rows_t] = torch.where(better, table_t[owner_t, at], partner[rows_t])
