"""The sklearn plugin: scikit-learn's clusterers registered by name, fitted on torch tensors."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn import cluster, mixture
from sklearn.base import clone
from sklearn.datasets import make_blobs

import clusterlab_sklearn.plugin as sklearn_plugin
from clusterlab.plugins import build_plugins


@pytest.fixture(scope="module")
def registry():
    plugins = build_plugins(autoload=False, extra=[("sklearn", sklearn_plugin)])
    return plugins.registry


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return make_blobs(150, 3, centers=3, cluster_std=0.6, random_state=0)[0]


def _sklearn_class(name: str) -> type:
    short = name.removeprefix("sklearn.")
    return getattr(cluster, short, None) or getattr(mixture, short)


def test_registers_the_sample_clusterers_under_their_class_names(registry):
    names = set(registry.names("algorithm"))
    for expected in (
        "KMeans",
        "MiniBatchKMeans",
        "BisectingKMeans",
        "DBSCAN",
        "HDBSCAN",
        "OPTICS",
        "AgglomerativeClustering",
        "Birch",
        "MeanShift",
        "AffinityPropagation",
        "SpectralClustering",
        "GaussianMixture",
        "BayesianGaussianMixture",
    ):
        assert f"sklearn.{expected}" in names
    # These do not give one label per sample, so an experiment could not score them.
    for left_out in ("SpectralBiclustering", "SpectralCoclustering", "FeatureAgglomeration"):
        assert f"sklearn.{left_out}" not in names
    assert all(name.startswith("sklearn.") for name in names)


@pytest.mark.parametrize("name", ["sklearn.KMeans", "sklearn.HDBSCAN", "sklearn.GaussianMixture"])
def test_parameters_are_read_from_sklearn_signatures(registry, name):
    entry = registry.get("algorithm", name)
    signature = inspect.signature(_sklearn_class(name).__init__)
    expected = {
        p.name: p.default
        for p in signature.parameters.values()
        if p.name not in ("self", "random_state")
    }
    assert {key: param.default for key, param in entry.params.items()} == expected
    has_seed = "random_state" in signature.parameters
    assert entry.context == ({"random_state"} if has_seed else set())
    assert entry.accepts("min_samples") == ("min_samples" in expected)
    assert not entry.accepts("no_such_parameter")


def _params(cls: type) -> dict:
    accepted = inspect.signature(cls.__init__).parameters
    params = {"random_state": 0, "n_clusters": 3, "n_components": 3}
    return {key: value for key, value in params.items() if key in accepted}


@pytest.mark.parametrize("name", sorted(sklearn_plugin.sample_clusterers()))
def test_every_wrapped_class_on_a_tensor_matches_sklearn_on_numpy(registry, X, name):
    wrapped = registry.get("algorithm", f"sklearn.{name}").obj
    original = _sklearn_class(name)
    assert issubclass(wrapped, original) and wrapped.__name__ == name
    params = _params(original)
    ours = wrapped(**params).fit(torch.from_numpy(X))
    reference = original(**params).fit(X)
    expected = getattr(reference, "labels_", None)
    if expected is None:  # a mixture: the labels are its predictions
        expected = reference.predict(X)
    np.testing.assert_array_equal(ours.labels_, expected)
    assert len(ours.labels_) == len(X)


def test_a_mixture_gets_labels_and_accepts_tensors_everywhere(registry, X):
    wrapped = registry.get("algorithm", "sklearn.GaussianMixture").obj
    tensor = torch.from_numpy(X)
    model = wrapped(n_components=3, random_state=0).fit(tensor)
    reference = mixture.GaussianMixture(n_components=3, random_state=0).fit(X)
    np.testing.assert_array_equal(model.labels_, reference.predict(X))
    np.testing.assert_array_equal(model.predict(tensor), reference.predict(X))
    np.testing.assert_allclose(model.predict_proba(tensor), reference.predict_proba(X))
    assert model.score(tensor) == pytest.approx(reference.score(X))
    fresh = wrapped(n_components=3, random_state=0)
    np.testing.assert_array_equal(fresh.fit_predict(tensor), reference.predict(X))


def test_wrappers_clone_and_pickle_like_sklearn_estimators(registry, X):
    wrapped = registry.get("algorithm", "sklearn.KMeans").obj
    model = wrapped(n_clusters=3, random_state=0)
    assert model.get_params() == cluster.KMeans(n_clusters=3, random_state=0).get_params()
    assert repr(model) == "KMeans(n_clusters=3, random_state=0)"
    assert type(clone(model)) is wrapped
    model.fit(torch.from_numpy(X))
    restored = pickle.loads(pickle.dumps(model))
    assert type(restored) is wrapped
    np.testing.assert_array_equal(restored.predict(X), model.labels_)


def test_a_wrapped_class_without_per_sample_labels_is_refused():
    wrapped = sklearn_plugin.wrap(cluster.FeatureAgglomeration)
    data = np.random.default_rng(0).normal(size=(20, 6))
    with pytest.raises(TypeError, match="did not assign the 20 samples"):
        wrapped(n_clusters=2).fit(torch.from_numpy(data))


def test_sklearn_gets_a_copy_of_a_cpu_tensor():
    tensor = torch.arange(12, dtype=torch.float64).reshape(6, 2)
    array = sklearn_plugin.to_numpy(tensor)
    array[0, 0] = -1.0
    assert tensor[0, 0] == 0.0


def test_importing_the_plugin_does_not_import_sklearn():
    code = "import sys, clusterlab_sklearn.plugin; print('sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
