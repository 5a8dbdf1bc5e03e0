"""DBSCAN benchmark: time and peak memory against scikit-learn on the same data and eps.

The data are eight float32 Gaussian blobs plus 5% uniform noise. ``eps`` shrinks with
``n`` so that the expected number of neighbours, and so the clusters found, stay the
same at every size. Results agree when the core points are the same, the noise is the
same, and every border point is in a cluster that one of its core neighbours is in
(where two clusters reach a border point, DBSCAN allows either: scikit-learn takes the
first one it expands, clusterlab the nearest core point).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks._harness import (
    REFERENCE,
    Context,
    Disagreement,
    Impl,
    Row,
    Target,
    measure,
    scaling_point,
    size_label,
    to_numpy,
)

MIN_SAMPLES = 10
NOISE_SHARE = 0.05


@dataclass(frozen=True)
class Shape:
    """A DBSCAN problem: ``eps`` is ``eps_at`` for ``n_at`` points, scaled to keep density."""

    d: int
    eps_at: float
    n_at: int
    time_limit: float
    memory_limit: float | None

    def eps(self, n: int) -> float:
        """``eps`` for ``n`` points: the same expected neighbour count as at ``n_at``."""
        return float(f"{self.eps_at * (self.n_at / n) ** (1.0 / self.d):.4g}")


PLANE = Shape(d=2, eps_at=0.1, n_at=100_000, time_limit=1.0, memory_limit=1.0)
SPACE = Shape(d=16, eps_at=3.3, n_at=50_000, time_limit=0.5, memory_limit=1.0)
CASES = [(PLANE, 100_000), (SPACE, 50_000)]
QUICK_CASES = [(PLANE, 20_000), (SPACE, 10_000)]
SCALING_N = {
    PLANE: [500, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 200_000],
    SPACE: [500, 2_000, 5_000, 10_000, 20_000, 50_000],
}
QUICK_SCALING_N = {PLANE: [500, 2_000, 10_000, 20_000], SPACE: [500, 2_000, 5_000]}


def make_data(n: int, d: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Eight blobs (centres spread wider in 2-D) plus uniform noise over their box."""
    from sklearn.datasets import make_blobs

    rng = np.random.default_rng(seed)
    n_blobs = n - int(n * NOISE_SHARE)
    box = (-30.0, 30.0) if d == 2 else (-10.0, 10.0)
    X, _ = make_blobs(n_blobs, d, centers=8, cluster_std=1.0, center_box=box, random_state=seed)
    noise = rng.uniform(X.min(0), X.max(0), size=(n - n_blobs, d))
    X = np.vstack([X, noise]).astype(np.float32)
    return {"X": X[rng.permutation(n)]}


def fit_clusterlab(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """clusterlab's DBSCAN."""
    from clusterlab_algorithms.dbscan import DBSCAN

    return DBSCAN(
        eps=params["eps"], min_samples=params["min_samples"], device=params["device"]
    ).fit(data["X"])


def fit_sklearn(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """scikit-learn's DBSCAN on every core (``n_jobs=-1``), its fastest set-up."""
    from sklearn.cluster import DBSCAN

    return DBSCAN(eps=params["eps"], min_samples=params["min_samples"], n_jobs=-1).fit(data["X"])


def compare_labels(
    X: np.ndarray,
    eps: float,
    mine: tuple[np.ndarray, np.ndarray],
    theirs: tuple[np.ndarray, np.ndarray],
) -> str:
    """Check two DBSCAN results ``(labels, core indices)``; raise :class:`Disagreement`.

    Returns how they agree: the ARI and the number of border points that two clusters
    reach and that the two results put in different (both valid) clusters.
    """
    from sklearn.metrics import adjusted_rand_score
    from sklearn.neighbors import NearestNeighbors

    labels, core = mine
    ref_labels, ref_core = theirs
    if not np.array_equal(np.sort(core), np.sort(ref_core)):
        extra = np.setdiff1d(core, ref_core).size
        missing = np.setdiff1d(ref_core, core).size
        raise Disagreement(f"core points differ: {extra} extra, {missing} missing")
    noise_differs = int(((labels < 0) != (ref_labels < 0)).sum())
    if noise_differs:
        raise Disagreement(f"noise differs on {noise_differs} points")
    if adjusted_rand_score(ref_labels[core], labels[core]) != 1.0:
        raise Disagreement("core points are grouped differently")
    ari = adjusted_rand_score(ref_labels, labels)
    if ari == 1.0:
        return f"same labels (ARI 1.0), {core.size} core points equal"
    # Map clusters onto each other through the core points, then find borders that differ.
    mapping = dict(zip(labels[core].tolist(), ref_labels[core].tolist(), strict=True))
    mapped = np.array([mapping.get(int(label), -1) for label in labels])
    differ = np.flatnonzero((mapped != ref_labels) & (labels >= 0))
    reach = NearestNeighbors(radius=eps).fit(X[core])
    neighbours = reach.radius_neighbors(X[differ], return_distance=False)
    for point, found in zip(differ, neighbours, strict=True):
        clusters = set(ref_labels[core[found]].tolist())
        if not {int(mapped[point]), int(ref_labels[point])} <= clusters:
            raise Disagreement(f"border point {point} is in a cluster none of its cores is in")
    return (
        f"ARI {ari:.6f}: {core.size} core points and the noise equal; {differ.size} border "
        "points reached by two clusters sit in a different one of them (both valid)"
    )


def make_check(X: np.ndarray, eps: float) -> Any:
    """A check that clusterlab's result equals scikit-learn's, as :func:`compare_labels`."""

    def check(results: Mapping[str, Any]) -> str:
        def pair(result: Any) -> tuple[np.ndarray, np.ndarray]:
            return to_numpy(result.labels_), to_numpy(result.core_sample_indices_)

        mine, theirs = pair(results["clusterlab"]), pair(results[REFERENCE])
        found = int(theirs[0].max()) + 1
        noise = float(np.mean(theirs[0] < 0))
        text = compare_labels(X, eps, mine, theirs)
        return f"{text}; {found} clusters, {noise:.1%} noise"

    return check


def impls() -> list[Impl]:
    """clusterlab and scikit-learn."""
    return [Impl("clusterlab", fit_clusterlab, on_device=True), Impl(REFERENCE, fit_sklearn)]


def run(ctx: Context) -> list[Row]:
    """The DBSCAN cases with their time and peak-memory targets."""
    rows = []
    for shape, n in QUICK_CASES if ctx.quick else CASES:
        data = make_data(n, shape.d)
        eps = shape.eps(n)
        params = {"eps": eps, "min_samples": MIN_SAMPLES, "device": ctx.device}
        targets = [Target("time", REFERENCE, shape.time_limit)]
        if shape.memory_limit is not None:
            targets.append(Target("memory", REFERENCE, shape.memory_limit))
        row = Row(
            "dbscan",
            f"n={size_label(n)} d={shape.d} eps={eps:g}",
            params={"n": n, "d": shape.d, "eps": eps, "min_samples": MIN_SAMPLES},
            targets=targets,
        )
        ctx.log(f"dbscan {row.case} ...")
        check = make_check(data["X"], eps)
        memory = shape.memory_limit is not None
        rows.append(measure(row, ctx, data, params, impls(), check, memory=memory))
    return rows


def scaling(ctx: Context) -> list[Row]:
    """Time and peak memory against n at constant density, in 2-D and 16-D, from 500
    points (see :func:`benchmarks._harness.scaling_point`); goals at every point: time
    ≤ 1.0× and peak memory ≤ 1.0× scikit-learn."""
    rows = []
    for shape, sizes in (QUICK_SCALING_N if ctx.quick else SCALING_N).items():
        for index, n in enumerate(sizes):
            eps = shape.eps(n)
            params = {"eps": eps, "min_samples": MIN_SAMPLES, "device": ctx.device}
            row = Row(
                "scaling:dbscan",
                f"n={size_label(n)} d={shape.d} eps={eps:g}",
                params={"n": n, "d": shape.d, "eps": eps, "min_samples": MIN_SAMPLES},
                targets=[Target("time", REFERENCE, 1.0), Target("memory", REFERENCE, 1.0)],
            )
            ctx.log(f"dbscan scaling {row.case} ...")
            data = make_data(n, shape.d)
            check = make_check(data["X"], eps)
            rows.append(scaling_point(row, ctx, data, params, impls(), check, index=index))
    return rows
