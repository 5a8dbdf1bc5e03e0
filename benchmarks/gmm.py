"""Gaussian mixture benchmark: time per EM iteration against scikit-learn, same start.

Both implementations start from the same parameters (means at rows of the data chosen
by a seeded generator, equal weights, unit precisions) and run a fixed number of EM
iterations (``tol=0``). The time per iteration is the fit's time divided by the
iterations it ran. Results agree when both ran the same iterations and clusterlab's
lower bound equals scikit-learn's to 1e-4 relative (float32 data) and its labels match
scikit-learn's (ARI at least 0.999, reported).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from benchmarks._harness import REFERENCE, Context, Disagreement, Impl, Row, Target, measure

ITERATIONS = 10
RTOL = 1e-4
MIN_ARI = 0.999
# (n, d, k, covariance_type, goal as a ratio of scikit-learn's time per iteration)
CASES = [
    (100_000, 16, 8, "full", 0.3),
    (100_000, 16, 8, "diag", 0.3),
    (20_000, 64, 16, "full", 0.3),
]
QUICK_CASES = [
    (20_000, 16, 8, "full", 0.3),
    (20_000, 16, 8, "diag", 0.3),
    (5_000, 64, 16, "full", 0.3),
]
# On a GPU: an absolute goal per iteration at a million points.
GPU_CASE = (1_000_000, 16, 8, "full")
GPU_ITERATIONS = 5
GPU_GOAL_S = 0.020


def make_data(n: int, d: int, k: int, covariance_type: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Overlapping float32 blobs (EM keeps moving) and the common starting parameters."""
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n, d, centers=k, cluster_std=3.0, random_state=seed)
    X = X.astype(np.float32)
    means = X[np.random.default_rng(seed).choice(n, k, replace=False)].copy()
    weights = np.full(k, 1.0 / k, dtype=np.float32)
    precisions = {
        "full": np.broadcast_to(np.eye(d, dtype=np.float32), (k, d, d)).copy(),
        "tied": np.eye(d, dtype=np.float32),
        "diag": np.ones((k, d), dtype=np.float32),
        "spherical": np.ones(k, dtype=np.float32),
    }[covariance_type]
    return {"X": X, "means": means, "weights": weights, "precisions": precisions}


def _params(data: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    def numpy(value: Any) -> np.ndarray:
        return value.cpu().numpy() if hasattr(value, "cpu") else np.asarray(value)

    return {
        "n_components": int(data["means"].shape[0]),
        "covariance_type": params["covariance_type"],
        "max_iter": params["iterations"],
        "tol": 0.0,
        # Enough regularisation that no component of the warm-up slice collapses.
        "reg_covar": 1e-3,
        "weights_init": numpy(data["weights"]),
        "means_init": numpy(data["means"]),
        "precisions_init": numpy(data["precisions"]),
    }


def fit_clusterlab(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """clusterlab's GaussianMixture from the given parameters, ``tol=0``."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from clusterlab_algorithms.gmm import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**_params(data, params), device=params["device"]).fit(data["X"])


def fit_sklearn(data: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """scikit-learn's GaussianMixture from the given parameters, ``tol=0``."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**_params(data, params)).fit(data["X"])


def _labels(name: str, result: Any, X: np.ndarray) -> np.ndarray:
    labels = result.labels_ if name != REFERENCE else result.predict(X)
    return labels.cpu().numpy() if hasattr(labels, "cpu") else np.asarray(labels)


def make_check(X: np.ndarray) -> Any:
    """A check that iterations match and the lower bound equals scikit-learn's to ``RTOL``."""

    def check(results: Mapping[str, Any]) -> str:
        from sklearn.metrics import adjusted_rand_score

        reference = results[REFERENCE]
        expected = _labels(REFERENCE, reference, X)
        notes = []
        for name, result in results.items():
            if name == REFERENCE:
                continue
            if result.n_iter_ != reference.n_iter_:
                raise Disagreement(
                    f"{name} ran {result.n_iter_} iterations, sklearn {reference.n_iter_}", name
                )
            rel = abs(result.lower_bound_ - reference.lower_bound_) / abs(reference.lower_bound_)
            if rel > RTOL:
                raise Disagreement(
                    f"{name} lower bound {result.lower_bound_:.8g} vs sklearn "
                    f"{reference.lower_bound_:.8g} (relative {rel:.2e} > {RTOL:g})",
                    name,
                )
            ari = adjusted_rand_score(expected, _labels(name, result, X))
            if ari < MIN_ARI:
                raise Disagreement(f"{name} labels ARI {ari:.4f} < {MIN_ARI} vs sklearn", name)
            notes.append(f"{name}: lower bound within {rel:.1e}, labels ARI {ari:.4f}")
        return "; ".join(notes) + f"; iterations {reference.n_iter_}"

    return check


def per_iteration(name: str, result: Any) -> float:
    """The iterations an implementation ran, to divide its time by."""
    return float(result.n_iter_) or 1.0


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def _case(ctx: Context, n: int, d: int, k: int, kind: str, iterations: int, target: Target) -> Row:
    data = make_data(n, d, k, kind)
    params = {"iterations": iterations, "device": ctx.device, "covariance_type": kind}
    row = Row(
        "gmm",
        f"{kind} n={_label(n)} d={d} k={k}",
        params={"n": n, "d": d, "k": k, "covariance_type": kind, "iterations": iterations},
        unit="s/iter",
        targets=[target],
    )
    ctx.log(f"gmm {row.case} ...")
    impls = [Impl("clusterlab", fit_clusterlab, on_device=True), Impl("sklearn", fit_sklearn)]
    return measure(row, ctx, data, params, impls, make_check(data["X"]), per=per_iteration)


def run(ctx: Context) -> list[Row]:
    """The mixture cases: time per EM iteration against scikit-learn; on a GPU also the
    million-point case against an absolute goal."""
    rows = []
    for n, d, k, kind, goal in QUICK_CASES if ctx.quick else CASES:
        rows.append(_case(ctx, n, d, k, kind, ITERATIONS, Target("time", REFERENCE, goal)))
    if ctx.device.startswith("cuda"):
        n, d, k, kind = GPU_CASE
        target = Target("time", None, GPU_GOAL_S)
        rows.append(_case(ctx, n, d, k, kind, GPU_ITERATIONS, target))
    return rows
