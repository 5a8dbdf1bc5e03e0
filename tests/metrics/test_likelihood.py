"""bic, aic and log_likelihood: scikit-learn's and scipy's values for mixtures, undefined
for estimators without a likelihood."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

import clusterlab_metrics.plugin
from clusterlab import ScoreUndefined
from clusterlab.plugins import build_plugins
from clusterlab_algorithms.dbscan import DBSCAN
from clusterlab_algorithms.gmm import GaussianMixture
from clusterlab_algorithms.kmeans import KMeans
from clusterlab_metrics.likelihood import aic, bic, log_likelihood
from clusterlab_sklearn.plugin import wrap


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return make_blobs(600, 3, centers=3, cluster_std=1.2, random_state=0)[0]


def _scipy_mean_log_likelihood(model, X: np.ndarray) -> float:
    """The mixture's mean log-likelihood from scipy's normal densities: the reference."""
    weights, means = np.asarray(model.weights_), np.asarray(model.means_)
    covariances = np.asarray(model.covariances_)
    per_component = [
        np.log(w) + multivariate_normal(m, c).logpdf(X)
        for w, m, c in zip(weights, means, covariances, strict=True)
    ]
    return float(np.mean(logsumexp(np.stack(per_component, axis=1), axis=1)))


def test_torch_gmm_scores_equal_scipys_likelihood_and_sklearns_criteria(data):
    model = GaussianMixture(3, random_state=0).fit(data)
    X = torch.from_numpy(data)
    labels = np.asarray(model.labels_)
    n, d, k = data.shape[0], data.shape[1], 3
    free = k * d * (d + 1) // 2 + k * d + k - 1
    mean_ll = _scipy_mean_log_likelihood(model, data)
    assert log_likelihood(X, labels, None, model) == pytest.approx(mean_ll, rel=1e-10)
    assert bic(X, labels, None, model) == pytest.approx(-2 * n * mean_ll + free * np.log(n))
    assert aic(X, labels, None, model) == pytest.approx(-2 * n * mean_ll + 2 * free)
    # scikit-learn's mixture holding the same parameters reports the same criteria.
    reference = SklearnGaussianMixture(3)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        setattr(reference, name, getattr(model, name))
    assert bic(X, labels, None, model) == pytest.approx(reference.bic(data), rel=1e-10)
    assert aic(X, labels, None, model) == pytest.approx(reference.aic(data), rel=1e-10)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_wrapped_sklearn_mixture_scores_its_own_values(data, covariance_type):
    model = wrap(SklearnGaussianMixture)(2, covariance_type=covariance_type, random_state=0)
    model.fit(torch.from_numpy(data))
    X, labels = torch.from_numpy(data), np.asarray(model.labels_)
    assert bic(X, labels, None, model) == SklearnGaussianMixture.bic(model, data)
    assert aic(X, labels, None, model) == SklearnGaussianMixture.aic(model, data)
    assert log_likelihood(X, labels, None, model) == SklearnGaussianMixture.score(model, data)
    if covariance_type == "full":
        expected = _scipy_mean_log_likelihood(model, data)
        assert log_likelihood(X, labels, None, model) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    "estimator",
    [
        KMeans(3, random_state=0),
        DBSCAN(eps=1.0),
        wrap(SklearnKMeans)(3, n_init=1, random_state=0),
        None,
    ],
    ids=["kmeans", "dbscan", "sklearn.KMeans", "none"],
)
@pytest.mark.parametrize("score", [bic, aic, log_likelihood])
def test_undefined_for_estimators_without_a_likelihood(data, estimator, score):
    X = torch.from_numpy(data)
    if estimator is not None:
        estimator.fit(X)
    with pytest.raises(ScoreUndefined, match="not a model with a likelihood"):
        score(X, np.zeros(len(data), dtype=np.int64), None, estimator)


def test_registered_with_their_directions():
    plugins = build_plugins(autoload=False, extra=[("metrics", clusterlab_metrics.plugin)])
    expected = {"bic": False, "aic": False, "log_likelihood": True}
    for name, greater_is_better in expected.items():
        entry = plugins.registry.get("metric", name)
        assert entry.greater_is_better is greater_is_better
        assert entry.needs_ground_truth is False
        assert entry.description
