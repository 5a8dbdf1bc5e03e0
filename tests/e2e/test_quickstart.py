"""The quickstart and the example plugin, end to end through the installed CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "clusterlab.cli"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def trial_runs(store: str, name: str) -> tuple[list, list]:
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("clusterlab.kind") == "experiment"]
    children = [r for r in runs if r.data.tags.get("clusterlab.kind") == "trial"]
    return parents, children


@pytest.mark.e2e
def test_quickstart_logs_a_parent_and_finished_children_and_rerun_adds_nothing(tmp_path):
    shutil.copy(ROOT / "experiments" / "quickstart.yaml", tmp_path)
    first = cli("run", "quickstart.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "7 finished" in first.stdout and "clusterlab ui" in first.stdout
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parents, children = trial_runs(store, "quickstart")
    assert len(parents) == 1 and len(children) == 7
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)
    assert all(c.info.status == "FINISHED" for c in children)
    client = MlflowClient(tracking_uri=store)
    for child in children:
        assert {"dataset.n_samples", "algorithm.n_clusters", "seed", "device", "dtype"} <= set(
            child.data.params
        )
        artifacts = [a.path for a in client.list_artifacts(child.info.run_id, "plots")]
        assert artifacts == ["plots/scatter.png"]
        if "silhouette" not in child.data.metrics:
            # one cluster found: the score is undefined and the run says why
            assert child.data.metrics["n_clusters_found"] == 1
            assert "clusterlab.undefined.silhouette" in child.data.tags
    kmeans = [c for c in children if c.data.params["algorithm"] == "kmeans"]
    assert len(kmeans) == 5 and all("silhouette" in c.data.metrics for c in kmeans)
    # the same param columns for every child in MLflow's own table
    import mlflow

    frame = mlflow.MlflowClient(tracking_uri=store).search_runs(
        [children[0].info.experiment_id], filter_string="tags.`clusterlab.kind` = 'trial'"
    )
    assert len({frozenset(run.data.params) for run in frame}) == 1

    second = cli("run", "quickstart.yaml", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 finished" in second.stdout and "7 skipped" in second.stdout
    assert len(trial_runs(store, "quickstart")[1]) == 7


@pytest.mark.e2e
def test_example_plugin_installed_with_pip_is_found_and_runs(tmp_path):
    package = ROOT / "examples" / "clusterlab-example-plugin"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", str(package)]
    subprocess.run(pip, check=True, capture_output=True, timeout=600)
    try:
        listing = json.loads(cli("plugins", "--json", cwd=tmp_path).stdout)
        rows = {(r["kind"], r["name"]): r for r in listing["registered"]}
        for key in [
            ("algorithm", "farthest_first"),
            ("dataset", "spirals"),
            ("metric", "size_balance"),
        ]:
            assert rows[key]["distribution"] == "clusterlab-example-plugin"
            assert rows[key]["version"] == "0.1.0"
        assert rows[("algorithm", "kmeans")]["distribution"] == "clusterlab"
        shutil.copy(package / "experiment.yaml", tmp_path)
        result = cli("run", "experiment.yaml", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "8 finished" in result.stdout
        _parents, children = trial_runs(f"sqlite:///{tmp_path / 'mlflow.db'}", "example-plugin")
        farthest = [c for c in children if c.data.params["algorithm"] == "farthest_first"]
        assert len(farthest) == 4
        assert all({"size_balance", "adjusted_rand"} <= set(c.data.metrics) for c in farthest)
        assert {c.data.tags["clusterlab.plugin_distribution"] for c in farthest} == {
            "clusterlab-example-plugin"
        }
    finally:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "uninstall",
                "--yes",
                "--quiet",
                "clusterlab-example-plugin",
            ],
            check=False,
            capture_output=True,
        )
