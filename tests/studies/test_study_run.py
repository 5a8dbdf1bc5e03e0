"""A study on the parent run: its tests equal scipy's and scikit-posthocs' on a table
rebuilt from the trial runs with MLflow's own client, its diagram is an artifact, and
the stability across seeds tells stable partitions from arbitrary ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scikit_posthocs as sp
from mlflow.tracking import MlflowClient
from PIL import Image
from scipy import stats

from clusterlab.cli import main
from clusterlab.errors import ExperimentError
from clusterlab.results_table import trials_frame
from clusterlab.runner import RunOptions, prepare, run_experiment
from clusterlab.study import stability
from tests.core.test_report import MARKED_ROWS

GRID = {
    "name": "study-run",
    "device": "cpu",
    "seeds": [0, 1],
    "datasets": [
        {"name": "iris", "preprocess": ["standardize"]},
        {"name": "wine", "preprocess": ["standardize"]},
        {"name": "blobs", "params": {"n_samples": 200, "centers": 3}, "data_seed": 0},
        {"name": "moons", "params": {"n_samples": 200, "noise": 0.05}, "data_seed": 0},
    ],
    "algorithms": [
        {"name": "kmeans", "params": {"n_clusters": "reference", "n_init": 1}},
        {"name": "agglomerative", "label": "ward", "params": {"n_clusters": "reference"}},
        {
            "name": "agglomerative",
            "label": "single",
            "params": {"n_clusters": "reference", "linkage": "single"},
        },
        {"name": "dbscan", "grid": {"eps": [0.3, 0.8]}},
    ],
    "metrics": ["adjusted_rand", "silhouette"],
    "study": {"score": "adjusted_rand", "posthoc": "nemenyi"},
}


def runs_of(store: str, experiment_id: str, kind: str) -> list:
    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([experiment_id], max_results=1000)
    return [r for r in runs if r.data.tags.get("clusterlab.kind") == kind]


def independent_table(runs: list, score: str, by: str) -> pd.DataFrame:
    """Datasets × algorithms: the mean ``score`` of the setting with the best mean ``by``."""
    rows = [
        {
            "dataset": r.data.params["dataset"],
            "algorithm": r.data.params["algorithm"],
            "eps": r.data.params.get("algorithm.eps"),
            score: r.data.metrics.get(score),
            by: r.data.metrics.get(by),
        }
        for r in runs
        if r.info.status == "FINISHED"
    ]
    means = pd.DataFrame(rows).groupby(["dataset", "algorithm", "eps"], dropna=False).mean()
    # A setting without any defined ``by`` cannot be chosen.
    means = means.reset_index().dropna(subset=[by])
    best = means.loc[means.groupby(["dataset", "algorithm"])[by].idxmax()]
    return best.pivot(index="dataset", columns="algorithm", values=score)


def parent_artifact(store: str, parent, path: str, folder: Path) -> Path:
    return Path(
        MlflowClient(tracking_uri=store).download_artifacts(parent.info.run_id, path, folder)
    )


@pytest.mark.parametrize("select", ["oracle", {"by": "silhouette"}])
def test_the_parent_run_holds_the_study_and_its_tests_match_the_libraries(
    store: str, tmp_path: Path, select
) -> None:
    grid = {**GRID, "study": {**GRID["study"], "select": select}}
    result = run_experiment(grid, options=RunOptions(tracking_uri=store, progress=False))
    (parent,) = runs_of(store, result.experiment_id, "experiment")
    trials = runs_of(store, result.experiment_id, "trial")
    by = "adjusted_rand" if select == "oracle" else "silhouette"
    expected = independent_table(trials, "adjusted_rand", by)

    logged = pd.read_csv(
        parent_artifact(store, parent, "summary/study/table.csv", tmp_path), index_col=0
    )
    pd.testing.assert_frame_equal(
        logged.sort_index(axis=0).sort_index(axis=1), expected, check_names=False
    )
    tests = json.loads(
        parent_artifact(store, parent, "summary/study/tests.json", tmp_path).read_text()
    )
    incomplete = expected.index[expected.isna().any(axis=1)]
    assert sorted(tests["dropped_datasets"]) == sorted(incomplete)
    expected = expected.dropna()
    reference = stats.friedmanchisquare(*(expected[c] for c in expected.columns))
    assert tests["friedman_statistic"] == pytest.approx(reference.statistic)
    assert tests["friedman_p_value"] == pytest.approx(reference.pvalue)
    assert parent.data.metrics["study/friedman_p_value"] == pytest.approx(reference.pvalue)
    ranks = expected.rank(axis=1, ascending=False).mean()
    for algorithm, rank in ranks.items():
        assert tests["mean_ranks"][algorithm] == pytest.approx(rank)
        assert parent.data.metrics[f"study/mean_rank/{algorithm}"] == pytest.approx(rank)
    posthoc = pd.read_csv(
        parent_artifact(store, parent, "summary/study/posthoc.csv", tmp_path), index_col=0
    )
    nemenyi = sp.posthoc_nemenyi_friedman(expected[list(posthoc.columns)].to_numpy())
    np.testing.assert_allclose(posthoc.to_numpy(), nemenyi.to_numpy())
    diagram = parent_artifact(store, parent, "summary/study/critical_difference.png", tmp_path)
    with Image.open(diagram) as image:
        assert image.width > 300 and image.height > 100


def test_wilcoxon_holm_and_missing_scores_ranked_last_match_the_libraries(
    store: str, tmp_path: Path
) -> None:
    grid = {
        **GRID,
        "metrics": ["normalized_clustering_accuracy"],
        "study": {"score": "normalized_clustering_accuracy", "missing": "worst"},
    }
    result = run_experiment(grid, options=RunOptions(tracking_uri=store, progress=False))
    (parent,) = runs_of(store, result.experiment_id, "experiment")
    trials = runs_of(store, result.experiment_id, "trial")
    score = "normalized_clustering_accuracy"
    expected = independent_table(trials, score, score)
    expected = expected.reindex(
        columns=["kmeans", "ward", "single", "dbscan"], index=["iris", "wine", "blobs", "moons"]
    )
    ranks = expected.rank(axis=1, ascending=False)
    absent = ranks.isna()
    # Absent scores share the places after the present ones.
    fill = ranks.notna().sum(axis=1) + (absent.sum(axis=1) + 1) / 2
    ranks = ranks.mask(absent, fill, axis=0)
    tests = json.loads(
        parent_artifact(store, parent, "summary/study/tests.json", tmp_path).read_text()
    )
    reference = stats.friedmanchisquare(*(ranks[c] for c in ranks.columns))
    assert tests["friedman_p_value"] == pytest.approx(reference.pvalue)
    for algorithm, rank in ranks.mean().items():
        assert tests["mean_ranks"][algorithm] == pytest.approx(rank)

    with pytest.raises(ExperimentError, match="study: missing: worst ranks an absent score last"):
        prepare({**grid, "study": {**grid["study"], "posthoc": "wilcoxon_holm"}})

    holm = {**GRID, "study": {"score": "adjusted_rand", "posthoc": "wilcoxon_holm"}}
    holm["name"] = "study-holm"
    result = run_experiment(holm, options=RunOptions(tracking_uri=store, progress=False))
    (parent,) = runs_of(store, result.experiment_id, "experiment")
    trials = runs_of(store, result.experiment_id, "trial")
    expected = independent_table(trials, "adjusted_rand", "adjusted_rand")
    posthoc = pd.read_csv(
        parent_artifact(store, parent, "summary/study/posthoc.csv", tmp_path / "h"), index_col=0
    )
    groups = [expected[c].to_numpy() for c in posthoc.columns]
    wilcoxon = sp.posthoc_wilcoxon(groups, p_adjust="holm")
    np.testing.assert_allclose(posthoc.to_numpy(), wilcoxon.to_numpy())


def test_a_study_of_a_score_the_experiment_does_not_log_is_refused(tmp_path: Path) -> None:
    grid = {**GRID, "study": {"score": "silhouete", "select": {"by": "inertia"}}}
    with pytest.raises(ExperimentError) as caught:
        prepare(grid, options=RunOptions(tracking_uri=f"sqlite:///{tmp_path}/x.db"))
    message = str(caught.value)
    assert "study score 'silhouete' is none of the experiment's metrics" in message
    assert "study by 'inertia'" in message


def five_seed_stability(store: str, dataset: dict) -> pd.DataFrame:
    grid = {
        "name": f"stability-{dataset['name']}",
        "seeds": [0, 1, 2, 3, 4],
        "datasets": [{**dataset, "data_seed": 0}],
        "algorithms": [{"name": "kmeans", "params": {"n_clusters": 4, "n_init": 1}}],
        "metrics": ["silhouette"],
    }
    result = run_experiment(grid, options=RunOptions(tracking_uri=store, progress=False))
    client = MlflowClient(tracking_uri=store)
    runs = runs_of(store, result.experiment_id, "trial")
    assert len(runs) == 5

    def load(run_id: str) -> np.ndarray:
        return np.load(client.download_artifacts(run_id, "labels.npy"))

    return stability(trials_frame(runs), load)


def test_k_means_is_stable_on_separated_blobs_and_not_on_uniform_data(store: str) -> None:
    blobs = five_seed_stability(
        store, {"name": "blobs", "params": {"n_samples": 400, "centers": 4, "cluster_std": 0.3}}
    )
    # Uniform in eight dimensions: no structure, so each seed's partition is another.
    uniform = five_seed_stability(
        store, {"name": "uniform", "params": {"n_samples": 400, "n_features": 8}}
    )
    assert blobs["ari_mean"].item() == 1.0 and blobs["ari_min"].item() == 1.0
    assert uniform["ari_mean"].item() < 0.9
    assert (blobs["n_seeds"].item(), uniform["n_seeds"].item()) == (5, 5)


ALPHA = 0.95


@pytest.mark.parametrize("fmt", ["markdown", "html", "latex"])
def test_the_study_report_is_bold_on_the_best_per_dataset_and_the_differing_pairs(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    # Four datasets give Nemenyi's test little power: a high level marks some pairs.
    grid = {**GRID, "name": f"study-bold-{fmt}", "study": {**GRID["study"], "alpha": ALPHA}}
    result = run_experiment(grid, options=RunOptions(tracking_uri=store, progress=False))
    (parent,) = runs_of(store, result.experiment_id, "experiment")
    table = pd.read_csv(
        parent_artifact(store, parent, "summary/study/table.csv", tmp_path), index_col=0
    )
    posthoc = pd.read_csv(
        parent_artifact(store, parent, "summary/study/posthoc.csv", tmp_path), index_col=0
    )
    capsys.readouterr()
    flags = ["--tracking-uri", store, "--study", "adjusted_rand", "--alpha", str(ALPHA)]
    flags += ["--format", fmt]
    assert main(["report", grid["name"], *flags]) == 0
    out = capsys.readouterr().out
    # One table after the other: the scores, then the post-hoc p-values.
    scores_text, posthoc_text = _tables(fmt, out)[:2]
    header, body, bold = MARKED_ROWS[fmt](scores_text)
    for row, marks in zip(body, bold, strict=True):
        if row[0] == "mean rank":
            assert not any(marks)
            continue
        values = table.loc[row[0], header[1:]]
        assert [header[j] for j in range(1, len(header)) if marks[j]] == list(
            values.index[values == values.max()]
        )
    header, body, bold = MARKED_ROWS[fmt](posthoc_text)
    differing = posthoc.lt(ALPHA) & ~np.eye(len(posthoc), dtype=bool)
    assert 0 < differing.to_numpy().sum() < differing.size - len(posthoc)
    for row, marks in zip(body, bold, strict=True):
        assert [header[j] for j in range(1, len(header)) if marks[j]] == [
            b for b in posthoc.columns if differing.loc[row[0], b]
        ]
    assert f"In bold: the pairs that differ at alpha = {ALPHA:g}." in " ".join(out.split())


def _tables(fmt: str, out: str) -> list[str]:
    """The separate tables of a study report in ``fmt``, in their order."""
    if fmt == "markdown":
        return [part for part in out.split("\n\n") if part.startswith("|")]
    marker = "</html>" if fmt == "html" else r"\end{table}"
    return [part + marker for part in out.split(marker) if part.strip()]
