"""Tests of the grid summaries: score-against-parameter figures and the best-trial table."""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from clusterlab.comparison import BEST_COLUMNS, best_trials, best_trials_html
from clusterlab.summary import summary_figures, swept_columns

DIRECTIONS = {"silhouette": True, "davies_bouldin": False}


def grid_table() -> pd.DataFrame:
    """Trials of three algorithms on two datasets with random scores and some gaps."""
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []

    def add(dataset: str, algorithm: str, seed: int, **params: Any) -> None:
        row = {"dataset": dataset, "algorithm": algorithm, "seed": seed}
        row["dataset.n_samples"] = 500
        row.update({f"algorithm.{k}": v for k, v in params.items()})
        row["silhouette"] = rng.uniform(-0.2, 0.9)
        row["davies_bouldin"] = rng.uniform(0.3, 3.0)
        row["run_id"] = f"run{len(rows)}"
        rows.append(row)

    for dataset, seed in itertools.product(["uniform", "blobs"], range(3)):
        for k in range(2, 6):
            add(dataset, "kmeans", seed, n_clusters=k, init="k-means++")
        for eps, min_samples in itertools.product([0.1, 0.2, 0.4], [5, 10]):
            add(dataset, "dbscan", seed, eps=eps, min_samples=min_samples)
        for k, link in itertools.product([3, 4], ["ward", "average", "single"]):
            add(dataset, "agglomerative", seed, n_clusters=k, linkage=link)
    df = pd.DataFrame(rows)
    dbscan = df["algorithm"] == "dbscan"
    # Undefined scores: everything at eps 0.1, and the larger min_samples at eps 0.4.
    df.loc[dbscan & (df["algorithm.eps"] == 0.1), "silhouette"] = np.nan
    df.loc[
        dbscan & (df["algorithm.eps"] == 0.4) & (df["algorithm.min_samples"] == 10), "silhouette"
    ] = np.nan
    return df


def figures_by_name(df: pd.DataFrame, **kwargs: Any) -> dict[str, Figure]:
    return dict(summary_figures(df, DIRECTIONS, **kwargs))


def lines_by_label(figure: Figure) -> dict[str, Any]:
    return {line.get_label(): line for line in figure.axes[0].lines}


def band_bounds(figure: Figure, index: int) -> dict[float, tuple[float, float]]:
    """The lowest and highest y of the ``index``-th band at each of its x positions."""
    bands = [c for c in figure.axes[0].collections if isinstance(c, PolyCollection)]
    vertices = bands[index].get_paths()[0].vertices
    return {
        float(x): (vertices[vertices[:, 0] == x, 1].min(), vertices[vertices[:, 0] == x, 1].max())
        for x in np.unique(vertices[:, 0])
    }


def test_one_figure_per_algorithm_swept_parameter_and_score() -> None:
    names = set(figures_by_name(grid_table()))
    expected = {
        f"summary/{algorithm}/{score}_vs_{param}.png"
        for algorithm, params in [
            ("kmeans", ["n_clusters"]),
            ("dbscan", ["eps", "min_samples"]),
            ("agglomerative", ["n_clusters", "linkage"]),
        ]
        for param in params
        for score in DIRECTIONS
    }
    assert names == expected


def test_lines_carry_the_mean_over_seeds_and_the_band_its_range() -> None:
    df = grid_table()
    figure = figures_by_name(df)["summary/kmeans/silhouette_vs_n_clusters.png"]
    kmeans = df[df["algorithm"] == "kmeans"]
    lines = lines_by_label(figure)
    assert set(lines) == {"uniform", "blobs"}
    for index, dataset in enumerate(["uniform", "blobs"]):
        expected = (
            kmeans[kmeans["dataset"] == dataset]
            .groupby("algorithm.n_clusters")["silhouette"]
            .agg(["mean", "min", "max"])
        )
        np.testing.assert_allclose(lines[dataset].get_xdata(), expected.index)
        np.testing.assert_allclose(lines[dataset].get_ydata(), expected["mean"])
        bounds = band_bounds(figure, index)
        for k, row in expected.iterrows():
            assert bounds[float(k)] == pytest.approx((row["min"], row["max"]))
    axes = figure.axes[0]
    assert axes.get_xlabel() == "n_clusters"
    assert axes.get_ylabel() == "silhouette (higher is better)"
    assert "mean over 3 seeds, band: min–max over seeds" in axes.get_title()
    assert "averaged over" not in axes.get_title()


def test_other_swept_parameters_are_averaged_per_seed_and_gaps_ignored() -> None:
    df = grid_table()
    figure = figures_by_name(df)["summary/dbscan/silhouette_vs_eps.png"]
    assert "averaged over min_samples" in figure.axes[0].get_title()
    dbscan = df[(df["algorithm"] == "dbscan") & (df["dataset"] == "blobs")]
    per_seed = dbscan.groupby(["algorithm.eps", "seed"])["silhouette"].mean()
    expected = per_seed.groupby(level="algorithm.eps").agg(["mean", "min", "max"]).dropna()
    line = lines_by_label(figure)["blobs"]
    # eps 0.1 has no defined silhouette at all: no point there.
    np.testing.assert_allclose(line.get_xdata(), [0.2, 0.4])
    np.testing.assert_allclose(line.get_ydata(), expected["mean"])
    bounds = band_bounds(figure, 1)
    assert bounds[0.4] == pytest.approx(tuple(expected.loc[0.4, ["min", "max"]]))
    # At eps 0.4 only min_samples 5 is defined, so the mean is of those trials alone.
    only_five = dbscan[(dbscan["algorithm.eps"] == 0.4) & (dbscan["algorithm.min_samples"] == 5)]
    assert line.get_ydata()[-1] == pytest.approx(only_five["silhouette"].mean())


def test_categorical_parameters_get_one_tick_per_value() -> None:
    df = grid_table()
    figure = figures_by_name(df)["summary/agglomerative/davies_bouldin_vs_linkage.png"]
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["ward", "average", "single"]
    assert axes.get_ylabel() == "davies_bouldin (lower is better)"
    rows = df[(df["algorithm"] == "agglomerative") & (df["dataset"] == "uniform")]
    per_seed = rows.groupby(["algorithm.linkage", "seed"])["davies_bouldin"].mean()
    expected = per_seed.groupby(level="algorithm.linkage").mean()
    line = lines_by_label(figure)["uniform"]
    np.testing.assert_allclose(line.get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(line.get_ydata(), expected[["ward", "average", "single"]])


def test_text_parameters_from_mlflow_and_swept_datasets() -> None:
    df = grid_table()
    df = df[df["algorithm"] == "kmeans"].copy()
    # MLflow returns parameters as text; a swept dataset parameter splits the lines.
    df["algorithm.n_clusters"] = df["algorithm.n_clusters"].astype(str)
    df["dataset.cluster_std"] = np.where(df["seed"] == 0, "0.5", "1.0")
    df.loc[df["dataset"] == "uniform", "dataset.cluster_std"] = None
    swept = {("blobs", "kmeans"): ["dataset.cluster_std", "algorithm.n_clusters"]}
    assert swept_columns(df, swept)[("blobs", "kmeans")] == [
        "dataset.cluster_std",
        "algorithm.n_clusters",
    ]
    figure = figures_by_name(df, swept=swept)["summary/kmeans/silhouette_vs_n_clusters.png"]
    lines = lines_by_label(figure)
    assert set(lines) == {"uniform", "blobs (cluster_std=0.5)", "blobs (cluster_std=1.0)"}
    np.testing.assert_allclose(lines["uniform"].get_xdata(), [2, 3, 4, 5])
    single = df[(df["dataset"] == "blobs") & (df["seed"] == 0)]
    np.testing.assert_allclose(
        lines["blobs (cluster_std=0.5)"].get_ydata(), single["silhouette"].to_numpy()
    )


def test_nothing_to_summarise_gives_no_figures() -> None:
    assert summary_figures(pd.DataFrame(), DIRECTIONS) == []
    assert summary_figures(grid_table(), {"not_a_score": True}) == []


def best_table() -> pd.DataFrame:
    """K-Means on one dataset, four seeds, where the best single run is not the best mean."""
    nan = np.nan
    scores = {
        2: ([0.3, 0.3, 0.3, 0.3], [0.5, 0.5, 0.6, 0.5]),
        3: ([0.99, 0.1, 0.2, 0.1], [0.1, 2.0, 2.0, 2.0]),
        4: ([0.5, nan, 0.8, 0.6], [0.8, 0.9, 1.0, 0.9]),
        5: ([nan] * 4, [nan] * 4),
    }
    rows = [
        {
            "dataset": "blobs",
            "algorithm": "kmeans",
            "seed": seed,
            "dataset.n_samples": 100,
            "algorithm.n_clusters": k,
            "silhouette": sil[seed],
            "davies_bouldin": db[seed],
            "run_id": f"k{k}-s{seed}",
        }
        for k, (sil, db) in scores.items()
        for seed in range(4)
    ]
    rows += [
        {
            "dataset": "blobs",
            "algorithm": "dbscan",
            "seed": seed,
            "dataset.n_samples": 100,
            "algorithm.eps": eps,
            "silhouette": nan if eps == 0.1 else 0.1 * seed,
            "davies_bouldin": 1.0 + eps,
            "run_id": f"eps{eps}-s{seed}",
        }
        for eps in (0.1, 0.2)
        for seed in range(2)
    ]
    rows += [
        {
            "dataset": "uniform",
            "algorithm": "dbscan",
            "seed": 0,
            "dataset.n_samples": 100,
            "algorithm.eps": 0.3,
            "silhouette": nan,
            "davies_bouldin": 2.5,
            "run_id": "uniform",
        }
    ]
    return pd.DataFrame(rows)


def test_best_trials_follow_each_scores_direction_on_seed_means() -> None:
    table = best_trials(best_table(), DIRECTIONS)
    assert list(table.columns) == [
        *BEST_COLUMNS,
        "dataset.n_samples",
        "algorithm.n_clusters",
        "algorithm.eps",
    ]
    kmeans = table[table["algorithm"] == "kmeans"].set_index("metric")
    silhouette = kmeans.loc["silhouette"]
    # Highest mean, its undefined seed ignored (the single best run, 0.99, loses).
    assert silhouette["algorithm.n_clusters"] == 4
    assert silhouette["score"] == pytest.approx((0.5 + 0.8 + 0.6) / 3)
    assert (silhouette["score_min"], silhouette["score_max"]) == (0.5, 0.8)
    assert silhouette["n_seeds"] == 3
    assert silhouette["setting"] == "algorithm.n_clusters=4"
    assert (silhouette["seed"], silhouette["run_id"]) == (3, "k4-s3")  # closest to the mean
    assert bool(silhouette["greater_is_better"]) is True
    davies_bouldin = kmeans.loc["davies_bouldin"]
    # Lowest mean wins for a smaller-is-better score.
    assert davies_bouldin["algorithm.n_clusters"] == 2
    assert davies_bouldin["score"] == pytest.approx(0.525)
    assert davies_bouldin["run_id"] == "k2-s0"
    assert bool(davies_bouldin["greater_is_better"]) is False


def test_best_trials_skip_settings_and_groups_without_a_defined_score() -> None:
    table = best_trials(best_table(), DIRECTIONS)
    blobs = table[(table["dataset"] == "blobs") & (table["algorithm"] == "dbscan")]
    best = blobs.set_index("metric")
    assert best.loc["silhouette", "algorithm.eps"] == 0.2
    assert best.loc["silhouette", "score"] == pytest.approx(0.05)
    assert best.loc["davies_bouldin", "algorithm.eps"] == 0.1
    uniform = table[table["dataset"] == "uniform"]
    assert list(uniform["metric"]) == ["davies_bouldin"]
    assert uniform["setting"].iloc[0] == ""  # nothing varies in a single trial


def test_best_trials_html_is_a_page_with_one_row_per_best_trial() -> None:
    df = best_table()
    df.loc[df["dataset"] == "uniform", "dataset"] = "<script>x</script>"
    table = best_trials(df, DIRECTIONS)
    page = best_trials_html(table)
    assert page.startswith("<!DOCTYPE html>")
    assert "<h1>Best trials</h1>" in page
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == len(table)
    headers = re.findall(r"<th>(.*?)</th>", page)
    assert headers == [
        "dataset",
        "algorithm",
        "metric",
        "better",
        "score",
        "score_min",
        "score_max",
        "n_seeds",
        "setting",
        "seed",
        "run_id",
    ]
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "k4-s3" in page and "lower" in page and "higher" in page
