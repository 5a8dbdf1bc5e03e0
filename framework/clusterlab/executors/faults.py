"""Lost workers: the run a dead worker left RUNNING is marked FAILED, and its trial retried."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clusterlab.results import TrialResult, TrialStatus

if TYPE_CHECKING:
    from clusterlab.grid import Trial


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


def lost_result(trial: Trial, run_id: str | None, reason: str) -> TrialResult:
    """The result of a trial whose worker died on its last allowed attempt."""
    return TrialResult(
        trial,
        TrialStatus.FAILED,
        run_id=run_id,
        error=f"WorkerLost: {reason}",
        exception=WorkerLost(reason),
    )
