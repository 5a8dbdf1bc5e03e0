"""One store in one place: where a store's artifacts go, refusing a store that is not
there, and what the store holds for the MLflow UI (the experiment's kind, the invocation
each run belongs to, clusterlab's saved view of the runs table), checked through MLflow's
own client."""

from __future__ import annotations

import json
import shutil
import sqlite3
from importlib.metadata import version
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from mlflow.tracking import MlflowClient

import clusterlab.tracking.tags as tags
from clusterlab.errors import TrackingError
from clusterlab.runner import RunOptions, run_experiment
from clusterlab.tracking.schema import seed_new_store
from clusterlab.tracking.store import ReadOnlyStore, Tracker, latest_experiment_name
from clusterlab.tracking.uri import (
    default_artifact_root,
    local_store_path,
    require_existing_store,
    runs_table_url,
    ui_address,
)
from tests.cli_process import run_cli
from tests.core import toy_plugin

EXPERIMENT = {
    "name": "store-test",
    "device": "cpu",
    "seeds": [0, 1],
    "datasets": [{"name": "toy_blobs", "params": {"n_samples": 45}}],
    "algorithms": [{"name": "toy_kmeans", "params": {"n_init": 1}, "grid": {"n_clusters": [2, 3]}}],
    "metrics": ["toy_silhouette"],
}


def run(experiment: dict, store: str):
    """Run ``experiment`` into ``store`` with the toy plugin; every trial must finish."""
    result = run_experiment(
        experiment,
        options=RunOptions(
            tracking_uri=store,
            autoload_plugins=False,
            extra_plugins=(("toy", toy_plugin),),
            progress=False,
        ),
    )
    assert result.ok
    return result


def local_path(artifact_uri: str) -> Path:
    return Path(artifact_uri.removeprefix("file://"))


def test_artifacts_go_beside_a_sqlite_store_named_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_store: Path
) -> None:
    work = tmp_path / "work"
    (work / "elsewhere").mkdir(parents=True)
    shutil.copy(migrated_store, work / "elsewhere" / "s.db")
    monkeypatch.chdir(work)
    result = run(EXPERIMENT, "sqlite:///elsewhere/s.db")

    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'elsewhere' / 's.db'}")
    experiment = client.get_experiment_by_name("store-test")
    beside = work / "elsewhere" / "mlruns" / experiment.experiment_id
    assert local_path(experiment.artifact_location) == beside
    trial_run = result.trials[0].run_id
    artifacts = local_path(client.get_run(trial_run).info.artifact_uri)
    assert artifacts.parents[1] == beside
    assert "labels.npy" in {a.path for a in client.list_artifacts(trial_run)}
    assert (artifacts / "labels.npy").is_file()
    assert not (work / "mlruns").exists()


def test_an_artifact_location_the_user_set_is_kept(store: str, tmp_path: Path) -> None:
    chosen = tmp_path / "chosen-artifacts"
    Tracker(store, "chosen", artifact_location=str(chosen))
    experiment = MlflowClient(tracking_uri=store).get_experiment_by_name("chosen")
    assert local_path(experiment.artifact_location) == chosen


def test_a_new_experiment_opens_as_model_training_and_an_old_one_is_tagged(store: str) -> None:
    client = MlflowClient(tracking_uri=store)
    Tracker(store, "new")
    client.create_experiment("older")  # as a clusterlab without the tag left it
    client.create_experiment("genai", tags={tags.EXPERIMENT_KIND: "genai_development"})
    for name in ("older", "genai"):
        Tracker(store, name)
    kinds = {
        name: client.get_experiment_by_name(name).tags.get(tags.EXPERIMENT_KIND)
        for name in ("new", "older", "genai")
    }
    # a kind someone chose stays
    assert kinds == {
        "new": "custom_model_development",
        "older": "custom_model_development",
        "genai": "genai_development",
    }


@pytest.mark.parametrize(
    ("command", "uri"),
    [
        (["report", "anything"], "sqlite:///missing/mlflow.db"),
        (["ui", "--no-browser"], "sqlite:///missing/mlflow.db"),
        (["ui", "anything", "--no-browser"], "sqlite:///missing/mlflow.db"),
        (["report", "anything"], "file:///{tmp}/missing-store"),
    ],
)
def test_report_and_ui_refuse_a_store_that_does_not_exist(
    command: list[str], uri: str, tmp_path: Path
) -> None:
    uri = uri.format(tmp=tmp_path)
    done = run_cli(*command, "--tracking-uri", uri, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "no MLflow store at" in done.stderr and "clusterlab run" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_require_existing_store_lets_servers_and_existing_stores_through(
    store: str, tmp_path: Path
) -> None:
    require_existing_store(store)
    require_existing_store("http://127.0.0.1:1")
    require_existing_store("sqlite:///:memory:")
    with pytest.raises(TrackingError) as info:
        require_existing_store(f"sqlite:///{tmp_path / 'nope.db'}")
    assert info.value.exit_code == 2


def test_every_run_names_its_invocation_and_the_view_shows_swept_params_and_scores(
    store: str,
) -> None:
    result = run(EXPERIMENT, store)
    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([result.experiment_id])
    parent = client.get_run(result.parent_run_id)
    assert len(runs) == 5
    assert {r.data.tags[tags.INVOCATION] for r in runs} == {parent.info.run_name}

    reader = ReadOnlyStore(store, "store-test")
    assert reader.swept_params() == ["algorithm.n_clusters"]
    assert reader.save_runs_view() == "clusterlab"
    experiment = client.get_experiment(result.experiment_id)
    view = json.loads(experiment.tags["mlflow.sharedViewState.clusterlab"])
    assert view["name"] == "clusterlab"
    state = json.loads(view["state"])
    columns = ["params.`algorithm.n_clusters`", "metrics.`toy_silhouette`", "metrics.`fit_time_s`"]
    assert state["selectedColumns"] == columns
    assert state["columnOrder"][-3:] == columns
    assert state["groupBy"]["groupByKeys"] == [{"mode": "tag", "groupByData": tags.INVOCATION}]
    longest = max(len(r.info.run_name) for r in runs if r.info.run_id != parent.info.run_id)
    assert state["columnWidths"]["attributes.`Run Name`"] >= 7 * longest


def test_a_worker_s_tracker_asks_the_store_for_its_parent_s_name(store: str) -> None:
    driver = Tracker(store, "workers")
    parent = driver.start_run("workers · invocation", {})
    child = Tracker(store, "workers").start_run("a trial", {}, parent_run_id=parent)
    tags_of = MlflowClient(tracking_uri=store).get_run(child).data.tags
    assert tags_of[tags.INVOCATION] == "workers · invocation"
    assert tags_of[tags.PARENT] == parent


def test_the_latest_experiment_is_the_one_run_last(store: str) -> None:
    assert latest_experiment_name(store) is None  # only MLflow's Default
    MlflowClient(tracking_uri=store).create_experiment("someone-else-s")
    assert latest_experiment_name(store) == "someone-else-s"
    one = {**EXPERIMENT, "seeds": [0], "name": "first"}
    one["algorithms"] = [{"name": "toy_kmeans", "params": {"n_init": 1, "n_clusters": 2}}]
    run(one, store)
    run({**one, "name": "second"}, store)
    assert latest_experiment_name(store) == "second"


def test_where_a_local_store_lives(tmp_path: Path) -> None:
    assert local_store_path("sqlite:///mlflow.db") == Path("mlflow.db")
    assert local_store_path(f"sqlite:///{tmp_path}/a%20b.db?timeout=5") == tmp_path / "a b.db"
    assert local_store_path(f"file://{tmp_path}/store") == tmp_path / "store"
    assert local_store_path("./mlruns") == Path("mlruns")
    for remote in ("http://host:5000", "postgresql://u@h/db", "sqlite:///:memory:"):
        assert local_store_path(remote) is None
    assert default_artifact_root(f"sqlite:///{tmp_path}/x/s.db") == str(tmp_path / "x" / "mlruns")
    assert default_artifact_root(f"file://{tmp_path}/store") is None


def test_the_link_opens_the_runs_table_in_the_model_training_pages() -> None:
    link = runs_table_url(ui_address("0.0.0.0", 5001), "7", "clusterlab")
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "127.0.0.1:5001", "/")
    route, _, query = parts.fragment.partition("?")
    assert route == "/experiments/7/runs"
    assert parse_qs(query) == {
        "workflowType": ["machine_learning"],
        "viewStateShareKey": ["clusterlab"],
    }
    assert ui_address("::1", 80) == "http://[::1]:80"


def _contents(db: Path) -> tuple[list[tuple], dict[str, list[tuple]]]:
    """A sqlite file's schema statements and every table's rows (of the experiments only
    ids, names and stages: their times differ)."""
    connection = sqlite3.connect(db)
    # MLflow's migrations write a table's constraints in no fixed order: compare the
    # lines of each statement as a set.
    schema = sorted(
        (kind, name, sorted(line.strip().rstrip(",") for line in (sql or "").splitlines()))
        for kind, name, sql in connection.execute("SELECT type, name, sql FROM sqlite_master")
    )
    rows = {}
    for _, name, _ in schema:
        if _ == "table" and name != "sqlite_sequence":
            rows[name] = sorted(connection.execute(f'SELECT * FROM "{name}"'), key=repr)
    rows["experiments"] = sorted(
        connection.execute("SELECT experiment_id, name, lifecycle_stage FROM experiments")
    )
    connection.close()
    return schema, rows


def test_a_new_store_seeded_from_the_cached_schema_equals_one_mlflow_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLUSTERLAB_CACHE_DIR", str(tmp_path / "cache"))
    migrated = tmp_path / "migrated" / "mlflow.db"
    migrated.parent.mkdir()
    (expected,) = MlflowClient(tracking_uri=f"sqlite:///{migrated}").search_experiments()
    for folder in ("first", "second"):  # the first builds the cached copy, the second uses it
        seeded = tmp_path / folder / "mlflow.db"
        assert seed_new_store(f"sqlite:///{seeded}")
        assert not seed_new_store(f"sqlite:///{seeded}")  # an existing file is left alone
        client = MlflowClient(tracking_uri=f"sqlite:///{seeded}")
        (default,) = client.search_experiments()
        assert default.name == "Default"
        # Where MLflow itself puts the default experiment, not the cache's scratch folder.
        assert default.artifact_location == expected.artifact_location
        assert _contents(seeded) == _contents(migrated)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [
        f"mlflow-{version('mlflow')}-empty.db"
    ]
    run(EXPERIMENT, f"sqlite:///{tmp_path / 'first' / 'mlflow.db'}")


def test_only_a_new_local_sqlite_store_is_seeded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLUSTERLAB_CACHE_DIR", str(tmp_path / "cache"))
    assert not seed_new_store("http://127.0.0.1:5000")
    assert not seed_new_store("sqlite:///:memory:")
    assert not seed_new_store(f"file://{tmp_path / 'mlruns'}")
    assert not (tmp_path / "cache").exists()


def test_a_cache_that_cannot_be_written_leaves_the_new_store_to_mlflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("CLUSTERLAB_CACHE_DIR", str(blocker / "cache"))
    seeded = tmp_path / "store" / "mlflow.db"
    assert not seed_new_store(f"sqlite:///{seeded}")
    assert not seeded.exists() and list(seeded.parent.glob("*")) == []
    run(EXPERIMENT, f"sqlite:///{seeded}")
