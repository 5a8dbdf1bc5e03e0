"""Scaling out: the wall time of one 40-trial CPU grid with the ``local`` executor and with
the ``processes`` executor on two workers of one thread each.

Each run logs into its own fresh sqlite store (created before the clock starts, so the
schema's migration is not timed); the clock covers everything else ``run_experiment``
does: plugins, data, the parent run, every trial, the summary, and for ``processes`` the
start of the workers. All runs must log the same trials with the same scores, or no time
is reported. Run as ``python -m benchmarks.scaleout [--quick]``."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

WORKERS = 2
SEEDS = [0, 1, 2, 3, 4]
CLUSTERS = [2, 3, 4, 5, 6, 7, 8, 9]  # x 5 seeds = 40 trials
# Large enough that fitting, not start-up, takes most of the time.
N_SAMPLES, QUICK_SAMPLES = 200_000, 50_000


def grid(n_samples: int) -> dict[str, Any]:
    """The benchmark's experiment: K-Means for 8 values of k on 16-D blobs, 5 seeds."""
    return {
        "name": "scaleout-benchmark",
        "device": "cpu",
        "seeds": SEEDS,
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
    """Time the grid on each executor; one row per executor, with its speed-up over local.

    ``local`` runs twice: with torch's default CPU threads, and with one thread, the
    setting of each worker, so that the table separates the gain of the processes from
    that of fewer threads.
    """
    import torch

    experiment = grid(QUICK_SAMPLES if quick else N_SAMPLES)
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
            raise RuntimeError(f"{label}: {result.count('FAILED')} trials failed: {errors}")
        scores.append(
            {r.trial.hash: r.scores.get("silhouette", float("nan")) for r in result.trials}
        )
        rows.append(
            {
                "executor": label,
                "workers": WORKERS if label == "processes" else 1,
                "threads_per_worker": threads,
                "trials": len(result.trials),
                "wall_s": wall_s,
                "fit_s": sum(r.scores.get("fit_time_s", 0.0) for r in result.trials),
            }
        )
    _check_agreement(scores)
    local_s = rows[0]["wall_s"]
    for row in rows:
        row["speedup"] = local_s / row["wall_s"]
    return rows


def _check_agreement(scores: list[dict[str, float]]) -> None:
    reference, *others = scores
    for other in others:
        if set(other) != set(reference):
            raise AssertionError("the executors ran different trials")
        for trial_hash, value in reference.items():
            if abs(other[trial_hash] - value) > 1e-4 * max(1.0, abs(value)):
                raise AssertionError(
                    f"trial {trial_hash}: silhouette {value} vs {other[trial_hash]}"
                )


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a small aligned table."""
    header = f"{'executor':<10} {'workers':>7} {'threads':>7} {'trials':>6} {'wall s':>8} "
    header += f"{'fit s':>8} {'speed-up':>8}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['executor']:<10} {row['workers']:>7} {row['threads_per_worker']:>7} "
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
        f"{os.getloadavg()[0]:.1f} after): 40 K-Means trials, {WORKERS} worker processes"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
