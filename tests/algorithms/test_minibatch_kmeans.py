"""The torch MiniBatchKMeans against scikit-learn's: inertia, stopping, reassignment, streaming."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.cluster import MiniBatchKMeans as SklearnMiniBatchKMeans
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from clusterlab_algorithms.minibatch_kmeans import MiniBatchKMeans
from tests.algorithms.devices import DEVICES, device_or_skip

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def _blobs(seed: int, n: int = 6000, d: int = 6, k: int = 8, dtype=np.float64) -> np.ndarray:
    return make_blobs(n, d, centers=k, cluster_std=1.0, random_state=seed)[0].astype(dtype)


def _inertia(X: np.ndarray, centers) -> float:
    """Inertia of ``X`` on ``centers``, computed by scikit-learn's KMeans."""
    centers = centers.cpu().numpy() if isinstance(centers, torch.Tensor) else centers
    model = SklearnKMeans(len(centers), init=centers.astype(X.dtype), n_init=1, max_iter=1)
    model.fit(X)
    model.cluster_centers_ = centers.astype(X.dtype)
    return -model.score(X)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["numpy", "tensor"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inertia_is_close_to_sklearn(seed, dtype, kind, device):
    device = device_or_skip(device)
    X = _blobs(seed, dtype=dtype)
    data = torch.from_numpy(X).to(device) if kind == "tensor" else X
    ours = MiniBatchKMeans(8, random_state=seed, n_init=3, device=device).fit(data)
    minibatch = SklearnMiniBatchKMeans(8, random_state=seed, n_init=3).fit(X)
    full = SklearnKMeans(8, random_state=seed, n_init=3).fit(X)
    assert ours.inertia_ <= 1.03 * minibatch.inertia_
    assert ours.inertia_ <= 1.03 * full.inertia_
    # inertia_ is the inertia of all of X on the returned centres.
    assert ours.inertia_ == pytest.approx(_inertia(X, ours.cluster_centers_), rel=1e-5)
    labels = ours.labels_.cpu().numpy() if kind == "tensor" else ours.labels_
    assert len(np.unique(labels)) == 8
    assert isinstance(ours.cluster_centers_, torch.Tensor if kind == "tensor" else np.ndarray)


def test_partial_fit_on_a_stream_of_batches_converges():
    X = _blobs(3, n=8000)
    model = MiniBatchKMeans(8, random_state=0)
    batches = np.array_split(np.random.default_rng(0).permutation(X), 40)
    for _ in range(2):
        for batch in batches:
            model.partial_fit(torch.from_numpy(batch))
    assert model.n_steps_ == 80
    assert model.n_features_in_ == 6
    full = SklearnKMeans(8, random_state=0, n_init=3).fit(X)
    assert _inertia(X, model.cluster_centers_) <= 1.03 * full.inertia_
    last = torch.from_numpy(batches[-1])
    # labels_ and inertia_ describe the last batch on the updated centres.
    assert torch.equal(model.labels_, model.predict(last))
    assert model.inertia_ == pytest.approx(_inertia(batches[-1], model.cluster_centers_), rel=1e-6)
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(np.zeros((10, 5)))


def test_partial_fit_continues_after_fit_and_matches_sklearn_quality():
    X = _blobs(4)
    model = MiniBatchKMeans(8, random_state=0, max_iter=1, max_no_improvement=None).fit(X)
    before = _inertia(X, model.cluster_centers_)
    counts_before = model._counts.clone()
    model.partial_fit(X[:500])
    assert model.n_steps_ == (len(X) // 1024) + 1
    assert float(model._counts.sum()) == pytest.approx(float(counts_before.sum()) + 500)
    assert _inertia(X, model.cluster_centers_) <= 1.02 * before
    reference = SklearnMiniBatchKMeans(8, random_state=0)
    for batch in np.array_split(X, 6):
        reference.partial_fit(batch)
    ours = MiniBatchKMeans(8, random_state=0)
    for batch in np.array_split(X, 6):
        ours.partial_fit(batch)
    assert _inertia(X, ours.cluster_centers_) <= 1.05 * _inertia(X, reference.cluster_centers_)


def test_steps_follow_sklearn_without_early_stopping():
    X = _blobs(5, n=3000)
    params = dict(batch_size=256, max_iter=3, max_no_improvement=None, random_state=0)
    ours = MiniBatchKMeans(8, **params).fit(X)
    reference = SklearnMiniBatchKMeans(8, **params).fit(X)
    assert ours.n_steps_ == reference.n_steps_ == (3 * 3000) // 256
    assert ours.n_iter_ == reference.n_iter_


def test_early_stopping_on_lack_of_improvement_and_on_tol():
    X = _blobs(6, n=20000, k=4)
    unlimited = MiniBatchKMeans(4, max_iter=3, max_no_improvement=None, random_state=0).fit(X)
    patient = MiniBatchKMeans(4, max_iter=3, max_no_improvement=5, random_state=0).fit(X)
    assert patient.n_steps_ < unlimited.n_steps_
    by_tol = MiniBatchKMeans(4, max_iter=3, max_no_improvement=None, tol=1e-3, random_state=0)
    assert by_tol.fit(X).n_steps_ < unlimited.n_steps_


def _init_with_far_centre(X: np.ndarray, k: int) -> np.ndarray:
    init = X[np.random.RandomState(0).choice(len(X), k, replace=False)].copy()
    init[0] = X.max(axis=0) + 1e3
    return init


def test_low_count_centres_are_reassigned():
    X = _blobs(7, k=4)
    init = _init_with_far_centre(X, 4)
    ours = MiniBatchKMeans(4, init=init, random_state=0).fit(X)
    # The far centre never wins a point; reassignment moves it onto the data.
    assert len(np.unique(ours.labels_)) == 4
    assert (ours.cluster_centers_[0] <= X.max(axis=0)).all()
    assert (ours.cluster_centers_[0] >= X.min(axis=0)).all()
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):
        stuck = MiniBatchKMeans(4, init=init, reassignment_ratio=0.0, random_state=0).fit(X)
    np.testing.assert_array_equal(stuck.cluster_centers_[0], init[0])


def test_fixed_random_state_is_deterministic_and_leaves_the_global_seed_alone():
    X = _blobs(8, dtype=np.float32)
    before = torch.get_rng_state()
    first = MiniBatchKMeans(8, init="random", random_state=3).fit(X)
    torch.manual_seed(123)
    second = MiniBatchKMeans(8, init="random", random_state=3).fit(X)
    np.testing.assert_array_equal(first.cluster_centers_, second.cluster_centers_)
    assert first.cluster_centers_.dtype == np.float32
    other = MiniBatchKMeans(8, init="random", random_state=4).fit(X)
    assert not np.array_equal(first.cluster_centers_, other.cluster_centers_)
    torch.set_rng_state(before)
    MiniBatchKMeans(8, random_state=0).fit(X)
    assert torch.equal(torch.get_rng_state(), before)


def test_tiny_memory_budget_gives_the_same_result(monkeypatch):
    X = torch.from_numpy(_blobs(9, n=3000))
    whole = MiniBatchKMeans(8, random_state=0).fit(X)
    monkeypatch.setenv("CLUSTERLAB_MEMORY_BUDGET_MB", "0.01")
    chunked = MiniBatchKMeans(8, random_state=0).fit(X)
    assert torch.equal(chunked.labels_, whole.labels_)
    torch.testing.assert_close(chunked.cluster_centers_, whole.cluster_centers_)
    assert chunked.inertia_ == pytest.approx(whole.inertia_, rel=1e-10)


@pytest.mark.cuda
def test_numpy_data_streams_to_the_gpu():
    device_or_skip("cuda")
    X = _blobs(10)
    ours = MiniBatchKMeans(8, random_state=0, device="cuda").fit(X)
    assert isinstance(ours.cluster_centers_, np.ndarray)
    full = SklearnKMeans(8, random_state=0, n_init=3).fit(X)
    assert ours.inertia_ <= 1.03 * full.inertia_
