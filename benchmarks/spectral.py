"""Spectral clustering benchmark: clusterlab against scikit-learn on two moons.

The data are float32 ``make_moons`` (seed 0), clustered into two with
scikit-learn's defaults (``assign_labels="kmeans"``, ``n_init=10``, ``gamma=1``,
``n_neighbors=10``) and the affinity of the case. Agreement is checked before any time:
the labels' ARI against scikit-learn's must be at least 0.99, and clusterlab's
eigenvalues must lie within 1e-4 of scipy's ``eigsh`` on the Laplacian that scipy
builds from scikit-learn's own affinity matrix.

With noise 0.05 the neighbour graph of the moons falls into two components, one per
moon, whose embedding clusterlab takes from the components themselves; with noise 0.1
the graph is connected and the iterative eigensolver runs. Both are timed.
"""

from __future__ import annotations

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

MIN_ARI = 0.99
EIGEN_ATOL = 1e-4
# (affinity, n, noise, time goal against scikit-learn).
CASES = [
    ("nearest_neighbors", 20_000, 0.05, 1.0),
    ("nearest_neighbors", 5_000, 0.05, 1.0),
    ("nearest_neighbors", 20_000, 0.1, 1.0),
    ("nearest_neighbors", 5_000, 0.1, 1.0),
    ("rbf", 5_000, 0.05, 0.5),
]
QUICK_CASES = [
    ("nearest_neighbors", 3_000, 0.05, 1.0),
    ("nearest_neighbors", 3_000, 0.1, 1.0),
    ("rbf", 1_500, 0.05, 0.5),
]


def make_data(n: int, noise: float) -> dict[str, np.ndarray]:
    """Two moons, float32, the same for every implementation."""
    from sklearn.datasets import make_moons

    X, _ = make_moons(n, noise=noise, random_state=0)
    return {"X": X.astype(np.float32)}


def fit_clusterlab(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """clusterlab's SpectralClustering."""
    from clusterlab_algorithms.spectral import SpectralClustering

    return SpectralClustering(
        n_clusters=2, affinity=params["affinity"], random_state=0, device=params["device"]
    ).fit(data["X"])


def fit_sklearn(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """scikit-learn's SpectralClustering (ARPACK in shift-invert mode)."""
    import warnings

    from sklearn.cluster import SpectralClustering

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        return SpectralClustering(n_clusters=2, affinity=params["affinity"], random_state=0).fit(
            data["X"]
        )


def reference_eigenvalues(affinity: Any, k: int) -> np.ndarray:
    """The ``k`` smallest eigenvalues of scikit-learn's Laplacian, by scipy's ``eigsh``."""
    import scipy.sparse as sp
    from scipy.sparse import csgraph
    from scipy.sparse.linalg import eigsh

    laplacian = sp.csr_matrix(csgraph.laplacian(affinity, normed=True))
    laplacian.setdiag(1.0)
    return np.sort(eigsh(laplacian, k=k, sigma=-1e-5, which="LM", tol=0)[0])


def check(results: Mapping[str, Any]) -> str:
    """ARI against scikit-learn and the eigenvalues against scipy; raise :class:`Disagreement`."""
    from sklearn.metrics import adjusted_rand_score

    mine, reference = results["clusterlab"], results[REFERENCE]
    ari = adjusted_rand_score(np.asarray(reference.labels_), to_numpy(mine.labels_))
    if ari < MIN_ARI:
        raise Disagreement(f"ARI {ari:.4f} against scikit-learn, below {MIN_ARI}")
    ours = to_numpy(mine.eigenvalues_)
    expected = reference_eigenvalues(reference.affinity_matrix_, len(ours))
    worst = float(np.max(np.abs(ours - expected)))
    if worst > EIGEN_ATOL:
        raise Disagreement(f"eigenvalues differ from eigsh's by up to {worst:.2e}")
    return f"ARI {ari:.6f} against scikit-learn; eigenvalues within {worst:.1e} of eigsh"


def run(ctx: Context) -> list[Row]:
    """The spectral cases: time against scikit-learn, agreement first."""
    rows = []
    for affinity, n, noise, limit in QUICK_CASES if ctx.quick else CASES:
        row = Row(
            "spectral",
            f"{affinity} moons noise {noise:g} n={n // 1000}k",
            params={"affinity": affinity, "n": n, "noise": noise},
            targets=[Target("time", REFERENCE, limit)],
        )
        ctx.log(f"spectral {row.case} ...")
        impls = [Impl("clusterlab", fit_clusterlab, on_device=True), Impl(REFERENCE, fit_sklearn)]
        params = {"affinity": affinity, "device": ctx.device}
        rows.append(measure(row, ctx, make_data(n, noise), params, impls, check))
    return rows
