"""What trials and experiments produced, as plain data: statuses, scores and run ids.

This module imports nothing of the project, so that every layer (the trial, the executors,
the tracking layer, the runner and plugins) can use its types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clusterlab.grid import Trial


class TrialStatus(StrEnum):
    """How a trial ended; the values are MLflow's run statuses, plus SKIPPED."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    #: Not run: a FINISHED run with the same trial hash was already in the experiment.
    SKIPPED = "SKIPPED"


class TrialFailed(Exception):
    """A trial that failed in another process, as its error text: what ``on_trial_error``
    receives where the original exception stayed in the worker."""


@dataclass
class TrialResult:
    """What one trial produced.

    Attributes:
        trial: the trial that ran.
        status: how it ended (a :class:`TrialStatus`, equal to its string value).
        scores: metric key → value, plus the facts ``fit_time_s``, ``n_clusters_found``,
            ``noise_fraction`` and ``peak_memory_mb``; empty unless FINISHED.
        run_id: the trial's MLflow run (the earlier run's for a SKIPPED trial).
        error: ``"ExceptionType: message"`` for a FAILED trial.
        undefined: metric key → why the score is not defined for this result.
        exception: the exception a FAILED trial raised, where it was raised in this
            process; never sent between processes.
    """

    trial: Trial
    status: TrialStatus
    scores: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    error: str | None = None
    undefined: dict[str, str] = field(default_factory=dict)
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        # An exception and its traceback may not pickle; the error text travels instead.
        return {**self.__dict__, "exception": None}


@dataclass
class PluginFailure:
    """A lifecycle hook that raised: which plugin, in which hook, with what error.

    A failing hook never changes a trial's status; the runner reports it and goes on.
    """

    plugin: str
    hook: str
    error: str
    trial_index: int | None = None


@dataclass
class ExperimentResult:
    """The outcome of one invocation: every trial's result and where they were logged.

    Attributes:
        name: the experiment's name (the MLflow experiment).
        tracking_uri: the store the runs went to.
        experiment_id: the MLflow experiment's id.
        parent_run_id: this invocation's parent run.
        trials: one result per trial of the grid, in grid order, skipped ones included.
        interrupted: whether Ctrl-C or SIGTERM stopped the grid.
        plugin_failures: lifecycle hooks that raised during the invocation.
    """

    name: str
    tracking_uri: str | None
    experiment_id: str | None
    parent_run_id: str | None
    trials: list[TrialResult]
    interrupted: bool = False
    plugin_failures: list[PluginFailure] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many trials ended with ``status`` (FINISHED, FAILED, SKIPPED, KILLED)."""
        return sum(1 for result in self.trials if result.status == status)

    @property
    def ok(self) -> bool:
        """True when no trial failed and nothing was interrupted."""
        return not self.interrupted and self.count(TrialStatus.FAILED) == 0

    def scores(self) -> list[dict[str, Any]]:
        """One flat record per trial: names, swept parameters, seed, status and scores."""
        return [
            {
                "dataset": r.trial.dataset,
                "algorithm": r.trial.algorithm,
                **r.trial.swept,
                "seed": r.trial.seed,
                "status": str(r.status),
                **r.scores,
            }
            for r in self.trials
        ]
