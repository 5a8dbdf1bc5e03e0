"""Runs an experiment: validates it, builds data once, hands the trials to an executor and
logs every trial, and the parent run over them, to MLflow.

The runner is the top of the core: it uses the executors, the trial module, the tracking
layer and the lifecycle hooks, and none of them imports it back.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import clusterlab
from clusterlab import startup
from clusterlab.checks import DEFAULT_MAX_TRIALS, check_against_plugins, check_grid_size
from clusterlab.data import BuiltDataset, build_dataset, check_datasets, check_sizes
from clusterlab.device import device_name
from clusterlab.each_axes import resolve_each_axes
from clusterlab.errors import TrackingError
from clusterlab.executors.base import ExecutionContext, TrialExecutor, TrialJob, plugin_references
from clusterlab.executors.select import create_executor
from clusterlab.grid import DatasetKey, Trial, expand_trials, grid_hash
from clusterlab.lifecycle import LifecycleHooks
from clusterlab.loading import LoadedExperiment, load_experiment
from clusterlab.plugins import Plugins, autoload_disabled, blocked_from_env, build_plugins
from clusterlab.progress import TrialProgress
from clusterlab.reference_counts import resolve_reference_counts
from clusterlab.results import ExperimentResult, PluginFailure, TrialResult, TrialStatus
from clusterlab.results_table import directions_of, log_parent_summary, trials_frame
from clusterlab.stopping import StopSignals
from clusterlab.study_summary import compute_study, log_study
from clusterlab.tracking import Tracker, absolute_store_uri, resolve_tracking_uri, tags
from clusterlab.tracking.failures import is_store_failure, server_answers
from clusterlab.tracking.owner import owner_gone, owner_tags
from clusterlab.tracking.uri import check_store_from_file
from clusterlab.trial import TrialContext, param_union, run_trial

__all__ = ["ExperimentResult", "RunOptions", "TrialResult", "execute", "prepare", "run_experiment"]


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
    with startup.step("read the file, check its schema"):
        loaded = load_experiment(experiment, overrides, executor=options.executor)
        # Counted before the plugins are imported, so that an oversized grid fails at once.
        check_grid_size(loaded, options.max_trials)
        file_uri = loaded.experiment.tracking.uri
        if options.tracking_uri is None and file_uri:
            check_store_from_file(file_uri, loaded.base_dir)
    with startup.step("find and load the plugins"):
        plugins = build_plugins(
            autoload=options.autoload_plugins,
            blocked=options.blocked_plugins,
            extra=options.extra_plugins,
        )
    with startup.step("check names, parameters and values against the plugins"):
        loaded = resolve_each_axes(loaded, plugins.registry)
        check_against_plugins(loaded, plugins.registry, max_trials=options.max_trials)
    with startup.step("expand the grid, resolve the device"):
        trials = expand_trials(loaded.experiment, plugins.registry)
        # ``n_clusters: reference`` needs the data: those datasets are built here, once.
        trials = resolve_reference_counts(
            trials, plugins.registry, loaded.experiment.dtype, loaded.base_dir, loaded.source
        )
        # The device's type is part of each trial's hash, so resolve it here: a dry run
        # then lists the hashes a run logs, and a device that is missing fails validation.
        executor = create_executor(loaded.experiment.executor, plugins.registry)
        device = executor.trial_device(loaded.experiment.device)
    return loaded, plugins, _on_device(trials, device)


def check_data(loaded: LoadedExperiment, plugins: Plugins, trials: list[Trial]) -> None:
    """Build every dataset of the trials once on the CPU and check it as a run would (its
    values, its preprocessing, ``n_clusters`` against its size), without fitting."""
    import torch

    dtype = getattr(torch, loaded.experiment.dtype)
    check_datasets(trials, plugins.registry, dtype, loaded.base_dir, loaded.source)


def _on_device(trials: list[Trial], device: str) -> list[Trial]:
    """The trials with ``device`` as their device (the hash keeps only its type)."""
    return [t if t.device == device else replace(t, device=device) for t in trials]


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
    executor = create_executor(loaded.experiment.executor, plugins.registry)
    device = executor.trial_device(loaded.experiment.device)
    # Workers start now, so that their start-up overlaps the data checks and the store's.
    executor.warm_up()
    try:
        return _Invocation(loaded, plugins, options, executor, device).run(trials)
    finally:
        executor.close()


class _Invocation:
    """One run of an experiment's trials, from building the data to the parent's summary."""

    def __init__(
        self,
        loaded: LoadedExperiment,
        plugins: Plugins,
        options: RunOptions,
        executor: TrialExecutor,
        trial_device: str,
    ) -> None:
        import torch

        self.loaded, self.experiment = loaded, loaded.experiment
        self.registry = plugins.registry
        self.options, self.executor = options, executor
        self.device = torch.device(trial_device)
        self.hooks = LifecycleHooks(plugins.manager)
        # In-process executors never ship the job, so only the others need importable
        # plugins; checked before anything is logged.
        self.shipped: tuple[tuple[tuple[str, str], ...], tuple[str, ...]] = ((), ())
        if not executor.in_process:
            self.shipped = plugin_references(options.extra_plugins)

    def run(self, trials: list[Trial]) -> ExperimentResult:
        """Build the data, skip what is done, run the rest, and close the parent run."""
        trials = _on_device(trials, str(self.device))
        with startup.step("build and check the datasets"):
            datasets = self._build_data(trials)
        with startup.step("open the store, find the finished trials"):
            uri = resolve_tracking_uri(self.options.tracking_uri, self.experiment.tracking.uri)
            tracker = self.tracker = Tracker(
                uri, self.experiment.name, self.experiment.tracking.artifact_location
            )
            if not self.executor.in_process:
                tracker.retry_when_locked()
            self._end_abandoned()
            results, pending = self._skip_finished(trials)
        self.hooks.before_experiment(self.experiment, trials)
        summarised = None if pending or self.options.force else self._summary_parent(trials)
        if summarised is not None:
            # Nothing left to run and a parent already summarises the whole grid: a new
            # parent would hold nothing new.
            ordered = [results[index] for index in sorted(results)]
            self._report(self.hooks.after_experiment(self.experiment, ordered))
            return self._result(summarised, ordered, interrupted=False)
        with StopSignals() as stops:
            return self._run_under_parent(trials, datasets, results, pending, stops)

    def _run_under_parent(
        self,
        trials: list[Trial],
        datasets: dict[DatasetKey, BuiltDataset],
        results: dict[int, TrialResult],
        pending: list[Trial],
        stops: StopSignals,
    ) -> ExperimentResult:
        """Open the parent, run the pending trials and close the parent, so that no signal
        and no failure of the store leaves it RUNNING."""
        tracker = self.tracker
        with stops.deferred():
            parent_id = self.parent_id = self._start_parent(trials)
        progress = TrialProgress(
            len(trials), enabled=self.options.progress, console=self.options.console
        )
        execution = self._execution_context(trials, datasets, progress, stops)
        interrupted = stopped = store_lost = False
        try:
            stops.stop_if_requested()
            self._log_experiment_files(trials)
            with progress:
                for _skipped in range(len(trials) - len(pending)):
                    progress.advance(TrialStatus.SKIPPED)
                for result in self.executor.run(pending, execution):
                    results[result.trial.index] = result
                    with stops.deferred():
                        self._report(self.hooks.trial_ended(result), result.run_id)
                        progress.advance(result.status)
                    # A signal that Python dropped (raised in a garbage collector's
                    # callback, say) still stops the grid here.
                    stops.stop_if_requested()
        except KeyboardInterrupt:
            interrupted = True
            with stops.deferred():
                self.executor.close()
                # The store may be what failed; the interrupt is still what to report.
                with contextlib.suppress(Exception):
                    tracker.end_invocation(parent_id, TrialStatus.KILLED)
            raise
        except BaseException as exc:
            stopped = True
            store_lost = isinstance(exc, Exception) and self._store_lost(exc)
            with stops.deferred():
                self.executor.close()
                # A store that refuses everything must not hide the error that stopped
                # the grid; one that is gone is not asked again (each try waits).
                if not store_lost:
                    with contextlib.suppress(Exception):
                        tracker.end_running_children(parent_id, TrialStatus.FAILED)
            if store_lost:
                raise TrackingError(self._store_lost_message(exc, results)) from None
            raise
        finally:
            ordered = [results[index] for index in sorted(results)]
            with stops.deferred():
                if not interrupted and not store_lost:
                    self._close_parent(trials, ordered, stopped, stops)
                self._report(self.hooks.after_experiment(self.experiment, ordered))
        # A signal while the parent was being closed: it ended KILLED; stop here too.
        stops.stop_if_requested()
        return self._result(parent_id, ordered, interrupted)

    def _store_lost(self, exc: Exception) -> bool:
        """Whether the error that stopped the grid is the store's: one that failed (a full
        disk, a lost connection) or a server that no longer answers."""
        return is_store_failure(exc) or not server_answers(self.tracker.uri)

    def _store_lost_message(self, exc: Exception, results: dict[int, TrialResult]) -> str:
        done = sum(r.status == TrialStatus.FINISHED for r in results.values())
        before = sum(r.status == TrialStatus.SKIPPED for r in results.values())
        earlier = f", besides {before} finished by earlier runs" if before else ""
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        return (
            f"the tracking store {self.tracker.uri} failed while the grid ran "
            f"({type(exc).__name__}: {first}). Kept there: the {done} trial(s) this run "
            f"finished{earlier}; nothing else was written. Run the same command again once "
            f"the store works: it ends the runs left RUNNING (parent {self.parent_id}) and "
            f"runs only the missing trials"
        )

    def _result(
        self, parent_id: str, ordered: list[TrialResult], interrupted: bool
    ) -> ExperimentResult:
        return ExperimentResult(
            self.experiment.name,
            self.tracker.uri,
            self.tracker.experiment_id,
            parent_id,
            ordered,
            interrupted,
            list(self.hooks.failures),
        )

    def _build_data(self, trials: list[Trial]) -> dict[DatasetKey, BuiltDataset]:
        """Each dataset once, checked; on the trial device for in-process executors, else
        on the CPU, to be shipped (workers build their data on their own devices)."""
        import torch

        data_device = self.device if self.executor.in_process else torch.device("cpu")
        dtype = getattr(torch, self.experiment.dtype)
        built: dict[DatasetKey, BuiltDataset] = {}
        for trial in trials:
            if trial.dataset_key not in built:
                built[trial.dataset_key] = build_dataset(
                    trial,
                    self.registry,
                    data_device,
                    dtype,
                    self.loaded.base_dir,
                    self.loaded.source,
                )
        check_sizes(trials, built, self.loaded.source)
        return built

    def _skip_finished(self, trials: list[Trial]) -> tuple[dict[int, TrialResult], list[Trial]]:
        """SKIPPED results for trials already FINISHED in the experiment, and the rest."""
        done = {} if self.options.force else self.tracker.finished_trials()
        results: dict[int, TrialResult] = {}
        pending = []
        for trial in trials:
            if trial.hash in done:
                run_id = done[trial.hash].info.run_id
                results[trial.index] = TrialResult(trial, TrialStatus.SKIPPED, run_id=run_id)
            else:
                pending.append(trial)
        return results, pending

    def _end_abandoned(self) -> None:
        """End KILLED the runs that an invocation whose process is gone left RUNNING (it
        was killed outright, say), and say so."""
        tracker = self.tracker
        for parent in tracker.running_parents():
            why = owner_gone(parent.data.tags)
            if why is None:
                continue
            parent_id = parent.info.run_id
            ended = tracker.end_running_children(parent_id, TrialStatus.KILLED)
            tracker.log(parent_id, tags={tags.ABANDONED: why})
            tracker.end_run(parent_id, TrialStatus.KILLED)
            print(
                f"ended parent run {parent_id} ('{parent.info.run_name}') and {ended} trial "
                f"run{'s' if ended != 1 else ''} left RUNNING: {why}",
                file=sys.stderr,
            )

    def _summary_parent(self, trials: list[Trial]) -> str | None:
        """The id of the latest FINISHED parent whose summary covers every trial of this
        grid, or ``None``."""
        parent = self.tracker.grid_summary_parent(grid_hash(trials), len(trials))
        return None if parent is None else parent.info.run_id

    def _start_parent(self, trials: list[Trial]) -> str:
        experiment = self.experiment
        return self.tracker.start_run(
            f"{experiment.name} · {time.strftime('%Y-%m-%d %H:%M:%S')}",
            {
                tags.KIND: tags.KIND_EXPERIMENT,
                tags.GRID_HASH: grid_hash(trials),
                **owner_tags(),
                tags.VERSION: clusterlab.__version__,
                tags.NOTE: experiment.description
                or f"clusterlab experiment '{experiment.name}': {len(trials)} trials",
            },
        )

    def _execution_context(
        self,
        trials: list[Trial],
        datasets: dict[DatasetKey, BuiltDataset],
        progress: TrialProgress,
        stops: StopSignals,
    ) -> ExecutionContext:
        in_process = self.executor.in_process
        union = param_union(trials)
        context = TrialContext(
            tracker=self.tracker,
            registry=self.registry,
            experiment=self.experiment,
            device=self.device,
            device_label=device_name(self.device) if in_process else str(self.device),
            datasets=datasets,
            parent_run_id=self.parent_id,
            param_union=union,
            stop_requested=lambda: stops.requested,
            share_work=not self.options.force,
        )

        def started(trial: Trial) -> None:
            progress.start(trial.run_name)
            self._report(self.hooks.trial_started(trial))

        def run_here(trial: Trial) -> TrialResult:
            started(trial)
            return run_trial(trial, context)

        return ExecutionContext(
            job=self._job(union),
            tracker=self.tracker,
            datasets=datasets,
            run_here=run_here,
            on_start=started,
            trial_timeout_s=self.experiment.timeout_s,
        )

    def _job(self, union: tuple[str, ...]) -> TrialJob:
        """The invocation as plain data, for workers in other processes or on other machines;
        in-process plugins travel as references, with the folders they import from."""
        options = self.options
        extra, roots = self.shipped
        autoload = options.autoload_plugins
        return TrialJob(
            raw=self.loaded.raw,
            base_dir=str(self.loaded.base_dir),
            tracking_uri=absolute_store_uri(self.tracker.uri),
            experiment_name=self.experiment.name,
            experiment_id=self.tracker.experiment_id,
            parent_run_id=self.parent_id,
            param_union=union,
            device=str(self.device),
            autoload_plugins=(not autoload_disabled()) if autoload is None else autoload,
            blocked_plugins=tuple(sorted({*options.blocked_plugins, *blocked_from_env()})),
            extra_plugins=extra,
            python_path=roots,
            share_work=not options.force,
        )

    def _report(self, failures: list[PluginFailure], run_id: str | None = None) -> None:
        """Say which plugin's hook failed, on stderr and (for a trial's hook) as a tag on the
        trial's run; the trial's status stays as it was logged."""
        for failure in failures:
            where = f" for trial {failure.trial_index}" if failure.trial_index is not None else ""
            print(
                f"warning: plugin '{failure.plugin}' failed in {failure.hook}{where}: "
                f"{failure.error}",
                file=sys.stderr,
            )
            if run_id is not None:
                text = f"{failure.plugin}: {failure.error}"
                tag = {f"{tags.PLUGIN_ERROR_PREFIX}{failure.hook}": text}
                # The trial is logged already; a store that refuses the tag loses only it.
                with contextlib.suppress(Exception):
                    self.tracker.log(run_id, tags=tag)

    def _log_experiment_files(self, trials: list[Trial]) -> None:
        """The experiment file, the resolved experiment and the expanded grid on the parent,
        and the metrics' directions for reading the scores back."""
        import yaml

        tracker, run_id, loaded = self.tracker, self.parent_id, self.loaded
        grid = [
            {"index": t.index, "hash": t.hash, "run_name": t.run_name, **t.config} for t in trials
        ]
        try:
            if loaded.path is not None:
                tracker.log_file(run_id, loaded.path, "experiment")
            resolved = yaml.safe_dump(loaded.raw, sort_keys=False)
            tracker.log_text(run_id, resolved, "experiment/resolved.yaml")
            tracker.log_text(
                run_id, json.dumps(grid, indent=1, default=repr), "experiment/trials.json"
            )
        except Exception as exc:
            raise TrackingError(
                f"cannot write the parent run's artifacts to the store "
                f"({type(exc).__name__}: {exc}); check the artifact location "
                f"(tracking.artifact_location) and its permissions"
            ) from None
        directions = json.dumps(directions_of(self.experiment, self.registry))
        tracker.log(
            run_id,
            params=grid_shape(trials),
            tags={tags.N_TRIALS: str(len(trials)), tags.DIRECTIONS: directions},
        )

    def _close_parent(
        self, trials: list[Trial], ordered: list[TrialResult], stopped: bool, stops: StopSignals
    ) -> None:
        """The summary over every finished trial of the grid, then the parent's status:
        KILLED where a stop signal arrived meanwhile, FAILED where a trial failed, an
        error stopped the grid or the summary could not be written."""
        try:
            self._log_summary(trials)
        except Exception as exc:
            if not self._store_lost(exc) or self.tracker.uri.startswith("sqlite:"):
                # A full disk may still take the status; a lost server is not waited on.
                with contextlib.suppress(Exception):
                    self.tracker.end_running_children(self.parent_id, TrialStatus.FAILED)
                    self.tracker.end_run(self.parent_id, TrialStatus.FAILED)
            if stopped:
                return  # the error that stopped the grid is the one to report
            raise TrackingError(
                f"the trials are logged, but the parent run's summary could not be written "
                f"({type(exc).__name__}: {exc}); the parent run {self.parent_id} is marked "
                f"FAILED, and running the same command again writes the summary"
            ) from None
        failed = stopped or any(r.status == TrialStatus.FAILED for r in ordered)
        status = TrialStatus.FAILED if failed else TrialStatus.FINISHED
        if stops.requested:
            status = TrialStatus.KILLED
        if stopped:
            with contextlib.suppress(Exception):
                self.tracker.end_run(self.parent_id, status)
            return
        self.tracker.end_run(self.parent_id, status)

    def _log_summary(self, trials: list[Trial]) -> None:
        """Summary plots and the best-trial table over every finished trial of this grid,
        those of earlier invocations included."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        runs = self.tracker.trial_runs({trial.hash for trial in trials})
        swept: dict[tuple[str, str], list[str]] = {}
        for trial in trials:
            key = (trial.dataset_label or trial.dataset, trial.algorithm_label or trial.algorithm)
            names = swept.setdefault(key, [])
            names.extend(name for name in trial.swept if name not in names)
        directions = directions_of(self.experiment, self.registry)
        frame = trials_frame(runs)
        log_parent_summary(
            self.tracker, self.parent_id, frame, directions, swept, plots=self.experiment.plots
        )
        study = self.experiment.study
        if study is not None and not frame.empty:
            outcome = compute_study(
                frame,
                directions,
                study,
                load_labels=lambda run_id: self.tracker.load_array(run_id, "labels.npy"),
            )
            log_study(self.tracker, self.parent_id, outcome, self.experiment.plots)
        # Marks the summary complete: a rerun with nothing to add finds it by this count.
        self.tracker.log(self.parent_id, tags={tags.SUMMARY_TRIALS: str(len(runs))})


def grid_shape(trials: list[Trial]) -> dict[str, str]:
    """The parent run's params: the grid's datasets, algorithms and seeds in file order,
    and its number of trials."""

    def listed(values: Iterable[Any]) -> str:
        return ", ".join(str(value) for value in dict.fromkeys(values))

    return {
        "datasets": listed(t.dataset_label or t.dataset for t in trials),
        "algorithms": listed(t.algorithm_label or t.algorithm for t in trials),
        "seeds": listed(t.seed for t in trials),
        "n_trials": str(len(trials)),
    }
