"""The ``battery`` dataset, the scores against several references, ``n_clusters:
reference`` and ``data_seed``, checked against the clustering-benchmarks package's own
loader and scoring and against scikit-learn, on runs read back with MLflow's client."""

from __future__ import annotations

import json
from pathlib import Path

import clustbench
import numpy as np
import pytest
from genieclust.compare_partitions import normalized_clustering_accuracy
from mlflow.tracking import MlflowClient
from sklearn.metrics import adjusted_rand_score

from clusterlab.errors import ExperimentError
from clusterlab.runner import RunOptions, prepare, run_experiment
from clusterlab_datasets.battery import load_battery
from tests.studies.battery_folder import make_battery


@pytest.fixture
def battery(tmp_path: Path) -> Path:
    return make_battery(tmp_path / "batteries")


def finished_trials(store: str, experiment_id: str) -> list:
    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([experiment_id], max_results=1000)
    return [
        run
        for run in runs
        if run.data.tags.get("clusterlab.kind") == "trial" and run.info.status == "FINISHED"
    ]


def labels_of(store: str, run) -> np.ndarray:
    client = MlflowClient(tracking_uri=store)
    return np.load(client.download_artifacts(run.info.run_id, "labels.npy"))


def test_the_loader_gives_the_package_data_and_every_reference_with_noise_as_minus_one(
    battery: Path,
) -> None:
    X, references = load_battery("toy", "fourblobs", path=str(battery))
    reference = clustbench.load_dataset("toy", "fourblobs", path=str(battery), preprocess=False)
    np.testing.assert_array_equal(X, reference.data)
    assert len(references) == 2
    for ours, theirs in zip(references, reference.labels, strict=True):
        np.testing.assert_array_equal(ours, theirs - 1)
    assert (references[0] == -1).sum() == 20


def test_the_folder_comes_from_the_environment(
    battery: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLUSTERLAB_BATTERY_PATH", str(battery))
    X, references = load_battery("toy", "line")
    assert X.shape == (60, 2) and len(references) == 1


@pytest.mark.parametrize(
    ("battery_name", "name", "message"),
    [
        ("nope", "line", "no battery 'nope' in .*; the batteries there are: toy"),
        ("toy", "lines", "no dataset 'lines' in the battery 'toy'.*it holds: fourblobs, line"),
    ],
)
def test_unknown_names_say_what_there_is(
    battery: Path, battery_name: str, name: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_battery(battery_name, name, path=str(battery))


def test_without_a_folder_the_message_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLUSTERLAB_BATTERY_PATH", raising=False)
    with pytest.raises(ValueError, match="CLUSTERLAB_BATTERY_PATH"):
        load_battery("toy", "line")


def test_a_missing_battery_fails_validation_naming_the_entry(tmp_path: Path) -> None:
    grid = {
        "name": "missing-battery",
        "datasets": [{"name": "battery", "params": {"battery": "toy", "name": "x", "path": "no"}}],
        "algorithms": [{"name": "kmeans", "params": {"n_clusters": "reference"}}],
    }
    with pytest.raises(ExperimentError, match=r"datasets\[0\] \('battery'\).*does not exist"):
        prepare(grid, options=RunOptions(tracking_uri=f"sqlite:///{tmp_path}/x.db"))


def test_external_scores_are_the_best_over_references_without_their_noise(
    battery: Path, store: str
) -> None:
    grid = {
        "name": "references",
        "seeds": [0, 1],
        "datasets": [
            {
                "name": "battery",
                "params": {"battery": "toy", "name": "fourblobs", "path": str(battery)},
            }
        ],
        "algorithms": [{"name": "kmeans", "grid": {"n_clusters": [3, 4]}}],
        "metrics": ["adjusted_rand", "normalized_clustering_accuracy"],
    }
    result = run_experiment(grid, options=RunOptions(tracking_uri=store, progress=False))
    runs = finished_trials(store, result.experiment_id)
    assert len(runs) == 4
    package = clustbench.load_dataset("toy", "fourblobs", path=str(battery), preprocess=False)
    client = MlflowClient(tracking_uri=store)
    for run in runs:
        labels = labels_of(store, run)
        k = int(run.data.params["algorithm.n_clusters"])
        # The package's own scoring: each reference against the k-partition of its own
        # number of clusters, noise points left out, the maximum over the references.
        expected_nca = clustbench.get_score(package.labels, {k: labels + 1}, warn_if_missing=False)
        assert run.data.metrics["normalized_clustering_accuracy"] == pytest.approx(expected_nca)
        expected_ari = max(
            adjusted_rand_score(truth[truth > 0], labels[truth > 0]) for truth in package.labels
        )
        assert run.data.metrics["adjusted_rand"] == pytest.approx(expected_ari)
        path = client.download_artifacts(run.info.run_id, "scores_by_reference.json")
        by_reference = json.loads(Path(path).read_text())
        assert len(by_reference["adjusted_rand"]) == 2
        assert max(by_reference["adjusted_rand"]) == pytest.approx(expected_ari)
        # Against the reference with another number of clusters the accuracy is undefined.
        other = 1 if k == 3 else 0
        assert by_reference["normalized_clustering_accuracy"][other] is None
        truth = package.labels[1 - other]
        assert by_reference["normalized_clustering_accuracy"][1 - other] == pytest.approx(
            normalized_clustering_accuracy(truth[truth > 0], labels[truth > 0] + 1)
        )


def test_n_clusters_reference_gives_one_trial_per_reference_count(
    battery: Path, store: str
) -> None:
    grid = {
        "name": "reference-counts",
        "datasets": [
            {
                "name": "battery",
                "params": {"battery": "toy", "name": "fourblobs", "path": str(battery)},
            },
            {"name": "battery", "params": {"battery": "toy", "name": "line", "path": str(battery)}},
        ],
        "algorithms": [{"name": "kmeans", "params": {"n_clusters": "reference", "n_init": 2}}],
        "metrics": ["adjusted_rand"],
    }
    options = RunOptions(tracking_uri=store, progress=False)
    _loaded, _plugins, trials = prepare(grid, options=options)
    assert [(t.dataset_params["name"], t.algorithm_params["n_clusters"]) for t in trials] == [
        ("fourblobs", 3),
        ("fourblobs", 4),
        ("line", 2),
    ]
    assert [t.index for t in trials] == [0, 1, 2]
    result = run_experiment(grid, options=options)
    runs = finished_trials(store, result.experiment_id)
    by_count = sorted(
        (r.data.params["dataset.name"], r.data.params["algorithm.n_clusters"]) for r in runs
    )
    assert by_count == [("fourblobs", "3"), ("fourblobs", "4"), ("line", "2")]
    assert {r.data.tags["clusterlab.trial_hash"] for r in runs} == {t.hash for t in trials}
    # The same file again finds the same trials done.
    again = run_experiment(grid, options=options)
    assert [r.status.value for r in again.trials] == ["SKIPPED"] * 3


def test_reference_is_refused_for_a_parameter_that_takes_no_number(tmp_path: Path) -> None:
    grid = {
        "name": "reference-refused",
        "datasets": [{"name": "iris"}],
        "algorithms": [{"name": "agglomerative", "params": {"linkage": "reference"}}],
    }
    with pytest.raises(ExperimentError, match="takes no number for 'linkage'"):
        prepare(grid, options=RunOptions(tracking_uri=f"sqlite:///{tmp_path}/x.db"))


def test_a_data_seed_gives_every_seed_the_same_data(store: str) -> None:
    def digests(data_seed: int | None) -> set[str]:
        entry = {"name": "blobs", "params": {"n_samples": 120}}
        if data_seed is not None:
            entry["data_seed"] = data_seed
        grid = {
            "name": f"data-seed-{data_seed}",
            "seeds": [0, 1, 2],
            "datasets": [entry],
            "algorithms": [{"name": "kmeans", "params": {"n_clusters": 3, "n_init": 1}}],
            "metrics": ["adjusted_rand"],
        }
        result = run_experiment(grid, options=RunOptions(tracking_uri=store, progress=False))
        runs = finished_trials(store, result.experiment_id)
        assert len(runs) == 3
        return {r.data.tags["clusterlab.dataset_digest"] for r in runs}

    assert len(digests(None)) == 3
    assert len(digests(7)) == 1


def battery_grid(battery: Path, axis) -> dict:
    return {
        "name": "each",
        "datasets": [
            {
                "name": "battery",
                "params": {"battery": "toy", "path": str(battery)},
                "grid": {"name": axis},
            }
        ],
        "algorithms": [{"name": "kmeans", "params": {"n_clusters": 2}}],
    }


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ({}, ["fourblobs", "line"]),
        ({"max_samples": 100}, ["line"]),
        ({"min_samples": 100, "max_features": 2}, ["fourblobs"]),
        ({"exclude": ["fourblobs"]}, ["line"]),
    ],
)
def test_each_lists_the_battery_datasets_that_pass_the_filters(
    battery: Path, tmp_path: Path, filters: dict, names: list[str]
) -> None:
    options = RunOptions(tracking_uri=f"sqlite:///{tmp_path}/x.db")
    _loaded, _plugins, trials = prepare(battery_grid(battery, {"each": filters}), options=options)
    assert [t.dataset_params["name"] for t in trials] == names
    # The package's own listing, filtered by the shapes of the loaded data.
    listed = []
    for name in clustbench.get_dataset_names("toy", path=str(battery)):
        X = clustbench.load_dataset("toy", name, path=str(battery), preprocess=False).data
        n, d = X.shape
        fits = filters.get("min_samples", 0) <= n <= filters.get("max_samples", n)
        if fits and d <= filters.get("max_features", d) and name not in filters.get("exclude", []):
            listed.append(name)
    assert listed == names


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        (
            {"each": {"bogus": 1}},
            r"datasets\[0\] \('battery'\) grid.name: unknown filter\(s\) bogus",
        ),
        ({"each": {"max_samples": 5}}, r"no value of 'name' passes the filters"),
        ({"each": 3}, r"each takes a mapping of the filters"),
    ],
)
def test_each_problems_name_the_axis(battery: Path, tmp_path: Path, axis, message: str) -> None:
    options = RunOptions(tracking_uri=f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(ExperimentError, match=message):
        prepare(battery_grid(battery, axis), options=options)


def test_each_on_a_dataset_that_lists_nothing_says_so(tmp_path: Path) -> None:
    grid = {
        "name": "each-blobs",
        "datasets": [{"name": "blobs", "grid": {"n_samples": {"each": {}}}}],
        "algorithms": [{"name": "kmeans"}],
    }
    with pytest.raises(ExperimentError, match="dataset 'blobs' lists no values for 'n_samples'"):
        prepare(grid, options=RunOptions(tracking_uri=f"sqlite:///{tmp_path}/x.db"))
