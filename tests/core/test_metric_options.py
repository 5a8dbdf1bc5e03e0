"""Metric options from the experiment file reach the metric and name what MLflow logs."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import silhouette_score

import clusterlab_metrics.plugin
from clusterlab.errors import ExperimentError
from clusterlab.runner import RunOptions, prepare, run_experiment
from tests.core import toy_plugin


def test_two_variants_of_one_metric_are_logged_under_distinct_names(store):
    experiment = {
        "name": "metric-options",
        "device": "cpu",
        "dtype": "float64",
        "datasets": [{"name": "toy_blobs", "params": {"n_samples": 90}}],
        "algorithms": [{"name": "toy_kmeans", "params": {"n_clusters": 3, "n_init": 1}}],
        "metrics": ["silhouette", {"name": "silhouette", "sample_size": 40}],
    }
    options = RunOptions(
        tracking_uri=store,
        autoload_plugins=False,
        extra_plugins=(("toy", toy_plugin), ("metrics", clusterlab_metrics.plugin)),
        progress=False,
    )
    result = run_experiment(experiment, options=options)
    logged = MlflowClient(tracking_uri=store).get_run(result.trials[0].run_id).data.metrics
    assert {"silhouette", "silhouette.sample_size_40"} <= set(logged)
    X, _y = toy_plugin.toy_blobs(90, seed=0)
    labels = toy_plugin.ToyKMeans(n_clusters=3, n_init=1, random_state=0).fit(X).labels_
    assert logged["silhouette"] == pytest.approx(silhouette_score(X, labels), rel=1e-6)
    sampled = silhouette_score(X, labels, sample_size=40, random_state=0)
    assert logged["silhouette.sample_size_40"] == pytest.approx(sampled, rel=1e-6)


def test_a_metric_option_outside_its_declared_values_fails_validation():
    experiment = {
        "name": "metric-options",
        "datasets": [{"name": "toy_blobs"}],
        "algorithms": [{"name": "toy_kmeans"}],
        "metrics": [
            {"name": "silhouette", "noise": "bogus"},
            {"name": "cluster_accuracy", "noise": "wrong"},
            {"name": "adjusted_rand", "noise": "wrong"},
        ],
    }
    options = RunOptions(
        autoload_plugins=False,
        extra_plugins=(("toy", toy_plugin), ("metrics", clusterlab_metrics.plugin)),
    )
    with pytest.raises(ExperimentError) as info:
        prepare(experiment, options=options)
    assert info.value.problems == [
        "<experiment>: metrics[0].noise: invalid value: noise='bogus'; metric 'silhouette' "
        "takes one of 'exclude', 'cluster'",
        "<experiment>: metrics[2].noise: invalid value: noise='wrong'; metric 'adjusted_rand' "
        "takes one of 'cluster', 'exclude'",
    ]
