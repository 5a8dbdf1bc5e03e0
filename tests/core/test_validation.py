"""Checking an experiment against its plugins: names, parameters and values, all at once."""

from __future__ import annotations

import types
from typing import Literal

import pytest

from clusterlab import hookimpl
from clusterlab.checks import check_against_plugins
from clusterlab.errors import ExperimentError
from clusterlab.loading import load_experiment
from clusterlab.plugins import build_plugins
from tests.core import toy_plugin

GOOD = """\
name: v
datasets:
  - name: toy_blobs
    params: {n_samples: 40}
    preprocess: [scale]
algorithms:
  - name: toy_kmeans
    grid: {n_clusters: [2, 3]}
metrics: [toy_silhouette, toy_ari]
"""


@pytest.fixture(scope="module")
def registry():
    return build_plugins(autoload=False, extra=[("toy", toy_plugin)]).registry


def check(tmp_path, registry, text, **kwargs):
    path = tmp_path / "e.yaml"
    path.write_text(text)
    loaded = load_experiment(path)
    check_against_plugins(loaded, registry, **kwargs)
    return path


def test_good_file_passes(tmp_path, registry):
    check(tmp_path, registry, GOOD)


def test_misspelt_algorithm_names_line_and_suggests(tmp_path, registry):
    with pytest.raises(ExperimentError) as info:
        check(tmp_path, registry, GOOD.replace("name: toy_kmeans", "name: toy_kmean"))
    path = tmp_path / "e.yaml"
    assert str(info.value) == (
        f"{path}:7: algorithms[0].name: unknown algorithm 'toy_kmean'; did you mean 'toy_kmeans'?"
    )
    assert info.value.exit_code == 2


def test_every_problem_is_reported_together(tmp_path, registry):
    text = (
        GOOD.replace("n_samples: 40", "n_sample: 40")
        .replace("n_clusters: [2, 3]", "n_cluster: [2, 3]")
        .replace("[toy_silhouette, toy_ari]", "[toy_silhoutte]")
        .replace("[scale]", "[scal]")
    )
    with pytest.raises(ExperimentError) as info:
        check(tmp_path, registry, text)
    problems = info.value.problems
    assert len(problems) == 4
    assert any(":4: datasets[0].params.n_sample:" in p and "'n_samples'" in p for p in problems)
    assert any(":8: algorithms[0].grid.n_cluster:" in p and "'n_clusters'" in p for p in problems)
    assert any(
        "unknown metric 'toy_silhoutte'; did you mean 'toy_silhouette'" in p for p in problems
    )
    assert any("unknown preprocess step 'scal'; did you mean 'scale'" in p for p in problems)


def test_invalid_values_are_caught_by_the_estimators_own_checks(tmp_path, registry):
    with pytest.raises(ExperimentError) as info:
        check(tmp_path, registry, GOOD.replace("n_clusters: [2, 3]", "n_clusters: [0, 3]"))
    assert ":8: algorithms[0].grid.n_clusters: invalid value:" in str(info.value)
    assert "n_clusters" in str(info.value)


def test_ground_truth_metric_on_unlabelled_data_is_rejected(tmp_path, registry):
    text = GOOD.replace("name: toy_blobs", "name: toy_noise").replace(
        "params: {n_samples: 40}", "params: {n_samples: 30}"
    )
    with pytest.raises(ExperimentError, match="'toy_ari' needs ground-truth labels"):
        check(tmp_path, registry, text)


def test_context_arguments_cannot_be_set(tmp_path, registry):
    text = GOOD.replace("grid: {n_clusters: [2, 3]}", "params: {random_state: 3}")
    with pytest.raises(ExperimentError, match="'random_state' is set by clusterlab itself"):
        check(tmp_path, registry, text)


def test_grid_over_the_limit(tmp_path, registry):
    text = GOOD.replace("[2, 3]", "{range: [2, 40]}")
    with pytest.raises(ExperimentError, match="39 trials, over the limit of 10"):
        check(tmp_path, registry, text, max_trials=10)


def test_each_bad_value_is_reported_at_its_own_key_with_what_is_allowed(tmp_path, registry):
    text = GOOD.replace("n_clusters: [2, 3]", "n_clusters: [0, 3, -2], n_init: [1]").replace(
        "name: toy_kmeans\n", "name: toy_kmeans\n    params: {algorithm: fastest}\n"
    )
    with pytest.raises(ExperimentError) as info:
        check(tmp_path, registry, text)
    problems = info.value.problems
    assert len(problems) == 3
    assert (
        ":8: algorithms[0].params.algorithm: invalid value: algorithm='fastest'; " in (problems[0])
    )
    # scikit-learn prints the options of a set, in its order
    assert "algorithm 'toy_kmeans' takes a str among {" in problems[0]
    assert "'lloyd'" in problems[0] and "'elkan'" in problems[0]
    assert ":9: algorithms[0].grid.n_clusters: invalid value: n_clusters=0;" in problems[1]
    assert "takes an int in the range [1, inf)" in problems[1]
    assert ":9: algorithms[0].grid.n_clusters: invalid value: n_clusters=-2;" in problems[2]


def test_a_paired_axis_value_is_checked_at_the_pair(tmp_path, registry):
    text = GOOD.replace("n_clusters: [2, 3]", "'n_clusters, n_init': [[2, 1], [3, 0]]")
    with pytest.raises(ExperimentError) as info:
        check(tmp_path, registry, text)
    assert info.value.problems == [
        f"{tmp_path / 'e.yaml'}:8: algorithms[0].grid.n_clusters, n_init: invalid value: "
        "n_init=0; algorithm 'toy_kmeans' takes a str among {'auto'} or an int in the range "
        "[1, inf)"
    ]


class _Declared:
    """An estimator declaring its constraints without scikit-learn's ``_validate_params``."""

    _parameter_constraints = {"k": [int], "shape": ["no_validation"]}  # noqa: RUF012

    def __init__(self, k=2, shape="round", mode: Literal["fast", "exact"] = "fast"):
        self.k, self.shape, self.mode = k, shape, mode

    def fit(self, X):
        return self


def test_values_are_checked_from_the_declared_table_and_literal_annotations(tmp_path):
    def algorithms(register):
        register("declared", _Declared)

    plugin = types.ModuleType("declared_plugin")
    plugin.register_algorithms = hookimpl(algorithms)
    registry = build_plugins(autoload=False, extra=[("toy", toy_plugin), ("d", plugin)]).registry
    assert registry.get("algorithm", "declared").params["mode"].choices == ("fast", "exact")
    text = GOOD.replace("name: toy_kmeans", "name: declared").replace(
        "grid: {n_clusters: [2, 3]}", "grid: {k: [2, two], shape: [any], mode: [fast, slow]}"
    )
    with pytest.raises(ExperimentError) as info:
        check(tmp_path, registry, text)
    assert [p.split(": ", 1)[1] for p in info.value.problems] == [
        "algorithms[0].grid.k: invalid value: k='two'; algorithm 'declared' takes an instance "
        "of 'int'",
        "algorithms[0].grid.mode: invalid value: mode='slow'; algorithm 'declared' takes one "
        "of 'fast', 'exact'",
    ]


@pytest.mark.parametrize(
    ("plots", "where"),
    [("plots: [nope]", ":10: plots[0]:"), ("plots:\n  names: [nope]", ":11: plots.names[0]:")],
)
def test_an_unknown_plot_is_named_where_the_file_lists_it(tmp_path, registry, plots, where):
    with pytest.raises(ExperimentError) as info:
        check(tmp_path, registry, GOOD + plots + "\n")
    assert f"{where} unknown plot 'nope'" in str(info.value)
