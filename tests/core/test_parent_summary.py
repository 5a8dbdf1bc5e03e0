"""The parent run as the grid's summary: its params, its best-score metrics and table, one
summary over every finished trial of the grid after an interrupted run, and no empty
parent from a rerun that adds nothing."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from clusterlab import hookimpl
from clusterlab.results_table import best_metric_name
from clusterlab.runner import run_experiment
from tests.core.test_runner import child_runs, options

GRID = {
    "name": "parent-summary",
    "device": "cpu",
    "seeds": [0, 1, 2],
    "datasets": [{"name": "toy_blobs", "params": {"n_samples": 45}}],
    "algorithms": [
        {"name": "toy_kmeans", "params": {"n_init": 1}, "grid": {"n_clusters": [2, 3]}},
    ],
    "metrics": ["toy_silhouette", "toy_ari"],
}


def parents(store: str, experiment_id: str) -> list:
    runs = MlflowClient(tracking_uri=store).search_runs([experiment_id], max_results=1000)
    return [r for r in runs if r.data.tags.get("clusterlab.kind") == "experiment"]


def best_means(store: str, experiment_id: str, metric: str) -> float:
    """The best mean over seeds of ``metric`` among the settings, from MLflow's own client."""
    by_setting: dict[str, list[float]] = {}
    for run in child_runs(store, experiment_id):
        if run.info.status == "FINISHED":
            key = run.data.params["algorithm.n_clusters"]
            by_setting.setdefault(key, []).append(run.data.metrics[metric])
    return max(float(np.mean(values)) for values in by_setting.values())


def test_parent_holds_the_grid_shape_and_the_best_scores(store):
    result = run_experiment(GRID, options=options(store))
    parent = MlflowClient(tracking_uri=store).get_run(result.parent_run_id)
    assert parent.data.params["datasets"] == "toy_blobs"
    assert parent.data.params["algorithms"] == "toy_kmeans"
    assert parent.data.params["seeds"] == "0, 1, 2"
    assert parent.data.params["n_trials"] == "6"
    for metric in ("toy_silhouette", "toy_ari"):
        name = best_metric_name(metric, "toy_blobs", "toy_kmeans")
        assert name == f"best/{metric}/toy_blobs/toy_kmeans"
        assert parent.data.metrics[name] == pytest.approx(
            best_means(store, result.experiment_id, metric)
        )
    # fit time is a fact of the trials, not a score to summarise on the parent
    assert not any("fit_time_s" in key for key in parent.data.metrics)
    table = MlflowClient(tracking_uri=store).load_table(
        result.experiment_id, "summary/best_trials.json", run_ids=[result.parent_run_id]
    )
    assert set(table["metric"]) >= {"toy_silhouette", "toy_ari"}
    csv = pd.read_csv(
        MlflowClient(tracking_uri=store).download_artifacts(
            result.parent_run_id, "summary/best_trials.csv"
        )
    )
    assert list(table["score"]) == pytest.approx(list(csv["score"]))


def test_metric_names_replace_what_mlflow_refuses(store):
    name = best_metric_name("ari", "blobs (std=0.5)", "k·means")
    assert name == "best/ari/blobs _std_0.5_/k_means"
    # MLflow's own store accepts it as a metric name
    client = MlflowClient(tracking_uri=store)
    run = client.create_run(client.create_experiment("names"))
    client.log_metric(run.info.run_id, name, 0.5)
    assert client.get_run(run.info.run_id).data.metrics == {name: 0.5}


class _StopAtSeed:
    """A plugin that presses Ctrl-C when a trial of the given seed starts."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    @hookimpl
    def before_trial(self, trial):
        if trial.seed == self.seed:
            raise KeyboardInterrupt


def test_rerun_after_an_interrupt_gives_one_summary_over_every_seed(store):
    stopper = types.SimpleNamespace(before_trial=_StopAtSeed(2).before_trial)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(GRID, options=options(store, extra=(("stopper", stopper),)))
    experiment = MlflowClient(tracking_uri=store).get_experiment_by_name(GRID["name"])
    first = parents(store, experiment.experiment_id)
    assert [p.info.status for p in first] == ["KILLED"]
    done = [r for r in child_runs(store, experiment.experiment_id) if r.info.status == "FINISHED"]
    assert sorted(int(r.data.params["seed"]) for r in done) == [0, 0, 1, 1]

    rerun = run_experiment(GRID, options=options(store))
    assert rerun.count("SKIPPED") == 4 and rerun.count("FINISHED") == 2
    client = MlflowClient(tracking_uri=store)
    summary = pd.read_csv(client.download_artifacts(rerun.parent_run_id, "summary/best_trials.csv"))
    assert set(summary["n_seeds"]) == {3}
    name = best_metric_name("toy_ari", "toy_blobs", "toy_kmeans")
    assert client.get_run(rerun.parent_run_id).data.metrics[name] == pytest.approx(
        best_means(store, experiment.experiment_id, "toy_ari")
    )
    # the rerun's parent holds the trials it ran; the summary covers the earlier ones too
    children = [
        r
        for r in child_runs(store, experiment.experiment_id)
        if r.data.tags["mlflow.parentRunId"] == rerun.parent_run_id
    ]
    assert sorted(int(r.data.params["seed"]) for r in children) == [2, 2]


def test_a_rerun_with_nothing_to_add_starts_no_parent(store):
    first = run_experiment(GRID, options=options(store))
    again = run_experiment(GRID, options=options(store))
    assert again.count("SKIPPED") == 6
    assert again.parent_run_id == first.parent_run_id
    assert len(parents(store, first.experiment_id)) == 1
    # a different grid over the same trials' superset gets its own parent
    more = run_experiment({**GRID, "seeds": [0, 1, 2, 3]}, options=options(store))
    assert more.parent_run_id != first.parent_run_id
    assert len(parents(store, first.experiment_id)) == 2


def test_a_finished_grid_without_a_summary_gets_a_parent_holding_one(store):
    first = run_experiment(GRID, options=options(store))
    client = MlflowClient(tracking_uri=store)
    # as if the summary had been lost (an invocation stopped while writing it)
    client.delete_tag(first.parent_run_id, "clusterlab.summary_trials")
    again = run_experiment(GRID, options=options(store))
    assert again.parent_run_id != first.parent_run_id
    held = {a.path for a in client.list_artifacts(again.parent_run_id, "summary")}
    assert "summary/best_trials.csv" in held
    assert client.get_run(again.parent_run_id).data.tags["clusterlab.summary_trials"] == "6"
    # and from then on, reruns come back to it
    assert run_experiment(GRID, options=options(store)).parent_run_id == again.parent_run_id


def test_summary_figures_follow_the_plots_format(store):
    grid = {**GRID, "seeds": [0, 1], "plots": {"names": [], "format": "svg", "dpi": 80}}
    result = run_experiment(grid, options=options(store))
    client = MlflowClient(tracking_uri=store)
    figures = {a.path for a in client.list_artifacts(result.parent_run_id, "summary/toy_kmeans")}
    assert "summary/toy_kmeans/toy_ari_vs_n_clusters.svg" in figures
    path = client.download_artifacts(
        result.parent_run_id, "summary/toy_kmeans/toy_ari_vs_n_clusters.svg"
    )
    with open(path, "rb") as handle:
        assert b"<svg" in handle.read(2000)
