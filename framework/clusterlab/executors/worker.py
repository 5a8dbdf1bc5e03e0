"""What a worker runs for one trial: it rebuilds the experiment from the job once per process,
then fits, scores and logs the trial as the runner does in its own process."""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from clusterlab.data import BuiltDataset, build_dataset
from clusterlab.device import device_name, resolve_device
from clusterlab.executors.base import TrialJob, WorkerError, import_reference
from clusterlab.grid import Trial
from clusterlab.loading import parse_experiment
from clusterlab.plugins import Plugins, build_plugins
from clusterlab.results import TrialResult
from clusterlab.schema import Experiment
from clusterlab.tracking import Tracker
from clusterlab.trial import TrialContext
from clusterlab.trial import run_trial as run_trial_here
from clusterlab.yamlfile import SourceMap

# Trials arrive grouped by dataset, so a worker needs the current dataset and seldom one more.
_CACHED_DATASETS = 2


@dataclass
class _WorkerState:
    job: TrialJob
    plugins: Plugins
    experiment: Experiment
    tracker: Tracker
    datasets: OrderedDict[tuple[Any, str], BuiltDataset] = field(default_factory=OrderedDict)


# One job per process at a time; a reused worker (Ray's) drops the previous job's state.
_STATE: dict[str, _WorkerState] = {}


def run_trial(
    job: TrialJob,
    trial: Trial,
    *,
    device: str | None = None,
    data: Callable[[], Any] | None = None,
    on_run_started: Callable[[Trial, str], None] | None = None,
) -> TrialResult:
    """Run one trial in this process and return its result.

    Args:
        job: the invocation, as plain data; plugins, experiment and tracker are rebuilt
            from it on the first call in a process and kept for the next ones.
        trial: the trial to run.
        device: this worker's device (``cuda:1``, say); the job's device where ``None``.
            The trial's ``device`` param records it.
        data: returns the trial's built dataset (on the CPU) where the caller already has
            it; otherwise the worker builds the dataset itself. Either way once per process.
        on_run_started: called with the trial and its MLflow run id before fitting, so that
            the parent can close that run should this worker die.

    A trial that fails is logged FAILED and returned; an exception means the worker cannot
    run trials at all (it cannot import a plugin, say). No lifecycle hook fires here: the
    runner fires them in its own process when the result comes back.
    """
    import torch

    state = _state_for(job)
    where = resolve_device(device or job.device)
    wanted = trial.device.split(":")[0]
    if where.type != wanted:
        raise WorkerError(
            f"this worker's device {where} is not of the type the trials were planned for "
            f"({wanted}); list devices of type {wanted} for the executor"
        )
    if where.type == "cuda":
        # Code that allocates on "the current device" then allocates on this worker's.
        torch.cuda.set_device(where)
    trial = replace(trial, device=str(where))
    built = _dataset(state, trial, where, data)
    context = TrialContext(
        tracker=state.tracker,
        registry=state.plugins.registry,
        experiment=state.experiment,
        device=where,
        device_label=device_name(where),
        datasets={trial.dataset_key: built},
        parent_run_id=job.parent_run_id,
        param_union=job.param_union,
        on_run_started=on_run_started,
        share_work=job.share_work,
    )
    return run_trial_here(trial, context)


def _state_for(job: TrialJob) -> _WorkerState:
    state = _STATE.get(job.parent_run_id)
    if state is None:
        _STATE.clear()
        state = _STATE[job.parent_run_id] = _build_state(job)
    return state


def _build_state(job: TrialJob) -> _WorkerState:
    for folder in job.python_path:
        if folder not in sys.path:
            sys.path.append(folder)
    try:
        extra = [(name, import_reference(ref)) for name, ref in job.extra_plugins]
    except ImportError as exc:
        raise WorkerError(
            f"a worker cannot import an in-process plugin: {exc}; install it where the workers run"
        ) from None
    plugins = build_plugins(autoload=job.autoload_plugins, blocked=job.blocked_plugins, extra=extra)
    experiment = parse_experiment(job.raw, SourceMap("<job>"))
    tracker = Tracker(job.tracking_uri, job.experiment_name).retry_when_locked()
    if tracker.experiment_id != job.experiment_id:
        raise WorkerError(
            f"the worker found experiment '{job.experiment_name}' as id {tracker.experiment_id} "
            f"in {job.tracking_uri}, not {job.experiment_id}: it does not reach the same store"
        )
    return _WorkerState(job, plugins, experiment, tracker)


def _dataset(
    state: _WorkerState, trial: Trial, device: Any, data: Callable[[], BuiltDataset] | None
) -> BuiltDataset:
    import torch

    key = (trial.dataset_key, str(device))
    if key in state.datasets:
        state.datasets.move_to_end(key)
        return state.datasets[key]
    if data is None:
        dtype = getattr(torch, state.experiment.dtype)
        built = build_dataset(
            trial, state.plugins.registry, device, dtype, Path(state.job.base_dir)
        )
    else:
        given = data()
        built = replace(given, X=given.X.to(device))
    state.datasets[key] = built
    while len(state.datasets) > _CACHED_DATASETS:
        state.datasets.popitem(last=False)
    return built
