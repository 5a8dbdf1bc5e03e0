"""Runs an experiment: validates it, builds data once, hands the trials to an executor and
logs every trial, and the parent run over them, to MLflow."""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import clusterlab
from clusterlab.errors import ScoreUndefined, TrackingError
from clusterlab.executors.select import DEFAULT_EXECUTOR
from clusterlab.grid import DatasetKey, Trial, expand_trials
from clusterlab.plugins import Plugins, autoload_disabled, blocked_from_env, build_plugins
from clusterlab.registry import PluginEntry
from clusterlab.validation import (
    DEFAULT_MAX_TRIALS,
    LoadedExperiment,
    apply_overrides,
    check_against_plugins,
    load_experiment,
    parse_experiment,
)

NOT_APPLICABLE = "-"


@dataclass
class TrialResult:
    """What one trial produced: its status, scores and facts, and its MLflow run."""

    trial: Trial
    status: str
    scores: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    error: str | None = None
    undefined: dict[str, str] = field(default_factory=dict)


@dataclass
class ExperimentResult:
    """The outcome of one invocation: every trial's result and where they were logged."""

    name: str
    tracking_uri: str | None
    experiment_id: str | None
    parent_run_id: str | None
    trials: list[TrialResult]
    interrupted: bool = False

    def count(self, status: str) -> int:
        """How many trials ended with ``status`` (FINISHED, FAILED, SKIPPED, KILLED)."""
        return sum(1 for result in self.trials if result.status == status)

    @property
    def ok(self) -> bool:
        """True when no trial failed and nothing was interrupted."""
        return not self.interrupted and self.count("FAILED") == 0

    def scores(self) -> list[dict[str, Any]]:
        """One flat record per trial: names, swept parameters, seed, status and scores."""
        return [
            {
                "dataset": r.trial.dataset,
                "algorithm": r.trial.algorithm,
                **r.trial.swept,
                "seed": r.trial.seed,
                "status": r.status,
                **r.scores,
            }
            for r in self.trials
        ]


@dataclass
class RunOptions:
    """How to run: the store, reruns, limits, plugin loading, progress display and executor.

    ``executor`` overrides the file's ``executor:``: a name (the file's options are kept
    where it names the same executor) or a whole mapping such as
    ``{"name": "processes", "workers": 4}``.
    """

    tracking_uri: str | None = None
    force: bool = False
    max_trials: int = DEFAULT_MAX_TRIALS
    blocked_plugins: tuple[str, ...] = ()
    autoload_plugins: bool | None = None
    extra_plugins: tuple[tuple[str, object], ...] = ()
    progress: bool | None = None
    console: Any = None
    executor: str | Mapping[str, Any] | None = None


def prepare(
    experiment: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | Iterable[str] = (),
    options: RunOptions | None = None,
) -> tuple[LoadedExperiment, Plugins, list[Trial]]:
    """Load, check and expand an experiment without running anything."""
    options = options or RunOptions()
    loaded = load_experiment(experiment, overrides)
    if options.executor is not None:
        loaded = _with_executor(loaded, options.executor)
    plugins = build_plugins(
        autoload=options.autoload_plugins,
        blocked=options.blocked_plugins,
        extra=options.extra_plugins,
    )
    check_against_plugins(loaded, plugins.registry, max_trials=options.max_trials)
    trials = expand_trials(loaded.experiment, plugins.registry)
    # The device's type is part of each trial's hash, so resolve it here: a dry run then
    # lists the hashes a run logs, and a device that is missing fails validation.
    from clusterlab.executors.select import create_executor

    executor = create_executor(loaded.experiment.executor, plugins.registry)
    device = executor.trial_device(loaded.experiment.device)
    for trial in trials:
        trial.device = device
    return loaded, plugins, trials


def _with_executor(loaded: LoadedExperiment, executor: str | Mapping[str, Any]) -> LoadedExperiment:
    """The experiment with its ``executor:`` replaced by the caller's choice."""
    current = loaded.raw.get("executor")
    current = dict(current) if isinstance(current, Mapping) else {}
    if isinstance(executor, str):
        same = current.get("name", DEFAULT_EXECUTOR) == executor
        spec = {**current, "name": executor} if same else {"name": executor}
    else:
        spec = dict(executor)
    raw, _touched = apply_overrides(loaded.raw, {"executor": spec})
    for location in [loc for loc in loaded.source.lines if loc[:1] == ("executor",)]:
        loaded.source.lines.pop(location)
    return replace(loaded, experiment=parse_experiment(raw, loaded.source), raw=raw)


def run_experiment(
    experiment: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    options: RunOptions | None = None,
    **keyword_overrides: Any,
) -> ExperimentResult:
    """Run every trial of an experiment and log it; see :func:`clusterlab.run_experiment`."""
    options = options or RunOptions()
    if overrides is None:
        overrides = keyword_overrides
    loaded, plugins, trials = prepare(experiment, overrides, options)
    return execute(loaded, plugins, trials, options)


def execute(
    loaded: LoadedExperiment, plugins: Plugins, trials: list[Trial], options: RunOptions
) -> ExperimentResult:
    """Run already-checked trials: build and check the data, open the parent run, hand the
    pending trials to the experiment's executor, and summarise them once all are done."""
    from clusterlab.executors.base import plugin_references
    from clusterlab.executors.select import create_executor

    executor = create_executor(loaded.experiment.executor, plugins.registry)
    # In-process executors never ship the job, so only the others need importable plugins.
    shipped = () if executor.in_process else plugin_references(options.extra_plugins)
    device = executor.trial_device(loaded.experiment.device)
    # Workers start now, so that their start-up overlaps the data checks and the store's.
    executor.warm_up()
    try:
        return _execute(loaded, plugins, trials, options, executor, shipped, device)
    finally:
        executor.close()


def _execute(
    loaded: LoadedExperiment,
    plugins: Plugins,
    trials: list[Trial],
    options: RunOptions,
    executor: Any,
    shipped: tuple[Any, ...],
    trial_device: str,
) -> ExperimentResult:
    import torch

    from clusterlab.data import build_dataset, check_sizes
    from clusterlab.device import device_name
    from clusterlab.executors.base import ExecutionContext
    from clusterlab.executors.faults import end_unfinished
    from clusterlab.executors.store_retry import retry_when_locked
    from clusterlab.progress import TrialProgress
    from clusterlab.report import DIRECTIONS_TAG
    from clusterlab.results_table import directions_of
    from clusterlab.tracking import Tracker, resolve_tracking_uri

    experiment = loaded.experiment
    registry = plugins.registry
    device = torch.device(trial_device)
    dtype = getattr(torch, experiment.dtype)
    for trial in trials:
        trial.device = str(device)

    # Workers build their data on their own devices; here it is only checked (and, for
    # executors that ship it to workers, shipped from the CPU).
    data_device = device if executor.in_process else torch.device("cpu")
    built = {}
    for trial in trials:
        if trial.dataset_key not in built:
            built[trial.dataset_key] = build_dataset(
                trial, registry, data_device, dtype, loaded.base_dir
            )
    check_sizes(trials, built)

    uri = resolve_tracking_uri(options.tracking_uri, experiment.tracking.uri)
    tracker = Tracker(uri, experiment.name, experiment.tracking.artifact_location)
    if not executor.in_process:
        retry_when_locked(tracker)
    done = {} if options.force else tracker.finished_trials()
    results: dict[int, TrialResult] = {}
    pending = []
    for trial in trials:
        if trial.hash in done:
            results[trial.index] = TrialResult(
                trial, "SKIPPED", run_id=done[trial.hash].info.run_id
            )
        else:
            pending.append(trial)

    plugins.hook.before_experiment(experiment=experiment, trials=trials)
    parent_id = tracker.start_run(
        f"{experiment.name} · {time.strftime('%Y-%m-%d %H:%M:%S')}",
        {
            "clusterlab.kind": "experiment",
            "clusterlab.version": clusterlab.__version__,
            "mlflow.note.content": experiment.description
            or f"clusterlab experiment '{experiment.name}': {len(trials)} trials",
        },
    )
    param_union = _param_union(trials)
    label = device_name(device) if executor.in_process else str(device)
    context = _TrialContext(tracker, registry, experiment, device, label, built)
    progress = TrialProgress(len(trials), enabled=options.progress, console=options.console)

    def run_here(trial: Trial) -> TrialResult:
        return _run_trial(trial, context, parent_id, param_union, plugins)

    execution = ExecutionContext(
        job=_job(loaded, options, shipped, uri, tracker, parent_id, param_union, device),
        tracker=tracker,
        plugins=plugins,
        datasets=built,
        run_here=run_here,
        on_start=lambda trial: progress.start(trial.run_name),
    )
    interrupted = stopped = False
    try:
        try:
            _log_experiment_files(tracker, parent_id, loaded, trials)
        except Exception as exc:
            raise TrackingError(
                f"cannot write the parent run's artifacts to the store "
                f"({type(exc).__name__}: {exc}); check the artifact location "
                f"(tracking.artifact_location) and its permissions"
            ) from None
        tracker.log(
            parent_id, tags={DIRECTIONS_TAG: json.dumps(directions_of(experiment, registry))}
        )
        with progress:
            for _skipped in range(len(trials) - len(pending)):
                progress.advance("SKIPPED")
            for result in executor.run(pending, execution):
                results[result.trial.index] = result
                progress.advance(result.status)
    except KeyboardInterrupt:
        interrupted = True
        _ignore_further_interrupts()
        executor.close()
        tracker.kill_unfinished(parent_id)
        raise
    except BaseException:
        stopped = True
        executor.close()
        # A store that refuses everything must not hide the error that stopped the grid.
        with contextlib.suppress(Exception):
            end_unfinished(tracker, parent_id, "FAILED")
        raise
    finally:
        ordered = [results[index] for index in sorted(results)]
        if stopped:
            with contextlib.suppress(Exception):
                _log_summary(tracker, parent_id, experiment, registry, trials)
            with contextlib.suppress(Exception):
                tracker.end_run(parent_id, "FAILED")
        elif not interrupted:
            _log_summary(tracker, parent_id, experiment, registry, trials)
            failed = "FAILED" in {r.status for r in ordered}
            tracker.end_run(parent_id, "FAILED" if failed else "FINISHED")
        plugins.hook.after_experiment(experiment=experiment, results=ordered)
    return ExperimentResult(
        experiment.name, uri, tracker.experiment_id, parent_id, ordered, interrupted
    )


def _job(
    loaded: LoadedExperiment,
    options: RunOptions,
    shipped: tuple[Any, ...],
    uri: str,
    tracker: Any,
    parent_id: str,
    param_union: list[str],
    device: Any,
) -> Any:
    """The invocation as plain data, for workers in other processes or on other machines;
    ``shipped`` holds the in-process plugins as references and the folders they import from."""
    from clusterlab.executors.base import TrialJob, absolute_store_uri

    extra, roots = shipped or ((), ())
    autoload = options.autoload_plugins
    return TrialJob(
        raw=loaded.raw,
        base_dir=str(loaded.base_dir),
        tracking_uri=absolute_store_uri(uri),
        experiment_name=loaded.experiment.name,
        experiment_id=tracker.experiment_id,
        parent_run_id=parent_id,
        param_union=tuple(param_union),
        device=str(device),
        autoload_plugins=(not autoload_disabled()) if autoload is None else autoload,
        blocked_plugins=tuple(sorted({*options.blocked_plugins, *blocked_from_env()})),
        extra_plugins=extra,
        python_path=roots,
    )


@dataclass
class _TrialContext:
    tracker: Any
    registry: Any
    experiment: Any
    device: Any
    device_label: str
    built: dict[DatasetKey, Any]
    # Told the run id before fitting, so that a worker's parent can close the run should
    # the worker die.
    on_run_started: Callable[[Trial, str], None] | None = None


def _param_union(trials: list[Trial]) -> list[str]:
    names: dict[str, None] = {}
    for trial in trials:
        for key in _trial_params(trial):
            names[key] = None
    return list(names)


def _trial_params(trial: Trial) -> dict[str, Any]:
    params: dict[str, Any] = {
        "dataset": trial.dataset_label or trial.dataset,
        "algorithm": trial.algorithm_label or trial.algorithm,
    }
    params.update({f"dataset.{k}": v for k, v in trial.dataset_params.items()})
    if trial.preprocess:
        params["dataset.preprocess"] = " → ".join(
            name + (f"({', '.join(f'{k}={v}' for k, v in p.items())})" if p else "")
            for name, p in trial.preprocess
        )
    params.update({f"algorithm.{k}": v for k, v in trial.algorithm_params.items()})
    params.update({"seed": trial.seed, "device": trial.device, "dtype": trial.dtype})
    return params


def _run_trial(
    trial: Trial, ctx: _TrialContext, parent_id: str, param_union: list[str], plugins: Plugins
) -> TrialResult:
    registry = ctx.registry
    algorithm = registry.get("algorithm", trial.algorithm)
    data = ctx.built[trial.dataset_key]
    tags = {
        "clusterlab.kind": "trial",
        "clusterlab.trial_hash": trial.hash,
        "clusterlab.trial_index": str(trial.index),
        "clusterlab.device_name": ctx.device_label,
        "clusterlab.version": clusterlab.__version__,
        "clusterlab.plugin": algorithm.plugin,
        "clusterlab.plugin_distribution": algorithm.distribution,
        "clusterlab.plugin_version": algorithm.version,
        "clusterlab.dataset_digest": data.digest,
    }
    run_id = ctx.tracker.start_run(trial.run_name, tags, parent_run_id=parent_id)
    params = _trial_params(trial)
    params = {key: params.get(key, NOT_APPLICABLE) for key in param_union}
    result = TrialResult(trial, "RUNNING", run_id=run_id)
    try:
        if ctx.on_run_started is not None:
            ctx.on_run_started(trial, run_id)
        ctx.tracker.log_dataset(
            run_id,
            trial.dataset_label or trial.dataset,
            data.digest,
            trial.config["dataset"],
            {
                "shape": f"{data.n_samples}x{data.n_features}",
                "has_labels": str(data.y is not None).lower(),
            },
        )
        plugins.hook.before_trial(trial=trial)
        estimator, fit_time, peak_mb = _fit(trial, algorithm, data.X, ctx.device)
        labels = _labels_of(estimator)
        scores = {
            "fit_time_s": fit_time,
            "n_clusters_found": float(len(set(labels[labels >= 0].tolist()))),
            "noise_fraction": float(np.mean(labels < 0)) if len(labels) else 0.0,
            "peak_memory_mb": peak_mb,
        }
        undefined = _score(trial, ctx, data, labels, estimator, scores)
        undefined_tags = {f"clusterlab.undefined.{k}": v for k, v in undefined.items()}
        # One request for params, scores and tags: each round trip costs a store commit.
        ctx.tracker.log(run_id, params=params, metrics=scores, tags=undefined_tags)
        ctx.tracker.log_array(run_id, labels, "labels.npy")
        _plot(trial, ctx, run_id, data, labels, estimator, scores)
        result.scores, result.undefined = scores, undefined
        ctx.tracker.end_run(run_id, "FINISHED")
        result.status = "FINISHED"
        plugins.hook.after_trial(trial=trial, result=result)
    except KeyboardInterrupt:
        result.status = "KILLED"
        raise
    except Exception as exc:
        text = traceback.format_exc()
        result.status, result.error = "FAILED", f"{type(exc).__name__}: {exc}"
        _free_device_memory(ctx.device)
        _record_failure(ctx.tracker, run_id, result.error, text, params)
        plugins.hook.on_trial_error(trial=trial, error=exc)
    return result


def _record_failure(
    tracker: Any, run_id: str, error: str, text: str, params: dict[str, Any]
) -> None:
    """Mark a run FAILED with its params and traceback; a store that refuses the details
    still gets the status, and one that refuses everything stops the grid (nothing is
    lost silently)."""
    try:
        with contextlib.suppress(Exception):
            tracker.log(run_id, params=params)  # already there if the failure came later
        tracker.log(run_id, tags={"clusterlab.error": error[:5000]})
        tracker.log_text(run_id, text, "error.txt")
    except Exception as exc:
        with contextlib.suppress(Exception):
            tracker.log(run_id, tags={"clusterlab.error_logging": f"{type(exc).__name__}: {exc}"})
    tracker.end_run(run_id, "FAILED")


def _free_device_memory(device: Any) -> None:
    """Give cached CUDA memory back after a failed trial (an out-of-memory one, say), so
    the next trial starts with the device's memory free."""
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _ignore_further_interrupts() -> None:
    """While the runs are being closed, a second Ctrl-C must not leave them RUNNING."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _fit(trial: Trial, entry: PluginEntry, X: Any, device: Any) -> tuple[Any, float, float]:
    import torch

    from clusterlab.memory import PeakMemory

    kwargs = {k: v for k, v in trial.algorithm_params.items() if entry.accepts(k)}
    if "device" in entry.context:
        kwargs["device"] = str(device)
    if "random_state" in entry.context:
        kwargs["random_state"] = trial.seed
    estimator = entry.obj(**kwargs)
    with PeakMemory(device) as peak:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        estimator.fit(X)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - start
    return estimator, elapsed, peak.peak_mb


def _labels_of(estimator: Any) -> np.ndarray:
    import torch

    labels = getattr(estimator, "labels_", None)
    if labels is None:
        raise RuntimeError(f"{type(estimator).__name__}.fit set no labels_")
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    return np.asarray(labels).astype(np.int64, copy=False).reshape(-1)


def _score(
    trial: Trial,
    ctx: _TrialContext,
    data: Any,
    labels: np.ndarray,
    estimator: Any,
    scores: dict[str, float],
) -> dict[str, str]:
    undefined: dict[str, str] = {}
    for metric in ctx.experiment.metrics:
        entry = ctx.registry.get("metric", metric.name)
        options = dict(metric.options)
        if "random_state" in entry.context:
            options["random_state"] = trial.seed
        try:
            value = entry.obj(data.X, labels, data.y, estimator, **options)
        except ScoreUndefined as why:
            undefined[metric.key] = str(why) or "not defined for this result"
            continue
        if value is None or not np.isfinite(float(value)):
            undefined[metric.key] = f"the metric returned {value!r}"
            continue
        scores[metric.key] = float(value)
    return undefined


def _plot(
    trial: Trial,
    ctx: _TrialContext,
    run_id: str,
    data: Any,
    labels: np.ndarray,
    estimator: Any,
    scores: dict[str, float],
) -> None:
    if not ctx.experiment.plots:
        return
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot

    from clusterlab.plotting import TrialView

    view = TrialView(
        X=data.X.detach().cpu().numpy(),
        labels=labels,
        y_true=data.y,
        estimator=estimator,
        dataset=trial.dataset_label or trial.dataset,
        algorithm=trial.algorithm_label or trial.algorithm,
        dataset_params=trial.dataset_params,
        algorithm_params=trial.algorithm_params,
        swept={k.split(".", 1)[1]: v for k, v in trial.swept.items()},
        seed=trial.seed,
        scores=scores,
    )
    for name in ctx.experiment.plots:
        figure = ctx.registry.get("plot", name).obj(view)
        if figure is None:
            continue
        try:
            ctx.tracker.log_figure(run_id, figure, f"plots/{name}.png")
        finally:
            pyplot.close(figure)


def _log_experiment_files(
    tracker: Any, run_id: str, loaded: LoadedExperiment, trials: list[Trial]
) -> None:
    import yaml

    if loaded.path is not None:
        tracker.log_file(run_id, loaded.path, "experiment")
    tracker.log_text(
        run_id, yaml.safe_dump(loaded.raw, sort_keys=False), "experiment/resolved.yaml"
    )
    grid = [{"index": t.index, "hash": t.hash, "run_name": t.run_name, **t.config} for t in trials]
    tracker.log_text(run_id, json.dumps(grid, indent=1, default=repr), "experiment/trials.json")
    tracker.log(run_id, tags={"clusterlab.n_trials": str(len(trials))})


def _log_summary(
    tracker: Any, parent_id: str, experiment: Any, registry: Any, trials: list[Trial]
) -> None:
    """Summary plots and the best-trial table over every finished trial of this grid,
    those of earlier invocations included."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from clusterlab.results_table import directions_of, log_parent_summary, trials_frame

    runs = tracker.trial_runs({trial.hash for trial in trials})
    swept: dict[tuple[str, str], list[str]] = {}
    for trial in trials:
        key = (trial.dataset_label or trial.dataset, trial.algorithm_label or trial.algorithm)
        names = swept.setdefault(key, [])
        names.extend(name for name in trial.swept if name not in names)
    log_parent_summary(
        tracker, parent_id, trials_frame(runs), directions_of(experiment, registry), swept
    )
