"""The built-in metrics plugin registers every score with its direction and needs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

import clusterlab_metrics.plugin
from clusterlab.plugins import build_plugins

# name -> (greater_is_better, needs_ground_truth)
EXPECTED = {
    "silhouette": (True, False),
    "davies_bouldin": (False, False),
    "calinski_harabasz": (True, False),
    "inertia": (False, False),
    "dunn": (True, False),
    "adjusted_rand": (True, True),
    "adjusted_mutual_info": (True, True),
    "normalized_mutual_info": (True, True),
    "homogeneity": (True, True),
    "completeness": (True, True),
    "v_measure": (True, True),
    "fowlkes_mallows": (True, True),
    "cluster_accuracy": (True, True),
    "normalized_clustering_accuracy": (True, True),
    "pair_sets_index": (True, True),
    "bic": (False, False),
    "aic": (False, False),
    "log_likelihood": (True, False),
}
# Scores of the labels; the likelihood scores read the fitted model instead (and take no
# noise option), and are tested in test_likelihood.py.
LABEL_SCORES = sorted(set(EXPECTED) - {"bic", "aic", "log_likelihood"})


@pytest.fixture(scope="module")
def registry():
    plugins = build_plugins(autoload=False, extra=[("metrics", clusterlab_metrics.plugin)])
    return plugins.registry


def test_registers_exactly_the_built_in_metrics(registry):
    assert registry.names("metric") == sorted(EXPECTED)
    for kind in ("algorithm", "dataset", "plot", "preprocessor"):
        assert registry.names(kind) == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_direction_and_ground_truth(registry, name):
    entry = registry.get("metric", name)
    assert (entry.greater_is_better, entry.needs_ground_truth) == EXPECTED[name]
    assert entry.plugin == "metrics"
    assert entry.description
    assert entry.accepts("noise") == (name in LABEL_SCORES)
    assert not entry.accepts("unknown_option")


def test_silhouette_options_and_context(registry):
    entry = registry.get("metric", "silhouette")
    assert set(entry.params) == {"sample_size", "noise"}
    assert entry.context == {"random_state"}


@pytest.mark.parametrize("name", LABEL_SCORES)
def test_registered_callable_scores_a_result(registry, name):
    # Called as the runner calls it: positional (X, labels, y_true, estimator).
    X, y = make_blobs(120, 3, centers=3, random_state=0)
    labels = y.copy()
    labels[:5] = -1
    entry = registry.get("metric", name)
    kwargs = {"random_state": 0} if "random_state" in entry.context else {}
    if name == "normalized_clustering_accuracy":
        # Defined for as many clusters as classes: the noise must not count as a fourth.
        kwargs["noise"] = "exclude"
    value = entry.obj(
        torch.from_numpy(X), labels, y if entry.needs_ground_truth else None, None, **kwargs
    )
    assert isinstance(value, float)
    assert np.isfinite(value)
