"""Ctrl-C (SIGINT) and SIGTERM in the middle of a grid: nothing left RUNNING, and a rerun
adds exactly the missing trials."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.reliability.conftest import clean_env, experiment_runs, kmeans_grid, start_cli

GRID = kmeans_grid("interrupted", 4, 30000, 5, 3, [2, 3, 4, 5, 6])


def runs(store: str) -> list:
    return experiment_runs(store, "interrupted")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_then_rerun_completes_exactly_the_missing_trials(tmp_path, signum):
    (tmp_path / "grid.yaml").write_text(GRID)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    process = start_cli("run", "grid.yaml", "--no-progress", cwd=tmp_path)
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
