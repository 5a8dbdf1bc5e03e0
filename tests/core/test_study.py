"""The study's selection and tests agree with scipy and scikit_posthocs on a table rebuilt
independently from MLflow's own client."""

from __future__ import annotations

import pandas as pd
import pytest
import scikit_posthocs as sp
from mlflow.tracking import MlflowClient
from scipy import stats

from clusterlab.results_table import trials_frame
from clusterlab.runner import RunOptions, run_experiment
from clusterlab.study import friedman, select_settings

GRID = {
    "name": "study-test",
    "device": "cpu",
    "seeds": [0, 1],
    "datasets": [
        {"name": "iris"},
        {"name": "wine"},
        {"name": "blobs", "params": {"n_samples": 200}},
        {"name": "moons", "params": {"n_samples": 200}},
    ],
    "algorithms": [
        {"name": "kmeans", "params": {"n_clusters": 3, "n_init": 1}},
        {"name": "agglomerative", "params": {"linkage": "ward"}, "grid": {"n_clusters": [2, 3]}},
        {"name": "sklearn.Birch", "params": {"n_clusters": 3}},
    ],
    "metrics": ["adjusted_rand", "silhouette"],
}
DIRECTIONS = {"adjusted_rand": True, "silhouette": True}


def independent_table(runs: list, score: str, by: str) -> pd.DataFrame:
    """Datasets × algorithms of the mean ``score`` of the setting with the best mean ``by``."""
    rows = [
        {
            "dataset": r.data.params["dataset"],
            "algorithm": r.data.params["algorithm"],
            "k": r.data.params.get("algorithm.n_clusters"),
            score: r.data.metrics.get(score),
            by: r.data.metrics.get(by),
        }
        for r in runs
    ]
    means = pd.DataFrame(rows).groupby(["dataset", "algorithm", "k"]).mean().reset_index()
    best = means.loc[means.groupby(["dataset", "algorithm"])[by].idxmax()]
    return best.pivot(index="dataset", columns="algorithm", values=score)


@pytest.mark.parametrize("by", [None, "silhouette"])
def test_friedman_and_nemenyi_match_the_libraries(store, by):
    result = run_experiment(GRID, options=RunOptions(tracking_uri=store, progress=False))
    client = MlflowClient(tracking_uri=store)
    runs = [
        r
        for r in client.search_runs([result.experiment_id], max_results=1000)
        if r.data.tags.get("clusterlab.kind") == "trial" and r.info.status == "FINISHED"
    ]
    chosen = select_settings(trials_frame(runs), DIRECTIONS, "adjusted_rand", by)
    table = chosen.pivot(index="dataset", columns="algorithm", values="mean")
    expected = independent_table(runs, "adjusted_rand", by or "adjusted_rand")
    pd.testing.assert_frame_equal(
        table.sort_index(axis=0).sort_index(axis=1), expected, check_names=False
    )
    tests = friedman(table, greater_is_better=True)
    reference = stats.friedmanchisquare(*(expected[c] for c in expected.columns))
    assert tests["statistic"] == pytest.approx(reference.statistic)
    assert tests["p_value"] == pytest.approx(reference.pvalue)
    nemenyi = sp.posthoc_nemenyi_friedman(table.to_numpy())
    assert tests["posthoc"].to_numpy() == pytest.approx(nemenyi.to_numpy())
