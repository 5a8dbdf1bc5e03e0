"""Lost workers: the run a dead worker left RUNNING is marked FAILED, and its trial retried."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clusterlab.grid import Trial
    from clusterlab.runner import TrialResult

LOST_TAG = "clusterlab.worker_lost"
ERROR_TAG = "clusterlab.error"
_PARENT_TAG = "mlflow.parentRunId"
_HASH_TAG = "clusterlab.trial_hash"


class WorkerLost(Exception):
    """A trial's worker died (a killed process, a lost node) before the trial ended."""


class Attempts:
    """Counts the attempts of each trial against ``retries`` further tries after a loss."""

    def __init__(self, retries: int) -> None:
        self.retries = retries
        self._lost: dict[int, int] = {}

    def lost(self, trial: Trial) -> bool:
        """Count one lost attempt of ``trial``; True while it may run again."""
        count = self._lost.get(trial.index, 0) + 1
        self._lost[trial.index] = count
        return count <= self.retries

    def count(self, trial: Trial) -> int:
        """How many attempts of ``trial`` were lost so far."""
        return self._lost.get(trial.index, 0)


def running_children(tracker: Any, parent_run_id: str, trial_hash: str | None = None) -> list:
    """Child runs of ``parent_run_id`` still RUNNING (of one trial where a hash is given)."""
    query = f"tags.`{_PARENT_TAG}` = '{parent_run_id}' and attributes.status = 'RUNNING'"
    if trial_hash:
        query += f" and tags.`{_HASH_TAG}` = '{trial_hash}'"
    runs, token = [], None
    while True:
        page = tracker.client.search_runs(
            [tracker.experiment_id], filter_string=query, max_results=1000, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def mark_lost(
    tracker: Any, parent_run_id: str, trial: Trial, run_id: str | None, reason: str
) -> str | None:
    """Mark FAILED the run a dead worker left RUNNING, tagged with why; returns its id.

    The worker reports its run before fitting; where it died before that report arrived,
    the run is found by the trial's hash under the parent.
    """
    ids = {run.info.run_id for run in running_children(tracker, parent_run_id, trial.hash)}
    if run_id:
        ids.add(run_id)
    for lost_id in sorted(ids):
        if tracker.client.get_run(lost_id).info.status != "RUNNING":
            continue  # it ended after all (the worker died after closing it)
        tracker.log(lost_id, tags={LOST_TAG: reason, ERROR_TAG: f"WorkerLost: {reason}"})
        tracker.end_run(lost_id, "FAILED")
    return run_id or (sorted(ids)[0] if ids else None)


def end_unfinished(tracker: Any, parent_run_id: str, status: str) -> None:
    """End every child of ``parent_run_id`` still RUNNING with ``status``."""
    for run in running_children(tracker, parent_run_id):
        tracker.end_run(run.info.run_id, status)


def lost_result(trial: Trial, run_id: str | None, reason: str, plugins: Any) -> TrialResult:
    """The result of a trial whose worker died on its last allowed attempt."""
    from clusterlab.runner import TrialResult

    error = WorkerLost(reason)
    plugins.hook.on_trial_error(trial=trial, error=error)
    return TrialResult(trial, "FAILED", run_id=run_id, error=f"WorkerLost: {reason}")
