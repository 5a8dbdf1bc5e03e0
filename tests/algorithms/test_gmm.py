"""The torch GaussianMixture against scikit-learn's: same EM path, likelihoods and API."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris, load_wine, make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from sklearn.preprocessing import StandardScaler

from clusterlab_algorithms.gmm import GaussianMixture
from tests.algorithms.devices import DEVICES, device_or_skip

pytestmark = pytest.mark.usefixtures("one_cpu_thread")

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _numpy(value) -> np.ndarray:
    return value.cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _blobs(n: int = 1500, d: int = 4, k: int = 4, std: float = 1.8, seed: int = 0) -> np.ndarray:
    return make_blobs(n, d, centers=k, cluster_std=std, random_state=seed)[0]


def _start(X: np.ndarray, kind: str, k: int, seed: int) -> dict:
    """Initial parameters for both implementations: one scikit-learn EM step from random
    responsibilities (a start off the optimum, so that EM runs several iterations)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = SklearnGaussianMixture(
            k, covariance_type=kind, init_params="random", max_iter=1, random_state=seed
        ).fit(X.astype(np.float64))
    return {
        "weights_init": first.weights_,
        "means_init": first.means_,
        "precisions_init": first.precisions_,
    }


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["numpy", "tensor"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_init_reproduces_sklearn(covariance_type, seed, dtype, kind, device):
    device = device_or_skip(device)
    X = _blobs(seed=seed).astype(dtype)
    init = _start(X, covariance_type, 4, seed)
    params = dict(n_components=4, covariance_type=covariance_type, max_iter=200, **init)
    expected = SklearnGaussianMixture(**params).fit(X)
    data = torch.from_numpy(X).to(device) if kind == "tensor" else X
    ours = GaussianMixture(**params, device=device).fit(data)

    assert ours.n_iter_ == expected.n_iter_
    assert ours.converged_ == expected.converged_
    rtol = 1e-6 if dtype == np.float64 else 1e-4
    assert ours.lower_bound_ == pytest.approx(expected.lower_bound_, rel=rtol)
    assert np.allclose(ours.lower_bounds_, expected.lower_bounds_, rtol=rtol, atol=0)
    assert adjusted_rand_score(expected.predict(X), _numpy(ours.labels_)) == 1.0
    proba_tol = 1e-6 if dtype == np.float64 else 1e-3
    assert np.abs(_numpy(ours.predict_proba(data)) - expected.predict_proba(X)).max() < proba_tol
    attr_rtol = 1e-6 if dtype == np.float64 else 2e-3
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        got, want = _numpy(getattr(ours, name)), getattr(expected, name)
        assert got.shape == want.shape, name
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= attr_rtol * scale, name
    if kind == "tensor":
        assert ours.means_.device.type == torch.device(device).type
        assert ours.means_.dtype == torch.from_numpy(X).dtype
    else:
        assert _numpy(ours.means_).dtype == dtype


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scores_equal_sklearn_on_the_same_model(covariance_type):
    X = _blobs(seed=3)
    init = _start(X, covariance_type, 3, 3)
    params = dict(n_components=3, covariance_type=covariance_type, **init)
    expected = SklearnGaussianMixture(**params).fit(X)
    ours = GaussianMixture(**params).fit(X)
    X_test = _blobs(n=300, seed=9)
    assert np.allclose(ours.score_samples(X_test), expected.score_samples(X_test), rtol=1e-9)
    assert ours.score(X_test) == pytest.approx(expected.score(X_test), rel=1e-9)
    assert ours.bic(X_test) == pytest.approx(expected.bic(X_test), rel=1e-9)
    assert ours.aic(X_test) == pytest.approx(expected.aic(X_test), rel=1e-9)
    assert np.array_equal(ours.predict(X_test), expected.predict(X_test))
    assert np.array_equal(ours.predict(X), _numpy(ours.labels_))


def _standardized(X: np.ndarray) -> np.ndarray:
    return StandardScaler().fit_transform(X)


DATASETS = {
    "blobs": lambda: (_blobs(n=1200, d=3, k=5, std=1.5, seed=4), 5),
    "iris": lambda: (_standardized(load_iris().data), 3),
    "wine": lambda: (_standardized(load_wine().data), 3),
}


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("name", list(DATASETS))
def test_kmeans_init_best_lower_bound_near_sklearn(name, covariance_type):
    X, k = DATASETS[name]()
    params = dict(n_components=k, covariance_type=covariance_type, n_init=5, random_state=0)
    expected = SklearnGaussianMixture(**params).fit(X).lower_bound_
    got = GaussianMixture(**params).fit(X).lower_bound_
    assert abs(got - expected) <= 0.005 * abs(expected)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_initialisation_reaches_sklearns_likelihood(init_params):
    centers = [[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]]
    X, y = make_blobs(900, centers=centers, cluster_std=1.0, random_state=5)
    params = dict(n_components=3, init_params=init_params, n_init=10, random_state=0)
    expected = SklearnGaussianMixture(**params).fit(X)
    ours = GaussianMixture(**params).fit(X)
    assert ours.lower_bound_ == pytest.approx(expected.lower_bound_, rel=1e-3)
    assert adjusted_rand_score(y, expected.predict(X)) > 0.95
    assert adjusted_rand_score(y, _numpy(ours.labels_)) > 0.95


def test_same_seed_same_fit_and_seeds_differ():
    X = _blobs(n=600, d=2, k=6, std=2.5, seed=6)
    make = lambda seed: GaussianMixture(6, init_params="random", random_state=seed).fit(X)  # noqa: E731
    a, b, c = make(0), make(0), make(1)
    assert np.array_equal(a.means_, b.means_) and a.n_iter_ == b.n_iter_
    assert not np.allclose(a.means_, c.means_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues_as_sklearn(covariance_type):
    X = _blobs(seed=7)
    init = _start(X, covariance_type, 4, 7)
    params = dict(n_components=4, covariance_type=covariance_type, warm_start=True, **init)
    ours = GaussianMixture(max_iter=2, **params)
    expected = SklearnGaussianMixture(max_iter=2, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            ours.fit(X)
            expected.fit(X)
            assert ours.n_iter_ == expected.n_iter_
            assert ours.lower_bound_ == pytest.approx(expected.lower_bound_, rel=1e-9)
            assert np.allclose(ours.means_, expected.means_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_max_iter_zero_keeps_the_initialisation(covariance_type):
    from sklearn.mixture._gaussian_mixture import (
        _compute_precision_cholesky_from_precisions as sklearn_factor,
    )

    X = _blobs(seed=8)
    init = _start(X, covariance_type, 4, 8)
    params = dict(n_components=4, covariance_type=covariance_type, max_iter=0, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = GaussianMixture(**params).fit(X)
    assert ours.n_iter_ == 0 and ours.lower_bound_ == -np.inf
    factor = sklearn_factor(init["precisions_init"], covariance_type, xp=np)
    assert np.allclose(ours.precisions_cholesky_, factor, rtol=1e-10, atol=1e-12)
    assert np.allclose(ours.precisions_, init["precisions_init"], rtol=1e-10, atol=1e-12)
    assert np.allclose(ours.means_, init["means_init"], rtol=1e-12, atol=1e-12)
    # scikit-learn's own predict on the same parameters is the reference for the labels.
    reference = SklearnGaussianMixture(4, covariance_type=covariance_type)
    reference.weights_, reference.means_ = init["weights_init"], init["means_init"]
    reference.precisions_cholesky_ = factor
    assert np.array_equal(ours.labels_, reference.predict(X))


def test_not_converged_warns_as_sklearn():
    X = _blobs(seed=2)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = GaussianMixture(4, max_iter=1, tol=0.0, random_state=0).fit(X)
    assert not model.converged_ and model.n_iter_ == 1


def test_blocks_do_not_change_the_fit(monkeypatch):
    X = _blobs(n=2000, d=3, seed=10)
    init = _start(X, "full", 4, 10)
    whole = GaussianMixture(4, **init).fit(X)
    # A budget of one kibibyte: blocks of a few rows.
    monkeypatch.setenv("CLUSTERLAB_MEMORY_BUDGET_MB", str(1 / 1024))
    blocked = GaussianMixture(4, **init).fit(X)
    assert blocked.n_iter_ == whole.n_iter_
    assert blocked.lower_bound_ == pytest.approx(whole.lower_bound_, rel=1e-12)
    assert np.array_equal(blocked.labels_, whole.labels_)


def test_far_off_data_agree_with_sklearn():
    # Centring inside the fit: data far from the origin give the same model.
    X = _blobs(n=800, d=3, seed=11) + 1e4
    init = _start(X, "full", 4, 11)
    expected = SklearnGaussianMixture(4, **init).fit(X)
    ours = GaussianMixture(4, **init).fit(X)
    assert ours.n_iter_ == expected.n_iter_
    assert ours.lower_bound_ == pytest.approx(expected.lower_bound_, rel=1e-6)


def test_errors_read_as_sklearns():
    X = _blobs(n=50, seed=0)
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        GaussianMixture(60).fit(X)
    with pytest.raises(ValueError, match="should be normalized"):
        GaussianMixture(2, weights_init=[0.7, 0.7]).fit(X)
    with pytest.raises(ValueError, match="means"):
        GaussianMixture(2, means_init=np.zeros((3, 4))).fit(X)
    with pytest.raises(ValueError, match="positive"):
        GaussianMixture(2, covariance_type="diag", precisions_init=-np.ones((2, 4))).fit(X)
    # Three points repeated: full covariances are singular without regularisation, and
    # both implementations refuse them with the same words.
    collapsed = np.repeat(np.eye(3), 20, axis=0)
    for implementation in (GaussianMixture, SklearnGaussianMixture):
        with pytest.raises(ValueError, match="ill-defined empirical covariance"):
            implementation(3, reg_covar=0.0, random_state=0).fit(collapsed)


@pytest.mark.parametrize("device", DEVICES)
def test_device_follows_the_parameter_and_dtype_the_input(device):
    device = device_or_skip(device)
    X = torch.from_numpy(_blobs(n=400, seed=1).astype(np.float32))
    model = GaussianMixture(3, random_state=0, device=device).fit(X)
    assert model.labels_.device.type == torch.device(device).type
    assert model.covariances_.dtype == torch.float32
    assert model.predict_proba(X.to(device)).shape == (400, 3)


def test_most_probable_is_numpys_argmax_ties_included():
    from clusterlab_algorithms._mixture.em import most_probable

    rng = np.random.default_rng(0)
    values = rng.integers(0, 3, size=(500, 7)).astype(np.float64)  # many ties
    got = most_probable(torch.from_numpy(values), dim=1).numpy()
    assert np.array_equal(got, values.argmax(1))
    got_t = most_probable(torch.from_numpy(values.T.copy()), dim=0).numpy()
    assert np.array_equal(got_t, values.argmax(1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalise_is_scipys_logsumexp_far_below_the_largest_term(dtype):
    from scipy.special import logsumexp

    from clusterlab_algorithms._mixture.em import normalise

    rng = np.random.default_rng(1)
    # Terms hundreds to thousands below the largest: their exponentials underflow.
    values = (rng.normal(size=(300, 8)) * np.array([1, 10, 100, 500, 1000, 2, 3, 5000])).astype(
        dtype
    )
    log_norm, proba = normalise(torch.from_numpy(values.copy()), dim=1)
    expected = logsumexp(values.astype(np.float64), axis=1)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    assert np.allclose(log_norm.numpy(), expected, rtol=rtol, atol=0)
    reference = np.exp(values.astype(np.float64) - expected[:, None])
    # Rounding of exp(x - lse) grows with |x| (up to thousands here).
    assert np.abs(proba.numpy() - reference).max() < (1e-6 if dtype == np.float32 else 1e-12)
    assert np.all(proba.numpy() >= np.finfo(dtype).tiny)  # never subnormal


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_threads_do_not_change_the_fit(monkeypatch, covariance_type):
    import clusterlab_algorithms._mixture.em as em

    # Worker threads from the first sample on, and small blocks, so that chunks share out.
    monkeypatch.setattr(em, "MIN_THREADED_WORK", 0)
    monkeypatch.setenv("CLUSTERLAB_MEMORY_BUDGET_MB", str(16 / 1024))
    X = _blobs(n=3000, d=4, seed=12)
    init = _start(X, covariance_type, 4, 12)
    params = dict(n_components=4, covariance_type=covariance_type, **init)
    previous = torch.get_num_threads()
    fits = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            fits.append(GaussianMixture(**params).fit(X))
    finally:
        torch.set_num_threads(previous)
    one, two = fits
    assert one.lower_bound_ == two.lower_bound_ and one.n_iter_ == two.n_iter_
    assert np.array_equal(one.covariances_, two.covariances_)
    assert np.array_equal(one.labels_, two.labels_)
    expected = SklearnGaussianMixture(**params).fit(X)
    assert two.lower_bound_ == pytest.approx(expected.lower_bound_, rel=1e-6)
