"""A stop signal or a failing store after the last trial, while the parent run is being
closed: the parent ends KILLED or FAILED, never RUNNING; and a signal that Python drops
still stops the grid."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import types

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from clusterlab import hookimpl
from clusterlab.errors import TrackingError
from clusterlab.runner import run_experiment
from clusterlab.tracking import Tracker
from tests.core.test_runner import options
from tests.reliability.conftest import experiment_runs

GRID = {
    "name": "late-signals",
    "device": "cpu",
    "seeds": [0, 1],
    "datasets": [{"name": "toy_blobs", "params": {"n_samples": 45}}],
    "algorithms": [{"name": "toy_kmeans", "params": {"n_init": 1}, "grid": {"n_clusters": [2]}}],
    "metrics": ["toy_silhouette", "toy_ari"],
}
N_TRIALS = 2


def all_runs(store: str) -> list:
    return experiment_runs(store, GRID["name"])


def parent_statuses(store: str) -> list[str]:
    runs = all_runs(store)
    return [r.info.status for r in runs if r.data.tags.get("clusterlab.kind") == "experiment"]


@pytest.fixture
def outer_sigint():
    """A SIGINT handler of the test's own around each run, so that a signal arriving
    after the runner has restored the handlers is counted instead of stopping pytest."""
    late: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: late.append(signum))
    yield late
    signal.signal(signal.SIGINT, previous)


def _run(store: str, plugin: types.SimpleNamespace) -> str:
    """Run the grid with ``plugin``; ``"interrupted"`` or ``"returned"``."""
    try:
        run_experiment(GRID, options=options(store, extra=(("late", plugin),)))
    except KeyboardInterrupt:
        return "interrupted"
    return "returned"


def _signal_self() -> None:
    os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize(
    "point", ["after_last_trial", "after_experiment", "in_a_plot_of_the_summary"]
)
def test_a_signal_while_closing_leaves_nothing_running(store, outer_sigint, point, monkeypatch):
    seen: list[int] = []

    def after_trial(trial, result):
        seen.append(trial.index)
        if point == "after_last_trial" and len(seen) == N_TRIALS:
            _signal_self()

    def after_experiment(experiment, results):
        if point == "after_experiment":
            _signal_self()

    if point == "in_a_plot_of_the_summary":
        log_figure = Tracker.log_figure

        def signalling_log_figure(self, run_id, figure, path):
            if path.startswith("summary/"):
                _signal_self()
            return log_figure(self, run_id, figure, path)

        monkeypatch.setattr(Tracker, "log_figure", signalling_log_figure)
    plugin = types.SimpleNamespace(
        after_trial=hookimpl(after_trial), after_experiment=hookimpl(after_experiment)
    )
    assert _run(store, plugin) == "interrupted"
    # after_experiment runs once the parent is closed, with its summary complete
    assert parent_statuses(store) == ["FINISHED" if point == "after_experiment" else "KILLED"]
    assert not [r for r in all_runs(store) if r.info.status == "RUNNING"]
    # the trials themselves had finished and stay so
    trials = [r for r in all_runs(store) if r.data.tags.get("clusterlab.kind") == "trial"]
    assert [r.info.status for r in trials] == ["FINISHED"] * N_TRIALS
    assert not outer_sigint


@pytest.mark.slow
@pytest.mark.parametrize("delay_s", [0.0, 0.01, 0.03, 0.06, 0.1, 0.15, 0.25, 0.4, 0.6, 1.0])
def test_a_signal_at_any_moment_after_the_last_trial_leaves_nothing_running(
    store, outer_sigint, delay_s
):
    timers: list[threading.Timer] = []

    def after_trial(trial, result):
        if trial.index == N_TRIALS - 1:
            timer = threading.Timer(delay_s, _signal_self)
            timers.append(timer)
            timer.start()

    outcome = _run(store, types.SimpleNamespace(after_trial=hookimpl(after_trial)))
    for timer in timers:
        timer.join()
    assert not [r for r in all_runs(store) if r.info.status == "RUNNING"]
    statuses = parent_statuses(store)
    if outcome == "interrupted":
        assert statuses == ["KILLED"]
    else:  # the signal came after the runner had finished and restored the handlers
        assert statuses == ["FINISHED"] and outer_sigint == [signal.SIGINT]


def test_a_dropped_interrupt_still_stops_the_grid_after_the_trial(store, outer_sigint):
    def before_trial(trial):
        if trial.index == 0:
            # swallowed, as when it lands in a garbage collector's callback
            with contextlib.suppress(KeyboardInterrupt):
                _signal_self()

    plugin = types.SimpleNamespace(before_trial=hookimpl(before_trial))
    assert _run(store, plugin) == "interrupted"
    trials = [r for r in all_runs(store) if r.data.tags.get("clusterlab.kind") == "trial"]
    assert len(trials) == 1  # the second trial never started
    assert parent_statuses(store) == ["KILLED"]
    assert not [r for r in all_runs(store) if r.info.status == "RUNNING"]


def test_a_summary_the_store_refuses_ends_the_parent_failed(store, monkeypatch):
    def full_disk(self, run_id, frame, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Tracker, "log_table", full_disk)
    with pytest.raises(TrackingError, match="No space left on device") as raised:
        run_experiment(GRID, options=options(store))
    assert "summary could not be written" in str(raised.value)
    assert parent_statuses(store) == ["FAILED"]
    assert not [r for r in all_runs(store) if r.info.status == "RUNNING"]
    # a rerun has nothing to run, and writes the summary on a parent of its own
    monkeypatch.undo()
    again = run_experiment(GRID, options=options(store))
    assert again.count("SKIPPED") == N_TRIALS
    assert sorted(parent_statuses(store)) == ["FAILED", "FINISHED"]


@pytest.fixture
def signal_after_first_metrics_insert():
    """SIGINT to this process just after sqlite has run the first INSERT of a trial's
    metrics, inside MLflow's open transaction (the moment a Ctrl-C most often lands in a
    quick grid); ``fired`` says whether it did."""
    fired: list[str] = []

    def after_execute(conn, cursor, statement, parameters, context, executemany):
        if not fired and statement.lstrip().upper().startswith("INSERT INTO METRICS"):
            fired.append(statement)
            _signal_self()

    event.listen(Engine, "after_cursor_execute", after_execute)
    yield fired
    event.remove(Engine, "after_cursor_execute", after_execute)


def test_a_signal_inside_a_store_write_still_ends_every_run(
    store, outer_sigint, signal_after_first_metrics_insert
):
    # Cut in the middle, the statement would keep the store's lock while the runner
    # tries to end the runs, and each of those writes would be refused as locked.
    assert _run(store, types.SimpleNamespace()) == "interrupted"
    assert signal_after_first_metrics_insert
    assert not [r for r in all_runs(store) if r.info.status == "RUNNING"]
    assert parent_statuses(store) == ["KILLED"]
    trials = [r for r in all_runs(store) if r.data.tags.get("clusterlab.kind") == "trial"]
    # the write that the signal arrived in went through, and then the trial stopped
    assert [r.info.status for r in trials] == ["KILLED"]
    assert trials[0].data.metrics
    assert not outer_sigint
