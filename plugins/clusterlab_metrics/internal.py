"""Internal scores in torch, on the data's device: silhouette, Davies-Bouldin, CH, inertia, Dunn.

Every score looks only at the data and the labels. Pairwise scores (silhouette, Dunn) walk
the distance matrix in square tiles no larger than the device's memory budget, so memory
stays ``O(n * d + budget)``; per-cluster sums go through ``float64`` accumulators (except on
MPS, which has no ``float64``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from numbers import Integral
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval

from clusterlab import ScoreUndefined
from clusterlab.device import memory_budget
from clusterlab_metrics._labels import Clusters, InternalPolicy, encode, require_clusters

# Largest tile edge. On a CPU a 512 x 512 float32 tile (1 MiB) stays in the L2 cache and
# beat larger tiles in measurements; on a GPU larger tiles amortise the kernel launches.
_CPU_TILE = 512
_GPU_TILE = 8192

Item = TypeVar("Item")
State = TypeVar("State")


# Scores on cluster centroids: O(n * d).


def inertia(
    X: Any,
    labels: Any,
    y_true: Any = None,
    estimator: Any = None,
    *,
    noise: InternalPolicy = "exclude",
) -> float:
    """Sum of squared distances of the points to the centroid of their cluster.

    The centroids are the means of the clusters found, whatever the algorithm, so this is
    K-Means' objective evaluated on any result. Lower is better.
    """
    X, clusters = _select(X, labels, noise, allow_singletons=True)
    codes = _codes_on(X, clusters.codes)
    centroids, _sizes = _centroids(X, codes, clusters.n_clusters)
    return float(_squared_distances_to(X, codes, centroids).sum())


def calinski_harabasz(
    X: Any,
    labels: Any,
    y_true: Any = None,
    estimator: Any = None,
    *,
    noise: InternalPolicy = "exclude",
) -> float:
    """Variance ratio criterion: between-cluster over within-cluster dispersion, scaled.

    As ``sklearn.metrics.calinski_harabasz_score``, except that a result with no
    within-cluster dispersion is undefined (scikit-learn returns 1.0). Higher is better.
    """
    X, clusters = _select(X, labels, noise, allow_singletons=False)
    n, k = clusters.n_points, clusters.n_clusters
    codes = _codes_on(X, clusters.codes)
    centroids, sizes = _centroids(X, codes, k)
    mean = (centroids * sizes[:, None]).sum(0) / n
    between = (sizes * (centroids - mean).pow(2).sum(1)).sum()
    within = _squared_distances_to(X, codes, centroids).sum()
    if float(within) == 0.0:
        raise ScoreUndefined("no within-cluster dispersion: every point equals its centroid")
    return float(between * (n - k) / (within * (k - 1)))


def davies_bouldin(
    X: Any,
    labels: Any,
    y_true: Any = None,
    estimator: Any = None,
    *,
    noise: InternalPolicy = "exclude",
) -> float:
    """Mean over clusters of the worst ratio of summed spreads to centroid distance.

    As ``sklearn.metrics.davies_bouldin_score``: a pair of clusters whose centroids
    coincide contributes 0. Undefined when every centroid coincides. Lower is better.
    """
    X, clusters = _select(X, labels, noise, allow_singletons=False)
    k = clusters.n_clusters
    codes = _codes_on(X, clusters.codes)
    centroids, sizes = _centroids(X, codes, k)
    spread = torch.zeros(k, dtype=centroids.dtype, device=X.device)
    spread.index_add_(0, codes, _squared_distances_to(X, codes, centroids).sqrt())
    spread /= sizes
    worst = torch.empty_like(spread)
    separated = torch.zeros((), dtype=torch.bool, device=X.device)
    block = max(1, memory_budget(X.device) // (k * centroids.element_size()))
    for start in range(0, k, block):
        rows = slice(start, min(k, start + block))
        distances = torch.cdist(
            centroids[rows], centroids, compute_mode="donot_use_mm_for_euclid_dist"
        )
        separated |= (distances > 0).any()
        # A zero distance (the diagonal, or coinciding centroids) counts as infinitely far.
        distances.masked_fill_(distances == 0, math.inf)
        worst[rows] = ((spread[rows, None] + spread[None, :]) / distances).max(1).values
    if not bool(separated):
        raise ScoreUndefined("all cluster centroids coincide")
    return float(worst.mean())


# Pairwise scores: O(n^2 * d) time, tiled.


def silhouette(
    X: Any,
    labels: Any,
    y_true: Any = None,
    estimator: Any = None,
    *,
    sample_size: int | None = None,
    noise: InternalPolicy = "exclude",
    random_state: Any = None,
) -> float:
    """Mean silhouette coefficient over the points, exact, with Euclidean distances.

    As ``sklearn.metrics.silhouette_score``: a point alone in its cluster scores 0.
    ``sample_size`` scores a random subset drawn as scikit-learn draws it
    (``RandomState(random_state).permutation(n)[:sample_size]``, after noise handling).
    Higher is better.
    """
    X, clusters = _select(X, labels, noise, allow_singletons=False)
    if sample_size is not None:
        chosen = _sample_indices(clusters.n_points, sample_size, random_state)
        uniques, codes = np.unique(clusters.codes[chosen], return_inverse=True)
        clusters = Clusters(keep=None, codes=codes.astype(np.int64), n_clusters=uniques.size)
        require_clusters(clusters, allow_singletons=False)
        X = X[torch.from_numpy(chosen).to(X.device)]
    pairs = _Pairwise.build(X, clusters)
    sizes = torch.bincount(pairs.codes, minlength=pairs.k).to(pairs.accumulator)
    n, k = pairs.n, pairs.k
    workers = _workers(X.device)
    budget = memory_budget(X.device) // workers
    edge = _tile_edge(pairs.points, budget)
    row_bytes = k * sizes.element_size()

    if workers * n * row_bytes <= budget:
        # Each tile of the upper triangle adds to the sums of its rows and its columns.
        def add_tile(sums: torch.Tensor, tile: tuple[slice, slice]) -> None:
            rows, cols = tile
            distances = pairs.distances(rows, cols)
            pairs.add_cluster_sums(sums[rows], distances, cols, 1)
            if rows != cols:
                pairs.add_cluster_sums(sums[cols], distances, rows, 0)

        def new_sums() -> torch.Tensor:
            return torch.zeros(n, k, dtype=pairs.accumulator, device=X.device)

        parts = _reduce(_upper_tiles(n, edge), add_tile, new_sums, workers)
        total = _silhouette_sum(sum(parts[1:], parts[0]), pairs.codes, sizes)
    else:
        # An n x k accumulator does not fit: blocks of rows sweep every column tile.
        def add_rows(total: torch.Tensor, rows: slice) -> None:
            sums = torch.zeros(rows.stop - rows.start, k, dtype=pairs.accumulator, device=X.device)
            for start in range(0, n, edge):
                cols = slice(start, min(n, start + edge))
                pairs.add_cluster_sums(sums, pairs.distances(rows, cols), cols, 1)
            total += _silhouette_sum(sums, pairs.codes[rows], sizes)

        def new_total() -> torch.Tensor:
            return torch.zeros((), dtype=pairs.accumulator, device=X.device)

        step = max(1, min(edge, budget // row_bytes))
        blocks = (slice(i, min(n, i + step)) for i in range(0, n, step))
        total = sum(_reduce(blocks, add_rows, new_total, workers))
    return float(total / n)


# Declared in scikit-learn's table format, which the experiment checks read: a bad
# sample_size in a file is refused by ``clusterlab validate``, at its line.
silhouette._parameter_constraints = {  # type: ignore[attr-defined]
    "sample_size": [Interval(Integral, 1, None, closed="left"), None],
    "random_state": ["random_state"],
}


def dunn(
    X: Any,
    labels: Any,
    y_true: Any = None,
    estimator: Any = None,
    *,
    noise: InternalPolicy = "exclude",
) -> float:
    """Dunn index: smallest distance between two clusters over the largest cluster diameter.

    The distance between two clusters is that of their closest points (single linkage);
    a diameter is the largest distance within a cluster. Undefined when every cluster has
    zero diameter. Higher is better.
    """
    X, clusters = _select(X, labels, noise, allow_singletons=True)
    pairs = _Pairwise.build(X, clusters)
    workers = _workers(X.device)
    edge = _tile_edge(pairs.points, memory_budget(X.device) // workers)

    def new_extremes() -> torch.Tensor:
        # [smallest squared distance between clusters, largest within a cluster]
        return torch.tensor([math.inf, 0.0], dtype=pairs.accumulator, device=X.device)

    parts = _reduce(_upper_tiles(pairs.n, edge), pairs.update_extremes, new_extremes, workers)
    closest = torch.stack([part[0] for part in parts]).min()
    widest = torch.stack([part[1] for part in parts]).max()
    if float(widest) == 0.0:
        raise ScoreUndefined("every cluster has zero diameter")
    return float((closest / widest).sqrt())


# Shared machinery.


def _select(
    X: Any, labels: Any, noise: str, *, allow_singletons: bool
) -> tuple[torch.Tensor, Clusters]:
    """The points to score as a float tensor, and their clusters, after the noise policy."""
    X = _as_points(X)
    clusters = encode(labels, noise, X.shape[0])
    require_clusters(clusters, allow_singletons=allow_singletons)
    if clusters.keep is not None:
        X = X[torch.from_numpy(clusters.keep).to(X.device)]
    return X, clusters


def _as_points(X: Any) -> torch.Tensor:
    """``X`` as a 2-D float32 or float64 tensor; numpy arrays are accepted for direct use."""
    if not isinstance(X, torch.Tensor):
        X = torch.from_numpy(np.ascontiguousarray(np.asarray(X)))
    X = X.detach()
    if X.dtype not in (torch.float32, torch.float64):
        X = X.to(_accumulator_dtype(X.device))
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array of points, got shape {tuple(X.shape)}")
    return X


def _accumulator_dtype(device: torch.device) -> torch.dtype:
    # MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def _codes_on(X: torch.Tensor, codes: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(codes)).to(X.device)


def _row_blocks(n: int, bytes_per_row: int, device: torch.device) -> Iterator[slice]:
    step = max(1, memory_budget(device) // max(1, bytes_per_row))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _centroids(X: torch.Tensor, codes: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster means and sizes, accumulated in the accumulator dtype."""
    accumulator = _accumulator_dtype(X.device)
    sums = torch.zeros(k, X.shape[1], dtype=accumulator, device=X.device)
    for rows in _row_blocks(X.shape[0], X.shape[1] * 8, X.device):
        sums.index_add_(0, codes[rows], X[rows].to(accumulator))
    sizes = torch.bincount(codes, minlength=k).to(accumulator)
    return sums / sizes[:, None], sizes


def _squared_distances_to(
    X: torch.Tensor, codes: torch.Tensor, centroids: torch.Tensor
) -> torch.Tensor:
    """Squared distance of every point to its cluster's centroid, from the differences."""
    out = torch.empty(X.shape[0], dtype=centroids.dtype, device=X.device)
    for rows in _row_blocks(X.shape[0], X.shape[1] * 8 * 2, X.device):
        out[rows] = (X[rows].to(centroids.dtype) - centroids[codes[rows]]).pow(2).sum(1)
    return out


def _sample_indices(n: int, sample_size: Any, random_state: Any) -> np.ndarray:
    """Indices of a random subset, drawn as ``sklearn.metrics.silhouette_score`` draws it."""
    if isinstance(sample_size, bool) or not isinstance(sample_size, int | np.integer):
        raise ValueError(f"sample_size must be a positive integer, got {sample_size!r}")
    if sample_size < 1:
        raise ValueError(f"sample_size must be a positive integer, got {sample_size}")
    if isinstance(random_state, np.random.RandomState | np.random.Generator):
        generator: Any = random_state
    else:
        generator = np.random.RandomState(random_state)
    return np.asarray(generator.permutation(n)[:sample_size], dtype=np.int64)


def _silhouette_sum(sums: torch.Tensor, codes: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """Sum of the silhouettes of points with per-cluster distance ``sums`` and ``codes``."""
    own = codes[:, None]
    own_size = sizes[codes]
    inside = sums.gather(1, own).squeeze(1) / (own_size - 1).clamp_min(1)
    nearest = (sums / sizes).scatter_(1, own, math.inf).min(1).values
    larger = torch.maximum(inside, nearest)
    score = (nearest - inside) / larger
    # Singletons score 0, and so do points whose two mean distances are both 0.
    return torch.where((own_size > 1) & (larger > 0), score, 0.0).sum()


def _workers(device: torch.device) -> int:
    """Threads to spread tiles over: the intra-op thread count on a CPU, else one."""
    return max(1, torch.get_num_threads()) if device.type == "cpu" else 1


def _reduce(
    items: Iterable[Item],
    step: Callable[[State, Item], None],
    start: Callable[[], State],
    workers: int,
) -> list[State]:
    """Apply ``step`` to every item, one state per worker thread; return the states.

    On a CPU each worker runs torch single-threaded and takes the next item when free.
    Many small intra-op parallel regions, one per tile operation, each wait for every
    thread; on a busy machine that made the tiled scores many times slower, while
    independent workers keep going.
    """
    if workers == 1:
        state = start()
        for item in items:
            step(state, item)
        return [state]
    iterator = iter(items)
    lock = threading.Lock()

    def work() -> State:
        torch.set_num_threads(1)
        state = start()
        while True:
            with lock:
                item = next(iterator, _DONE)
            if item is _DONE:
                return state
            step(state, item)

    previous = torch.get_num_threads()
    try:
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(work) for _ in range(workers)]
            return [future.result() for future in futures]
    finally:
        torch.set_num_threads(previous)


_DONE = object()


def _tile_edge(points: torch.Tensor, budget: int) -> int:
    cap = _CPU_TILE if points.device.type == "cpu" else _GPU_TILE
    fits = math.isqrt(max(1, budget // points.element_size()))
    return max(1, min(cap, fits))


def _upper_tiles(n: int, edge: int) -> Iterator[tuple[slice, slice]]:
    """Square tiles on and above the diagonal of an ``n x n`` matrix."""
    for r in range(0, n, edge):
        for c in range(r, n, edge):
            yield slice(r, min(n, r + edge)), slice(c, min(n, c + edge))


@dataclass(frozen=True)
class _Pairwise:
    """Points sorted by cluster and centred, and the tile kernels over their distances.

    Sorting makes each cluster a contiguous range, so a tile meets few clusters; centring
    shrinks the norms that the GEMM form of the distance subtracts, which is where its
    float32 rounding comes from.
    """

    points: torch.Tensor
    codes: torch.Tensor  # sorted cluster numbers, on the device
    host_codes: np.ndarray  # the same on the host: tile bounds without device syncs
    k: int
    left: torch.Tensor  # left[i] . right[j] = |x_i|^2 - 2 x_i . x_j + |x_j|^2
    right: torch.Tensor

    @classmethod
    def build(cls, X: torch.Tensor, clusters: Clusters) -> _Pairwise:
        """Sort and centre the points of ``clusters`` and precompute the GEMM operands."""
        order = np.argsort(clusters.codes, kind="stable")
        points = X[torch.from_numpy(order).to(X.device)]
        mean = points.mean(0, dtype=_accumulator_dtype(X.device))
        points = (points.to(mean.dtype) - mean).to(X.dtype)
        norms = points.pow(2).sum(1, keepdim=True)
        ones = torch.ones_like(norms)
        host_codes = clusters.codes[order]
        return cls(
            points=points,
            codes=_codes_on(X, host_codes),
            host_codes=host_codes,
            k=clusters.n_clusters,
            left=torch.cat([points, norms, ones], 1),
            right=torch.cat([-2 * points, ones, norms], 1),
        )

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.points.shape[0])

    @property
    def accumulator(self) -> torch.dtype:
        """The dtype sums and extremes accumulate in."""
        return _accumulator_dtype(self.points.device)

    def squared(self, rows: slice, cols: slice) -> torch.Tensor:
        """Squared distances between ``rows`` and ``cols``, as one GEMM."""
        return self.left[rows] @ self.right[cols].T

    def distances(self, rows: slice, cols: slice) -> torch.Tensor:
        """Euclidean distances between ``rows`` and ``cols``; self-distances exactly 0."""
        tile = self.squared(rows, cols)
        # Rounding can make a squared distance slightly negative. Clamp to the smallest
        # normal number rather than 0: torch's CPU sqrt is several times slower on zeros.
        tile.clamp_min_(torch.finfo(tile.dtype).tiny).sqrt_()
        start, stop = max(rows.start, cols.start), min(rows.stop, cols.stop)
        if start < stop:
            index = torch.arange(start, stop, device=tile.device)
            tile[index - rows.start, index - cols.start] = 0.0
        return tile

    def add_cluster_sums(
        self, target: torch.Tensor, tile: torch.Tensor, summed: slice, dim: int
    ) -> None:
        """Add to ``target`` the sums of ``tile`` along ``dim`` per cluster of ``summed``.

        ``summed`` is the range of points along ``dim``; ``target`` has one row per
        point of the other dimension and one column per cluster. Sorted codes mean the
        range meets only clusters ``low .. high``, usually a single one.
        """
        low, high = int(self.host_codes[summed.start]), int(self.host_codes[summed.stop - 1])
        if low == high:
            target[:, low] += tile.sum(dim)
            return
        one_hot = F.one_hot(self.codes[summed] - low, high - low + 1).to(tile.dtype)
        # These operand orders measured several times faster than ``tile @ one_hot``.
        target[:, low : high + 1] += (one_hot.T @ (tile.T if dim == 1 else tile)).T

    def update_extremes(self, extremes: torch.Tensor, tile: tuple[slice, slice]) -> None:
        """Fold a tile into ``[closest squared gap between clusters, widest squared diameter]``.

        The tile's distances come from a GEMM, whose rounding matters for small gaps in
        float32, so each row's candidate pair is recomputed from its coordinates.
        """
        rows, cols = tile
        squared = self.squared(rows, cols)
        index = torch.arange(rows.start, rows.stop, device=squared.device)
        if self.host_codes[rows.stop - 1] < self.host_codes[cols.start]:
            same = None  # no cluster spans both ranges
            other = squared
        else:
            same = self.codes[rows, None] == self.codes[None, cols]
            other = squared.masked_fill(same, math.inf)
        value, column = other.min(1)
        exact = self._pair_distances(index, cols.start + column)
        extremes[0] = torch.minimum(extremes[0], exact.masked_fill(value.isinf(), math.inf).min())
        if same is not None:
            value, column = squared.masked_fill_(~same, -math.inf).max(1)
            exact = self._pair_distances(index, cols.start + column)
            extremes[1] = torch.maximum(extremes[1], exact.masked_fill(value.isinf(), 0.0).max())

    def _pair_distances(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Squared distances of ``points[first[i]]`` to ``points[second[i]]``, from differences."""
        dtype = self.accumulator
        return (self.points[first].to(dtype) - self.points[second].to(dtype)).pow(2).sum(1)
