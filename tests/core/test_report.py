"""``clusterlab report`` reads the best trials back from MLflow."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clusterlab.cli import main
from clusterlab.runner import run_experiment
from tests.core.test_runner import EXPERIMENT, options


def test_report_json_matches_the_best_mean_per_setting(store, capsys):
    result = run_experiment(EXPERIMENT, options=options(store))
    capsys.readouterr()
    code = main(["report", "runner-test", "--tracking-uri", store, "--format", "json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    silhouette = [
        r for r in rows if r["metric"] == "toy_silhouette" and r["algorithm"] == "toy_kmeans"
    ]
    assert len(silhouette) == 1
    by_k: dict[int, list[float]] = {}
    for trial in result.trials:
        if trial.trial.algorithm == "toy_kmeans":
            by_k.setdefault(trial.trial.algorithm_params["n_clusters"], []).append(
                trial.scores["toy_silhouette"]
            )
    best_k = max(by_k, key=lambda k: np.mean(by_k[k]))
    assert silhouette[0]["mean"] == pytest.approx(np.mean(by_k[best_k]))
    assert silhouette[0]["setting"] == f"algorithm.n_clusters={best_k}"
    # fit time is a score where smaller is better
    fit = [r for r in rows if r["metric"] == "fit_time_s" and r["algorithm"] == "toy_kmeans"]
    assert fit and fit[0]["mean"] > 0


def test_report_sort_and_formats(store, capsys):
    run_experiment(EXPERIMENT, options=options(store))
    capsys.readouterr()
    assert (
        main(
            [
                "report",
                "runner-test",
                "--tracking-uri",
                store,
                "--sort",
                "toy_ari",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("dataset,algorithm,metric,greater_is_better,setting,n,mean")
    scores = [float(line.split(",")[6]) for line in lines[1:]]
    assert scores == sorted(scores, reverse=True)
    assert main(["report", "runner-test", "--tracking-uri", store, "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("| dataset | algorithm |")


def test_report_unknown_experiment_exits_2(store, capsys):
    run_experiment(EXPERIMENT, options=options(store))
    assert main(["report", "nope", "--tracking-uri", store]) == 2
    assert "no experiment 'nope'" in capsys.readouterr().err
