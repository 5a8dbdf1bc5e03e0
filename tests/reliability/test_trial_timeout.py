"""``timeout_s``: a trial that hangs is stopped and logged FAILED, and the grid goes on,
under the local executor (the trial's own timer) and the processes executor (the timer
in the worker, and a backstop that stops a worker the timer cannot reach)."""

from __future__ import annotations

import importlib
import time

import pytest
from mlflow.tracking import MlflowClient

from clusterlab.runner import run_experiment
from tests.core.test_runner import child_runs, options
from tests.reliability import hanging_plugin
from tests.reliability.conftest import run_cli


def grid(where: str, executor: str = "local") -> dict:
    return {
        "name": f"timeout-{where}-{executor}",
        "device": "cpu",
        "seeds": [0],
        "timeout_s": 1.0,
        "executor": {"name": executor},
        "datasets": [{"name": "toy_blobs", "params": {"n_samples": 45}}],
        "algorithms": [
            {"name": "hanging", "params": {"seconds": 120, "where": where}},
            {"name": "toy_kmeans", "params": {"n_init": 1, "n_clusters": 3}},
        ],
        "metrics": ["toy_ari"],
    }


def check_one_failed_by_time(store: str, result, reason: str) -> None:
    statuses = {r.trial.algorithm: r.status for r in result.trials}
    assert statuses == {"hanging": "FAILED", "toy_kmeans": "FINISHED"}
    hung = next(r for r in result.trials if r.trial.algorithm == "hanging")
    assert reason in hung.error
    runs = child_runs(store, result.experiment_id)
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"]
    assert MlflowClient(tracking_uri=store).get_run(result.parent_run_id).info.status == "FAILED"


def test_a_hanging_fit_is_stopped_in_process(store):
    started = time.monotonic()
    extra = (("hanging", hanging_plugin),)
    result = run_experiment(grid("python"), options=options(store, extra=extra))
    assert time.monotonic() - started < 60  # a guard: the fit alone would sleep 120 s
    check_one_failed_by_time(store, result, "TrialTimeout: the trial ran past timeout_s=1")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("python", "TrialTimeout: the trial ran past timeout_s=1"),
        ("native", "ran past timeout_s=1 (and 10 s of grace) without returning"),
    ],
)
def test_a_hanging_fit_is_stopped_on_a_worker(store, where, reason):
    executors = importlib.import_module("clusterlab_executors.plugin")
    extra = (("hanging", hanging_plugin), ("executors", executors))
    result = run_experiment(grid(where, "processes"), options=options(store, extra=extra))
    check_one_failed_by_time(store, result, reason)


@pytest.mark.parametrize("value", ["0", "-1", "abc", ".inf"])
def test_a_bad_timeout_is_refused_with_its_line(tmp_path, value):
    (tmp_path / "bad.yaml").write_text(
        "name: bad\n"
        "datasets:\n  - name: blobs\n"
        "algorithms:\n  - name: kmeans\n"
        f"timeout_s: {value}\n"
    )
    result = run_cli("validate", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "bad.yaml:6: timeout_s" in result.stderr
    assert "Traceback" not in result.stderr
