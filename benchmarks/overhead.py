"""Framework overhead: the time per trial spent outside fitting and scoring.

A grid of small K-Means trials on 200 blobs runs through
``clusterlab.runner.run_experiment`` into a fresh sqlite MLflow store, once without
plots and once with ``plots: [scatter]``, and no metrics (so there is no scoring). A
plugin's lifecycle hooks time-stamp the run: the set-up (validation, plugins, data,
the store's schema) before the first trial, the end of every trial, and the summary at
the end. A trial's overhead is the time from the end of the one before to its own end,
less its ``fit_time_s``: MLflow's run, parameters, labels and plots, and the runner.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks._harness import Context, Row, Target
from clusterlab import hookimpl

N_SAMPLES = 200
CLUSTERS = list(range(2, 12))
SEEDS, QUICK_SEEDS = 20, 6
LIMITS = {"none": 0.015, "scatter": 0.060}


class Clock:
    """A clusterlab plugin that time-stamps the experiment and every trial."""

    def __init__(self) -> None:
        self.created = time.perf_counter()
        self.first: float | None = None
        self.ends: list[float] = []
        self.fits: list[float] = []
        self.done: float | None = None

    @hookimpl
    def before_experiment(self, experiment: Any, trials: list[Any]) -> None:
        """Mark the start of the trials."""
        self.first = time.perf_counter()

    @hookimpl
    def after_trial(self, trial: Any, result: Any) -> None:
        """Mark the end of a trial and keep its fit time."""
        self.ends.append(time.perf_counter())
        self.fits.append(float(result.scores.get("fit_time_s", 0.0)))

    @hookimpl
    def after_experiment(self, experiment: Any, results: list[Any]) -> None:
        """Mark the end of the summary."""
        self.done = time.perf_counter()


class StandIns:
    """Registers clusterlab's own KMeans where the algorithms plugin did not load."""

    @hookimpl
    def register_algorithms(self, register: Any) -> None:
        """Register ``kmeans``."""
        from clusterlab_algorithms.kmeans import KMeans

        register("kmeans", KMeans)


def experiment(store: Path, device: str, seeds: int, plots: list[str]) -> dict[str, Any]:
    """The experiment mapping: ``len(CLUSTERS) x seeds`` K-Means trials on small blobs."""
    return {
        "name": "overhead",
        "device": device,
        "dtype": "float32",
        "seeds": list(range(seeds)),
        "datasets": [{"name": "blobs", "params": {"n_samples": N_SAMPLES, "centers": 4}}],
        "algorithms": [
            {
                "name": "kmeans",
                "params": {"n_init": 1},
                "grid": {"n_clusters": CLUSTERS},
            }
        ],
        "plots": plots,
        "tracking": {"uri": f"sqlite:///{store}"},
    }


def _extra_plugins(clock: Clock) -> tuple[tuple[str, object], ...]:
    from clusterlab.plugins import build_plugins

    extra: tuple[tuple[str, object], ...] = (("benchmark-clock", clock),)
    if "kmeans" not in build_plugins().registry.names("algorithm"):
        extra += (("benchmark-kmeans", StandIns()),)
    return extra


def measure_grid(store: Path, device: str, seeds: int, plots: list[str]) -> dict[str, Any]:
    """Run the grid once into ``store``; return the time split (seconds)."""
    from clusterlab.runner import RunOptions, run_experiment

    clock = Clock()
    options = RunOptions(
        tracking_uri=f"sqlite:///{store}", progress=False, extra_plugins=_extra_plugins(clock)
    )
    start = time.perf_counter()
    result = run_experiment(experiment(store, device, seeds, plots), {}, options)
    wall = time.perf_counter() - start
    if not result.ok or clock.first is None or not clock.ends:
        failed = [r.error for r in result.trials if r.error]
        raise RuntimeError(f"the overhead grid did not finish: {failed[:3]}")
    marks = [clock.first, *clock.ends]
    per_trial = [b - a - fit for a, b, fit in zip(marks[:-1], marks[1:], clock.fits, strict=True)]
    loop = clock.ends[-1] - clock.first
    return {
        "trials": len(clock.ends),
        "wall_s": wall,
        "setup_s": clock.first - start,
        "loop_s": loop,
        "summary_s": (clock.done or clock.ends[-1]) - clock.ends[-1],
        "fit_sum_s": sum(clock.fits),
        "mean_overhead_s": (loop - sum(clock.fits)) / len(clock.ends),
        "median_overhead_s": statistics.median(per_trial),
    }


def run(ctx: Context) -> list[Row]:
    """Overhead per trial without plots and with a scatter plot, each in a fresh store."""
    seeds = QUICK_SEEDS if ctx.quick else SEEDS
    rows = []
    for plots in ([], ["scatter"]):
        kind = plots[0] if plots else "none"
        folder = ctx.scratch / f"overhead-{kind}"
        folder.mkdir(parents=True, exist_ok=True)
        n_trials = len(CLUSTERS) * seeds
        ctx.log(f"overhead: {n_trials} trials, plots {plots} ...")
        split = measure_grid(folder / "mlflow.db", ctx.device, seeds, plots)
        row = Row(
            "overhead",
            f"{n_trials} trials, plots: {kind}",
            params={"trials": n_trials, "n_samples": N_SAMPLES, "plots": plots, **split},
            unit="s/trial",
            times={"clusterlab": split["mean_overhead_s"]},
            targets=[Target("time", None, LIMITS[kind])],
            agreement="all trials FINISHED",
        )
        row.notes.append(
            f"per trial: mean {split['mean_overhead_s'] * 1000:.1f} ms, median "
            f"{split['median_overhead_s'] * 1000:.1f} ms; fit {split['fit_sum_s']:.2f} s in all; "
            f"set-up {split['setup_s']:.2f} s, summary {split['summary_s']:.2f} s, "
            f"wall {split['wall_s']:.2f} s"
        )
        rows.append(row.settle())
    return rows
