"""Faulty plugins and faulty stores: named clearly, contained to what they touch."""

from __future__ import annotations

import json
import subprocess
import sys

from mlflow.tracking import MlflowClient

from tests.reliability.conftest import SMALL, clean_env, install_fake_distribution, run_cli

BROKEN = "raise ImportError('needs a library that is not installed')\n"
FAILING_FIT = """
from clusterlab import hookimpl

class Fails:
    def __init__(self, n_clusters=2):
        self.n_clusters = n_clusters

    def fit(self, X):
        raise ValueError("this estimator always fails")

@hookimpl
def register_algorithms(register):
    register("always_fails", Fails)
"""


def statuses(store: str, name: str) -> list[str]:
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return sorted(r.info.status for r in runs if r.data.tags.get("clusterlab.kind") == "trial")


def test_plugin_that_fails_to_import_is_listed_broken_and_the_rest_work(workdir):
    site = workdir / "site"
    install_fake_distribution(site, "shaky", BROKEN)
    listing = run_cli("plugins", "--json", cwd=workdir, extra_path=site)
    assert listing.returncode == 0
    data = json.loads(listing.stdout)
    assert data["broken"] == [
        {
            "plugin": "shaky",
            "distribution": "shaky-dist",
            "error": "ImportError: needs a library that is not installed",
        }
    ]
    assert any(row["name"] == "kmeans" for row in data["registered"])
    table = run_cli("plugins", cwd=workdir, extra_path=site)
    assert "broken plugin 'shaky' (shaky-dist)" in " ".join(table.stdout.split())
    assert run_cli("run", "small.yaml", cwd=workdir, extra_path=site).returncode == 0


def test_plugin_raising_in_fit_fails_only_its_trials(workdir):
    site = workdir / "site"
    install_fake_distribution(site, "flaky", FAILING_FIT)
    text = SMALL.replace("metrics:", "  - name: always_fails\nmetrics:")
    (workdir / "small.yaml").write_text(text)
    result = run_cli("run", "small.yaml", cwd=workdir, extra_path=site)
    assert result.returncode == 1
    assert "1 failed" in result.stdout
    assert "FAILED always_fails" in result.stderr and "always fails" in result.stderr
    assert statuses(f"sqlite:///{workdir / 'mlflow.db'}", "small") == [
        "FAILED",
        "FINISHED",
        "FINISHED",
    ]


def test_unreachable_tracking_server_is_reported_before_any_trial(workdir):
    result = run_cli("run", "small.yaml", "--tracking-uri", "http://127.0.0.1:9", cwd=workdir)
    assert result.returncode == 2
    assert "the MLflow tracking server http://127.0.0.1:9 does not answer" in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_store_is_reported_before_any_trial(workdir):
    blocker = workdir / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    uri = f"sqlite:///{blocker / 'mlflow.db'}"
    result = run_cli("run", "small.yaml", "--tracking-uri", uri, cwd=workdir)
    assert result.returncode == 2
    assert f"cannot use the MLflow tracking store '{uri}'" in result.stderr


UNSAVABLE_PLOT = """
from matplotlib.figure import Figure
from clusterlab import hookimpl

class UnsavableFigure(Figure):
    def savefig(self, *args, **kwargs):
        raise OSError("No space left on device")

def unsavable(trial):
    figure = UnsavableFigure()
    figure.add_subplot().plot([0, 1])
    return figure

@hookimpl
def register_plots(register):
    register("unsavable", unsavable)
"""


def test_artifact_that_cannot_be_written_fails_the_trial_visibly(workdir):
    site = workdir / "site"
    install_fake_distribution(site, "unsavable", UNSAVABLE_PLOT)
    (workdir / "small.yaml").write_text(SMALL + "plots: [unsavable]\n")
    result = run_cli("run", "small.yaml", cwd=workdir, extra_path=site)
    assert result.returncode == 1
    assert "2 failed" in result.stdout
    assert "No space left on device" in result.stderr
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    assert statuses(store, "small") == ["FAILED", "FAILED"]


def test_unwritable_artifact_store_stops_before_any_trial(workdir):
    blocker = workdir / "artifacts-file"
    blocker.write_text("a file where the artifact folder should be")
    text = SMALL + f"tracking:\n  artifact_location: {blocker / 'inner'}\n"
    (workdir / "small.yaml").write_text(text)
    result = run_cli("run", "small.yaml", cwd=workdir)
    assert result.returncode == 2
    assert "cannot write the parent run's artifacts" in result.stderr
    assert "Traceback" not in result.stderr
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("small")
    runs = client.search_runs([experiment.experiment_id])
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]
    assert statuses(f"sqlite:///{workdir / 'mlflow.db'}", "small") == []


def test_two_runs_started_together_on_a_fresh_store_both_finish(workdir):
    (workdir / "other.yaml").write_text(SMALL.replace("name: small", "name: other"))
    env_python = sys.executable
    procs = [
        subprocess.Popen(
            [env_python, "-m", "clusterlab.cli", "run", name, "--no-progress"],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        for name in ("small.yaml", "other.yaml")
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    assert statuses(store, "small") == ["FINISHED", "FINISHED"]
    assert statuses(store, "other") == ["FINISHED", "FINISHED"]


MALFORMED = """
from clusterlab import hookimpl

@hookimpl
def register_metrics(register):
    register("no_direction", lambda X, labels, y, estimator: 0.0)
"""


def test_malformed_registration_is_listed_broken_with_a_message_for_its_author(workdir):
    site = workdir / "site"
    install_fake_distribution(site, "sloppy", MALFORMED)
    data = json.loads(run_cli("plugins", "--json", cwd=workdir, extra_path=site).stdout)
    broken = {item["plugin"]: item for item in data["broken"]}
    assert broken["sloppy"]["distribution"] == "sloppy-dist"
    assert "without greater_is_better" in broken["sloppy"]["error"]
    assert not any(row["name"] == "no_direction" for row in data["registered"])
    assert run_cli("run", "small.yaml", cwd=workdir, extra_path=site).returncode == 0
