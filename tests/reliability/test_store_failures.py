"""A tracking server that dies mid-grid: the run exits 2 within two minutes, naming the
server and what it kept, and once a server is back the same command ends the runs left
RUNNING and completes the grid."""

from __future__ import annotations

import os
import signal
import time

import pytest
import sqlalchemy.exc
from mlflow.tracking import MlflowClient

from clusterlab.errors import TrackingError
from clusterlab.runner import run_experiment
from clusterlab.tracking import Tracker
from tests.core.test_runner import EXPERIMENT, options
from tests.mlflow_server import started_mlflow_server
from tests.reliability.conftest import experiment_runs, kmeans_grid, run_cli, start_cli

GRID = kmeans_grid("server-dies", 4, 20000, 5, 2, [2, 3, 4, 5, 6])
N_TRIALS = 20


def trial_runs(url: str) -> list:
    return experiment_runs(url, "server-dies", kind="trial")


def run_args(url: str) -> list[str]:
    return ["run", "grid.yaml", "--no-progress", "--tracking-uri", url]


@pytest.mark.e2e
def test_a_server_that_dies_mid_grid_is_reported_not_waited_on(tmp_path):
    (tmp_path / "grid.yaml").write_text(GRID)
    store = f"sqlite:///{tmp_path / 'server.db'}"
    with started_mlflow_server(store, tmp_path, tmp_path / "server.log") as server:
        server.wait_until_up(timeout_s=120)
        process = start_cli(*run_args(server.url), cwd=tmp_path)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if sum(r.info.status == "FINISHED" for r in trial_runs(server.url)) >= 3:
                break
            time.sleep(0.3)
        else:
            process.kill()
            pytest.fail("the grid did not get going in time")
        kept = sum(r.info.status == "FINISHED" for r in trial_runs(server.url))
        os.killpg(server.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        _out, err = process.communicate(timeout=300)
        waited = time.monotonic() - killed_at
    assert process.returncode == 2, err
    assert waited < 120, f"the run took {waited:.0f} s to give up"
    assert f"the tracking store {server.url} failed while the grid ran" in err
    assert "Kept there: the" in err and "Traceback" not in err

    with started_mlflow_server(store, tmp_path, tmp_path / "server2.log") as again:
        again.wait_until_up(timeout_s=120)
        assert sum(r.info.status == "FINISHED" for r in trial_runs(again.url)) >= kept
        rerun = run_cli(*run_args(again.url), cwd=tmp_path, timeout=600)
        assert rerun.returncode == 0, rerun.stderr
        assert "left RUNNING" in rerun.stderr
        runs = trial_runs(again.url)
        finished = {
            r.data.tags["clusterlab.trial_hash"] for r in runs if r.info.status == "FINISHED"
        }
        assert len(finished) == N_TRIALS
        assert not [r for r in runs if r.info.status == "RUNNING"]


SHARED_GRID = kmeans_grid("shared-work", 3, 8000, 4, 2, [2, 3, 4, 5], max_iter=50)


@pytest.mark.e2e
def test_concurrent_invocations_of_one_file_run_each_trial_once(tmp_path):
    (tmp_path / "grid.yaml").write_text(SHARED_GRID)
    store = f"sqlite:///{tmp_path / 'server.db'}"
    with started_mlflow_server(store, tmp_path, tmp_path / "server.log") as server:
        server.wait_until_up(timeout_s=120)
        processes = [start_cli(*run_args(server.url), cwd=tmp_path) for _ in range(4)]
        outputs = [process.communicate(timeout=600) for process in processes]
        for process, (_out, err) in zip(processes, outputs, strict=True):
            assert process.returncode == 0, err
        client = MlflowClient(tracking_uri=server.url)
        experiments = [e for e in client.search_experiments() if e.name == "shared-work"]
        assert len(experiments) == 1  # the creation race left one experiment
        runs = client.search_runs([experiments[0].experiment_id], max_results=1000)
    trials = [r for r in runs if r.data.tags.get("clusterlab.kind") == "trial"]
    hashes = [r.data.tags["clusterlab.trial_hash"] for r in trials]
    assert len(hashes) == 12 and len(set(hashes)) == 12  # each trial ran once
    assert all(r.info.status == "FINISHED" for r in trials)
    # the invocations overlapped and shared the grid (else this test shows nothing)
    assert len({r.data.tags["mlflow.parentRunId"] for r in trials}) >= 2
    parents = [r for r in runs if r.data.tags.get("clusterlab.kind") == "experiment"]
    assert all(p.info.status == "FINISHED" for p in parents)


@pytest.mark.parametrize(
    "error",
    [
        "attempt to write a readonly database",
        "database or disk is full",
    ],
)
def test_a_store_that_refuses_writes_mid_grid_is_reported(store, monkeypatch, error):

    start_run = Tracker.start_run
    started: list[str] = []

    def failing_start_run(self, run_name, tags, parent_run_id=None):
        if parent_run_id is not None and len(started) == 2:
            raise sqlalchemy.exc.OperationalError("INSERT INTO runs", {}, Exception(error))
        started.append(run_name)
        return start_run(self, run_name, tags, parent_run_id)

    monkeypatch.setattr(Tracker, "start_run", failing_start_run)
    with pytest.raises(TrackingError) as raised:
        run_experiment(EXPERIMENT, options=options(store))
    message = str(raised.value)
    assert f"the tracking store {store} failed while the grid ran" in message
    assert error in message and "Kept there: the 1 trial(s) this run finished" in message
