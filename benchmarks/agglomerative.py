"""Agglomerative benchmark: ward, average and single linkage against scikit-learn and fastcluster.

scikit-learn builds the full tree (``compute_distances=True``; for ward and average it
calls scipy's ``linkage``, for single its own minimum spanning tree), fastcluster its
``linkage`` on the observations. Results agree when the sorted merge heights equal
scikit-learn's (scipy's) to 1e-5 relative, fastcluster's included.
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
    to_numpy,
)

RTOL = 1e-5
N_CLUSTERS = 10
D = 16
N, QUICK_N = 20_000, 4_000
# Time goals against scikit-learn, and whether clusterlab must also beat fastcluster.
GOALS = {"ward": (0.2, True), "average": (0.2, True), "single": (0.5, False)}
SCALING_N = [500, 2_000, 4_000, 10_000, 20_000]
QUICK_SCALING_N = [500, 2_000, 4_000]
SCALING_LINKAGES = ("ward", "average", "complete", "single")
# From this many points the scaling curves hold the linkages to the cases' goals (GOALS);
# below it, and for complete linkage, to scikit-learn's time.
GOALS_FROM_N = 4_000


def make_data(n: int, d: int = D, seed: int = 0) -> dict[str, np.ndarray]:
    """Ten float32 Gaussian blobs."""
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n, d, centers=N_CLUSTERS, random_state=seed)
    return {"X": X.astype(np.float32)}


def fit_clusterlab(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """clusterlab's AgglomerativeClustering (the full tree, cut into ``N_CLUSTERS``)."""
    from clusterlab_algorithms.agglomerative import AgglomerativeClustering

    return AgglomerativeClustering(
        N_CLUSTERS, linkage=params["linkage"], device=params["device"]
    ).fit(data["X"])


def fit_sklearn(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """scikit-learn's AgglomerativeClustering with the merge heights kept."""
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(
        N_CLUSTERS, linkage=params["linkage"], compute_distances=True
    ).fit(data["X"])


def fit_fastcluster(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """fastcluster's linkage matrix of the observations (euclidean)."""
    import fastcluster

    return fastcluster.linkage(data["X"], method=params["linkage"], metric="euclidean")


def heights(name: str, result: Any) -> np.ndarray:
    """The sorted merge heights of one implementation's result, in float64."""
    if name == "fastcluster":
        values = np.asarray(result)[:, 2]
    elif name == "clusterlab":
        values = to_numpy(result.linkage_matrix_)[:, 2]
    else:
        values = np.asarray(result.distances_)
    return np.sort(values.astype(np.float64))


def relative_gap(values: np.ndarray, reference: np.ndarray) -> float:
    """Largest ``|a - b| / |b|`` over merges (heights near zero compared to the largest)."""
    floor = max(float(np.abs(reference).max()), 1e-30) * 1e-6
    return float((np.abs(values - reference) / np.maximum(np.abs(reference), floor)).max())


def check(results: Mapping[str, Any]) -> str:
    """Every sorted height sequence equals scikit-learn's to ``RTOL``; labels' ARI reported."""
    from sklearn.metrics import adjusted_rand_score

    reference = heights(REFERENCE, results[REFERENCE])
    gaps = []
    for name, result in results.items():
        if name == REFERENCE:
            continue
        got = heights(name, result)
        if got.shape != reference.shape:
            raise Disagreement(f"{name} made {got.size} merges, sklearn {reference.size}", name)
        gap = relative_gap(got, reference)
        if gap > RTOL:
            raise Disagreement(f"{name} merge heights off by {gap:.2e} relative (> {RTOL:g})", name)
        gaps.append(f"{name} {gap:.1e}")
    ari = adjusted_rand_score(
        np.asarray(results[REFERENCE].labels_), to_numpy(results["clusterlab"].labels_)
    )
    return f"sorted heights vs sklearn/scipy: {', '.join(gaps)}; labels ARI {ari:.4f}"


def impls() -> list[Impl]:
    """clusterlab, scikit-learn, and fastcluster where it is installed."""
    found = [Impl("clusterlab", fit_clusterlab, on_device=True), Impl(REFERENCE, fit_sklearn)]
    if importlib.util.find_spec("fastcluster") is not None:
        found.append(Impl("fastcluster", fit_fastcluster))
    return found


def run(ctx: Context) -> list[Row]:
    """The three linkages on the same data, each with its time targets."""
    n = QUICK_N if ctx.quick else N
    data = make_data(n)
    chosen = impls()
    rows = []
    for linkage, (limit, versus_fastcluster) in GOALS.items():
        targets = [Target("time", REFERENCE, limit)]
        if versus_fastcluster and any(i.name == "fastcluster" for i in chosen):
            targets.append(Target("time", "fastcluster", 1.0))
        row = Row(
            "agglomerative",
            f"{linkage} n={n // 1000}k d={D}",
            params={"n": n, "d": D, "linkage": linkage, "n_clusters": N_CLUSTERS},
            targets=targets,
        )
        ctx.log(f"agglomerative {row.case} ...")
        params = {"linkage": linkage, "device": ctx.device}
        rows.append(measure(row, ctx, data, params, chosen, check))
    return rows


def scaling(ctx: Context) -> list[Row]:
    """Time and peak memory of the four linkages against n, from 500 points (see
    :func:`benchmarks._harness.scaling_point`)."""
    rows = []
    chosen = impls()
    for linkage in SCALING_LINKAGES:
        for index, n in enumerate(QUICK_SCALING_N if ctx.quick else SCALING_N):
            limit = GOALS[linkage][0] if linkage in GOALS and n >= GOALS_FROM_N else 1.0
            params = {"linkage": linkage, "device": ctx.device}
            row = Row(
                "scaling:agglomerative",
                f"{linkage} n={size_label(n)}",
                params={"n": n, "d": D, "linkage": linkage},
                targets=[Target("time", REFERENCE, limit)],
            )
            ctx.log(f"agglomerative scaling {row.case} ...")
            rows.append(scaling_point(row, ctx, make_data(n), params, chosen, check, index=index))
    return rows
