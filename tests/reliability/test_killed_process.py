"""A process killed outright (SIGKILL) cannot end its runs; the next run of the same file
ends them, says so, and completes the grid."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from tests.reliability.conftest import clean_env, experiment_runs
from tests.reliability.test_interrupt import GRID

COMMAND = [sys.executable, "-m", "clusterlab.cli", "run", "grid.yaml", "--no-progress"]


def runs(store: str) -> list:
    return experiment_runs(store, "interrupted")


@pytest.mark.slow
def test_runs_of_a_killed_process_are_ended_by_the_next_run(tmp_path):
    (tmp_path / "grid.yaml").write_text(GRID)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    process = subprocess.Popen(
        COMMAND, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env()
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if len([r for r in runs(store) if r.info.status == "FINISHED"]) >= 2:
            break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the grid did not get going in time")
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    left = {r.info.run_id for r in runs(store) if r.info.status == "RUNNING"}
    parent = [r for r in runs(store) if r.data.tags.get("clusterlab.kind") == "experiment"]
    assert len(parent) == 1 and parent[0].info.run_id in left
    assert len(left) == 2  # the parent and the trial that was running

    rerun = subprocess.run(
        COMMAND, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=clean_env()
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"ended parent run {parent[0].info.run_id}" in rerun.stderr
    assert "and 1 trial run left RUNNING" in rerun.stderr
    assert f"process {process.pid}" in rerun.stderr and "no longer exists" in rerun.stderr
    client = MlflowClient(tracking_uri=store)
    for run_id in left:
        assert client.get_run(run_id).info.status == "KILLED"
    ended = client.get_run(parent[0].info.run_id)
    assert "no longer exists" in ended.data.tags["clusterlab.abandoned"]
    assert not [r for r in runs(store) if r.info.status == "RUNNING"]
    finished = {
        r.data.tags["clusterlab.trial_hash"]
        for r in runs(store)
        if r.data.tags.get("clusterlab.kind") == "trial" and r.info.status == "FINISHED"
    }
    assert len(finished) == 20
