"""Runs one trial in this process: fit, score, plot, and log it as a child run.

Every executor runs trials through :func:`run_trial`, in the runner's process or in a
worker's. It fires no lifecycle hook: the runner fires those, in its own process, so that
they mean the same under every executor.
"""

from __future__ import annotations

import contextlib
import gc
import json
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

import clusterlab
from clusterlab.data import BuiltDataset
from clusterlab.deadline import trial_deadline
from clusterlab.grid import DatasetKey, Trial
from clusterlab.memory import PeakMemory
from clusterlab.plotting import TrialView
from clusterlab.registry import PluginEntry, Registry
from clusterlab.results import TrialResult, TrialStatus
from clusterlab.scoring import score_trial
from clusterlab.tracking import Tracker, tags
from clusterlab.tracking.figures import log_figure

if TYPE_CHECKING:
    import torch

    from clusterlab.schema import Experiment

#: The value a trial logs for a parameter that only other trials of the grid have.
NOT_APPLICABLE = "-"
#: The artifact of a trial on a dataset with several references: each external score
#: against each reference, in the dataset's order.
SCORES_BY_REFERENCE = "scores_by_reference.json"


@dataclass
class TrialContext:
    """What running trials of one invocation needs, in the process that runs them.

    Attributes:
        tracker: the store the trial runs are written to.
        registry: what the plugins registered.
        experiment: the validated experiment.
        device: the torch device trials fit on.
        device_label: the device's name, for the ``clusterlab.device_name`` tag.
        datasets: the built datasets, by key; a trial finds its own there.
        parent_run_id: the invocation's parent run, under which each trial's run is made.
        param_union: every param name of the grid, so that each run logs the same columns.
        on_run_started: told the trial and its run id before fitting, so that the process
            that handed the trial out can close that run should this one die.
        stop_requested: whether the user asked the invocation to stop (Ctrl-C, SIGTERM);
            a ``KeyboardInterrupt`` raised by a plugin without that is the trial's
            failure. Where nothing tracks the signals, every one is the user's.
        share_work: whether a trial that another live invocation runs or has finished is
            left to it (``False`` under ``--force``, which reruns everything).
    """

    tracker: Tracker
    registry: Registry
    experiment: Experiment
    device: torch.device
    device_label: str
    datasets: Mapping[DatasetKey, BuiltDataset]
    parent_run_id: str
    param_union: tuple[str, ...]
    on_run_started: Callable[[Trial, str], None] | None = None
    stop_requested: Callable[[], bool] = lambda: True
    share_work: bool = True


def param_union(trials: Iterable[Trial]) -> tuple[str, ...]:
    """Every param name the trials log, in first-seen order."""
    names: dict[str, None] = {}
    for trial in trials:
        for key in trial_params(trial):
            names[key] = None
    return tuple(names)


def trial_params(trial: Trial) -> dict[str, Any]:
    """The MLflow params of one trial: names, ``dataset.*``, ``algorithm.*``, seed, device
    and dtype."""
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


def run_trial(trial: Trial, context: TrialContext) -> TrialResult:
    """Fit, score and plot one trial and log it as a child run of the invocation.

    A trial that fails is logged FAILED (with its traceback) and returned as such; the
    exception is kept on the result. Ctrl-C propagates once the run is marked KILLED by
    the runner. An error of the store while recording a failure propagates: nothing is
    lost silently.
    """
    registry = context.registry
    algorithm = registry.get("algorithm", trial.algorithm)
    data = context.datasets[trial.dataset_key]
    run_tags = {
        tags.KIND: tags.KIND_TRIAL,
        tags.TRIAL_HASH: trial.hash,
        tags.TRIAL_INDEX: str(trial.index),
        tags.DEVICE_NAME: context.device_label,
        tags.VERSION: clusterlab.__version__,
        tags.PLUGIN: algorithm.plugin,
        tags.PLUGIN_DISTRIBUTION: algorithm.distribution,
        tags.PLUGIN_VERSION: algorithm.version,
        tags.DATASET_DIGEST: data.digest,
    }
    tracker = context.tracker
    run_id = tracker.start_run(trial.run_name, run_tags, parent_run_id=context.parent_run_id)
    if context.share_work:
        # Another live invocation of the same file may have claimed this trial meanwhile:
        # the first claim runs it, and this run is withdrawn.
        elsewhere = tracker.claimed_elsewhere(trial.hash, run_id)
        if elsewhere is not None:
            tracker.withdraw_run(run_id)
            return TrialResult(trial, TrialStatus.SKIPPED, run_id=elsewhere)
    params = trial_params(trial)
    params = {key: params.get(key, NOT_APPLICABLE) for key in context.param_union}
    result = TrialResult(trial, TrialStatus.RUNNING, run_id=run_id)
    try:
        if context.on_run_started is not None:
            context.on_run_started(trial, run_id)
        # The first write after the claim: a rival claim reads it as this run having gone
        # ahead (``Tracker.claimed_elsewhere``), so nothing slow may come before it.
        tracker.log_dataset(
            run_id,
            trial.dataset_label or trial.dataset,
            data.digest,
            trial.config["dataset"],
            {
                "shape": f"{data.n_samples}x{data.n_features}",
                "has_labels": str(data.y is not None).lower(),
            },
        )
        # The limit covers the plugins' computations, not the writes to the store.
        with trial_deadline(context.experiment.timeout_s):
            estimator, fit_time, peak_mb = _fit(trial, algorithm, data.X, context.device)
            labels = _labels_of(estimator)
            scores = {
                "fit_time_s": fit_time,
                "n_clusters_found": float(len(set(labels[labels >= 0].tolist()))),
                "noise_fraction": float(np.mean(labels < 0)) if len(labels) else 0.0,
                "peak_memory_mb": peak_mb,
            }
            metrics = score_trial(
                context.experiment.metrics, registry, data, labels, estimator, trial.seed
            )
            scores.update(metrics.values)
            undefined = metrics.undefined
        undefined_tags = {f"{tags.UNDEFINED_PREFIX}{k}": v for k, v in undefined.items()}
        # One request for params, scores and tags: each round trip costs a store commit.
        tracker.log(run_id, params=params, metrics=scores, tags=undefined_tags)
        tracker.log_array(run_id, labels, "labels.npy")
        if metrics.by_reference:
            tracker.log_text(
                run_id, json.dumps(metrics.by_reference, indent=2), SCORES_BY_REFERENCE
            )
        _plot(trial, context, run_id, data, labels, estimator, scores)
        result.scores, result.undefined = scores, undefined
        tracker.end_run(run_id, TrialStatus.FINISHED)
        result.status = TrialStatus.FINISHED
    except KeyboardInterrupt as exc:
        if context.stop_requested():
            result.status = TrialStatus.KILLED
            raise
        _fail(result, exc, context, run_id, params)
    except (Exception, SystemExit) as exc:
        # A plugin that calls sys.exit() fails its trial; it does not end the grid.
        _fail(result, exc, context, run_id, params)
    return result


def _fail(
    result: TrialResult,
    exc: BaseException,
    context: TrialContext,
    run_id: str,
    params: dict[str, Any],
) -> None:
    """Record ``exc`` as the trial's failure, on the result and in its run."""
    text = traceback.format_exc()
    result.status, result.error = TrialStatus.FAILED, f"{type(exc).__name__}: {exc}"
    result.exception = exc
    _free_device_memory(context.device)
    _record_failure(context.tracker, run_id, result.error, text, params)


def _record_failure(
    tracker: Tracker, run_id: str, error: str, text: str, params: dict[str, Any]
) -> None:
    """Mark a run FAILED with its params and traceback; a store that refuses the details
    still gets the status, and one that refuses everything stops the grid (nothing is
    lost silently)."""
    try:
        with contextlib.suppress(Exception):
            tracker.log(run_id, params=params)  # already there if the failure came later
        tracker.log(run_id, tags={tags.ERROR: error[:5000]})
        tracker.log_text(run_id, text, "error.txt")
    except Exception as exc:
        with contextlib.suppress(Exception):
            tracker.log(run_id, tags={tags.ERROR_LOGGING: f"{type(exc).__name__}: {exc}"})
    tracker.end_run(run_id, TrialStatus.FAILED)


def _free_device_memory(device: torch.device) -> None:
    """Give cached CUDA memory back after a failed trial (an out-of-memory one, say), so
    the next trial starts with the device's memory free."""
    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _fit(
    trial: Trial, entry: PluginEntry, X: torch.Tensor, device: torch.device
) -> tuple[Any, float, float]:
    import torch

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
    labels = getattr(estimator, "labels_", None)
    if labels is None:
        raise RuntimeError(f"{type(estimator).__name__}.fit set no labels_")
    if hasattr(labels, "detach"):  # a torch tensor, possibly on a GPU
        labels = labels.detach().cpu().numpy()
    return np.asarray(labels).astype(np.int64, copy=False).reshape(-1)


def _plot(
    trial: Trial,
    context: TrialContext,
    run_id: str,
    data: BuiltDataset,
    labels: np.ndarray,
    estimator: Any,
    scores: dict[str, float],
) -> None:
    if not context.experiment.plots.names:
        return
    import matplotlib

    matplotlib.use("Agg", force=False)

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
    plots = context.experiment.plots
    for name in plots.names:
        figure = context.registry.get("plot", name).obj(view)
        if figure is None:
            continue
        log_figure(context.tracker, run_id, figure, f"plots/{name}.{plots.format}", plots.dpi)
