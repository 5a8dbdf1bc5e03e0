"""Ctrl-C (SIGINT) and SIGTERM in the middle of a grid: nothing left RUNNING, and a rerun
adds exactly the missing trials."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from tests.reliability.conftest import clean_env

GRID = """\
name: interrupted
device: cpu
seeds: [0, 1, 2, 3]
datasets:
  - name: blobs
    params: {n_samples: 30000, n_features: 8, centers: 5}
algorithms:
  - name: kmeans
    params: {n_init: 3, max_iter: 100, tol: 0.0}
    grid:
      n_clusters: [2, 3, 4, 5, 6]
"""


def runs(store: str) -> list:
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("interrupted")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], max_results=1000)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_then_rerun_completes_exactly_the_missing_trials(tmp_path, signum):
    (tmp_path / "grid.yaml").write_text(GRID)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    process = subprocess.Popen(
        [sys.executable, "-m", "clusterlab.cli", "run", "grid.yaml", "--no-progress"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        finished = [r for r in runs(store) if r.info.status == "FINISHED"]
        if len(finished) >= 3:
            break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the grid did not get going in time")
    process.send_signal(signum)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "run the same command again" in err
    before = runs(store)
    assert not [r for r in before if r.info.status == "RUNNING"]
    trials = [r for r in before if r.data.tags.get("clusterlab.kind") == "trial"]
    done = {r.data.tags["clusterlab.trial_hash"] for r in trials if r.info.status == "FINISHED"}
    assert 3 <= len(done) < 20
    parent = [r for r in before if r.data.tags.get("clusterlab.kind") == "experiment"]
    assert [p.info.status for p in parent] == ["KILLED"]

    rerun = subprocess.run(
        [sys.executable, "-m", "clusterlab.cli", "run", "grid.yaml", "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=clean_env(),
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"{20 - len(done)} finished" in rerun.stdout
    after = [r for r in runs(store) if r.data.tags.get("clusterlab.kind") == "trial"]
    new = [r for r in after if r.info.run_id not in {t.info.run_id for t in trials}]
    assert len(new) == 20 - len(done)
    assert not {r.data.tags["clusterlab.trial_hash"] for r in new} & done
    finished = {r.data.tags["clusterlab.trial_hash"] for r in after if r.info.status == "FINISHED"}
    assert len(finished) == 20
    assert not [r for r in runs(store) if r.info.status == "RUNNING"]
