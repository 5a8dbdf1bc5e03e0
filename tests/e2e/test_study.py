"""The example studies end to end through the CLI: the bundled one as shipped, the
battery one on a battery folder made for the test, and the study report of each."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.cli_process import run_cli
from tests.studies.battery_folder import make_battery

ROOT = Path(__file__).resolve().parents[2]
STUDY_FILES = [
    "table.csv",
    "chosen.csv",
    "ranks.csv",
    "tests.json",
    "posthoc.csv",
    "critical_difference.png",
    "stability.csv",
]


def parent_of(store: str, name: str):
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    (parent,) = [r for r in runs if r.data.tags.get("clusterlab.kind") == "experiment"]
    return client, parent


@pytest.mark.e2e
def test_the_bundled_example_study_runs_and_reports(tmp_path: Path) -> None:
    shutil.copy(ROOT / "experiments" / "benchmark_study.yaml", tmp_path)
    ran = run_cli("run", "benchmark_study.yaml", "--no-progress", cwd=tmp_path, timeout=1200)
    assert ran.returncode == 0, ran.stderr
    assert "0 failed" in ran.stdout
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client, parent = parent_of(store, "benchmark-study")
    listed = {a.path for a in client.list_artifacts(parent.info.run_id, "summary/study")}
    assert listed == {f"summary/study/{name}" for name in STUDY_FILES}
    tests = json.loads(
        Path(
            client.download_artifacts(parent.info.run_id, "summary/study/tests.json", tmp_path)
        ).read_text()
    )
    algorithms = ["kmeans", "gmm", "ward", "average", "complete", "single", "dbscan", "hdbscan"]
    assert list(tests["mean_ranks"]) == algorithms
    assert len(tests["datasets"]) == 6 and tests["friedman_p_value"] is not None

    shown = run_cli(
        "report",
        "benchmark_study.yaml",
        "--study",
        "normalized_clustering_accuracy",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    # The file's study block sets the rule the report follows.
    assert report["missing"] == "worst" and report["mean_ranks"] == tests["mean_ranks"]
    assert report["friedman_p_value"] == pytest.approx(tests["friedman_p_value"])
    assert {row["algorithm"] for row in report["stability"]} == set(algorithms)
    markdown = run_cli(
        "report",
        "benchmark_study.yaml",
        "--study",
        "adjusted_rand",
        "--select-by",
        "normalized_clustering_accuracy",
        "--format",
        "markdown",
        cwd=tmp_path,
    )
    assert markdown.returncode == 0, markdown.stderr
    assert "| mean rank |" in markdown.stdout and "Stability across seeds" in markdown.stdout
    wrong = run_cli("report", "benchmark_study.yaml", "--study", "silhouette", cwd=tmp_path)
    assert wrong.returncode != 0 and "no score 'silhouette'" in wrong.stderr
    stray = run_cli("report", "benchmark_study.yaml", "--posthoc", "nemenyi", cwd=tmp_path)
    assert stray.returncode != 0 and "--posthoc applies only with --study" in stray.stderr


@pytest.mark.e2e
def test_the_battery_example_study_runs_on_a_battery_folder(tmp_path: Path) -> None:
    battery = make_battery(tmp_path / "batteries")
    study = yaml.safe_load((ROOT / "experiments" / "battery_study.yaml").read_text())
    # The same study, on the test's own battery: its datasets in place of the real ones.
    study["datasets"] = [
        {
            "name": "battery",
            "params": {"battery": "toy", "benchmark_preprocess": True},
            "grid": {"name": ["fourblobs", "line"]},
            "data_seed": 0,
        }
    ]
    study["seeds"] = [0, 1]
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    env = {**os.environ, "CLUSTERLAB_BATTERY_PATH": str(battery)}
    ran = run_cli("run", "study.yaml", "--no-progress", cwd=tmp_path, env=env, timeout=1200)
    assert ran.returncode == 0, ran.stderr
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client, parent = parent_of(store, "battery-study")
    experiment = client.get_experiment_by_name("battery-study")
    trials = [
        r
        for r in client.search_runs([experiment.experiment_id], max_results=1000)
        if r.data.tags.get("clusterlab.kind") == "trial"
    ]
    kmeans = sorted(
        (
            r.data.params["dataset.name"],
            r.data.params["algorithm.n_clusters"],
            r.data.params["seed"],
        )
        for r in trials
        if r.data.params["algorithm"] == "kmeans"
    )
    # fourblobs has references of 3 and 4 clusters, line one of 2: one trial per count.
    assert kmeans == [
        ("fourblobs", "3", "0"),
        ("fourblobs", "3", "1"),
        ("fourblobs", "4", "0"),
        ("fourblobs", "4", "1"),
        ("line", "2", "0"),
        ("line", "2", "1"),
    ]
    listed = {a.path for a in client.list_artifacts(parent.info.run_id, "summary/study")}
    assert "summary/study/critical_difference.png" in listed


@pytest.mark.e2e
def test_the_kmeans_gmm_spectral_study_runs_and_its_twins_agree(tmp_path: Path) -> None:
    """Every trial of the three-method study finishes, and on every dataset the torch
    K-Means and spectral clustering score within 0.01 adjusted Rand of scikit-learn's
    (the mixtures start from other random numbers, so only their ranks are shown)."""
    shutil.copy(ROOT / "experiments" / "kmeans_gmm_spectral.yaml", tmp_path)
    ran = run_cli("run", "kmeans_gmm_spectral.yaml", "--no-progress", cwd=tmp_path, timeout=1200)
    assert ran.returncode == 0, ran.stderr
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client, parent = parent_of(store, "kmeans-gmm-spectral")
    runs = client.search_runs([parent.info.experiment_id], max_results=1000)
    trials = [r for r in runs if r.data.tags.get("clusterlab.kind") == "trial"]
    assert len(trials) == 96 and {r.info.status for r in trials} == {"FINISHED"}
    table = json.loads(
        run_cli(
            "report",
            "kmeans_gmm_spectral.yaml",
            "--study",
            "adjusted_rand",
            "--format",
            "json",
            cwd=tmp_path,
        ).stdout
    )
    assert len(table["table"]) == 8
    for row in table["table"]:
        for method in ("kmeans", "spectral"):
            torch_score, sklearn_score = row[f"{method} (torch)"], row[f"{method} (sklearn)"]
            assert abs(torch_score - sklearn_score) < 0.01, (row["dataset"], method)
