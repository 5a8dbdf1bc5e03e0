"""Fires the lifecycle hooks of one invocation, in the runner's process, under any executor.

Trial hooks mean the same whichever executor runs the trials: ``before_trial`` fires once
per trial when it starts (or, for an executor that does not say so, just before its result
is handled) and always before that trial's ``after_trial`` or ``on_trial_error``. Each
implementation is called on its own, in pluggy's order (``tryfirst``/``trylast``), so one
that raises is reported as a plugin failure and neither stops the others nor changes a
trial that was already logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from clusterlab.errors import PluginError
from clusterlab.results import PluginFailure, TrialFailed, TrialResult, TrialStatus

if TYPE_CHECKING:
    import pluggy

    from clusterlab.grid import Trial
    from clusterlab.schema import Experiment


class LifecycleHooks:
    """The lifecycle hooks of one invocation, and the failures of their implementations."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self._hook = manager.hook
        self._started: set[int] = set()
        self.failures: list[PluginFailure] = []

    def before_experiment(self, experiment: Experiment, trials: Sequence[Trial]) -> None:
        """Fire ``before_experiment``; a plugin that raises stops the invocation before
        anything is logged, with a :class:`PluginError` naming it."""
        failures = self._call("before_experiment", experiment=experiment, trials=list(trials))
        if failures:
            failure = failures[0]
            raise PluginError(
                f"plugin '{failure.plugin}' failed in before_experiment: {failure.error}"
            )

    def trial_started(self, trial: Trial) -> list[PluginFailure]:
        """Fire ``before_trial`` for ``trial`` unless it already fired (a retried trial
        starts twice); returns the failures."""
        if trial.index in self._started:
            return []
        self._started.add(trial.index)
        return self._call("before_trial", trial_index=trial.index, trial=trial)

    def trial_ended(self, result: TrialResult) -> list[PluginFailure]:
        """Fire ``after_trial`` for a FINISHED trial or ``on_trial_error`` for a FAILED
        one (``before_trial`` first where it has not fired); returns the failures."""
        failures = self.trial_started(result.trial)
        if result.status == TrialStatus.FINISHED:
            failures += self._call(
                "after_trial", trial_index=result.trial.index, trial=result.trial, result=result
            )
        elif result.status == TrialStatus.FAILED:
            error = result.exception or TrialFailed(result.error or "the trial failed")
            failures += self._call(
                "on_trial_error", trial_index=result.trial.index, trial=result.trial, error=error
            )
        return failures

    def after_experiment(
        self, experiment: Experiment, results: list[TrialResult]
    ) -> list[PluginFailure]:
        """Fire ``after_experiment``; returns the failures (the results stand)."""
        return self._call("after_experiment", experiment=experiment, results=results)

    def _call(
        self, name: str, trial_index: int | None = None, **kwargs: Any
    ) -> list[PluginFailure]:
        caller = getattr(self._hook, name)
        failures = []
        # pluggy calls the implementations from the end of this list to its start.
        for impl in reversed(caller.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue  # a wrapper wraps the others' calls; there is none to wrap here
            try:
                impl.function(*(kwargs[arg] for arg in impl.argnames))
            except Exception as exc:
                failure = PluginFailure(
                    impl.plugin_name, name, f"{type(exc).__name__}: {exc}", trial_index
                )
                failures.append(failure)
        self.failures.extend(failures)
        return failures
