"""Datasets in MLflow: a digest over all of the data, shape and labels as input tags,
and bad data stopped before anything is logged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import clusterlab_datasets.plugin
from clusterlab.errors import ExperimentError
from clusterlab.runner import RunOptions, run_experiment
from tests.core import toy_plugin

PLUGINS = (("toy", toy_plugin), ("datasets", clusterlab_datasets.plugin))


def experiment(path: str, name: str = "digests") -> dict:
    return {
        "name": name,
        "device": "cpu",
        "datasets": [{"name": "file", "params": {"path": path, "label_column": "label"}}],
        "algorithms": [{"name": "toy_kmeans", "params": {"n_clusters": 2, "n_init": 1}}],
    }


def run(store: str, spec: dict):
    options = RunOptions(
        tracking_uri=store, autoload_plugins=False, extra_plugins=PLUGINS, progress=False
    )
    return run_experiment(spec, options=options)


def write_csv(path, last_value: float) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20_000, 3)), columns=["a", "b", "c"])
    frame["label"] = np.arange(len(frame)) % 2
    frame.loc[len(frame) - 1, "c"] = last_value
    frame.to_csv(path, index=False)


def test_files_differing_only_in_the_last_row_get_different_digests(store, tmp_path):
    write_csv(tmp_path / "one.csv", 1.0)
    write_csv(tmp_path / "two.csv", 2.0)
    first = run(store, experiment(str(tmp_path / "one.csv")))
    second = run(store, experiment(str(tmp_path / "two.csv")))
    client = MlflowClient(tracking_uri=store)
    inputs = [client.get_run(r.trials[0].run_id).inputs.dataset_inputs[0] for r in (first, second)]
    digests = [i.dataset.digest for i in inputs]
    assert digests[0] != digests[1]
    tags = {t.key: t.value for t in inputs[0].tags}
    assert tags["shape"] == "20000x3" and tags["has_labels"] == "true"
    # the run tag carries the same digest
    run_tags = client.get_run(first.trials[0].run_id).data.tags
    assert run_tags["clusterlab.dataset_digest"] == digests[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("a,b,label\n1,x,0\n2,3,1\n", "not numeric"),
        ("a,b,label\n1,nan,0\n2,3,1\n3,4,0\n", "1 row(s) hold NaN or infinite values"),
        ("a,b,label\n", "no rows of data"),
    ],
)
def test_bad_data_stops_before_any_run_is_logged(store, tmp_path, content, message):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ExperimentError) as info:
        run(store, experiment(str(path), name="bad-data"))
    assert message in str(info.value)
    assert info.value.exit_code == 2
    client = MlflowClient(tracking_uri=store)
    assert client.get_experiment_by_name("bad-data") is None


def test_fewer_samples_than_clusters_is_caught_before_running(store, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n2,3,1\n")
    spec = experiment(str(tmp_path / "d.csv"), name="tiny")
    spec["algorithms"][0]["params"]["n_clusters"] = 3
    with pytest.raises(ExperimentError, match="n_clusters=3 but dataset 'file' has only 2"):
        run(store, spec)
    assert MlflowClient(tracking_uri=store).get_experiment_by_name("tiny") is None


def test_nan_message_names_the_drop_step_which_then_fixes_it(store, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,nan,0\n2,3,1\n3,4,0\n5,5,1\n")
    spec = experiment(str(tmp_path / "d.csv"), name="nan")
    with pytest.raises(ExperimentError, match="drop_nonfinite"):
        run(store, spec)
    spec["datasets"][0]["preprocess"] = ["drop_nonfinite"]
    result = run(store, spec)
    assert result.ok
    run_info = MlflowClient(tracking_uri=store).get_run(result.trials[0].run_id)
    assert run_info.data.params["dataset.preprocess"] == "drop_nonfinite"


class _LosesOneRace:
    """A client whose first ``log_inputs`` fails as a store refusing a concurrent insert."""

    def __init__(self, client, message: str) -> None:
        self._client = client
        self._message = message
        self.refused = 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def log_inputs(self, *args, **kwargs):
        if not self.refused:
            self.refused += 1
            raise RuntimeError(self._message)
        return self._client.log_inputs(*args, **kwargs)


def test_a_dataset_insert_that_lost_a_race_is_logged_on_the_next_try(store):
    from clusterlab.tracking import Tracker

    tracker = Tracker(store, "race")
    run_id = tracker.start_run("trial", {})
    refusal = "BAD_REQUEST: (sqlite3.IntegrityError) UNIQUE constraint failed: datasets.name"
    tracker.client = _LosesOneRace(tracker.client, refusal)
    tracker.log_dataset(run_id, "blobs", "abc123", "{}", {"shape": "10x2"})
    assert tracker.client.refused == 1
    inputs = MlflowClient(store).get_run(run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("blobs", "abc123")]


def test_other_dataset_errors_are_not_retried(store):
    from clusterlab.tracking import Tracker

    tracker = Tracker(store, "race")
    run_id = tracker.start_run("trial", {})
    tracker.client = _LosesOneRace(tracker.client, "BAD_REQUEST: the run is not active")
    with pytest.raises(RuntimeError, match="not active"):
        tracker.log_dataset(run_id, "blobs", "abc123", "{}", {})
    assert MlflowClient(store).get_run(run_id).inputs.dataset_inputs == []
