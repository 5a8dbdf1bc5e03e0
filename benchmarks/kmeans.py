"""K-Means benchmark: time per Lloyd iteration against scikit-learn (and faiss), same start.

Every implementation starts from the same initial centres (rows of the data chosen by
a seeded generator) and runs 20 Lloyd iterations with ``tol=0``. The time per iteration
is the fit's time divided by the iterations it ran. Results agree when every inertia
equals scikit-learn's to 1e-4 relative (faiss's is recomputed on its final centres).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
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
)

ITERATIONS = 20
RTOL = 1e-4
CASES = [(100_000, 32, 16), (1_000_000, 32, 64), (200_000, 128, 256)]
QUICK_CASES = [(20_000, 32, 16), (100_000, 32, 64), (20_000, 128, 256)]
SCALING_N = [500, 2_000, 5_000, 10_000, 30_000, 100_000, 300_000, 1_000_000]
QUICK_SCALING_N = [500, 2_000, 10_000, 30_000]
SCALING_SHAPE = (32, 16)


def make_data(n: int, d: int, k: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Overlapping float32 blobs (so Lloyd runs all its iterations) and ``k`` initial centres."""
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n, d, centers=k, cluster_std=4.0, random_state=seed)
    X = X.astype(np.float32)
    init = X[np.random.default_rng(seed).choice(n, k, replace=False)].copy()
    return {"X": X, "init": init}


def fit_clusterlab(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """clusterlab's KMeans from the given centres, ``tol=0``."""
    from clusterlab_algorithms.kmeans import KMeans

    init = data["init"]
    return KMeans(
        init.shape[0],
        init=init,
        n_init=1,
        max_iter=params["iterations"],
        tol=0.0,
        device=params["device"],
    ).fit(data["X"])


def fit_sklearn(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """scikit-learn's KMeans (``algorithm="lloyd"``) from the given centres, ``tol=0``."""
    from sklearn.cluster import KMeans

    init = data["init"]
    return KMeans(
        init.shape[0],
        init=init,
        n_init=1,
        max_iter=params["iterations"],
        tol=0.0,
        algorithm="lloyd",
    ).fit(data["X"])


def fit_faiss(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """faiss's Kmeans on every point (no subsampling) from the given centres."""
    import faiss

    X, init = data["X"], data["init"]
    kmeans = faiss.Kmeans(
        X.shape[1],
        init.shape[0],
        niter=params["iterations"],
        max_points_per_centroid=max(1, X.shape[0]),
        min_points_per_centroid=1,
        seed=0,
        verbose=False,
    )
    kmeans.train(X, init_centroids=init)
    return kmeans


def inertia_of(X: np.ndarray, centers: np.ndarray, block: int = 65_536) -> float:
    """Sum of squared distances to the nearest centre, in float64, blockwise."""
    centers = np.asarray(centers, dtype=np.float64)
    c_sq = (centers**2).sum(1)
    total = 0.0
    for start in range(0, X.shape[0], block):
        rows = X[start : start + block].astype(np.float64)
        d2 = (rows**2).sum(1)[:, None] - 2 * rows @ centers.T + c_sq[None, :]
        nearest = d2.argmin(1)
        total += float(((rows - centers[nearest]) ** 2).sum())
    return total


def _inertia(name: str, result: Any, X: np.ndarray) -> float:
    if name == "faiss":
        return inertia_of(X, result.centroids)
    return float(result.inertia_)


def _iterations(name: str, result: Any) -> float:
    if name == "faiss":
        return float(len(result.obj)) or 1.0
    return float(result.n_iter_)


def make_check(X: np.ndarray) -> Any:
    """A check that every inertia equals scikit-learn's to ``RTOL`` relative."""

    def check(results: Mapping[str, Any]) -> str:
        reference = _inertia(REFERENCE, results[REFERENCE], X)
        worst = 0.0
        for name, result in results.items():
            inertia = _inertia(name, result, X)
            rel = abs(inertia - reference) / abs(reference)
            if rel > RTOL:
                raise Disagreement(
                    f"{name} inertia {inertia:.8g} vs sklearn {reference:.8g} "
                    f"(relative {rel:.2e} > {RTOL:g})",
                    name,
                )
            worst = max(worst, rel)
        iters = ", ".join(f"{n} {_iterations(n, r):.0f}" for n, r in results.items())
        return f"inertia within {worst:.1e} of sklearn; iterations: {iters}"

    return check


def impls() -> list[Impl]:
    """clusterlab, scikit-learn, and faiss where it is installed."""
    found = [Impl("clusterlab", fit_clusterlab, on_device=True), Impl("sklearn", fit_sklearn)]
    if importlib.util.find_spec("faiss") is not None:
        found.append(Impl("faiss", fit_faiss))
    return found


def run(ctx: Context) -> list[Row]:
    """The K-Means cases: time per iteration, target ≤ 1.0× scikit-learn."""
    rows = []
    for n, d, k in QUICK_CASES if ctx.quick else CASES:
        data = make_data(n, d, k)
        params = {"iterations": ITERATIONS, "device": ctx.device}
        row = Row(
            "kmeans",
            f"n={size_label(n)} d={d} k={k}",
            params={"n": n, "d": d, "k": k, "iterations": ITERATIONS, "tol": 0.0},
            unit="s/iter",
            targets=[Target("time", REFERENCE, 1.0)],
        )
        ctx.log(f"kmeans {row.case} ...")
        rows.append(
            measure(row, ctx, data, params, impls(), make_check(data["X"]), per=per_iteration)
        )
    return rows


def per_iteration(name: str, result: Any) -> float:
    """The iterations an implementation ran, to divide its time by."""
    return _iterations(name, result)


def scaling(ctx: Context) -> list[Row]:
    """Time per iteration and peak memory against n, from 500 points (see
    :func:`benchmarks._harness.scaling_point`); goal ≤ 1.0× scikit-learn at every point."""
    d, k = SCALING_SHAPE
    rows = []
    chosen = [i for i in impls() if i.name != "faiss"]
    for index, n in enumerate(QUICK_SCALING_N if ctx.quick else SCALING_N):
        params = {"iterations": ITERATIONS, "device": ctx.device}
        row = Row(
            "scaling:kmeans",
            f"n={size_label(n)}",
            {"n": n, "d": d, "k": k},
            unit="s/iter",
            targets=[Target("time", REFERENCE, 1.0)],
        )
        ctx.log(f"kmeans scaling {row.case} ...")
        data = make_data(n, d, k)
        check = make_check(data["X"])
        rows.append(
            scaling_point(row, ctx, data, params, chosen, check, index=index, per=per_iteration)
        )
    return rows
