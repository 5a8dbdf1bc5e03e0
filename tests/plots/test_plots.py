"""Tests of the built-in plots: what each figure draws, checked against scikit-learn and scipy."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgb, to_rgba
from matplotlib.figure import Figure
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import cdist
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_samples, silhouette_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.neighbors import kneighbors_graph

from clusterlab.plotting import TrialView
from clusterlab.plugins import build_plugins
from clusterlab_plots import plugin as plots_plugin
from clusterlab_plots import silhouette_diagram as silhouette_module
from clusterlab_plots._data import subsample
from clusterlab_plots._style import NOISE_COLOR, PALETTE, label_color
from clusterlab_plots.dendrogram import dendrogram
from clusterlab_plots.k_distance import k_distance
from clusterlab_plots.scatter import (
    MAX_POINTS,
    TRIAL_FACTS,
    main_score,
    matched_colours,
    scatter,
)
from clusterlab_plots.silhouette_diagram import silhouette_diagram


def make_trial(X: Any, labels: Any, estimator: Any = None, **extra: Any) -> TrialView:
    extra.setdefault("swept", {"n_clusters": 3})
    extra.setdefault("y_true", None)
    return TrialView(
        X=np.asarray(X),
        labels=np.asarray(labels),
        estimator=estimator,
        dataset="blobs",
        algorithm="kmeans",
        **extra,
    )


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    X, _ = make_blobs(n_samples=300, centers=3, cluster_std=0.8, random_state=0)
    return X


@pytest.fixture(scope="module")
def fitted_kmeans(blobs: np.ndarray) -> KMeans:
    return KMeans(n_clusters=3, n_init=3, random_state=0).fit(blobs)


def point_collections(figure: Figure) -> dict[str, Any]:
    return {c.get_label(): c for c in figure.axes[0].collections}


def dashed_lines(figure: Figure) -> list[Any]:
    return [line for line in figure.axes[0].lines if line.get_linestyle() == "--"]


# --- style ---------------------------------------------------------------------------------


def test_noise_is_grey_and_clusters_never_are() -> None:
    assert label_color(-1) == NOISE_COLOR
    assert NOISE_COLOR not in {label_color(i) for i in range(50)}
    assert label_color(0) != label_color(1)
    assert label_color(len(PALETTE)) == label_color(0)


# --- scatter -------------------------------------------------------------------------------


def test_scatter_2d_draws_every_point_in_its_cluster_colour(
    blobs: np.ndarray, fitted_kmeans: KMeans
) -> None:
    labels = fitted_kmeans.labels_
    figure = scatter(make_trial(blobs, labels, fitted_kmeans))
    drawn = point_collections(figure)
    for label in range(3):
        points = drawn[f"cluster {label}"]
        np.testing.assert_allclose(points.get_offsets(), blobs[labels == label])
        assert to_rgb(points.get_facecolor()[0]) == pytest.approx(to_rgb(label_color(label)))
    np.testing.assert_allclose(drawn["centres"].get_offsets(), fitted_kmeans.cluster_centers_)
    title = figure.axes[0].get_title()
    assert title.startswith("kmeans (n_clusters=3) · blobs · seed 0")
    assert "3 clusters found" in title
    assert "PCA" not in title


def test_scatter_draws_noise_in_grey(blobs: np.ndarray) -> None:
    model = DBSCAN(eps=0.3, min_samples=8).fit(blobs)
    assert (model.labels_ == -1).any()
    figure = scatter(make_trial(blobs, model.labels_, model))
    noise = point_collections(figure)["noise"]
    assert len(noise.get_offsets()) == int((model.labels_ == -1).sum())
    assert to_rgb(noise.get_facecolor()[0]) == pytest.approx(to_rgb(NOISE_COLOR))
    assert "centres" not in point_collections(figure)
    found = len(set(model.labels_) - {-1})
    title = figure.axes[0].get_title()
    assert f"{found} clusters found" in title
    assert f"{int((model.labels_ == -1).sum())} noise points" in title


def test_scatter_projects_wide_data_and_centres_with_pca() -> None:
    X, _ = make_blobs(n_samples=400, n_features=16, centers=4, random_state=1)
    model = KMeans(n_clusters=4, n_init=3, random_state=0).fit(X)
    figure = scatter(make_trial(X, model.labels_, model))
    assert "PCA of 16-D" in figure.axes[0].get_title()
    drawn = point_collections(figure)
    shown = np.vstack([drawn[f"cluster {k}"].get_offsets() for k in range(4)])
    reference = PCA(n_components=2).fit_transform(X)
    expected = np.vstack([reference[model.labels_ == k] for k in range(4)])
    # Principal directions are defined up to sign.
    for axis in range(2):
        sign = np.sign(shown[:, axis] @ expected[:, axis])
        np.testing.assert_allclose(shown[:, axis], sign * expected[:, axis], atol=1e-8)
    # A centre is the mean of its points, and the projection is affine: the drawn centre
    # is the mean of the drawn points of its cluster.
    centres = drawn["centres"].get_offsets()
    for k in range(4):
        np.testing.assert_allclose(
            centres[k], drawn[f"cluster {k}"].get_offsets().mean(axis=0), atol=1e-8
        )


def test_scatter_plots_one_dimensional_data_against_zero() -> None:
    X = np.concatenate([np.linspace(0, 1, 20), np.linspace(5, 6, 30)])
    labels = np.repeat([0, 1], [20, 30])
    estimator = SimpleNamespace(cluster_centers_=torch.tensor([[0.5], [5.5]]))
    figure = scatter(make_trial(X, labels, estimator))
    drawn = point_collections(figure)
    offsets = drawn["cluster 1"].get_offsets()
    np.testing.assert_allclose(offsets[:, 0], X[20:])
    np.testing.assert_array_equal(offsets[:, 1], 0.0)
    np.testing.assert_allclose(drawn["centres"].get_offsets(), [[0.5, 0.0], [5.5, 0.0]])


def test_scatter_subsamples_large_data_and_says_so() -> None:
    n = MAX_POINTS + 10_000
    X = np.random.default_rng(0).normal(size=(n, 2))
    labels = (X[:, 0] > 0).astype(int)
    labels[:3] = 2  # a tiny cluster that the drawn sample may miss, but the title counts
    figure = scatter(make_trial(X, labels))
    drawn = sum(len(c.get_offsets()) for c in figure.axes[0].collections)
    assert drawn == MAX_POINTS
    title = figure.axes[0].get_title()
    assert f"{MAX_POINTS:,} of {n:,} points shown" in title
    assert "3 clusters found" in title


def test_scatter_with_many_clusters_colours_each_point_by_its_label() -> None:
    X = np.random.default_rng(1).normal(size=(400, 2))
    labels = np.arange(400) // 2 - 1  # 199 clusters of two points, and two noise points
    figure = scatter(make_trial(X, labels))
    drawn = point_collections(figure)
    assert set(drawn) == {"noise", "clusters"}
    np.testing.assert_allclose(drawn["clusters"].get_offsets(), X[2:])
    colours = drawn["clusters"].get_facecolor()[:, :3]
    expected = [to_rgb(label_color(label)) for label in labels[2:]]
    np.testing.assert_allclose(colours, expected)
    assert "199 clusters found" in figure.axes[0].get_title()


def test_scatter_with_ground_truth_draws_found_and_true_labels_side_by_side() -> None:
    X, y = make_blobs(n_samples=240, centers=3, cluster_std=0.6, random_state=2)
    model = KMeans(n_clusters=4, n_init=3, random_state=0).fit(X)
    figure = scatter(make_trial(X, model.labels_, model, y_true=y, swept={"n_clusters": 4}))
    found, truth = figure.axes
    assert found.get_shared_x_axes().joined(found, truth)
    assert found.get_title() == "4 clusters found"
    assert truth.get_title() == "ground truth: 3 classes"
    assert figure.get_suptitle().startswith("kmeans (n_clusters=4) · blobs · seed 0")
    left = {c.get_label(): c for c in found.collections}
    right = {c.get_label(): c for c in truth.collections}
    assert set(right) == {"class 0", "class 1", "class 2"}  # centres belong to the clusters
    np.testing.assert_allclose(left["centres"].get_offsets(), model.cluster_centers_)
    table = contingency_matrix(y, model.labels_)
    for k in range(3):
        np.testing.assert_allclose(right[f"class {k}"].get_offsets(), X[y == k])
        # A class takes the colour of the cluster holding most of its points, so that
        # agreement reads as one colour across the panels (a one-to-one pairing).
        majority = int(np.argmax(table[k]))
        colour = right[f"class {k}"].get_facecolor()[0]
        assert to_rgb(colour) == pytest.approx(to_rgb(label_color(majority)))
    colours = {to_rgb(right[f"class {k}"].get_facecolor()[0]) for k in range(3)}
    assert len(colours) == 3


def test_true_classes_without_a_cluster_get_colours_of_their_own() -> None:
    truth = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    found = np.array([5, 5, 5, 7, 7, 7, -1, -1])
    colours = matched_colours(truth, found)
    assert colours[0] == label_color(5) and colours[1] == label_color(7)
    # Class 2 was found as noise only: neither grey nor a colour a cluster has.
    assert colours[2] not in {label_color(5), label_color(7), NOISE_COLOR}


def test_text_ground_truth_is_numbered_in_sorted_order(blobs: np.ndarray) -> None:
    names = np.array(["setosa", "virginica", "setosa", "versicolor"] * 75)
    labels = np.zeros(len(blobs), dtype=int)
    figure = scatter(make_trial(blobs, labels, y_true=names))
    truth = {c.get_label(): c for c in figure.axes[1].collections}
    codes = {name: code for code, name in enumerate(sorted(set(names)))}
    for name, code in codes.items():
        np.testing.assert_allclose(truth[f"class {code}"].get_offsets(), blobs[names == name])


def test_scatter_without_matching_ground_truth_keeps_one_axes(blobs: np.ndarray) -> None:
    labels = np.zeros(len(blobs), dtype=int)
    figure = scatter(make_trial(blobs, labels, y_true=np.zeros(len(blobs) - 1, dtype=int)))
    assert len(figure.axes) == 1


def test_scatter_title_carries_the_fixed_parameters_and_the_first_metric(
    blobs: np.ndarray, fitted_kmeans: KMeans
) -> None:
    value = silhouette_score(blobs, fitted_kmeans.labels_)
    # The trial's facts come first among its scores, then the metrics in file order.
    scores = {
        "fit_time_s": 0.01,
        "n_clusters_found": 3.0,
        "noise_fraction": 0.0,
        "peak_memory_mb": 2.0,
        "silhouette": value,
        "davies_bouldin": 0.4,
    }
    params = {"n_clusters": 3, "init": "k-means++", "n_init": 3}
    trial = make_trial(
        blobs, fitted_kmeans.labels_, fitted_kmeans, algorithm_params=params, scores=scores
    )
    head, fixed, counts = figure_title(scatter(trial)).split("\n")
    assert head == "kmeans (n_clusters=3) · blobs · seed 0"
    assert fixed == f"init=k-means++, n_init=3 · silhouette {value:.4g}"
    assert counts == "3 clusters found"
    assert main_score(scores) == ("silhouette", value)
    # Facts alone are no score to show.
    only_facts = {k: v for k, v in scores.items() if k in TRIAL_FACTS}
    assert main_score(only_facts) is None
    trial = make_trial(blobs, fitted_kmeans.labels_, fitted_kmeans, scores=only_facts)
    assert figure_title(scatter(trial)).split("\n") == [head, counts]


def figure_title(figure: Figure) -> str:
    return figure.get_suptitle() or figure.axes[0].get_title()


# --- dendrogram ----------------------------------------------------------------------------


def test_dendrogram_cut_separates_the_clusters_found(blobs: np.ndarray) -> None:
    X = blobs[:25]
    model = AgglomerativeClustering(n_clusters=3, compute_distances=True).fit(X)
    figure = dendrogram(make_trial(X, model.labels_, model))
    (cut,) = dashed_lines(figure)
    height = cut.get_ydata()[0]
    merges = model.distances_
    assert merges[21] < height < merges[22]  # 25 - 3 merges made, the next one not
    # scipy's Ward tree is the same tree: cutting it at the line gives the same clusters.
    cut_labels = fcluster(linkage(X, "ward"), t=height, criterion="distance")
    assert adjusted_rand_score(cut_labels, model.labels_) == pytest.approx(1.0)
    axes = figure.axes[0]
    assert len(axes.get_xticklabels()) == 25
    assert axes.get_ylabel() == "merge distance"
    # Links under the cut carry their cluster's colour, as in the scatter plot.
    colours = {
        to_rgb(colour)
        for collection in axes.collections
        if isinstance(collection, LineCollection)
        for colour in collection.get_colors()
    }
    assert {to_rgb(label_color(k)) for k in range(3)} <= colours


def test_dendrogram_from_a_linkage_matrix_is_truncated_for_many_samples(
    blobs: np.ndarray,
) -> None:
    Z = linkage(blobs, "average")
    estimator = SimpleNamespace(linkage_matrix_=torch.from_numpy(Z), n_clusters=4)
    labels = fcluster(Z, t=4, criterion="maxclust") - 1
    figure = dendrogram(make_trial(blobs, labels, estimator))
    (cut,) = dashed_lines(figure)
    n = len(blobs)
    assert Z[n - 5, 2] < cut.get_ydata()[0] < Z[n - 4, 2]
    assert len(figure.axes[0].get_xticklabels()) == 30
    assert "last 30 merges" in figure.axes[0].get_xlabel()


def test_dendrogram_draws_a_distance_threshold_as_the_cut(blobs: np.ndarray) -> None:
    model = AgglomerativeClustering(n_clusters=None, distance_threshold=8.0).fit(blobs[:50])
    figure = dendrogram(make_trial(blobs[:50], model.labels_, model))
    (cut,) = dashed_lines(figure)
    np.testing.assert_allclose(cut.get_ydata(), 8.0)


def test_dendrogram_without_distances_uses_merge_steps(blobs: np.ndarray) -> None:
    model = AgglomerativeClustering(n_clusters=3, linkage="average").fit(blobs[:20])
    figure = dendrogram(make_trial(blobs[:20], model.labels_, model))
    assert figure.axes[0].get_ylabel() == "merge step"
    (cut,) = dashed_lines(figure)
    np.testing.assert_allclose(cut.get_ydata(), 20 - 3 + 0.5)


def test_dendrogram_does_not_apply_without_a_complete_tree(
    blobs: np.ndarray, fitted_kmeans: KMeans
) -> None:
    assert dendrogram(make_trial(blobs, fitted_kmeans.labels_, fitted_kmeans)) is None
    X = blobs[:40]
    partial = AgglomerativeClustering(
        n_clusters=3, compute_full_tree=False, connectivity=kneighbors_graph(X, 10)
    ).fit(X)
    assert len(partial.children_) < len(X) - 1
    assert dendrogram(make_trial(X, partial.labels_, partial)) is None


# --- k-distance ----------------------------------------------------------------------------


def test_k_distance_curve_and_eps_line_match_dbscan(blobs: np.ndarray) -> None:
    model = DBSCAN(eps=0.5, min_samples=6).fit(blobs)
    figure = k_distance(make_trial(blobs, model.labels_, model))
    curve, eps_line = figure.axes[0].lines
    # The 6th nearest neighbour counting the point itself, as min_samples counts.
    expected = np.sort(np.sort(cdist(blobs, blobs), axis=1)[:, 5])
    np.testing.assert_allclose(curve.get_ydata(), expected)
    np.testing.assert_allclose(eps_line.get_ydata(), 0.5)
    assert eps_line.get_linestyle() == "--"
    # Points on or below the line are exactly DBSCAN's core points.
    assert np.sum(curve.get_ydata() <= 0.5) == len(model.core_sample_indices_)
    core_share = len(model.core_sample_indices_) / len(blobs)
    assert f"{core_share:.1%} of points are core" in eps_line.get_label()
    assert "k = min_samples = 6" in figure.axes[0].get_title()


def test_k_distance_defaults_to_four_neighbours_without_min_samples(
    blobs: np.ndarray, fitted_kmeans: KMeans
) -> None:
    figure = k_distance(make_trial(blobs, fitted_kmeans.labels_, fitted_kmeans))
    (curve,) = figure.axes[0].lines
    expected = np.sort(np.sort(cdist(blobs, blobs), axis=1)[:, 3])
    np.testing.assert_allclose(curve.get_ydata(), expected)
    assert "k = 4 (default)" in figure.axes[0].get_title()


def test_k_distance_samples_queries_but_measures_against_all_points() -> None:
    n = 24_000
    X = np.random.default_rng(3).uniform(size=(n, 2))
    model = SimpleNamespace(min_samples=3, eps=0.01)
    figure = k_distance(make_trial(X, np.zeros(n, dtype=int), model, seed=5))
    curve = figure.axes[0].lines[0]
    assert len(curve.get_ydata()) == 20_000
    from sklearn.neighbors import NearestNeighbors

    full = NearestNeighbors(n_neighbors=3).fit(X).kneighbors(X)[0][:, -1]
    np.testing.assert_allclose(curve.get_ydata(), np.sort(full[subsample(n, 20_000, 5)]))
    assert "20,000 of 24,000 points shown" in figure.axes[0].get_title()


def test_k_distance_does_not_apply_to_fewer_points_than_k() -> None:
    model = SimpleNamespace(min_samples=10)
    assert k_distance(make_trial(np.zeros((5, 2)), np.zeros(5, dtype=int), model)) is None


# --- silhouette diagram --------------------------------------------------------------------


def test_silhouette_diagram_bands_and_mean_match_sklearn(
    blobs: np.ndarray, fitted_kmeans: KMeans
) -> None:
    labels = fitted_kmeans.labels_
    figure = silhouette_diagram(make_trial(blobs, labels, fitted_kmeans))
    axes = figure.axes[0]
    (mean_line,) = dashed_lines(figure)
    np.testing.assert_allclose(mean_line.get_xdata(), silhouette_score(blobs, labels))
    bands = [c for c in axes.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 3
    values = silhouette_samples(blobs, labels)
    for cluster, band in enumerate(bands):
        vertices = band.get_paths()[0].vertices
        assert vertices[:, 0].max() == pytest.approx(values[labels == cluster].max())
        assert vertices[:, 0].min() == pytest.approx(min(0.0, values[labels == cluster].min()))
        spread = vertices[:, 1].max() - vertices[:, 1].min()
        assert spread == pytest.approx((labels == cluster).sum() - 1)
        assert to_rgba(band.get_facecolor()[0])[:3] == pytest.approx(to_rgb(label_color(cluster)))
    assert [t.get_text() for t in axes.get_yticklabels()] == ["0", "1", "2"]


def test_silhouette_diagram_leaves_noise_out(blobs: np.ndarray) -> None:
    model = DBSCAN(eps=0.4, min_samples=8).fit(blobs)
    labels = model.labels_
    clustered = labels >= 0
    assert (~clustered).any() and len(set(labels[clustered])) >= 2
    figure = silhouette_diagram(make_trial(blobs, labels, model))
    (mean_line,) = dashed_lines(figure)
    expected = silhouette_score(blobs[clustered], labels[clustered])
    np.testing.assert_allclose(mean_line.get_xdata(), expected)
    assert f"{int((~clustered).sum())} noise points left out" in figure.axes[0].get_title()


def test_silhouette_diagram_needs_two_clusters(blobs: np.ndarray) -> None:
    labels = np.where(np.arange(len(blobs)) % 3 == 0, -1, 0)
    assert silhouette_diagram(make_trial(blobs, labels)) is None


def test_silhouette_diagram_samples_large_data(
    blobs: np.ndarray, fitted_kmeans: KMeans, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(silhouette_module, "MAX_SAMPLES", 120)
    figure = silhouette_diagram(make_trial(blobs, fitted_kmeans.labels_, fitted_kmeans))
    bands = [c for c in figure.axes[0].collections if isinstance(c, PolyCollection)]
    rows = sum(np.ptp(b.get_paths()[0].vertices[:, 1]) + 1 for b in bands)
    assert rows == pytest.approx(120)
    assert "120 of 300 points sampled" in figure.axes[0].get_title()


# --- registration --------------------------------------------------------------------------


def test_plugin_registers_the_plots_and_they_render(
    blobs: np.ndarray, fitted_kmeans: KMeans
) -> None:
    plugins = build_plugins(autoload=False, extra=[("plots", plots_plugin)])
    names = plugins.registry.names("plot")
    assert names == ["condensed_tree", "dendrogram", "k_distance", "scatter", "silhouette_diagram"]
    trial = make_trial(blobs, fitted_kmeans.labels_, fitted_kmeans)
    for name in ("scatter", "k_distance", "silhouette_diagram"):
        figure = plugins.registry.get("plot", name).obj(trial)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        assert buffer.getvalue().startswith(b"\x89PNG")


@pytest.mark.parametrize("large_values", [False, True])
def test_laying_out_once_saves_the_same_image(
    blobs: np.ndarray, fitted_kmeans: KMeans, large_values: bool
) -> None:
    from matplotlib.figure import Figure as MatplotlibFigure
    from matplotlib.image import imread

    from clusterlab.tracking.figures import lay_out_once

    # Long tick labels move the axes: the fixed layout must have made room for them too.
    scale = 1e5 if large_values else 1.0
    estimator = SimpleNamespace(cluster_centers_=fitted_kmeans.cluster_centers_ * scale)
    X = blobs * scale

    def png(figure: Figure) -> np.ndarray:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        buffer.seek(0)
        return imread(buffer, format="png")

    def draw() -> Figure:
        figure = scatter(make_trial(X, fitted_kmeans.labels_, estimator))
        assert figure is not None
        return figure

    reference = png(draw())
    fixed = draw()
    lay_out_once(fixed)
    assert fixed.get_layout_engine() is None
    draws = 0
    real_draw = MatplotlibFigure.draw

    def counted(self: MatplotlibFigure, renderer: object) -> None:
        nonlocal draws
        draws += 1
        real_draw(self, renderer)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MatplotlibFigure, "draw", counted)
        image = png(fixed)
    assert draws == 1  # the save draws once, with no layout pass
    np.testing.assert_array_equal(image, reference)


@pytest.mark.parametrize("scale", [1.0, 1e5, 1e-7])
def test_snug_layout_fits_the_decorations_as_constrained_layout_does(
    blobs: np.ndarray, fitted_kmeans: KMeans, scale: float
) -> None:
    X = blobs * scale
    estimator = SimpleNamespace(cluster_centers_=fitted_kmeans.cluster_centers_ * scale)
    figure = scatter(make_trial(X, fitted_kmeans.labels_, estimator))
    assert figure is not None
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    decorated = axes.get_tightbbox(renderer)
    # Every label, tick and the title inside the figure, with little room wasted.
    inside = figure.bbox
    assert decorated.x0 >= inside.x0 and decorated.y0 >= inside.y0
    assert decorated.x1 <= inside.x1 and decorated.y1 <= inside.y1
    assert decorated.width > 0.95 * inside.width
    assert decorated.height > 0.95 * inside.height
    # Matplotlib's constrained layout puts the axes within a few pixels of the same place.
    figure.set_layout_engine("constrained")
    figure.canvas.draw()
    constrained = axes.get_window_extent(renderer)
    figure.set_layout_engine("none")
    snug_figure = scatter(make_trial(X, fitted_kmeans.labels_, estimator))
    assert snug_figure is not None
    snug_figure.canvas.draw()
    snug = snug_figure.axes[0].get_window_extent(snug_figure.canvas.get_renderer())
    np.testing.assert_allclose(snug.extents, constrained.extents, atol=8)


def test_snug_layout_fits_a_row_of_panels_as_constrained_layout_does(
    blobs: np.ndarray, fitted_kmeans: KMeans
) -> None:
    """Found labels and ground truth side by side under the figure's title: every
    decoration inside the figure and below the title, the panels within a few pixels
    of where matplotlib's constrained layout puts them."""
    truth = fitted_kmeans.labels_[::-1].copy()

    def pair() -> Figure:
        figure = scatter(make_trial(blobs, fitted_kmeans.labels_, fitted_kmeans, y_true=truth))
        assert figure is not None and len(figure.axes) == 2
        return figure

    snug = pair()
    snug.canvas.draw()
    renderer = snug.canvas.get_renderer()
    title = snug._suptitle.get_window_extent(renderer)
    for axes in snug.axes:
        decorated = axes.get_tightbbox(renderer)
        assert decorated.x0 >= 0 and decorated.y0 >= 0
        assert decorated.x1 <= snug.bbox.x1 and decorated.y1 <= title.y0
    left, right = (a.get_window_extent(renderer) for a in snug.axes)
    assert left.x1 < right.x0
    assert left.width == pytest.approx(right.width) and left.y0 == pytest.approx(right.y0)
    constrained = pair()
    constrained.set_layout_engine("constrained")
    constrained.canvas.draw()
    for ours, theirs in zip(snug.axes, constrained.axes, strict=True):
        np.testing.assert_allclose(
            ours.get_window_extent(renderer).extents,
            theirs.get_window_extent(constrained.canvas.get_renderer()).extents,
            atol=8,
        )


def test_scatter_points_are_round_polygons_without_curves(
    blobs: np.ndarray, fitted_kmeans: KMeans
) -> None:
    from matplotlib.path import Path

    figure = scatter(make_trial(blobs, fitted_kmeans.labels_, fitted_kmeans))
    assert figure is not None
    for label, collection in point_collections(figure).items():
        if label == "centres":
            continue
        (path,) = collection.get_paths()
        codes = path.codes if path.codes is not None else np.array([Path.LINETO])
        # Straight edges only: extents need no Bézier roots, for data limits and legends.
        assert not np.isin(codes, [Path.CURVE3, Path.CURVE4]).any()
        corners = path.vertices[:-1]
        assert len(corners) >= 12
        radii = np.linalg.norm(corners, axis=1)
        # All corners on one circle about the point (matplotlib scales markers itself).
        np.testing.assert_allclose(radii, radii[0], rtol=1e-12)
        assert radii[0] > 0
