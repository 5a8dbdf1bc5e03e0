"""Loading an experiment: overrides, the caller's executor choice and the lines they leave."""

from __future__ import annotations

import pytest

from clusterlab.errors import ExperimentError
from clusterlab.loading import load_experiment
from clusterlab.overrides import apply_overrides, parse_overrides

TEXT = """\
name: e
datasets:
  - name: blobs
algorithms:
  - name: kmeans
    grid:
      n_clusters: [2, 3]
executor:
  name: processes
  workers: 2
"""


@pytest.fixture
def path(tmp_path):
    file = tmp_path / "e.yaml"
    file.write_text(TEXT)
    return file


def test_an_executor_name_the_file_already_names_keeps_its_options(path):
    loaded = load_experiment(path, executor="processes")
    assert loaded.experiment.executor.name == "processes"
    assert loaded.experiment.executor.options == {"workers": 2}
    assert loaded.source.line_of(("executor", "workers")) == 10


def test_another_executor_name_drops_the_files_options_and_their_lines(path):
    loaded = load_experiment(path, executor="local")
    assert loaded.experiment.executor.name == "local"
    assert loaded.experiment.executor.options == {}
    assert not [loc for loc in loaded.source.lines if loc[:1] == ("executor",)]
    assert loaded.raw["executor"] == {"name": "local"}


def test_an_executor_mapping_replaces_the_whole_entry(path):
    loaded = load_experiment(path, executor={"name": "ray", "address": "auto"})
    assert loaded.experiment.executor.name == "ray"
    assert loaded.experiment.executor.options == {"address": "auto"}
    assert loaded.source.line_of(("executor", "workers")) is None


def test_a_name_when_the_file_names_no_executor(tmp_path):
    file = tmp_path / "plain.yaml"
    file.write_text(TEXT.split("executor:")[0])
    assert load_experiment(file, executor="local").experiment.executor.name == "local"
    chosen = load_experiment(file, executor="processes").experiment.executor
    assert (chosen.name, chosen.options) == ("processes", {})


def test_an_overridden_key_forgets_the_lines_beneath_it(path):
    loaded = load_experiment(path, ["algorithms.0.grid={n_clusters: [4]}"])
    # the grid's lines are gone; a message about it points at its algorithm
    assert ("algorithms", 0, "grid") not in loaded.source.lines
    assert ("algorithms", 0, "grid", "n_clusters") not in loaded.source.lines
    assert loaded.source.line_of(("algorithms", 0, "grid", "n_clusters")) == 5
    assert loaded.experiment.algorithms[0].grid == {"n_clusters": [4]}


def test_a_schema_error_after_an_override_points_at_no_stale_line(path):
    with pytest.raises(ExperimentError) as info:
        load_experiment(path, ["algorithms.0.grid.n_clusters=[]"])
    assert str(info.value) == (
        f"{path}:6: algorithms[0].grid.n_clusters: a grid axis needs at least one value"
    )


def test_overrides_from_strings_and_mappings():
    assert parse_overrides(["seeds=[0, 1]", "device=cpu", "description="]) == [
        ("seeds", [0, 1]),
        ("device", "cpu"),
        ("description", ""),
    ]
    raw = {"name": "e", "algorithms": [{"name": "kmeans"}]}
    data, touched = apply_overrides(raw, {"algorithms.0.params.n_init": 3})
    assert data["algorithms"][0]["params"] == {"n_init": 3}
    assert "params" not in raw["algorithms"][0]
    assert touched == [("algorithms", 0, "params", "n_init")]
    with pytest.raises(ExperimentError, match="expected KEY=VALUE"):
        parse_overrides(["seeds"])
    with pytest.raises(ExperimentError, match="index 4 is past the end"):
        apply_overrides(raw, {"algorithms.4": {}})


def test_a_key_inside_the_list_form_of_plots_sets_its_mapping_form(tmp_path):
    file = tmp_path / "e.yaml"
    file.write_text(TEXT + "plots: [scatter]\n")
    loaded = load_experiment(file, ["plots.format=svg", "plots.dpi=150"])
    plots = loaded.experiment.plots
    assert (list(plots), plots.format, plots.dpi) == (["scatter"], "svg", 150)
    # an index still addresses the list itself, and other lists keep refusing keys
    data, _ = apply_overrides({"plots": ["scatter"]}, {"plots.0": "dendrogram"})
    assert data == {"plots": ["dendrogram"]}
    with pytest.raises(ExperimentError, match="cannot set a key inside a list"):
        apply_overrides({"seeds": [0, 1]}, {"seeds.x": 1})
