"""Whole fits with default parameters, at the sizes most grid trials have.

K-Means (``n_init=10``, k-means++, 10 clusters of 16-D blobs), DBSCAN (its defaults,
``eps=0.5`` and ``min_samples=5``, on 2-D blobs) and ward (its default 2 clusters, on
2-D blobs) at 500, 2,000, 5,000 and 20,000 points, each fit timed as a user calls it:
initialisation, every restart and iteration, the labels. scikit-learn with its own
defaults (ward keeps its merge heights for the check).

Results agree when: K-Means labels the blobs as scikit-learn does (ARI ≥ 0.99; the
restarts draw different seeds, so the partitions, not the draws, are compared); DBSCAN
finds the same core points, the same noise and valid borders (the ``dbscan`` group's
check); ward's sorted merge heights equal scikit-learn's to 1e-5 (the ``agglomerative``
group's check).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from benchmarks import agglomerative, dbscan
from benchmarks._harness import (
    REFERENCE,
    Context,
    Disagreement,
    Impl,
    Row,
    Target,
    measure,
    rounds_for,
    size_label,
    to_numpy,
)

SIZES = [500, 2_000, 5_000, 20_000]
QUICK_SIZES = [500, 2_000, 5_000]
KMEANS_SHAPE = (16, 10)  # features, clusters
MIN_ARI = 0.99
DBSCAN_DEFAULTS = {"eps": 0.5, "min_samples": 5}


def blobs(n: int, d: int, centers: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Float32 Gaussian blobs of unit spread."""
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n, d, centers=centers, random_state=seed)
    return {"X": X.astype(np.float32)}


def kmeans_clusterlab(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """clusterlab's KMeans, ``n_init=10``."""
    from clusterlab_algorithms.kmeans import KMeans

    return KMeans(KMEANS_SHAPE[1], n_init=10, random_state=0, device=params["device"]).fit(
        data["X"]
    )


def kmeans_sklearn(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """scikit-learn's KMeans, ``n_init=10``."""
    from sklearn.cluster import KMeans

    return KMeans(KMEANS_SHAPE[1], n_init=10, random_state=0).fit(data["X"])


def dbscan_clusterlab(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """clusterlab's DBSCAN with its defaults."""
    from clusterlab_algorithms.dbscan import DBSCAN

    return DBSCAN(device=params["device"]).fit(data["X"])


def dbscan_sklearn(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """scikit-learn's DBSCAN with its defaults (one thread: at these sizes, faster than
    ``n_jobs=-1``, whose pool costs milliseconds)."""
    from sklearn.cluster import DBSCAN

    return DBSCAN().fit(data["X"])


def ward_clusterlab(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """clusterlab's ward with its defaults."""
    from clusterlab_algorithms.agglomerative import AgglomerativeClustering

    return AgglomerativeClustering(device=params["device"]).fit(data["X"])


def ward_sklearn(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """scikit-learn's ward with its defaults, the merge heights kept for the check."""
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(compute_distances=True).fit(data["X"])


def same_partition(results: Mapping[str, Any]) -> str:
    """K-Means: clusterlab's labels against scikit-learn's, ARI at least :data:`MIN_ARI`."""
    from sklearn.metrics import adjusted_rand_score

    ari = adjusted_rand_score(
        np.asarray(results[REFERENCE].labels_), to_numpy(results["clusterlab"].labels_)
    )
    if ari < MIN_ARI:
        raise Disagreement(f"labels ARI {ari:.4f} against sklearn (< {MIN_ARI})")
    inertias = {name: float(result.inertia_) for name, result in results.items()}
    shown = ", ".join(f"{name} {value:.6g}" for name, value in inertias.items())
    return f"labels ARI {ari:.4f} against sklearn; inertia {shown}"


def _pair(ours: Callable[..., Any], theirs: Callable[..., Any]) -> list[Impl]:
    return [Impl("clusterlab", ours, on_device=True), Impl(REFERENCE, theirs)]


def _cases(n: int) -> list[tuple[str, dict[str, np.ndarray], list[Impl], Callable[..., str]]]:
    kmeans_data = blobs(n, *KMEANS_SHAPE)
    plane = blobs(n, 2, 3)
    return [
        (
            f"kmeans n_init=10 n={size_label(n)} d={KMEANS_SHAPE[0]} k={KMEANS_SHAPE[1]}",
            kmeans_data,
            _pair(kmeans_clusterlab, kmeans_sklearn),
            same_partition,
        ),
        (
            f"dbscan defaults n={size_label(n)} d=2",
            plane,
            _pair(dbscan_clusterlab, dbscan_sklearn),
            dbscan.make_check(plane["X"], DBSCAN_DEFAULTS["eps"]),
        ),
        (
            f"ward defaults n={size_label(n)} d=2",
            plane,
            _pair(ward_clusterlab, ward_sklearn),
            agglomerative.check,
        ),
    ]


def run(ctx: Context) -> list[Row]:
    """Each whole fit at each size; goal ≤ 1.0× scikit-learn."""
    rows = []
    for n in QUICK_SIZES if ctx.quick else SIZES:
        local = rounds_for(ctx, n)
        for case, data, impls, check in _cases(n):
            row = Row(
                "fits",
                case,
                params={"n": n, "d": data["X"].shape[1]},
                targets=[Target("time", REFERENCE, 1.0)],
            )
            ctx.log(f"fits {case} ...")
            rows.append(measure(row, local, data, {"device": ctx.device}, impls, check))
    return rows
