"""Hook specifications and markers: the public plugin contract of clusterlab."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from clusterlab.grid import Trial
    from clusterlab.registration import (
        RegisterAlgorithm,
        RegisterDataset,
        RegisterExecutor,
        RegisterMetric,
        RegisterPlot,
        RegisterPreprocessor,
    )
    from clusterlab.results import TrialResult
    from clusterlab.schema import Experiment

hookspec = pluggy.HookspecMarker("clusterlab")
hookimpl = pluggy.HookimplMarker("clusterlab")


# Registration hooks: called once when the plugin manager is built.


@hookspec
def register_algorithms(register: RegisterAlgorithm) -> None:
    """Register clustering algorithms.

    Call ``register(name, estimator_class, *, description="")`` once per algorithm.
    The class follows the scikit-learn clustering API: ``__init__`` takes the trial's
    parameters (plus ``device`` and ``random_state`` where it declares them) and
    ``fit(X)`` sets ``labels_`` with ``-1`` for noise. Its ``__init__`` signature is the
    list of parameters an experiment file may set.
    """


@hookspec
def register_datasets(register: RegisterDataset) -> None:
    """Register datasets.

    Call ``register(name, loader, *, has_labels=True, axis_values=None, description="")``.
    The loader is called as ``loader(**params, seed=seed)`` (plus ``base_dir=`` where it
    declares it: the folder of the experiment file) and returns ``(X, y)``: an ``n x d``
    array or tensor and the ground-truth labels (one vector, several, or ``None`` where
    there are none). ``axis_values`` lists the values a ``{each: ...}`` grid axis of a
    parameter stands for.
    """


@hookspec
def register_metrics(register: RegisterMetric) -> None:
    """Register scores.

    Call ``register(name, fn, *, greater_is_better, needs_ground_truth=False,
    description="")``. ``fn(X, labels, y_true, estimator, **options)`` returns a float;
    ``X`` is a torch tensor on the trial's device, ``labels`` and ``y_true`` numpy
    integer arrays (``y_true`` is ``None`` without ground truth). Raise
    ``clusterlab.ScoreUndefined`` where the score is not defined for this result.
    """


@hookspec
def register_plots(register: RegisterPlot) -> None:
    """Register plots.

    Call ``register(name, fn, *, description="")``. ``fn(trial)`` receives a finished
    :class:`clusterlab.plotting.TrialView` and returns a matplotlib figure, or ``None``
    where the plot does not apply to that trial (a dendrogram for K-Means, say).
    """


@hookspec
def register_preprocessors(register: RegisterPreprocessor) -> None:
    """Register preprocessing steps that an experiment applies to a dataset, in order.

    Call ``register(name, fn, *, description="")``. ``fn(X, y, **params)`` receives the
    data as a torch tensor on the trial's device and the labels (numpy or ``None``) and
    returns the new ``(X, y)``; a step that drops rows drops the same rows of ``y``.
    """


@hookspec
def register_executors(register: RegisterExecutor) -> None:
    """Register executors: ways to run an experiment's trials (in this process, on worker
    processes, on a cluster).

    Call ``register(name, executor_class, *, description="")``. The experiment file
    chooses one with ``executor: {name: NAME, option: value}``; the class is constructed
    with those options as keyword arguments (its ``__init__`` signature is the list of
    options ``clusterlab validate`` accepts) and must only check and store them there.
    It subclasses :class:`clusterlab.executors.base.TrialExecutor`: ``run(trials,
    context)`` yields one :class:`clusterlab.results.TrialResult` per trial as each
    finishes, and ``close()`` stops whatever it started.
    """


# Lifecycle hooks: fired by the runner, in the process that runs the experiment, under
# every executor; every implementation is called, and one that raises in a trial hook or
# in after_experiment is reported (a warning, a tag on the trial's run and an entry in
# ExperimentResult.plugin_failures) without changing any trial's status.


@hookspec
def before_experiment(experiment: Experiment, trials: list[Trial]) -> None:
    """Called once after validation, before the first trial and before the parent run
    is opened. An implementation that raises stops the invocation with a PluginError.

    Args:
        experiment: the validated :class:`clusterlab.schema.Experiment`.
        trials: the expanded :class:`clusterlab.grid.Trial` list, in run order.
    """


@hookspec
def before_trial(trial: Trial) -> None:
    """Called once per trial that runs, when it starts: just before its estimator is built
    in this process, or when a worker reports that it started the trial. Always before
    that trial's ``after_trial`` or ``on_trial_error``; not called for skipped trials.

    Args:
        trial: the :class:`clusterlab.grid.Trial` about to run.
    """


@hookspec
def after_trial(trial: Trial, result: TrialResult) -> None:
    """Called after a trial finished and was logged as FINISHED.

    Args:
        trial: the :class:`clusterlab.grid.Trial` that ran.
        result: its :class:`clusterlab.results.TrialResult` (scores, fit time, run id).
    """


@hookspec
def on_trial_error(trial: Trial, error: BaseException) -> None:
    """Called when a trial failed and was logged as FAILED; the grid goes on.

    Args:
        trial: the :class:`clusterlab.grid.Trial` that failed.
        error: the exception it raised; for a trial that failed in another process, a
            :class:`clusterlab.results.TrialFailed` carrying its ``"Type: message"`` text.
    """


@hookspec
def after_experiment(experiment: Experiment, results: list[TrialResult]) -> None:
    """Called once after the last trial, also when some trials failed or the grid was
    interrupted.

    Args:
        experiment: the :class:`clusterlab.schema.Experiment` that ran.
        results: one :class:`clusterlab.results.TrialResult` per trial, skipped ones
            included, in grid order.
    """
