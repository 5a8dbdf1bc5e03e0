"""How figures are saved: the ``plots:`` option's forms, and the format and dpi of the
artifacts written for trial plots and summary figures, read back through MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient
from PIL import Image

from clusterlab.errors import ExperimentError
from clusterlab.loading import load_experiment
from clusterlab.results_table import log_parent_summary
from clusterlab.runner import run_experiment
from clusterlab.schema import Plots
from clusterlab.tracking import Tracker
from clusterlab.tracking.figures import log_figure
from clusterlab_plots import plugin as plots_plugin
from clusterlab_plots._style import FIGSIZE
from clusterlab_plots.scatter import PAIR_FIGSIZE
from tests.core.test_runner import child_runs, options

BASE = """\
name: t
datasets:
  - name: toy_blobs
algorithms:
  - name: toy_kmeans
"""
# The first bytes of each format's files.
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "svg": b"<?xml"}


def load(tmp_path: Path, text: str) -> Plots:
    path = tmp_path / "e.yaml"
    path.write_text(BASE + text)
    return load_experiment(path).experiment.plots


def test_plots_as_a_list_keep_png_at_100_dpi(tmp_path: Path) -> None:
    plots = load(tmp_path, "plots: [scatter, dendrogram]\n")
    assert (plots.names, plots.format, plots.dpi) == (["scatter", "dendrogram"], "png", 100)
    assert list(plots) == ["scatter", "dendrogram"] and len(plots) == 2
    assert not load(tmp_path, "")


def test_plots_as_a_mapping_set_the_format_and_dpi(tmp_path: Path) -> None:
    plots = load(tmp_path, "plots:\n  names: [scatter]\n  format: SVG\n  dpi: 150\n")
    assert (plots.names, plots.format, plots.dpi) == (["scatter"], "svg", 150)
    # Format and dpi for the summary figures alone, without a trial plot.
    plots = load(tmp_path, "plots: {format: pdf}\n")
    assert (plots.names, plots.format, plots.dpi) == ([], "pdf", 100)


@pytest.mark.parametrize(
    ("entry", "key", "message"),
    [
        ("format: jpg", "plots.format", "unknown image format 'jpg': use png, svg, pdf"),
        ("dpi: 0", "plots.dpi", "Input should be greater than or equal to 10"),
        ("dpi: true", "plots.dpi", "Input should be a valid integer"),
        ("dpis: 150", "plots.dpis", "unknown key 'dpis'; did you mean 'dpi'?"),
    ],
)
def test_a_bad_plots_option_names_its_line(
    tmp_path: Path, entry: str, key: str, message: str
) -> None:
    with pytest.raises(ExperimentError) as info:
        load(tmp_path, f"plots:\n  names: [scatter]\n  {entry}\n")
    line = len(BASE.splitlines()) + 3
    assert f"{tmp_path / 'e.yaml'}:{line}: {key}: {message}" in str(info.value)


def downloaded(store: str, run_id: str, path: str, tmp_path: Path) -> Path:
    """An artifact fetched by MLflow's own client, as a local file."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    return Path(MlflowClient(tracking_uri=store).download_artifacts(run_id, path, str(tmp_path)))


def test_trial_plots_are_saved_at_the_experiments_dpi(store: str, tmp_path: Path) -> None:
    experiment = {
        "name": "plot-dpi",
        "device": "cpu",
        "datasets": [{"name": "toy_blobs", "params": {"n_samples": 30}}, {"name": "toy_noise"}],
        "algorithms": [{"name": "toy_kmeans", "params": {"n_init": 1, "n_clusters": 2}}],
        "plots": {"names": ["scatter"], "dpi": 40},
    }
    result = run_experiment(experiment, options=options(store, extra=(("plots", plots_plugin),)))
    assert result.ok
    sizes = {}
    for run in child_runs(store, result.experiment_id):
        client = MlflowClient(tracking_uri=store)
        assert [a.path for a in client.list_artifacts(run.info.run_id, "plots")] == [
            "plots/scatter.png"
        ]
        local = downloaded(store, run.info.run_id, "plots/scatter.png", tmp_path / run.info.run_id)
        assert local.read_bytes().startswith(MAGIC["png"])
        with Image.open(local) as image:
            sizes[run.data.params["dataset"]] = image.size
    # The dataset with labels gets found and true labels side by side: the wider figure.
    assert sizes == {
        "toy_blobs": (round(PAIR_FIGSIZE[0] * 40), round(PAIR_FIGSIZE[1] * 40)),
        "toy_noise": (round(FIGSIZE[0] * 40), round(FIGSIZE[1] * 40)),
    }


@pytest.mark.parametrize("image_format", ["svg", "pdf"])
def test_a_figure_is_written_in_the_format_its_path_names(
    store: str, tmp_path: Path, image_format: str
) -> None:
    tracker = Tracker(store, "formats")
    run_id = tracker.start_run("trial", {})
    figure = Figure()
    figure.add_subplot().plot([0, 1], [1, 0])
    log_figure(tracker, run_id, figure, f"plots/line.{image_format}", dpi=72)
    data = downloaded(store, run_id, f"plots/line.{image_format}", tmp_path).read_bytes()
    assert data.startswith(MAGIC[image_format])
    if image_format == "svg":
        assert b"<svg" in data[:1000]


def summary_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "dataset": "blobs",
            "algorithm": "kmeans",
            "seed": [0, 1, 0, 1],
            "run_id": ["a", "b", "c", "d"],
            "algorithm.n_clusters": [2, 2, 3, 3],
            "silhouette": rng.uniform(0, 1, 4),
            "fit_time_s": rng.uniform(0, 1, 4),
        }
    )


@pytest.mark.parametrize(("plots", "extension"), [(Plots(format="pdf"), "pdf"), (None, "png")])
def test_summary_figures_follow_the_plots_format(
    store: str, tmp_path: Path, plots: Plots | None, extension: str
) -> None:
    tracker = Tracker(store, "summary-formats")
    parent = tracker.start_run("parent", {})
    directions = {"silhouette": True, "fit_time_s": False}
    swept = {("blobs", "kmeans"): ["algorithm.n_clusters"]}
    log_parent_summary(tracker, parent, summary_frame(), directions, swept, plots=plots)
    client = MlflowClient(tracking_uri=store)
    figures = sorted(a.path for a in client.list_artifacts(parent, "summary/kmeans"))
    assert figures == [
        f"summary/kmeans/fit_time_s_vs_n_clusters.{extension}",
        f"summary/kmeans/silhouette_vs_n_clusters.{extension}",
    ]
    for path in figures:
        local = downloaded(store, parent, path, tmp_path)
        assert local.read_bytes().startswith(MAGIC[extension])


def test_summary_png_pixel_size_follows_the_dpi(store: str, tmp_path: Path) -> None:
    tracker = Tracker(store, "summary-dpi")
    parent = tracker.start_run("parent", {})
    swept = {("blobs", "kmeans"): ["algorithm.n_clusters"]}
    plots = Plots(dpi=30)
    log_parent_summary(tracker, parent, summary_frame(), {"silhouette": True}, swept, plots=plots)
    path = "summary/kmeans/silhouette_vs_n_clusters.png"
    with Image.open(downloaded(store, parent, path, tmp_path)) as image:
        # The summary figure is 6.4 x 4.8 inches.
        assert image.size == (round(6.4 * 30), round(4.8 * 30))
