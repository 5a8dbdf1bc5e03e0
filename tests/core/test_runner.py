"""The runner against a real MLflow sqlite store, with an in-process plugin."""

from __future__ import annotations

import types

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from clusterlab import hookimpl
from clusterlab.runner import RunOptions, run_experiment
from tests.core import toy_plugin

EXPERIMENT = {
    "name": "runner-test",
    "device": "cpu",
    "seeds": [0, 1],
    "datasets": [{"name": "toy_blobs", "params": {"n_samples": 45}}],
    "algorithms": [
        {"name": "toy_kmeans", "params": {"n_init": 1}, "grid": {"n_clusters": [2, 3]}},
        {"name": "one_cluster"},
    ],
    "metrics": ["toy_silhouette", "toy_ari"],
}


def options(store: str, **kwargs) -> RunOptions:
    extra = kwargs.pop("extra", ())
    return RunOptions(
        tracking_uri=store,
        autoload_plugins=False,
        extra_plugins=(("toy", toy_plugin), *extra),
        progress=False,
        **kwargs,
    )


def child_runs(store: str, experiment_id: str) -> list:
    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([experiment_id], max_results=1000)
    return [r for r in runs if r.data.tags.get("clusterlab.kind") == "trial"]


def test_parent_and_child_runs_hold_params_scores_and_artifacts(store):
    result = run_experiment(EXPERIMENT, options=options(store))
    assert result.ok and result.count("FINISHED") == 6
    client = MlflowClient(tracking_uri=store)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    children = child_runs(store, result.experiment_id)
    assert len(children) == 6
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {result.parent_run_id}
    assert all(c.info.status == "FINISHED" for c in children)
    # the same param columns for every child, whatever its algorithm
    keys = {frozenset(c.data.params) for c in children}
    assert len(keys) == 1
    params = next(iter(keys))
    assert {"dataset", "algorithm", "dataset.n_samples", "algorithm.n_clusters", "seed"} <= params
    assert {"device", "dtype"} <= params
    kmeans = [c for c in children if c.data.params["algorithm"] == "toy_kmeans"]
    for child in kmeans:
        assert {"toy_silhouette", "toy_ari", "fit_time_s", "n_clusters_found"} <= set(
            child.data.metrics
        )
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert "labels.npy" in artifacts

    # the parent holds the experiment, the expanded grid and the grid summary
    def artifacts(folder):
        return {a.path for a in client.list_artifacts(result.parent_run_id, folder)}

    assert {"experiment/resolved.yaml", "experiment/trials.json"} <= artifacts("experiment")
    summary = artifacts("summary")
    assert {"summary/best_trials.csv", "summary/best_trials.html"} <= summary
    figures = artifacts("summary/toy_kmeans")
    assert "summary/toy_kmeans/toy_silhouette_vs_n_clusters.png" in figures
    import pandas as pd

    best = pd.read_csv(client.download_artifacts(result.parent_run_id, "summary/best_trials.csv"))
    row = best[(best.algorithm == "toy_kmeans") & (best.metric == "toy_ari")].iloc[0]
    kmeans_ari = {}
    for r in result.trials:
        if r.trial.algorithm == "toy_kmeans":
            kmeans_ari.setdefault(r.trial.algorithm_params["n_clusters"], []).append(
                r.scores["toy_ari"]
            )
    assert row["score"] == pytest.approx(max(np.mean(v) for v in kmeans_ari.values()))
    # the scores logged are the independent reference's
    by_hash = {c.data.tags["clusterlab.trial_hash"]: c for c in children}
    for trial_result in result.trials:
        logged = by_hash[trial_result.trial.hash].data.metrics
        for name, value in trial_result.scores.items():
            assert logged[name] == pytest.approx(value)


def test_undefined_score_is_tagged_not_faked(store):
    result = run_experiment(EXPERIMENT, options=options(store))
    one = [r for r in result.trials if r.trial.algorithm == "one_cluster"]
    assert one and all(r.status == "FINISHED" for r in one)
    run = MlflowClient(tracking_uri=store).get_run(one[0].run_id)
    assert "toy_silhouette" not in run.data.metrics
    assert run.data.tags["clusterlab.undefined.toy_silhouette"] == "fewer than two clusters"
    assert run.data.metrics["toy_ari"] == pytest.approx(0.0)


def test_rerun_skips_finished_trials_and_force_reruns(store):
    first = run_experiment(EXPERIMENT, options=options(store))
    second = run_experiment(EXPERIMENT, options=options(store))
    assert second.count("SKIPPED") == 6 and second.count("FINISHED") == 0
    assert len(child_runs(store, first.experiment_id)) == 6
    more_seeds = {**EXPERIMENT, "seeds": [0, 1, 2]}
    third = run_experiment(more_seeds, options=options(store))
    assert third.count("SKIPPED") == 6 and third.count("FINISHED") == 3
    forced = run_experiment(EXPERIMENT, options=options(store, force=True))
    assert forced.count("FINISHED") == 6
    assert len(child_runs(store, first.experiment_id)) == 15


def test_failing_trial_is_logged_failed_and_the_grid_goes_on(store):
    experiment = {**EXPERIMENT, "algorithms": [{"name": "exploding"}, *EXPERIMENT["algorithms"]]}
    result = run_experiment(experiment, options=options(store))
    assert not result.ok
    assert result.count("FAILED") == 2 and result.count("FINISHED") == 6
    client = MlflowClient(tracking_uri=store)
    failed = [r for r in result.trials if r.status == "FAILED"]
    run = client.get_run(failed[0].run_id)
    assert run.info.status == "FAILED"
    assert "exploded on purpose" in run.data.tags["clusterlab.error"]
    assert run.data.params["algorithm"] == "exploding"  # a failed run still says what it was
    text = client.download_artifacts(failed[0].run_id, "error.txt")
    with open(text) as handle:
        assert "Traceback" in handle.read()
    assert client.get_run(result.parent_run_id).info.status == "FAILED"


def test_lifecycle_hooks_are_called_in_order(store):
    calls: list[str] = []
    recorder = types.SimpleNamespace(
        before_experiment=hookimpl(lambda experiment, trials: calls.append(f"start {len(trials)}")),
        before_trial=hookimpl(lambda trial: calls.append(f"before {trial.index}")),
        after_trial=hookimpl(lambda trial, result: calls.append(f"after {result.status}")),
        on_trial_error=hookimpl(lambda trial, error: calls.append(f"error {error}")),
        after_experiment=hookimpl(lambda experiment, results: calls.append("end")),
    )
    experiment = {**EXPERIMENT, "seeds": [0], "algorithms": [{"name": "exploding"}]}
    run_experiment(experiment, options=options(store, extra=(("recorder", recorder),)))
    assert calls == ["start 1", "before 0", "error exploded on purpose", "end"]


def test_labels_artifact_holds_the_fitted_labels(store):
    experiment = {**EXPERIMENT, "seeds": [0], "algorithms": EXPERIMENT["algorithms"][:1]}
    result = run_experiment(experiment, options=options(store))
    client = MlflowClient(tracking_uri=store)
    trial = result.trials[0]
    labels = np.load(client.download_artifacts(trial.run_id, "labels.npy"))
    X, _y = toy_plugin.toy_blobs(45, seed=0)
    reference = toy_plugin.ToyKMeans(n_clusters=2, n_init=1, random_state=0).fit(
        X.astype(np.float32)
    )
    assert np.array_equal(labels, reference.labels_)
