"""Hook specifications and markers: the public plugin contract of clusterlab."""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("clusterlab")
hookimpl = pluggy.HookimplMarker("clusterlab")


# Registration hooks: called once when the plugin manager is built.


@hookspec
def register_algorithms(register: Any) -> None:
    """Register clustering algorithms.

    Call ``register(name, estimator_class, *, description="")`` once per algorithm.
    The class follows the scikit-learn clustering API: ``__init__`` takes the trial's
    parameters (plus ``device`` and ``random_state`` where it declares them) and
    ``fit(X)`` sets ``labels_`` with ``-1`` for noise. Its ``__init__`` signature is the
    list of parameters an experiment file may set.
    """


@hookspec
def register_datasets(register: Any) -> None:
    """Register datasets.

    Call ``register(name, loader, *, has_labels=True, description="")``. The loader is
    called as ``loader(**params, seed=seed)`` (plus ``base_dir=`` where it declares it:
    the folder of the experiment file) and returns ``(X, y)``: an ``n x d`` array or
    tensor and the ground-truth labels, or ``None`` where there are none.
    """


@hookspec
def register_metrics(register: Any) -> None:
    """Register scores.

    Call ``register(name, fn, *, greater_is_better, needs_ground_truth=False,
    description="")``. ``fn(X, labels, y_true, estimator, **options)`` returns a float;
    ``X`` is a torch tensor on the trial's device, ``labels`` and ``y_true`` numpy
    integer arrays (``y_true`` is ``None`` without ground truth). Raise
    ``clusterlab.ScoreUndefined`` where the score is not defined for this result.
    """


@hookspec
def register_plots(register: Any) -> None:
    """Register plots.

    Call ``register(name, fn, *, description="")``. ``fn(trial)`` receives a finished
    :class:`clusterlab.plotting.TrialView` and returns a matplotlib figure, or ``None``
    where the plot does not apply to that trial (a dendrogram for K-Means, say).
    """


@hookspec
def register_preprocessors(register: Any) -> None:
    """Register preprocessing steps that an experiment applies to a dataset, in order.

    Call ``register(name, fn, *, description="")``. ``fn(X, y, **params)`` receives the
    data as a torch tensor on the trial's device and the labels (numpy or ``None``) and
    returns the new ``(X, y)``; a step that drops rows drops the same rows of ``y``.
    """


@hookspec
def register_executors(register: Any) -> None:
    """Register executors: ways to run an experiment's trials (in this process, on worker
    processes, on a cluster).

    Call ``register(name, executor_class, *, description="")``. The experiment file
    chooses one with ``executor: {name: NAME, option: value}``; the class is constructed
    with those options as keyword arguments (its ``__init__`` signature is the list of
    options ``clusterlab validate`` accepts) and must only check and store them there.
    It subclasses :class:`clusterlab.executors.base.TrialExecutor`: ``run(trials,
    context)`` yields one :class:`clusterlab.runner.TrialResult` per trial as each
    finishes, and ``close()`` stops whatever it started.
    """


# Lifecycle hooks: called by the runner; every implementation is called.


@hookspec
def before_experiment(experiment: Any, trials: list[Any]) -> None:
    """Called once after validation, before the first trial.

    Args:
        experiment: the validated :class:`clusterlab.schema.Experiment`.
        trials: the expanded :class:`clusterlab.grid.Trial` list, in run order.
    """


@hookspec
def before_trial(trial: Any) -> None:
    """Called before a trial's estimator is built.

    Args:
        trial: the :class:`clusterlab.grid.Trial` about to run.
    """


@hookspec
def after_trial(trial: Any, result: Any) -> None:
    """Called after a trial finished and was logged.

    Args:
        trial: the :class:`clusterlab.grid.Trial` that ran.
        result: its :class:`clusterlab.runner.TrialResult` (scores, fit time, run id).
    """


@hookspec
def on_trial_error(trial: Any, error: BaseException) -> None:
    """Called when a trial raised; the grid goes on with the next trial.

    Args:
        trial: the :class:`clusterlab.grid.Trial` that failed.
        error: the exception it raised.
    """


@hookspec
def after_experiment(experiment: Any, results: list[Any]) -> None:
    """Called once after the last trial, also when some trials failed.

    Args:
        experiment: the :class:`clusterlab.schema.Experiment` that ran.
        results: one :class:`clusterlab.runner.TrialResult` per trial, skipped ones included.
    """
