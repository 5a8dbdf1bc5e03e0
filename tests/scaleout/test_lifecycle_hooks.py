"""Lifecycle hooks mean the same under every executor: trial hooks fire in the process
that runs the experiment, once per trial and in order, and a plugin whose hook raises is
reported without changing the trial it observed.

This module is also a plugin, imported by module path in the workers, as a third-party
package would be.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from clusterlab import hookimpl
from clusterlab.runner import RunOptions, run_experiment
from tests.scaleout.test_executors import executors_plugin, toy_plugin

GRID: dict[str, Any] = {
    "name": "hooks",
    "device": "cpu",
    "seeds": [0, 1],
    "datasets": [{"name": "toy_blobs", "params": {"n_samples": 40}}],
    "algorithms": [{"name": "toy_kmeans", "grid": {"n_clusters": [2, 3, 4]}}],
    "metrics": ["toy_ari"],
}
N_TRIALS = 6

EXECUTORS = {
    "local": {"name": "local"},
    "processes": {"name": "processes", "workers": 2, "threads_per_worker": 1},
    "ray": {"name": "ray", "num_cpus": 1},
}


class TrialCounter:
    """Counts trials in ``before_trial`` and ``after_trial`` and checks the counts, and the
    order, in ``after_experiment``: state kept between hooks, as the plugin docs promise."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []
        self.checked: dict[str, Any] | None = None

    @hookimpl
    def before_experiment(self, experiment: Any, trials: list[Any]) -> None:
        """Start counting."""
        self.events = [("experiment", -1, os.getpid())]
        self.checked = None

    @hookimpl
    def before_trial(self, trial: Any) -> None:
        """Count a trial that starts."""
        self.events.append(("before", trial.index, os.getpid()))

    @hookimpl
    def after_trial(self, trial: Any, result: Any) -> None:
        """Count a trial that finished."""
        self.events.append(("after", trial.index, os.getpid()))

    @hookimpl
    def after_experiment(self, experiment: Any, results: list[Any]) -> None:
        """Check what the trial hooks saw against the results."""
        before = [index for kind, index, _pid in self.events if kind == "before"]
        after = [index for kind, index, _pid in self.events if kind == "after"]
        in_order = all(
            self.events.index(("before", i, pid)) < self.events.index(("after", i, pid))
            for kind, i, pid in self.events
            if kind == "after"
        )
        self.checked = {
            "before": sorted(before),
            "after": sorted(after),
            "results": sorted(r.trial.index for r in results),
            "in_order": in_order,
            "processes": {pid for _kind, _index, pid in self.events},
        }


counter = TrialCounter()


class RaisingAfterTrial:
    """A plugin whose ``after_trial`` raises for every trial."""

    @hookimpl
    def after_trial(self, trial: Any, result: Any) -> None:
        """Fail."""
        raise RuntimeError(f"cannot observe trial {trial.index}")


raising = RaisingAfterTrial()


def options(store: str, executor: dict[str, Any], *plugins: tuple[str, object]) -> RunOptions:
    """Only the toy, executor and the given plugins, in-process."""
    return RunOptions(
        tracking_uri=store,
        autoload_plugins=False,
        extra_plugins=(("toy", toy_plugin), ("executors", executors_plugin), *plugins),
        progress=False,
        executor=executor,
    )


@pytest.mark.parametrize(
    "executor",
    [
        "local",
        pytest.param("processes", marks=pytest.mark.slow),
        pytest.param("ray", marks=pytest.mark.slow),
    ],
)
def test_a_stateful_plugin_counts_the_same_trials_under_every_executor(store, executor):
    if executor == "ray":
        pytest.importorskip("ray")
    result = run_experiment(GRID, options=options(store, EXECUTORS[executor], ("count", counter)))
    assert result.ok and result.count("FINISHED") == N_TRIALS
    assert counter.checked == {
        "before": list(range(N_TRIALS)),
        "after": list(range(N_TRIALS)),
        "results": list(range(N_TRIALS)),
        "in_order": True,
        # every hook ran in this process, none in a worker
        "processes": {os.getpid()},
    }


@pytest.mark.parametrize("executor", ["local", pytest.param("processes", marks=pytest.mark.slow)])
def test_a_raising_after_trial_is_a_plugin_failure_and_the_trials_stay_finished(
    store, executor, capsys
):
    plugins = (("raising", raising), ("count", counter))
    result = run_experiment(GRID, options=options(store, EXECUTORS[executor], *plugins))
    assert result.count("FINISHED") == N_TRIALS and result.ok
    assert sorted(f.trial_index for f in result.plugin_failures) == list(range(N_TRIALS))
    assert {(f.plugin, f.hook) for f in result.plugin_failures} == {("raising", "after_trial")}
    # the other plugin's hooks still ran for every trial
    assert counter.checked is not None and counter.checked["after"] == list(range(N_TRIALS))
    client = MlflowClient(tracking_uri=store)
    for trial in result.trials:
        run = client.get_run(trial.run_id)
        assert run.info.status == "FINISHED"
        tag = run.data.tags["clusterlab.plugin_error.after_trial"]
        assert tag == f"raising: RuntimeError: cannot observe trial {trial.trial.index}"
    assert "warning: plugin 'raising' failed in after_trial for trial 0" in capsys.readouterr().err
