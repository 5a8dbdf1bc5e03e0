"""HDBSCAN benchmark: time and peak memory against scikit-learn, fast_hdbscan and hdbscan.

The data are DBSCAN's benchmark data (eight float32 Gaussian blobs plus 5% uniform
noise), clustered with ``min_cluster_size=20``. Agreement is checked before any time:
clusterlab's merge heights must equal scikit-learn's (both trees are minimum spanning
trees of the same mutual-reachability graph), and scikit-learn's own condensing and
selection run on clusterlab's tree must give clusterlab's labels and probabilities.
Tied distances can make several trees valid, and scikit-learn picks among them by an
unstable sort, so the end-to-end ARI and noise difference against scikit-learn's labels
are reported beside it, as are the peers' (fast_hdbscan and hdbscan run where installed).
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
    to_numpy,
)
from benchmarks.dbscan import make_data

MIN_CLUSTER_SIZE = 20
# (n, d, time goal against scikit-learn, against the fastest peer).
CASES = [(100_000, 2, 0.05), (20_000, 16, None)]
QUICK_CASES = [(20_000, 2, 0.05), (5_000, 16, None)]
PEERS = ("fast_hdbscan", "hdbscan")
# float32 data: clusterlab computes in float32, scikit-learn in float64.
HEIGHT_RTOL = 1e-5


def fit_clusterlab(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """clusterlab's HDBSCAN."""
    from clusterlab_algorithms.hdbscan import HDBSCAN

    return HDBSCAN(min_cluster_size=params["min_cluster_size"], device=params["device"]).fit(
        data["X"]
    )


def fit_sklearn(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """scikit-learn's HDBSCAN (its k-d tree and Prim's tree)."""
    from sklearn.cluster import HDBSCAN

    return HDBSCAN(min_cluster_size=params["min_cluster_size"], copy=False).fit(data["X"])


def fit_fast_hdbscan(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """fast_hdbscan's HDBSCAN (numba, all cores)."""
    from fast_hdbscan import HDBSCAN

    return HDBSCAN(min_cluster_size=params["min_cluster_size"]).fit(data["X"])


def fit_hdbscan(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """The ``hdbscan`` package's HDBSCAN (its default Borůvka k-d tree, all cores)."""
    from hdbscan import HDBSCAN

    return HDBSCAN(min_cluster_size=params["min_cluster_size"], core_dist_n_jobs=-1).fit(data["X"])


def compare(mine: Any, reference: Any) -> str:
    """Check clusterlab's fit against scikit-learn's; raise :class:`Disagreement`."""
    from sklearn.cluster._hdbscan._tree import HIERARCHY_dtype, tree_to_labels
    from sklearn.metrics import adjusted_rand_score

    Z = np.asarray(mine.single_linkage_tree_)
    ref_heights = np.sort(reference._single_linkage_tree_["value"])
    if not np.allclose(Z[:, 2], ref_heights, rtol=HEIGHT_RTOL, atol=0):
        worst = float(np.max(np.abs(Z[:, 2] - ref_heights) / np.maximum(ref_heights, 1e-300)))
        raise Disagreement(f"merge heights differ (worst relative {worst:.2e})")
    tree = np.zeros(len(Z), dtype=HIERARCHY_dtype)
    tree["left_node"], tree["right_node"] = Z[:, 0], Z[:, 1]
    tree["value"], tree["cluster_size"] = Z[:, 2], Z[:, 3]
    labels, probabilities = tree_to_labels(tree, MIN_CLUSTER_SIZE, "eom", False, 0.0, None)
    ours, ours_p = to_numpy(mine.labels_), to_numpy(mine.probabilities_)
    if adjusted_rand_score(labels, ours) != 1.0 or not np.array_equal(labels < 0, ours < 0):
        raise Disagreement("scikit-learn's selection on clusterlab's tree gives other labels")
    if not np.allclose(probabilities, ours_p, rtol=0, atol=1e-5):
        raise Disagreement(
            "scikit-learn's selection on clusterlab's tree gives other probabilities"
        )
    ref_labels = np.asarray(reference.labels_)
    ari = adjusted_rand_score(ref_labels, ours)
    noise = int(((ref_labels < 0) != (ours < 0)).sum())
    return (
        f"heights equal to {HEIGHT_RTOL:g}, scikit-learn's selection on our tree equal; "
        f"against scikit-learn's labels ARI {ari:.6f}, noise differs on {noise} points"
    )


def make_check() -> Any:
    """The agreement check of one case, with the peers' ARI against scikit-learn noted."""

    def check(results: Mapping[str, Any]) -> str:
        from sklearn.metrics import adjusted_rand_score

        reference = results[REFERENCE]
        text = compare(results["clusterlab"], reference)
        ref_labels = np.asarray(reference.labels_)
        found = int(ref_labels.max()) + 1
        notes = [f"{found} clusters, {np.mean(ref_labels < 0):.1%} noise"]
        for peer in PEERS:
            if peer in results:
                ari = adjusted_rand_score(ref_labels, to_numpy(results[peer].labels_))
                notes.append(f"{peer} ARI {ari:.4f} against scikit-learn")
        return "; ".join([text, *notes])

    return check


def impls() -> list[Impl]:
    """clusterlab, scikit-learn and the peers installed."""
    found = [Impl("clusterlab", fit_clusterlab, on_device=True), Impl(REFERENCE, fit_sklearn)]
    if importlib.util.find_spec("fast_hdbscan") is not None:
        found.append(Impl("fast_hdbscan", fit_fast_hdbscan))
    if importlib.util.find_spec("hdbscan") is not None:
        found.append(Impl("hdbscan", fit_hdbscan))
    return found


def run(ctx: Context) -> list[Row]:
    """The HDBSCAN cases: time against scikit-learn and the peers, and peak memory."""
    rows = []
    for n, d, sklearn_limit in QUICK_CASES if ctx.quick else CASES:
        data = make_data(n, d)
        params = {"min_cluster_size": MIN_CLUSTER_SIZE, "device": ctx.device}
        present = impls()
        targets = [Target("memory", REFERENCE, 1.0)]
        if sklearn_limit is not None:
            targets.insert(0, Target("time", REFERENCE, sklearn_limit))
        for peer in present[2:]:
            targets.append(Target("time", peer.name, 1.0))
        if sklearn_limit is None:
            targets.append(Target("time", REFERENCE, 1.0))
        row = Row(
            "hdbscan",
            f"n={n // 1000}k d={d} min_cluster_size={MIN_CLUSTER_SIZE}",
            params={"n": n, "d": d, "min_cluster_size": MIN_CLUSTER_SIZE},
            targets=targets,
        )
        ctx.log(f"hdbscan {row.case} ...")
        rows.append(measure(row, ctx, data, params, present, make_check(), memory=True))
    return rows
