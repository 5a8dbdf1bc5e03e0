"""The in-process executor: trials one after the other, on the data the runner already built."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from clusterlab.executors.base import ExecutionContext, TrialExecutor

if TYPE_CHECKING:
    from clusterlab.grid import Trial
    from clusterlab.results import TrialResult


class LocalExecutor(TrialExecutor):
    """Runs trials in this process, one after the other (the default)."""

    in_process = True

    def __init__(self) -> None:
        """The local executor takes no options."""

    def run(self, trials: Sequence[Trial], context: ExecutionContext) -> Iterator[TrialResult]:
        """Run each trial here; a dataset is freed once its last trial is done."""
        last_use = {trial.dataset_key: trial.index for trial in trials}
        for trial in trials:
            context.on_start(trial)
            result = context.run_here(trial)
            if last_use[trial.dataset_key] == trial.index:
                context.datasets.pop(trial.dataset_key, None)
            yield result
