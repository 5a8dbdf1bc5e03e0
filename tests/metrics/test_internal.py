"""The internal scores against scikit-learn, and Dunn against a scipy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from clusterlab import ScoreUndefined
from clusterlab.device import BUDGET_ENV
from clusterlab_metrics import internal
from clusterlab_metrics.internal import (
    calinski_harabasz,
    davies_bouldin,
    dunn,
    inertia,
    silhouette,
)

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-6, np.float32: 1e-4}
INTERNAL = [silhouette, davies_bouldin, calinski_harabasz, inertia, dunn]


def _device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    return torch.device(name)


def _labelled(case: str) -> tuple[np.ndarray, np.ndarray]:
    """Points and labels: clean blobs, blobs with noise, or many clusters, a singleton, noise."""
    X, y = make_blobs(260, 5, centers=4, cluster_std=1.5, random_state=0)
    labels = y.astype(np.int64)
    rng = np.random.RandomState(1)
    if case in ("noisy", "many"):
        labels[rng.choice(len(labels), 30, replace=False)] = -1
    if case == "many":
        # 30 clusters cut by the nearest of 30 random points, plus a singleton cluster.
        centres = X[rng.choice(len(X), 30, replace=False)]
        nearest = cdist(X, centres).argmin(1)
        labels = np.where(labels == -1, -1, nearest)
        labels[np.flatnonzero(labels != -1)[0]] = 99
    return X, labels


def _reference_points(X: np.ndarray, labels: np.ndarray, noise: str):
    """What scikit-learn is given: noise excluded, or kept as the cluster -1."""
    if noise == "exclude":
        keep = labels != -1
        return X[keep], labels[keep]
    return X, labels


def _inputs(case: str, dtype: type, device: torch.device):
    X, labels = _labelled(case)
    X = X.astype(dtype)
    # The reference sees the same (possibly float32-rounded) values, in float64.
    return torch.from_numpy(X).to(device), X.astype(np.float64), labels


def _dunn_reference(X: np.ndarray, labels: np.ndarray) -> float:
    distances = cdist(X, X)
    same = labels[:, None] == labels[None, :]
    return float(distances[~same].min() / distances[same].max())


def _inertia_reference(X: np.ndarray, labels: np.ndarray) -> float:
    return float(
        sum(((X[labels == c] - X[labels == c].mean(0)) ** 2).sum() for c in np.unique(labels))
    )


SKLEARN = {
    "silhouette": (silhouette, silhouette_score),
    "davies_bouldin": (davies_bouldin, davies_bouldin_score),
    "calinski_harabasz": (calinski_harabasz, calinski_harabasz_score),
    "inertia": (inertia, _inertia_reference),
    "dunn": (dunn, _dunn_reference),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("noise", ["exclude", "cluster"])
@pytest.mark.parametrize("case", ["clean", "noisy", "many"])
@pytest.mark.parametrize("name", list(SKLEARN))
def test_matches_reference(name, case, noise, dtype, device):
    ours, reference = SKLEARN[name]
    X, X_ref, labels = _inputs(case, dtype, _device(device))
    expected = reference(*_reference_points(X_ref, labels, noise))
    assert ours(X, labels, None, None, noise=noise) == pytest.approx(expected, rel=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("budget_mb", ["0.01", "0.001"])
@pytest.mark.parametrize("name", ["silhouette", "dunn"])
def test_tiny_memory_budget_gives_the_same_value(name, budget_mb, dtype, monkeypatch):
    # 0.01 MB keeps one n x k accumulator (tiles of the upper triangle); 0.001 MB does not,
    # so silhouette sweeps blocks of rows. Both use tiles of a few dozen points.
    ours, reference = SKLEARN[name]
    X, X_ref, labels = _inputs("noisy", dtype, torch.device("cpu"))
    expected = reference(*_reference_points(X_ref, labels, "exclude"))
    monkeypatch.setenv(BUDGET_ENV, budget_mb)
    assert ours(X, labels, None, None) == pytest.approx(expected, rel=RTOL[dtype])


@pytest.mark.parametrize("budget_mb", [0.01, 0.001])
def test_temporaries_stay_within_the_memory_budget(budget_mb, monkeypatch):
    X, X_ref, labels = _inputs("noisy", np.float64, torch.device("cpu"))
    budget = int(budget_mb * 2**20)
    monkeypatch.setenv(BUDGET_ENV, str(budget_mb))
    sizes: list[int] = []

    def spy(original):
        def wrapped(*args, **kwargs):
            result = original(*args, **kwargs)
            sizes.append(result.numel() * result.element_size())
            return result

        return wrapped

    # Every distance tile, and every block of per-cluster sums the silhouette reduces.
    monkeypatch.setattr(internal._Pairwise, "squared", spy(internal._Pairwise.squared))
    original_sum = internal._silhouette_sum

    def spy_sum(sums, codes, cluster_sizes):
        sizes.append(sums.numel() * sums.element_size())
        return original_sum(sums, codes, cluster_sizes)

    monkeypatch.setattr(internal, "_silhouette_sum", spy_sum)
    value = silhouette(X, labels)
    assert value == pytest.approx(silhouette_score(*_reference_points(X_ref, labels, "exclude")))
    assert sizes and max(sizes) <= budget


@pytest.mark.parametrize("threads", [1, 2])
def test_worker_threads_agree_and_restore_the_thread_count(threads):
    X, X_ref, labels = _inputs("many", np.float64, torch.device("cpu"))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        value = silhouette(X, labels, None, None, noise="cluster")
        closest = dunn(X, labels, None, None, noise="cluster")
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    assert value == pytest.approx(silhouette_score(X_ref, labels), rel=1e-9)
    assert closest == pytest.approx(_dunn_reference(X_ref, labels), rel=1e-9)


def test_float32_far_from_the_origin_keeps_its_precision():
    # Small, well-separated clusters far from the origin: |x|^2 dwarfs the distances, the
    # case where the GEMM form of the distance loses float32 digits.
    X, labels = make_blobs(300, 3, centers=3, cluster_std=0.01, random_state=2)
    X = (X * 50 + 1e4).astype(np.float32)
    X_ref = X.astype(np.float64)
    tensor = torch.from_numpy(X)
    assert dunn(tensor, labels) == pytest.approx(_dunn_reference(X_ref, labels), rel=1e-4)
    assert silhouette(tensor, labels) == pytest.approx(silhouette_score(X_ref, labels), rel=1e-4)


def test_dunn_float32_close_pair_far_from_the_origin():
    # The closest pair of two clusters is 0.01 apart while |x|^2 is about 1e6: float32
    # GEMM distances are off by more than the gap itself, the recomputed pair is not.
    rng = np.random.RandomState(5)
    centres = np.array([[1000.0, 0.0], [-1000.0, 50.0], [0.0, 1000.0]])
    X = np.concatenate([centre + rng.uniform(-50, 50, (40, 2)) for centre in centres])
    labels = np.repeat([0, 1, 2], 40)
    X[40] = X[0] + [0.01, 0.0]  # a point of cluster 1 right next to one of cluster 0
    X = X.astype(np.float32)
    expected = _dunn_reference(X.astype(np.float64), labels)
    assert dunn(torch.from_numpy(X), labels) == pytest.approx(expected, rel=1e-4)


def test_inertia_equals_kmeans_objective():
    X, _ = make_blobs(400, 4, centers=5, random_state=3)
    fitted = KMeans(5, n_init=1, random_state=0, tol=0.0).fit(X)
    assert inertia(torch.from_numpy(X), fitted.labels_) == pytest.approx(fitted.inertia_, rel=1e-9)


def test_numpy_input_equals_tensor_input():
    X, _, labels = _inputs("noisy", np.float64, torch.device("cpu"))
    for score in INTERNAL:
        assert score(X.numpy(), labels) == score(X, labels)


# Sampling.


@pytest.mark.parametrize("seed", [0, 7])
def test_sample_size_draws_the_points_sklearn_draws(seed):
    # Same RandomState, same permutation: the sampled score equals scikit-learn's exactly,
    # with noise excluded before the draw.
    X, X_ref, labels = _inputs("noisy", np.float64, torch.device("cpu"))
    kept_X, kept_labels = _reference_points(X_ref, labels, "exclude")
    expected = silhouette_score(kept_X, kept_labels, sample_size=90, random_state=seed)
    value = silhouette(X, labels, None, None, sample_size=90, random_state=seed)
    assert value == pytest.approx(expected, rel=1e-9)


def test_sample_size_is_deterministic_per_seed():
    X, _, labels = _inputs("noisy", np.float32, torch.device("cpu"))
    first = silhouette(X, labels, sample_size=60, random_state=3)
    assert silhouette(X, labels, sample_size=60, random_state=3) == first
    assert silhouette(X, labels, sample_size=60, random_state=4) != first
    generator = np.random.RandomState(3)
    assert silhouette(X, labels, sample_size=60, random_state=generator) == first


def test_sample_size_beyond_the_data_scores_every_point():
    X, X_ref, labels = _inputs("clean", np.float64, torch.device("cpu"))
    value = silhouette(X, labels, sample_size=10_000, random_state=0)
    assert value == pytest.approx(silhouette_score(X_ref, labels), rel=1e-9)


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "10"])
def test_invalid_sample_size_is_rejected(size):
    X, _, labels = _inputs("clean", np.float64, torch.device("cpu"))
    with pytest.raises(ValueError, match="sample_size"):
        silhouette(X, labels, sample_size=size, random_state=0)


def test_a_sample_with_one_cluster_is_undefined():
    X = torch.randn(50, 2, dtype=torch.float64)
    labels = np.zeros(50, dtype=np.int64)
    labels[0] = 1
    with pytest.raises(ScoreUndefined):
        # one point drawn: one cluster
        silhouette(X, labels, sample_size=1, random_state=0)


# Undefined scores.


@pytest.mark.parametrize("score", INTERNAL)
def test_single_cluster_is_undefined(score):
    X = torch.randn(40, 3, dtype=torch.float64)
    with pytest.raises(ScoreUndefined, match="fewer than two clusters"):
        score(X, np.zeros(40, dtype=np.int64))


@pytest.mark.parametrize("score", INTERNAL)
def test_one_cluster_and_noise_depends_on_the_noise_policy(score):
    X, _ = make_blobs(60, 2, centers=2, random_state=4)
    labels = np.repeat([0, -1], 30)
    with pytest.raises(ScoreUndefined, match="fewer than two clusters"):
        score(torch.from_numpy(X), labels, noise="exclude")
    expected = SKLEARN[score.__name__][1](X, labels)
    assert score(torch.from_numpy(X), labels, noise="cluster") == pytest.approx(expected)


@pytest.mark.parametrize("score", INTERNAL)
def test_all_noise_is_undefined(score):
    with pytest.raises(ScoreUndefined, match="every point is noise"):
        score(torch.randn(10, 2), np.full(10, -1))


@pytest.mark.parametrize("score", [silhouette, davies_bouldin, calinski_harabasz])
def test_every_point_its_own_cluster_is_undefined(score):
    with pytest.raises(ScoreUndefined, match="its own cluster"):
        score(torch.randn(12, 2), np.arange(12))


def test_dunn_without_any_diameter_is_undefined():
    X = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0], [3.0, 4.0]])
    with pytest.raises(ScoreUndefined, match="zero diameter"):
        dunn(X, np.array([0, 0, 1, 1]))


def test_calinski_harabasz_without_dispersion_is_undefined():
    # scikit-learn returns 1.0 here, a number with no meaning.
    X = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0], [3.0, 4.0]])
    with pytest.raises(ScoreUndefined, match="dispersion"):
        calinski_harabasz(X, np.array([0, 0, 1, 1]))


def test_davies_bouldin_with_coinciding_centroids_is_undefined():
    X = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    with pytest.raises(ScoreUndefined, match="centroids coincide"):
        davies_bouldin(X, np.array([0, 0, 1, 1]))


def test_inertia_of_singletons_is_zero():
    assert inertia(torch.randn(8, 3), np.arange(8)) == 0.0


# Invalid input.


@pytest.mark.parametrize("score", INTERNAL)
def test_unknown_noise_policy_is_rejected(score):
    X, _, labels = _inputs("clean", np.float64, torch.device("cpu"))
    with pytest.raises(ValueError, match="noise must be one of"):
        score(X, labels, noise="ignore")


@pytest.mark.parametrize("score", INTERNAL)
def test_label_count_must_match_points(score):
    X, _, labels = _inputs("clean", np.float64, torch.device("cpu"))
    with pytest.raises(ValueError, match="labels for"):
        score(X, labels[:-1])


def test_registry_reads_options_and_context_from_the_signatures():
    from clusterlab.registry import introspect_params

    params, context, accepts_any = introspect_params("metric", internal.silhouette)
    assert set(params) == {"sample_size", "noise"}
    assert params["sample_size"].default is None
    assert context == {"random_state"}
    assert not accepts_any
    for score in INTERNAL[1:]:
        params, context, _ = introspect_params("metric", score)
        assert set(params) == {"noise"} and params["noise"].default == "exclude"
        assert context == set()
