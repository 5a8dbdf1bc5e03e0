"""DBSCAN's labels and core points from the pairs of points within ``eps``."""

from __future__ import annotations

import torch

from clusterlab_algorithms._neighbors.blocks import BlockPairs
from clusterlab_algorithms._neighbors.components import new_forest, union_flat
from clusterlab_algorithms._neighbors.grid import GridPairs
from clusterlab_algorithms._neighbors.metric import PairChunk

NOISE = -1
# Kept pairs are joined in batches of about this many: each batch of the union-find
# costs a few passes over all points, whatever its size, and its temporaries take about
# 60 bytes per pair. Below _UNION_BATCH / 2 points a batch holds 2 pairs per point (at
# least _MIN_UNION_BATCH): the passes stay cheap, and the temporaries stay below the
# neighbourhoods scikit-learn keeps for the same points.
_UNION_BATCH = 1 << 17
_MIN_UNION_BATCH = 1 << 14


def labels_from_pairs(
    pairs: GridPairs | BlockPairs, min_samples: int, keep_bytes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and core mask from the pairs within ``eps``.

    The first pass counts each point's neighbours; the second joins core pairs and keeps,
    for every non-core point, its nearest core neighbour. The first pass keeps its pairs
    (positions as int32) for the second while they fit in ``keep_bytes``; beyond that the
    second pass measures them again. Work happens at the pairs' sorted positions; the
    results are put back in the input's order at the end.
    """
    ids = pairs.ids
    n = ids.shape[0]
    device = ids.device
    counts = torch.ones(n, dtype=torch.int64, device=device)  # every point is its own neighbour
    batch = min(_UNION_BATCH, max(_MIN_UNION_BATCH, 2 * n))
    kept: _KeptPairs | None = _KeptPairs(keep_bytes, batch) if n < 2**31 else None
    for chunk in pairs.chunks():
        counts.index_add_(0, chunk.first, torch.ones_like(chunk.first))
        counts.index_add_(0, chunk.second, torch.ones_like(chunk.second))
        if kept is not None and not kept.add(chunk):
            kept = None
    core = counts >= min_samples
    del counts
    parent = new_forest(n, device)
    nearest = _NearestCore(n, ids)
    for chunk in pairs.chunks() if kept is None else kept.batches():
        first_core, second_core = core[chunk.first], core[chunk.second]
        both = first_core & second_core
        union_flat(parent, chunk.first[both], chunk.second[both])
        one = first_core ^ second_core
        first, second = chunk.first[one].long(), chunk.second[one].long()
        first_is_core = first_core[one]
        nearest.offer(
            torch.where(first_is_core, second, first),
            torch.where(first_is_core, first, second),
            pairs.score(first, second),
        )
    del kept
    labels_at = torch.full((n,), NOISE, dtype=torch.int64, device=device)
    core_at = torch.nonzero(core).flatten()
    if core_at.numel() > 0:
        roots = parent[core_at]  # the forest is kept flat
        # A cluster's number follows its smallest core index in the input's order.
        smallest = torch.full((n,), n, dtype=torch.int64, device=device)
        smallest.scatter_reduce_(0, roots, ids[core_at], reduce="amin")
        _, cluster = torch.unique(smallest[roots], sorted=True, return_inverse=True)
        labels_at[core_at] = cluster
        reached = torch.nonzero(nearest.position < n).flatten()
        labels_at[reached] = labels_at[nearest.position[reached]]
    labels = torch.empty_like(labels_at)
    labels[ids] = labels_at
    is_core = torch.empty_like(core)
    is_core[ids] = core
    return labels, is_core


class _NearestCore:
    """For each point, the nearest core neighbour offered so far (ties: smallest index).

    Offers come in chunks; a point's best distance may improve in a later chunk, and
    equally near neighbours may come in different chunks.
    """

    def __init__(self, n: int, ids: torch.Tensor) -> None:
        self.n = n
        self.ids = ids
        self.score = torch.full((n,), torch.inf, device=ids.device)
        #: Sorted position of the nearest core neighbour, ``n`` where none.
        self.position = torch.full((n,), n, dtype=torch.int64, device=ids.device)
        self._index = torch.full((n,), n, dtype=torch.int64, device=ids.device)

    def offer(self, point: torch.Tensor, neighbour: torch.Tensor, score: torch.Tensor) -> None:
        """Offer ``neighbour[k]`` at distance score ``score[k]`` to ``point[k]``."""
        if point.numel() == 0:
            return
        if self.score.dtype != score.dtype:
            self.score = self.score.to(score.dtype)
        before = self.score[point]
        self.score.scatter_reduce_(0, point, score, reduce="amin")
        best = self.score[point]
        improved = point[best < before]
        self._index[improved] = self.n
        self.position[improved] = self.n
        hit = score == best
        point, neighbour = point[hit], neighbour[hit]
        self._index.scatter_reduce_(0, point, self.ids[neighbour], reduce="amin")
        # The winner's position: the offered neighbour whose index won.
        won = self.ids[neighbour] == self._index[point]
        self.position[point[won]] = neighbour[won]


class _KeptPairs:
    """Pairs kept from the first pass for the second, positions as int32, within a limit."""

    def __init__(self, limit_bytes: int, batch_pairs: int = _UNION_BATCH) -> None:
        self.limit_bytes = limit_bytes
        self.batch_pairs = batch_pairs
        self.bytes = 0
        self._batches: list[PairChunk] = []
        self._pending: list[PairChunk] = []
        self._pending_pairs = 0

    def add(self, chunk: PairChunk) -> bool:
        """Keep ``chunk``; ``False`` (and everything dropped) once over the limit."""
        self.bytes += chunk.first.numel() * 8
        if self.bytes > self.limit_bytes:
            self._batches, self._pending = [], []
            return False
        small = torch.int32
        self._pending.append(PairChunk(chunk.first.to(small), chunk.second.to(small)))
        self._pending_pairs += chunk.first.numel()
        if self._pending_pairs >= self.batch_pairs:
            self._flush()
        return True

    def batches(self) -> list[PairChunk]:
        """The kept pairs, in batches of at least ``batch_pairs`` pairs but the last."""
        self._flush()
        return self._batches

    def _flush(self) -> None:
        if self._pending:
            first, second = (torch.cat(parts) for parts in zip(*self._pending, strict=True))
            self._batches.append(PairChunk(first, second))
        self._pending, self._pending_pairs = [], 0
