"""An interrupt ends every run it leaves behind, however many: the tracking layer pages
through the running children instead of reading one page of them."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from clusterlab import hookimpl
from clusterlab.executors.base import TrialExecutor
from clusterlab.runner import RunOptions, run_experiment
from tests.core import toy_plugin

# More than one page (1,000 runs) of MLflow's search.
ORPHANS = 1_050


class ManyRunsThenCtrlC(TrialExecutor):
    """Starts many child runs and leaves them RUNNING, then is interrupted (as a grid whose
    workers had each opened a run when Ctrl-C came)."""

    in_process = True

    def run(self, trials: Any, context: Any) -> Any:
        """Open the runs, then raise KeyboardInterrupt."""
        for index in range(ORPHANS):
            context.tracker.start_run(
                f"orphan {index}", {}, parent_run_id=context.job.parent_run_id
            )
        raise KeyboardInterrupt
        yield  # a generator, as executors are


class Plugin:
    """Registers the executor above."""

    @hookimpl
    def register_executors(self, register: Any) -> None:
        """The interrupted executor."""
        register("many_runs", ManyRunsThenCtrlC)


@pytest.mark.slow
def test_an_interrupt_leaves_none_of_over_a_thousand_children_running(store):
    experiment = {
        "name": "many",
        "device": "cpu",
        "seeds": [0],
        "datasets": [{"name": "toy_blobs"}],
        "algorithms": [{"name": "toy_kmeans"}],
        "executor": {"name": "many_runs"},
    }
    options = RunOptions(
        tracking_uri=store,
        autoload_plugins=False,
        extra_plugins=(("toy", toy_plugin), ("many", Plugin())),
        progress=False,
    )
    with pytest.raises(KeyboardInterrupt):
        run_experiment(experiment, options=options)
    client = MlflowClient(tracking_uri=store)
    experiment_id = client.get_experiment_by_name("many").experiment_id
    statuses: dict[str, int] = {}
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=500, page_token=token)
        for run in page:
            statuses[run.info.status] = statuses.get(run.info.status, 0) + 1
        token = page.token
        if not token:
            break
    assert statuses == {"KILLED": ORPHANS + 1}  # the children and their parent
