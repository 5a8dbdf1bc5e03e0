"""Benchmark: clusterlab's exact silhouette against scikit-learn's ``silhouette_score``.

Both run in this process on the same float32 blobs, alternating, and the median of the
repeats is reported once the two values agree to 1e-4 relative. Run it as
``python benchmarks/silhouette.py [--quick] [--device cpu|cuda]``; a benchmark suite can
call :func:`run` instead.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

N_SAMPLES = 50_000
QUICK_SAMPLES = 10_000
N_FEATURES = 16
CENTERS = 8
REPEATS = 3
RTOL = 1e-4


def _time(fn: Callable[[], float]) -> tuple[float, float]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def run(quick: bool, device: str = "cpu") -> list[dict[str, Any]]:
    """Time both implementations and return one row per implementation.

    ``quick`` uses 10,000 points and one repeat instead of 50,000 points and three.
    Each row holds the implementation, the problem size, every time in seconds, their
    median, the score and the speed-up over scikit-learn. Raises ``RuntimeError`` if
    the two scores disagree, so no time is reported for a wrong result.
    """
    import torch
    from sklearn.datasets import make_blobs
    from sklearn.metrics import silhouette_score

    from clusterlab_metrics.internal import silhouette

    n_samples = QUICK_SAMPLES if quick else N_SAMPLES
    repeats = 1 if quick else REPEATS
    X, y = make_blobs(n_samples, N_FEATURES, centers=CENTERS, random_state=0)
    X = X.astype(np.float32)
    X_device = torch.from_numpy(X).to(device)

    def ours() -> float:
        value = silhouette(X_device, y, None, None)
        if X_device.device.type == "cuda":
            torch.cuda.synchronize()
        return value

    def theirs() -> float:
        return float(silhouette_score(X, y))

    ours()  # warm-up: first-call allocations and kernel selection are not the point
    times: dict[str, list[float]] = {"clusterlab": [], "scikit-learn": []}
    values: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in (("clusterlab", ours), ("scikit-learn", theirs)):
            seconds, values[name] = _time(fn)
            times[name].append(seconds)
    reference = values["scikit-learn"]
    if not abs(values["clusterlab"] - reference) <= RTOL * abs(reference):
        raise RuntimeError(
            f"silhouette values disagree: clusterlab {values['clusterlab']!r}, "
            f"scikit-learn {reference!r}"
        )
    baseline = statistics.median(times["scikit-learn"])
    rows = []
    for name, measured in times.items():
        median = statistics.median(measured)
        rows.append(
            {
                "benchmark": "silhouette",
                "implementation": name,
                "device": device if name == "clusterlab" else "cpu",
                "n_samples": n_samples,
                "n_features": N_FEATURES,
                "dtype": "float32",
                "times_s": measured,
                "median_s": median,
                "score": values[name],
                "speedup": baseline / median,
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Render benchmark rows as a small fixed-width table."""
    lines = [f"{'implementation':<14} {'device':<7} {'median s':>9} {'score':>12} {'speed-up':>9}"]
    for row in rows:
        lines.append(
            f"{row['implementation']:<14} {row['device']:<7} {row['median_s']:>9.3f} "
            f"{row['score']:>12.8f} {row['speedup']:>8.1f}x"
        )
    return "\n".join(lines)


def main() -> None:
    """Command-line entry: parse the flags, run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 points, one repeat")
    parser.add_argument("--device", default="cpu", help="torch device for clusterlab")
    args = parser.parse_args()
    rows = run(args.quick, device=args.device)
    first = rows[0]
    print(
        f"silhouette, {first['n_samples']:,} points x {first['n_features']} features, "
        f"{first['dtype']}, median of {len(first['times_s'])}"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
