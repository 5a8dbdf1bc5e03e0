"""Experiment files: YAML positions, the schema and grid expansion."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from clusterlab.errors import ExperimentError
from clusterlab.grid import count_trials, expand_trials
from clusterlab.loading import load_experiment, parse_experiment
from clusterlab.schema import expand_axis
from clusterlab.yamlfile import parse_yaml

BASE = """\
name: t
seeds: [0, 1]
datasets:
  - name: toy_blobs
    grid: {n_samples: [30, 60]}
algorithms:
  - name: toy_kmeans
    params: {n_init: 1}
    grid:
      n_clusters: {range: [2, 4]}
  - name: exploding
"""


def test_lines_are_recorded_for_nested_keys():
    _, source = parse_yaml(BASE, "e.yaml")
    assert source.line_of(("algorithms", 0, "grid", "n_clusters")) == 10
    assert source.where(("algorithms", 1, "name")) == "e.yaml:11"


def test_yaml_syntax_error_names_line_and_column():
    with pytest.raises(ExperimentError) as info:
        parse_yaml("name: t\ndatasets: [a, b\n", "bad.yaml")
    assert "bad.yaml:3:1" in str(info.value) or "bad.yaml:2" in str(info.value)
    assert "YAML syntax error" in str(info.value)


def test_unknown_top_level_key_is_reported_with_line_and_suggestion(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text(BASE + "metrix: [toy_ari]\n")
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    message = str(info.value)
    assert f"{path}:12: metrix: unknown key 'metrix'; did you mean 'metrics'?" in message


def test_range_includes_both_ends_and_linspace():
    assert expand_axis({"range": [2, 6]}) == [2, 3, 4, 5, 6]
    assert expand_axis({"range": [0.1, 0.3, 0.1]}) == [0.1, 0.2, 0.3]
    assert expand_axis({"linspace": [0, 1, 3]}) == [0.0, 0.5, 1.0]


def test_trial_count_is_product_of_axes_and_order_is_stable():
    raw, source = parse_yaml(BASE)
    experiment = parse_experiment(raw, source)
    trials = expand_trials(experiment)
    # 2 dataset sizes × 2 seeds × (3 kmeans settings + 1 exploding)
    assert len(trials) == count_trials(experiment) == 2 * 2 * (3 + 1)
    order = [(t.dataset_params["n_samples"], t.seed, t.algorithm) for t in trials]
    expected = [
        (n, seed, algo)
        for n, seed in itertools.product([30, 60], [0, 1])
        for algo in ["toy_kmeans"] * 3 + ["exploding"]
    ]
    assert order == expected
    assert [t.index for t in trials] == list(range(len(trials)))
    assert len({t.hash for t in trials}) == len(trials)


def test_paired_axes_vary_together():
    raw, source = parse_yaml(
        BASE.replace("n_clusters: {range: [2, 4]}", "n_clusters,n_init: [[2, 1], [5, 3]]").replace(
            "params: {n_init: 1}", "params: {}"
        )
    )
    trials = [t for t in expand_trials(parse_experiment(raw, source)) if t.algorithm != "exploding"]
    pairs = {(t.algorithm_params["n_clusters"], t.algorithm_params["n_init"]) for t in trials}
    assert pairs == {(2, 1), (5, 3)}


def test_param_in_both_params_and_grid_is_an_error():
    text = BASE.replace("params: {n_init: 1}", "params: {n_clusters: 3}")
    raw, source = parse_yaml(text, "e.yaml")
    with pytest.raises(ExperimentError, match="set both in params and grid"):
        parse_experiment(raw, source)


def test_trial_hash_is_the_same_in_another_process():
    raw, source = parse_yaml(BASE)
    hashes = [t.hash for t in expand_trials(parse_experiment(raw, source))]
    code = (
        "from clusterlab.loading import parse_experiment;"
        "from clusterlab.yamlfile import parse_yaml;"
        "from clusterlab.grid import expand_trials;"
        f"raw, s = parse_yaml({BASE!r});"
        "print(','.join(t.hash for t in expand_trials(parse_experiment(raw, s))))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other.split(",") == hashes


def test_overrides_set_nested_keys_and_parse_values(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text(BASE)
    loaded = load_experiment(path, ["seeds=[7]", "algorithms.0.params.n_init=4", "device=cpu"])
    assert loaded.experiment.seeds == [7]
    assert loaded.experiment.algorithms[0].params == {"n_init": 4}
    assert loaded.experiment.device == "cpu"
    with pytest.raises(ExperimentError, match=r"--set algorithms\.5\.name"):
        load_experiment(path, ["algorithms.5.name=x"])
