"""Scaling out: the wall time of 40-trial CPU grids with the ``local`` executor and with
the ``processes`` executor on two workers of one thread each.

Two grids: HDBSCAN on 2-D blobs, trials of about a second whose work a second thread
barely shortens (the case worker processes are for), and K-Means with ``n_init=10`` on
16-D blobs, whose Lloyd passes already use both threads of ``local``. Each run logs into
its own fresh sqlite store (created before the clock starts, so the schema's migration is
not timed); the clock covers everything else ``run_experiment`` does: plugins, data, the
parent run, every trial, the summary, and for ``processes`` the start of the workers. All
runs of a grid must log the same trials with the same scores, or no time is reported. Run
as ``python -m benchmarks.scaleout [--quick]``."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

WORKERS = 2
# The speed-up over local (default threads) that two workers should give on the grid of
# trials of about a second.
GOAL_SPEEDUP = 1.6
SEEDS = list(range(10))
MIN_CLUSTER_SIZES = [10, 20, 40, 80]  # x 10 seeds = 40 trials
KMEANS_SEEDS = [0, 1, 2, 3, 4]
CLUSTERS = [2, 3, 4, 5, 6, 7, 8, 9]  # x 5 seeds = 40 trials
# Large enough that fitting, not start-up, takes most of the time: HDBSCAN's trials take
# about a second each at the full size.
SAMPLES = {"hdbscan": (100_000, 50_000), "kmeans": (200_000, 50_000)}


def hdbscan_grid(n_samples: int) -> dict[str, Any]:
    """HDBSCAN for 4 values of ``min_cluster_size`` on 2-D blobs, 10 seeds."""
    return {
        "name": "scaleout-benchmark-hdbscan",
        "device": "cpu",
        "seeds": SEEDS,
        "datasets": [
            {"name": "blobs", "params": {"n_samples": n_samples, "n_features": 2, "centers": 6}}
        ],
        "algorithms": [{"name": "hdbscan", "grid": {"min_cluster_size": MIN_CLUSTER_SIZES}}],
        "metrics": ["adjusted_rand"],
    }


def kmeans_grid(n_samples: int) -> dict[str, Any]:
    """K-Means for 8 values of k on 16-D blobs, 5 seeds."""
    return {
        "name": "scaleout-benchmark-kmeans",
        "device": "cpu",
        "seeds": KMEANS_SEEDS,
        "datasets": [
            {"name": "blobs", "params": {"n_samples": n_samples, "n_features": 16, "centers": 6}}
        ],
        "algorithms": [
            {
                "name": "kmeans",
                "params": {"n_init": 10, "max_iter": 100},
                "grid": {"n_clusters": CLUSTERS},
            }
        ],
        "metrics": [{"name": "silhouette", "sample_size": 2000}],
    }


GRIDS = {"hdbscan": (hdbscan_grid, "adjusted_rand"), "kmeans": (kmeans_grid, "silhouette")}


def _timed_run(experiment: dict[str, Any], executor: dict[str, Any], folder: Path) -> Any:
    from mlflow.tracking import MlflowClient

    from clusterlab.runner import RunOptions, run_experiment

    store = f"sqlite:///{folder / 'mlflow.db'}"
    MlflowClient(tracking_uri=store).search_experiments()  # migrate the schema untimed
    options = RunOptions(tracking_uri=store, progress=False, executor=executor)
    start = time.perf_counter()
    result = run_experiment(experiment, options=options)
    return result, time.perf_counter() - start


def run(quick: bool) -> list[dict[str, Any]]:
    """Time each grid on each executor; one row per grid and executor, with its speed-up
    over local.

    ``local`` runs twice: with torch's default CPU threads, and with one thread, the
    setting of each worker, so that the table separates the gain of the processes from
    that of fewer threads. The HDBSCAN grid's ``processes`` row carries the goal.
    """
    rows: list[dict[str, Any]] = []
    for name, (make_grid, metric) in GRIDS.items():
        full, small = SAMPLES[name]
        rows.extend(_run_grid(name, make_grid(small if quick else full), metric))
    return rows


def _run_grid(name: str, experiment: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    import torch

    default_threads = torch.get_num_threads()
    cases = [
        ("local", default_threads, {"name": "local"}),
        ("local", 1, {"name": "local"}),
        ("processes", 1, {"name": "processes", "workers": WORKERS, "threads_per_worker": 1}),
    ]
    rows: list[dict[str, Any]] = []
    scores: list[dict[str, float]] = []
    for label, threads, executor in cases:
        if label == "local":
            torch.set_num_threads(threads)
        try:
            with tempfile.TemporaryDirectory() as folder:
                result, wall_s = _timed_run(experiment, executor, Path(folder))
        finally:
            torch.set_num_threads(default_threads)
        if not result.ok:
            errors = sorted({r.error for r in result.trials if r.status == "FAILED"})
            raise RuntimeError(
                f"{name} on {label}: {result.count('FAILED')} trials failed: {errors}"
            )
        scores.append({r.trial.hash: r.scores.get(metric, float("nan")) for r in result.trials})
        rows.append(
            {
                "grid": name,
                "executor": label,
                "workers": WORKERS if label == "processes" else 1,
                "threads_per_worker": threads,
                "trials": len(result.trials),
                "wall_s": wall_s,
                "fit_s": sum(r.scores.get("fit_time_s", 0.0) for r in result.trials),
            }
        )
    _check_agreement(scores, metric)
    local_s = rows[0]["wall_s"]
    for row in rows:
        row["speedup"] = local_s / row["wall_s"]
    if name == "hdbscan":
        rows[-1]["local_wall_s"] = local_s
        rows[-1]["goal_speedup"] = GOAL_SPEEDUP
    return rows


def _check_agreement(scores: list[dict[str, float]], metric: str) -> None:
    reference, *others = scores
    for other in others:
        if set(other) != set(reference):
            raise AssertionError("the executors ran different trials")
        for trial_hash, value in reference.items():
            if abs(other[trial_hash] - value) > 1e-4 * max(1.0, abs(value)):
                raise AssertionError(f"trial {trial_hash}: {metric} {value} vs {other[trial_hash]}")


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a small aligned table."""
    header = (
        f"{'grid':<8} {'executor':<10} {'workers':>7} {'threads':>7} {'trials':>6} {'wall s':>8} "
    )
    header += f"{'fit s':>8} {'speed-up':>8}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['grid']:<8} {row['executor']:<10} {row['workers']:>7} "
            f"{row['threads_per_worker']:>7} "
            f"{row['trials']:>6} {row['wall_s']:>8.1f} {row['fit_s']:>8.1f} "
            f"{row['speedup']:>7.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, same 40 trials")
    args = parser.parse_args(argv)
    # Other programs on the machine take CPUs from the workers: the load says how much.
    load_before = os.getloadavg()[0]
    rows = run(args.quick)
    print(
        f"scale-out on {os.cpu_count()} CPUs (load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after): 40 trials a grid, {WORKERS} worker processes"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
