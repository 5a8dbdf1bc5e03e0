"""Trial run names: swept values first, short, unique within a grid, and no part of the
trial's hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from clusterlab.grid import expand_trials
from clusterlab.loading import parse_experiment
from clusterlab.yamlfile import parse_yaml

GRID = """\
name: names
seeds: [0, 1]
datasets:
  - name: blobs
    params: {n_samples: 200}
    grid: {cluster_std: [0.5, 1.0]}
  - name: uniform
algorithms:
  - name: kmeans
    grid:
      n_clusters: {range: [2, 4]}
  - name: dbscan
    grid: {eps: [0.05, 0.1], min_samples: [5, 10]}
  - name: agglomerative
    label: ward
"""


def trials(text: str = GRID) -> list:
    raw, source = parse_yaml(text, "names.yaml")
    return expand_trials(parse_experiment(raw, source))


def test_swept_values_come_first_then_labels_and_the_seed() -> None:
    names = [t.run_name for t in trials()]
    assert "n_clusters=2 · kmeans · uniform · s1" in names
    assert "cluster_std=1.0 · ward · blobs · s0" in names
    # several values swept: names of several words shrink to their initials
    assert "nc=4 cs=0.5 · kmeans · blobs · s0" in names
    assert "eps=0.05 ms=10 · dbscan · uniform · s0" in names
    # nothing swept: the labels (an entry's own label where it has one) and the seed
    assert "ward · uniform · s1" in names


def test_names_are_unique_within_the_grid_and_short() -> None:
    grid = trials()
    names = [t.run_name for t in grid]
    assert len(set(names)) == len(grid) == 2 * 3 * (3 + 4 + 1)
    assert max(len(t.run_name) for t in grid if len(t.swept) <= 2) <= 40
    assert max(map(len, names)) <= 45  # three values swept


def test_initials_that_would_read_the_same_keep_the_full_names() -> None:
    text = GRID.replace("n_clusters: {range: [2, 4]}", "{n_init: [1, 2], n_iter: [5]}")
    names = {t.run_name for t in trials(text)}
    assert "n_init=2 n_iter=5 · kmeans · uniform · s0" in names


def test_the_hash_is_the_configuration_s_digest_whatever_the_name() -> None:
    trial = trials()[0]
    expected = json.dumps(trial.config, sort_keys=True, separators=(",", ":"), default=repr)
    assert trial.hash == hashlib.sha256(expected.encode()).hexdigest()[:16]
    relabelled = dataclasses.replace(trial, algorithm_label="renamed", dataset_label="other")
    assert relabelled.run_name != trial.run_name
    assert relabelled.hash == trial.hash


def test_values_read_as_compact_json_except_text() -> None:
    text = GRID.replace("grid: {eps: [0.05, 0.1], min_samples: [5, 10]}", "grid: {eps: [0.3]}")
    text = text.replace("n_clusters: {range: [2, 4]}", "init: [random]")
    names = {t.run_name for t in trials(text)}
    assert "eps=0.3 · dbscan · uniform · s0" in names
    assert "init=random · kmeans · uniform · s0" in names
