"""A plugin's fit that raises SystemExit or KeyboardInterrupt fails its own trial; it does
not end the grid, which only a signal from the user stops."""

from __future__ import annotations

import sys
import types

from mlflow.tracking import MlflowClient

from clusterlab import hookimpl
from clusterlab.runner import run_experiment
from tests.core.test_runner import child_runs, options


class Exiting:
    """An algorithm whose fit calls sys.exit, or raises KeyboardInterrupt, on purpose."""

    def __init__(self, how: str = "exit"):
        self.how = how

    def fit(self, X):
        if self.how == "exit":
            sys.exit(3)
        raise KeyboardInterrupt


@hookimpl
def register_algorithms(register):
    register("exiting", Exiting)


GRID = {
    "name": "plugin-faults",
    "device": "cpu",
    "seeds": [0],
    "datasets": [{"name": "toy_blobs", "params": {"n_samples": 45}}],
    "algorithms": [
        {"name": "exiting", "grid": {"how": ["exit", "interrupt"]}},
        {"name": "toy_kmeans", "params": {"n_init": 1, "n_clusters": 3}},
    ],
    "metrics": ["toy_ari"],
}


def test_exit_and_interrupt_from_a_fit_fail_only_that_trial(store):
    plugin = types.SimpleNamespace(register_algorithms=register_algorithms)
    result = run_experiment(GRID, options=options(store, extra=(("exiting", plugin),)))
    statuses = {
        r.trial.algorithm_params.get("how", r.trial.algorithm): r.status for r in result.trials
    }
    assert statuses == {"exit": "FAILED", "interrupt": "FAILED", "toy_kmeans": "FINISHED"}
    errors = {r.trial.algorithm_params.get("how"): r.error for r in result.trials if r.error}
    assert errors["exit"].startswith("SystemExit: 3")
    assert errors["interrupt"].startswith("KeyboardInterrupt")
    client = MlflowClient(tracking_uri=store)
    runs = child_runs(store, result.experiment_id)
    assert sorted(r.info.status for r in runs) == ["FAILED", "FAILED", "FINISHED"]
    assert client.get_run(result.parent_run_id).info.status == "FAILED"
