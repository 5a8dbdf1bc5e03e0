"""The external scores against scikit-learn, and cluster accuracy against a brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from sklearn import metrics

from clusterlab import ScoreUndefined
from clusterlab_metrics import external

SKLEARN = {
    "adjusted_rand": metrics.adjusted_rand_score,
    "adjusted_mutual_info": metrics.adjusted_mutual_info_score,
    "normalized_mutual_info": metrics.normalized_mutual_info_score,
    "homogeneity": metrics.homogeneity_score,
    "completeness": metrics.completeness_score,
    "v_measure": metrics.v_measure_score,
    "fowlkes_mallows": metrics.fowlkes_mallows_score,
}


def _labels(noise: bool) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth with 4 classes and a noisy clustering of it into 5 clusters."""
    rng = np.random.RandomState(0)
    y_true = rng.randint(0, 4, 300)
    labels = (y_true + 1) % 4  # a renaming: perfect up to the permutation
    flip = rng.rand(300) < 0.25
    labels[flip] = rng.randint(0, 5, flip.sum())
    if noise:
        labels[rng.rand(300) < 0.1] = -1
    return y_true, labels


def _brute_force_accuracy(y_true: np.ndarray, labels: np.ndarray, total: int) -> float:
    """Best one-to-one map of clusters to classes, by trying every permutation."""
    clusters, classes = sorted(set(labels)), sorted(set(y_true))
    size = max(len(clusters), len(classes))
    counts = np.zeros((size, size), dtype=int)  # zero padding: a cluster left unmatched
    for cluster, cls in zip(labels, y_true, strict=True):
        counts[clusters.index(cluster), classes.index(cls)] += 1
    best = max(
        sum(counts[row, col] for row, col in enumerate(chosen))
        for chosen in itertools.permutations(range(size))
    )
    return best / total


@pytest.mark.parametrize("noise", [False, True])
@pytest.mark.parametrize("name", list(SKLEARN))
def test_default_keeps_noise_as_one_label_like_sklearn(name, noise):
    y_true, labels = _labels(noise)
    expected = SKLEARN[name](y_true, labels)
    assert getattr(external, name)(None, labels, y_true, None) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", list(SKLEARN))
def test_exclude_scores_only_clustered_points(name):
    y_true, labels = _labels(noise=True)
    keep = labels != -1
    expected = SKLEARN[name](y_true[keep], labels[keep])
    value = getattr(external, name)(None, labels, y_true, None, noise="exclude")
    assert value == pytest.approx(expected, rel=1e-9)
    assert value != pytest.approx(SKLEARN[name](y_true, labels), rel=1e-9)


@pytest.mark.parametrize("name", list(SKLEARN))
def test_tensors_and_lists_are_accepted(name):
    y_true, labels = _labels(noise=True)
    expected = SKLEARN[name](y_true, labels)
    value = getattr(external, name)(None, torch.from_numpy(labels), list(y_true), None)
    assert value == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", [*SKLEARN, "cluster_accuracy"])
def test_missing_ground_truth_is_undefined(name):
    with pytest.raises(ScoreUndefined, match="ground-truth"):
        getattr(external, name)(None, np.array([0, 1, 1]), None, None)


@pytest.mark.parametrize("name", [*SKLEARN, "cluster_accuracy"])
def test_all_noise_excluded_is_undefined(name):
    with pytest.raises(ScoreUndefined, match="every point is noise"):
        getattr(external, name)(None, np.full(5, -1), np.arange(5), None, noise="exclude")


@pytest.mark.parametrize("name", [*SKLEARN, "cluster_accuracy"])
def test_length_mismatch_and_unknown_policy_are_rejected(name):
    score = getattr(external, name)
    with pytest.raises(ValueError, match="true labels"):
        score(None, np.array([0, 1, 1]), np.array([0, 1]), None)
    with pytest.raises(ValueError, match="noise must be one of"):
        score(None, np.array([0, 1]), np.array([0, 1]), None, noise="drop")


# Cluster accuracy.


@pytest.mark.parametrize("noise", [False, True])
def test_cluster_accuracy_matches_brute_force_with_noise_wrong(noise):
    y_true, labels = _labels(noise)
    clustered = labels != -1
    expected = _brute_force_accuracy(y_true[clustered], labels[clustered], len(labels))
    assert external.cluster_accuracy(None, labels, y_true, None) == pytest.approx(expected)


def test_cluster_accuracy_noise_policies():
    y_true, labels = _labels(noise=True)
    clustered = labels != -1
    excluded = _brute_force_accuracy(y_true[clustered], labels[clustered], clustered.sum())
    as_cluster = _brute_force_accuracy(y_true, labels, len(labels))
    score = external.cluster_accuracy
    assert score(None, labels, y_true, None, noise="exclude") == pytest.approx(excluded)
    assert score(None, labels, y_true, None, noise="cluster") == pytest.approx(as_cluster)
    assert score(None, labels, y_true, None, noise="wrong") < excluded


def test_cluster_accuracy_is_one_for_renamed_classes():
    y_true = np.array([0, 0, 1, 1, 2, 2, 3])
    assert external.cluster_accuracy(None, np.array([5, 5, 9, 9, 1, 1, 0]), y_true, None) == 1.0


def test_cluster_accuracy_with_more_clusters_than_classes():
    # Two clusters of class 0 can't both be matched: one of them is wrong.
    y_true = np.array([0, 0, 0, 0, 1, 1])
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert external.cluster_accuracy(None, labels, y_true, None) == pytest.approx(4 / 6)


def test_cluster_accuracy_of_only_noise_is_zero():
    assert external.cluster_accuracy(None, np.full(4, -1), np.array([0, 0, 1, 1]), None) == 0.0


def test_benchmark_scores_equal_genieclust_whatever_the_label_numbers() -> None:
    from genieclust import compare_partitions as gc

    rng = np.random.default_rng(3)
    truth = rng.integers(0, 4, 400)
    found = np.where(rng.random(400) < 0.8, truth, rng.integers(0, 4, 400))
    # Numbers with gaps and a -1 kept as a cluster: genieclust wants 0..k-1 on both sides.
    renamed_truth, renamed_found = truth * 3 + 5, np.array([-1, 7, 9, 20])[found]
    expected_nca = gc.normalized_clustering_accuracy(truth, found)
    expected_psi = gc.pair_sets_index(truth, found)
    assert external.normalized_clustering_accuracy(
        None, renamed_found, renamed_truth
    ) == pytest.approx(expected_nca)
    assert external.pair_sets_index(None, renamed_found, renamed_truth) == pytest.approx(
        expected_psi
    )
    assert external.normalized_clustering_accuracy(None, truth, truth) == 1.0
    # Three clusters against four classes: the pair sets index is defined, the accuracy not.
    merged = np.minimum(found, 2)
    assert external.pair_sets_index(None, merged, truth) == pytest.approx(
        gc.pair_sets_index(truth, merged)
    )
    with pytest.raises(ScoreUndefined, match="3 cluster\\(s\\) against 4 class\\(es\\)"):
        external.normalized_clustering_accuracy(None, merged, truth)
