"""Tests of the grid summaries: score-against-parameter figures and the best-trial table,
checked against the figures' artists and means and spreads computed with numpy."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.markers import MarkerStyle

from clusterlab.comparison import BEST_COLUMNS, best_trials, best_trials_html
from clusterlab.summary import BEST_LABEL, BEST_MARKER, summary_figures, swept_columns

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


def linkage_table() -> pd.DataFrame:
    """Agglomerative trials: numeric n_clusters x categorical linkage, three seeds, on
    three datasets, one of which never has a silhouette; two points miss a seed."""
    rng = np.random.default_rng(1)
    rows = [
        {
            "dataset": dataset,
            "algorithm": "agglomerative",
            "seed": seed,
            "dataset.n_samples": 100,
            "algorithm.n_clusters": k,
            "algorithm.linkage": linkage,
            "silhouette": np.nan if dataset == "uniform" else rng.uniform(0.0, 0.8),
            "davies_bouldin": rng.uniform(0.3, 3.0),
            "run_id": f"{dataset}-{k}-{linkage}-{seed}",
        }
        for dataset in ("blobs", "moons", "uniform")
        for k in (2, 3, 4)
        for linkage in ("ward", "average")
        for seed in range(3)
    ]
    df = pd.DataFrame(rows)
    # One trial that never finished, and one seed whose silhouette is undefined.
    gone = (df["run_id"] == "blobs-3-ward-2").to_numpy()
    df = df[~gone].reset_index(drop=True)
    df.loc[df["run_id"] == "moons-4-average-0", "silhouette"] = np.nan
    return df


def seed_scores(df: pd.DataFrame, dataset: str, score: str, **params: Any) -> np.ndarray:
    """The defined scores of ``dataset``'s trials at ``params``, one per seed."""
    mask = (df["dataset"] == dataset).to_numpy().copy()
    for name, value in params.items():
        mask &= (df[f"algorithm.{name}"] == value).to_numpy()
    values = df.loc[mask, score].to_numpy(dtype=float)
    return values[~np.isnan(values)]


def data_lines(axes: Axes) -> dict[str, Line2D]:
    """The axes' labelled lines (error bars' own lines and helpers carry ``_`` labels)."""
    return {line.get_label(): line for line in axes.lines if not line.get_label().startswith("_")}


def legend_texts(axes: Axes) -> list[str]:
    return [text.get_text() for text in axes.get_legend().get_texts()]


def stars(axes: Axes) -> list[Any]:
    """The best-mean markers: scatter collections drawn with the star marker."""
    marker = MarkerStyle(BEST_MARKER)
    star = marker.get_path().transformed(marker.get_transform())
    return [
        c
        for c in axes.collections
        if isinstance(c, PathCollection) and np.allclose(c.get_paths()[0].vertices, star.vertices)
    ]


LINKAGE_LINES = [
    f"{d} · linkage={link}" for d in ("blobs", "moons") for link in ("ward", "average")
]


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
    svg = set(figures_by_name(grid_table(), image_format="svg"))
    assert svg == {name.removesuffix(".png") + ".svg" for name in expected}


def test_numeric_axis_has_one_line_per_dataset_and_other_setting_never_averaged() -> None:
    df = linkage_table()
    figure = figures_by_name(df)["summary/agglomerative/silhouette_vs_n_clusters.png"]
    (axes,) = figure.axes
    lines = data_lines(axes)
    # Two datasets with a silhouette, each once per linkage: ward and average apart.
    assert list(lines) == LINKAGE_LINES
    assert legend_texts(axes) == [*LINKAGE_LINES, BEST_LABEL]
    for dataset, linkage in itertools.product(("blobs", "moons"), ("ward", "average")):
        line = lines[f"{dataset} · linkage={linkage}"]
        expected = [
            np.mean(seed_scores(df, dataset, "silhouette", n_clusters=k, linkage=linkage))
            for k in (2, 3, 4)
        ]
        np.testing.assert_allclose(line.get_xdata(), [2, 3, 4])
        np.testing.assert_allclose(line.get_ydata(), expected)
        assert line.get_linestyle() != "None"
    assert lines[LINKAGE_LINES[0]].get_color() == lines[LINKAGE_LINES[1]].get_color()
    assert lines[LINKAGE_LINES[0]].get_marker() != lines[LINKAGE_LINES[1]].get_marker()
    assert axes.get_xlabel() == "n_clusters"
    assert axes.get_ylabel() == "silhouette (higher is better)"
    assert "averaged" not in axes.get_title()


def test_numeric_band_spans_the_mean_plus_minus_the_sample_std() -> None:
    df = linkage_table()
    figure = figures_by_name(df)["summary/agglomerative/davies_bouldin_vs_n_clusters.png"]
    (axes,) = figure.axes
    lines = data_lines(axes)
    bands = [c for c in axes.collections if isinstance(c, PolyCollection)]
    assert len(bands) == len(lines) == 6  # uniform has a Davies-Bouldin index
    for band, (label, line) in zip(bands, lines.items(), strict=True):
        assert to_rgb(band.get_facecolor()[0]) == pytest.approx(to_rgb(line.get_color()))
        dataset, _, linkage = label.partition(" · linkage=")
        vertices = band.get_paths()[0].vertices
        for k in (2, 3, 4):
            values = seed_scores(df, dataset, "davies_bouldin", n_clusters=k, linkage=linkage)
            mean, std = np.mean(values), np.std(values, ddof=1)
            at_k = vertices[np.isclose(vertices[:, 0], k), 1]
            assert (at_k.min(), at_k.max()) == pytest.approx((mean - std, mean + std))
    assert "band: mean ± std over seeds" in axes.get_title()


def test_categorical_axis_draws_dodged_error_bars_and_no_line() -> None:
    df = linkage_table()
    figure = figures_by_name(df)["summary/agglomerative/silhouette_vs_linkage.png"]
    (axes,) = figure.axes
    assert [t.get_text() for t in axes.get_xticklabels()] == ["ward", "average"]
    containers = axes.containers
    assert all(isinstance(c, ErrorbarContainer) for c in containers)
    labels = [c.get_label() for c in containers]
    assert labels == [f"{d} · n_clusters={k}" for d in ("blobs", "moons") for k in (2, 3, 4)]
    # Markers only: not one line joins the categories.
    assert axes.lines and all(line.get_linestyle() == "None" for line in axes.lines)
    for container in containers:
        dataset, _, k = container.get_label().partition(" · n_clusters=")
        values = [
            seed_scores(df, dataset, "silhouette", n_clusters=int(k), linkage=link)
            for link in ("ward", "average")
        ]
        means = [np.mean(v) for v in values]
        stds = [np.std(v, ddof=1) for v in values]
        data_line, _, (bars,) = container.lines
        np.testing.assert_allclose(np.asarray(data_line.get_ydata(), dtype=float), means)
        ends = np.array([[segment[0][1], segment[1][1]] for segment in bars.get_segments()])
        np.testing.assert_allclose(ends.min(axis=1), np.subtract(means, stds))
        np.testing.assert_allclose(ends.max(axis=1), np.add(means, stds))
    # Each line is shifted a little, so that six points at one tick do not overlap.
    at_ward = [c.lines[0].get_xdata()[0] for c in containers]
    assert len(set(at_ward)) == len(containers)
    assert max(np.abs(at_ward)) < 0.5
    assert "bars: mean ± std over seeds" in axes.get_title()


@pytest.mark.parametrize(
    ("score", "pick"), [("silhouette", np.argmax), ("davies_bouldin", np.argmin)]
)
def test_each_datasets_best_mean_is_starred(score: str, pick: Any) -> None:
    df = linkage_table()
    figure = figures_by_name(df)[f"summary/agglomerative/{score}_vs_n_clusters.png"]
    (axes,) = figure.axes
    expected = set()
    for dataset in df["dataset"].unique():
        settings = list(itertools.product((2, 3, 4), ("ward", "average")))
        means = [
            np.mean(v)
            if len(v := seed_scores(df, dataset, score, n_clusters=k, linkage=link))
            else np.nan
            for k, link in settings
        ]
        if np.isnan(means).all():
            continue  # uniform has no silhouette, so no star
        best = int(pick(np.where(np.isnan(means), np.inf if pick is np.argmin else -np.inf, means)))
        expected.add((float(settings[best][0]), round(float(means[best]), 12)))
    drawn = {(float(x), round(float(y), 12)) for c in stars(axes) for x, y in c.get_offsets()}
    assert drawn == expected
    assert BEST_LABEL in legend_texts(axes)


def test_seed_counts_are_marked_where_they_vary() -> None:
    df = linkage_table()
    figures = figures_by_name(df)
    axes = figures["summary/agglomerative/silhouette_vs_n_clusters.png"].axes[0]
    marked = sorted((t.get_text(), tuple(np.round(t.xy, 12))) for t in axes.texts)
    blobs = seed_scores(df, "blobs", "silhouette", n_clusters=3, linkage="ward")
    moons = seed_scores(df, "moons", "silhouette", n_clusters=4, linkage="average")
    assert len(blobs) == len(moons) == 2
    assert marked == sorted(
        [
            ("n=2", (3.0, round(float(np.mean(blobs)), 12))),
            ("n=2", (4.0, round(float(np.mean(moons)), 12))),
        ]
    )
    assert "mean over 2–3 seeds" in axes.get_title()
    # Every point over three seeds: no marks, and the title gives the one count.
    kmeans = figures_by_name(grid_table())["summary/kmeans/silhouette_vs_n_clusters.png"]
    assert list(kmeans.axes[0].texts) == []
    assert "mean over 3 seeds;" in kmeans.axes[0].get_title()


def test_lines_without_a_defined_score_are_named_in_the_figure() -> None:
    df = linkage_table()
    figures = figures_by_name(df)
    title = figures["summary/agglomerative/silhouette_vs_n_clusters.png"].axes[0].get_title()
    assert "no defined silhouette: uniform · linkage=ward, uniform · linkage=average" in title
    title = figures["summary/agglomerative/davies_bouldin_vs_n_clusters.png"].axes[0].get_title()
    assert "no defined" not in title
    # Not one line with a silhouette: no silhouette figure at all, the others still drawn.
    df["silhouette"] = np.nan
    names = set(figures_by_name(df))
    assert names == {
        "summary/agglomerative/davies_bouldin_vs_n_clusters.png",
        "summary/agglomerative/davies_bouldin_vs_linkage.png",
    }


def eps_table(datasets: Sequence[str], min_samples: Sequence[int]) -> pd.DataFrame:
    rows = [
        {
            "dataset": dataset,
            "algorithm": "dbscan",
            "seed": seed,
            "algorithm.eps": eps,
            "algorithm.min_samples": m,
            "silhouette": 0.1 * seed + eps + m / 100,
            "run_id": f"{dataset}-{eps}-{m}-{seed}",
        }
        for dataset in datasets
        for eps in (0.1, 0.2)
        for m in min_samples
        for seed in range(2)
    ]
    return pd.DataFrame(rows)


def test_more_than_eight_lines_get_one_subplot_per_dataset_or_per_setting() -> None:
    df = eps_table(["moons", "blobs"], [3, 5, 10, 20, 40])
    figure = dict(summary_figures(df, {"silhouette": True}))["summary/dbscan/silhouette_vs_eps.png"]
    assert [axes.get_title() for axes in figure.axes] == ["moons", "blobs"]
    for axes in figure.axes:
        labels = list(data_lines(axes))
        assert labels == [f"{axes.get_title()} · min_samples={m}" for m in (3, 5, 10, 20, 40)]
    assert "dbscan: silhouette against eps" in figure.get_suptitle()
    # One dataset with nine settings: one subplot per setting, each with its line.
    df = eps_table(["moons"], list(range(2, 11)))
    figure = dict(summary_figures(df, {"silhouette": True}))["summary/dbscan/silhouette_vs_eps.png"]
    shown = [axes for axes in figure.axes if axes.get_visible()]
    assert [axes.get_title() for axes in shown] == [f"min_samples={m}" for m in range(2, 11)]
    assert all(len(data_lines(axes)) == 1 for axes in shown)


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
    lines = data_lines(figure.axes[0])
    assert set(lines) == {"uniform", "blobs (cluster_std=0.5)", "blobs (cluster_std=1.0)"}
    np.testing.assert_allclose(lines["uniform"].get_xdata(), [2, 3, 4, 5])
    single = df[(df["dataset"] == "blobs") & (df["seed"] == 0)]
    np.testing.assert_allclose(
        lines["blobs (cluster_std=0.5)"].get_ydata(), single["silhouette"].to_numpy()
    )
    # The single seed's line gets no band; the others do.
    bands = [c for c in figure.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    assert "(none where n=1)" in figure.axes[0].get_title()


def test_a_single_seed_gets_no_spread_and_says_so() -> None:
    df = linkage_table()
    df = df[df["seed"] == 0]
    figures = figures_by_name(df)
    numeric = figures["summary/agglomerative/davies_bouldin_vs_n_clusters.png"].axes[0]
    assert not [c for c in numeric.collections if isinstance(c, PolyCollection)]
    assert "one seed per point: no spread to show" in numeric.get_title()
    assert "mean ±" not in numeric.get_title()
    assert list(numeric.texts) == []


def test_many_lines_without_a_score_are_counted_past_twelve() -> None:
    df = eps_table(["moons"], list(range(2, 17)))
    df.loc[df["algorithm.min_samples"] > 2, "silhouette"] = np.nan
    figure = dict(summary_figures(df, {"silhouette": True}))["summary/dbscan/silhouette_vs_eps.png"]
    title = " ".join(figure.axes[0].get_title().split())
    named = ", ".join(f"moons · min_samples={m}" for m in range(3, 15))
    assert f"no defined silhouette: {named} and 2 more" in title


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
