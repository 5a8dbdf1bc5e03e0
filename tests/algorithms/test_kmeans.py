"""The torch KMeans against scikit-learn's: same labels, inertia, iterations and API."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.utils._param_validation import InvalidParameterError

import clusterlab_algorithms._kmeans.lloyd as lloyd_module
import clusterlab_algorithms._kmeans.working_data as working_data_module
from clusterlab_algorithms._kmeans.assign import center_scores, column_argmin, nearest_center
from clusterlab_algorithms._shared.blocks import MIN_EVEN_BLOCK_ROWS, even_row_blocks
from clusterlab_algorithms._shared.distances import pairwise_sq_dists
from clusterlab_algorithms._shared.scratch import ScratchBuffers
from clusterlab_algorithms.kmeans import KMeans, kmeans_plusplus
from tests.algorithms.devices import DEVICES, device_or_skip

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def use_lloyd_mode(monkeypatch, mode: str) -> None:
    """Make the estimator iterate ``mode``-wise: plain, bounded or dense, on any device.

    It keeps bounds only from a size up, and dense passes only off the CPU; the test
    data are small and mostly on the CPU, so the threshold and the devices are moved.
    """
    threshold = 0 if mode == "bounded" else 10**12
    monkeypatch.setattr(lloyd_module.Lloyd, "MIN_BOUNDED_SAMPLES", threshold)
    host = frozenset() if mode == "dense" else frozenset({"cpu", "cuda", "mps"})
    monkeypatch.setattr(lloyd_module.Lloyd, "HOST_DEVICES", host)


@pytest.fixture(params=["plain", "bounded", "dense"])
def lloyd_mode(request, monkeypatch) -> str:
    """Run a test with plain Lloyd passes, with the bounds that skip settled points, and
    with the dense passes (one host read per iteration) that accelerators use."""
    use_lloyd_mode(monkeypatch, request.param)
    return request.param


# (n_samples, n_features, centers, cluster_std): overlapping blobs, so that Lloyd needs
# several iterations and boundary points exist.
DATASETS = {
    "2d-overlap": (800, 2, 5, 2.0),
    "5d": (1500, 5, 6, 2.5),
    "16d-many": (1200, 16, 10, 3.0),
    "3d-tight": (600, 3, 4, 0.5),
}


def _blobs(name: str, seed: int, dtype: type) -> np.ndarray:
    n, d, centers, std = DATASETS[name]
    X = make_blobs(n, d, centers=centers, cluster_std=std, random_state=seed)[0]
    return X.astype(dtype)


def _init(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    return X[np.random.RandomState(seed + 100).choice(len(X), k, replace=False)].copy()


def _as_input(X: np.ndarray, kind: str, device: str):
    return torch.from_numpy(X).to(device) if kind == "tensor" else X


def _numpy(value) -> np.ndarray:
    return value.cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["numpy", "tensor"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(DATASETS))
def test_same_init_reproduces_sklearn(name, seed, dtype, kind, device, lloyd_mode):
    device = device_or_skip(device)
    X = _blobs(name, seed, dtype)
    k = DATASETS[name][2]
    init = _init(X, k, seed)
    reference = SklearnKMeans(k, init=init, n_init=1).fit(X)
    ours = KMeans(k, init=init, n_init=1, device=device).fit(_as_input(X, kind, device))
    assert adjusted_rand_score(reference.labels_, _numpy(ours.labels_)) == 1.0
    assert ours.inertia_ == pytest.approx(reference.inertia_, rel=1e-4)
    assert ours.n_iter_ == reference.n_iter_
    atol = 1e-3 if dtype == np.float32 else 1e-8
    np.testing.assert_allclose(
        _numpy(ours.cluster_centers_), reference.cluster_centers_, rtol=1e-4, atol=atol
    )


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", ["2d-overlap", "5d", "16d-many"])
def test_kmeans_plusplus_n_init_matches_sklearn_inertia(name, seed, lloyd_mode):
    X = _blobs(name, seed, np.float64)
    k = DATASETS[name][2]
    reference = SklearnKMeans(k, n_init=10, random_state=seed).fit(X)
    ours = KMeans(k, n_init=10, random_state=seed).fit(X)
    assert ours.inertia_ == pytest.approx(reference.inertia_, rel=0.01)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inertia_is_the_sum_of_squared_distances_to_the_assigned_centres(dtype):
    X = _blobs("16d-many", 3, dtype)
    ours = KMeans(10, random_state=0).fit(X)
    expected = ((X.astype(np.float64) - ours.cluster_centers_[ours.labels_]) ** 2).sum()
    assert ours.inertia_ == pytest.approx(expected, rel=1e-6)
    nearest = cdist(X, ours.cluster_centers_, "sqeuclidean").argmin(axis=1)
    np.testing.assert_array_equal(ours.labels_, nearest)


def test_bounds_skip_settled_points_and_keep_sklearn_labels(monkeypatch):
    X = make_blobs(30_000, 8, centers=10, cluster_std=1.5, random_state=0)[0]
    init = _init(X, 10, 0)
    measured: list[int] = []
    measure = lloyd_module.Lloyd._measure

    def counting(self, index, centers, c_sq):
        measured.append(index.stop - index.start if isinstance(index, slice) else len(index))
        return measure(self, index, centers, c_sq)

    monkeypatch.setattr(lloyd_module.Lloyd, "_measure", counting)
    ours = KMeans(10, init=init, n_init=1).fit(X)
    reference = SklearnKMeans(10, init=init, n_init=1).fit(X)
    assert adjusted_rand_score(reference.labels_, ours.labels_) == 1.0
    assert ours.inertia_ == pytest.approx(reference.inertia_, rel=1e-10)
    assert ours.n_iter_ == reference.n_iter_ > 3
    # Plain Lloyd measures every point in every pass (n_iter + 1 of them); with the
    # bounds (used by default at this size) the first pass does, then only a few.
    assert sum(measured) >= len(X)
    assert sum(measured) < 0.5 * (ours.n_iter_ + 1) * len(X)


@pytest.mark.parametrize("shift", [0.0, 40.0])
@pytest.mark.parametrize("tol", [0.3, 0.1, 0.03])
def test_tolerance_is_relative_to_the_mean_variance_as_in_sklearn(tol, shift, lloyd_mode):
    # Unshifted, these data are used as they are; shifted, they are centred first.
    X = _blobs("16d-many", 4, np.float64) + shift
    init = _init(X, 10, 4)
    reference = SklearnKMeans(10, init=init, n_init=1, tol=tol).fit(X)
    ours = KMeans(10, init=init, n_init=1, tol=tol).fit(X)
    strict = KMeans(10, init=init, n_init=1, tol=0).fit(X)
    assert ours.n_iter_ == reference.n_iter_
    assert ours.n_iter_ < strict.n_iter_
    assert adjusted_rand_score(reference.labels_, ours.labels_) == 1.0


def _far_init(X: np.ndarray, k: int, n_far: int, seed: int) -> np.ndarray:
    init = _init(X, k, seed)
    # Centres far beyond the data attract no point in the first assignment.
    init[:n_far] = X.max(axis=0) + 1e3 * (1 + np.arange(n_far))[:, None]
    return init


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_empty_cluster_is_relocated_as_in_sklearn(dtype, device, lloyd_mode):
    device = device_or_skip(device)
    X = _blobs("5d", 5, dtype)
    init = _far_init(X, 6, 1, 5)
    reference = SklearnKMeans(6, init=init, n_init=1).fit(X)
    ours = KMeans(6, init=init, n_init=1, device=device).fit(torch.from_numpy(X).to(device))
    centers = _numpy(ours.cluster_centers_)
    assert np.isfinite(centers).all()
    assert len(np.unique(_numpy(ours.labels_))) == 6
    # One empty cluster takes the single farthest point: the same move as scikit-learn.
    assert adjusted_rand_score(reference.labels_, _numpy(ours.labels_)) == 1.0
    assert ours.inertia_ == pytest.approx(reference.inertia_, rel=1e-4)


def test_several_empty_clusters_give_finite_centres_and_a_comparable_inertia(lloyd_mode):
    X = _blobs("16d-many", 6, np.float64)
    init = _far_init(X, 10, 3, 6)
    reference = SklearnKMeans(10, init=init, n_init=1).fit(X)
    ours = KMeans(10, init=init, n_init=1).fit(X)
    assert np.isfinite(ours.cluster_centers_).all()
    assert len(np.unique(ours.labels_)) == 10
    # The farthest points may be handed out in another order than scikit-learn's
    # (argpartition leaves ties unordered), so only the quality is compared.
    assert ours.inertia_ == pytest.approx(reference.inertia_, rel=0.05)


def test_more_clusters_than_distinct_points_warns_and_stays_finite(lloyd_mode):
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), 10, axis=0)
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):
        ours = KMeans(5, random_state=0, n_init=1).fit(X)
    assert np.isfinite(ours.cluster_centers_).all()
    assert ours.inertia_ == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("init", ["array", "k-means++", "random"])
def test_tiny_memory_budget_gives_the_same_result(init, device, monkeypatch, lloyd_mode):
    device = device_or_skip(device)
    X = torch.from_numpy(_blobs("5d", 7, np.float64)).to(device)
    params = dict(n_clusters=6, n_init=2 if init == "random" else 1, random_state=3)
    if init == "array":
        params["init"] = torch.from_numpy(_init(X.cpu().numpy(), 6, 7))
    else:
        params["init"] = init
    whole = KMeans(device=device, **params).fit(X)

    block_sizes: list[int] = []
    center_scores = lloyd_module.center_scores

    def counting(block, centers, c_sq, workspace=None):
        block_sizes.append(block.shape[0])
        return center_scores(block, centers, c_sq, workspace)

    monkeypatch.setattr(lloyd_module, "center_scores", counting)
    monkeypatch.setenv("CLUSTERLAB_MEMORY_BUDGET_MB", "0.01")
    chunked = KMeans(device=device, **params).fit(X)
    # 0.01 MiB holds 218 rows of 6 float64 scores: the 1500 points went in many blocks.
    rows = int(0.01 * 2**20) // (6 * 8)
    assert max(block_sizes) <= rows and len(block_sizes) >= 1500 // rows
    assert torch.equal(chunked.labels_, whole.labels_)
    torch.testing.assert_close(chunked.cluster_centers_, whole.cluster_centers_)
    assert chunked.inertia_ == pytest.approx(whole.inertia_, rel=1e-12)
    assert chunked.n_iter_ == whole.n_iter_


def test_fixed_random_state_is_deterministic_and_leaves_the_global_seed_alone():
    X = _blobs("16d-many", 8, np.float32)
    state = torch.get_rng_state()
    torch.manual_seed(1)
    first = KMeans(10, init="random", n_init=3, random_state=42).fit(X)
    torch.manual_seed(2)
    second = KMeans(10, init="random", n_init=3, random_state=42).fit(X)
    np.testing.assert_array_equal(first.labels_, second.labels_)
    np.testing.assert_array_equal(first.cluster_centers_, second.cluster_centers_)
    other = KMeans(10, init="random", n_init=1, random_state=7).fit(X)
    single = KMeans(10, init="random", n_init=1, random_state=42).fit(X)
    assert not np.array_equal(other.cluster_centers_, single.cluster_centers_)
    torch.set_rng_state(state)
    before = torch.get_rng_state()
    KMeans(10, random_state=0).fit(X)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tensor_input_gives_tensors_on_the_device_in_its_dtype(dtype, device):
    device = device_or_skip(device)
    X = torch.from_numpy(_blobs("5d", 9, np.float64)).to(device=device, dtype=dtype)
    ours = KMeans(6, random_state=0).fit(X)
    assert isinstance(ours.cluster_centers_, torch.Tensor)
    assert ours.cluster_centers_.dtype == dtype
    assert ours.cluster_centers_.device.type == torch.device(device).type
    assert ours.labels_.device.type == torch.device(device).type
    assert isinstance(ours.inertia_, float) and isinstance(ours.n_iter_, int)
    assert ours.n_features_in_ == 5
    assert torch.equal(ours.predict(X), ours.labels_)
    distances = ours.transform(X)
    assert distances.dtype == dtype and distances.shape == (len(X), 6)
    expected = torch.cdist(X.double(), ours.cluster_centers_.double())
    torch.testing.assert_close(distances.double(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_input_gives_numpy_and_methods_agree_with_sklearn(dtype):
    X = _blobs("2d-overlap", 10, dtype)
    ours = KMeans(5, random_state=0).fit(X)
    assert isinstance(ours.cluster_centers_, np.ndarray)
    assert ours.cluster_centers_.dtype == dtype
    reference = SklearnKMeans(5, init=ours.cluster_centers_, n_init=1, max_iter=1)
    reference.fit(X)
    new = _blobs("2d-overlap", 11, dtype)
    reference.cluster_centers_ = ours.cluster_centers_
    np.testing.assert_array_equal(ours.predict(new), reference.predict(new))
    np.testing.assert_allclose(
        ours.transform(new), cdist(new, ours.cluster_centers_), rtol=1e-4, atol=1e-4
    )
    assert ours.score(new) == pytest.approx(reference.score(new), rel=1e-5)
    assert ours.score(X) == pytest.approx(-ours.inertia_, rel=1e-6)
    np.testing.assert_array_equal(KMeans(5, random_state=0).fit_predict(X), ours.labels_)
    np.testing.assert_allclose(
        KMeans(5, random_state=0).fit_transform(X), ours.transform(X), rtol=1e-6
    )


def test_invalid_parameters_are_caught_by_validate_params():
    with pytest.raises(InvalidParameterError, match="n_clusters"):
        KMeans(n_clusters=0)._validate_params()
    with pytest.raises(InvalidParameterError, match="init"):
        KMeans(init="kmeans++")._validate_params()
    with pytest.raises(InvalidParameterError, match="n_init"):
        KMeans(n_init=0).fit(np.zeros((10, 2)))


def test_input_problems_are_reported():
    X = _blobs("2d-overlap", 12, np.float64)
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=4"):
        KMeans(4).fit(X[:3])
    with pytest.raises(ValueError, match="shape of the initial centers"):
        KMeans(4, init=X[:3]).fit(X)
    with pytest.raises(ValueError, match="NaN or infinity"):
        KMeans(2).fit(torch.tensor([[0.0, 1.0], [float("nan"), 1.0], [2.0, 2.0]]))
    fitted = KMeans(5, random_state=0).fit(X)
    with pytest.raises(ValueError, match="3 features"):
        fitted.predict(torch.zeros((4, 3), dtype=torch.float64))
    with pytest.warns(RuntimeWarning, match="only one init"):
        KMeans(5, init=X[:5], n_init=3).fit(X)


def test_kmeans_plusplus_seeds_one_centre_per_well_separated_blob():
    X, y = make_blobs(2000, 4, centers=10, cluster_std=0.05, center_box=(-50, 50), random_state=0)
    hits = []
    for seed in range(5):
        centers, indices = kmeans_plusplus(X, 10, random_state=seed)
        np.testing.assert_array_equal(centers, X[indices])
        hits.append(len(np.unique(y[indices])))
    # Plain random seeding covers all 10 blobs in only ~0.04% of draws.
    assert hits == [10] * 5


def test_kmeans_plusplus_is_deterministic_and_accepts_tensors():
    X = _blobs("5d", 13, np.float32)
    a_centers, a_indices = kmeans_plusplus(X, 6, random_state=1)
    b_centers, b_indices = kmeans_plusplus(torch.from_numpy(X), 6, random_state=1)
    np.testing.assert_array_equal(a_indices, b_indices.numpy())
    assert isinstance(b_centers, torch.Tensor) and b_centers.dtype == torch.float32
    # KMeans seeds with the same function: one k-means++ run starts from these centres.
    started = KMeans(6, n_init=1, max_iter=1, random_state=1).fit(X)
    from_centers = KMeans(6, init=a_centers, n_init=1, max_iter=1).fit(X)
    np.testing.assert_array_equal(started.cluster_centers_, from_centers.cluster_centers_)
    with pytest.raises(ValueError, match="n_samples=3"):
        kmeans_plusplus(X[:3], 6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k", [1, 2, 7, 16, 100])
def test_column_argmin_is_torch_argmin_including_ties(k, dtype):
    generator = torch.Generator().manual_seed(k)
    ties = torch.randint(0, 3, (k, 500), generator=generator).to(dtype)
    spread = torch.randn((k, 500), generator=generator, dtype=dtype)
    for V in (ties, spread):
        values, indices = column_argmin(V)
        expected_values, expected_indices = V.min(dim=0)
        assert torch.equal(indices, expected_indices)
        assert torch.equal(values, expected_values)


def test_distance_kernels_match_scipy():
    rng = np.random.default_rng(0)
    X, C = rng.normal(size=(700, 9)), rng.normal(size=(13, 9))
    np.testing.assert_allclose(
        pairwise_sq_dists(torch.from_numpy(X), torch.from_numpy(C)).numpy(),
        cdist(X, C, "sqeuclidean"),
        rtol=1e-10,
        atol=1e-10,
    )
    labels, min_sq = nearest_center(torch.from_numpy(X), torch.from_numpy(C), 1000)
    np.testing.assert_array_equal(labels.numpy(), cdist(X, C).argmin(axis=1))
    np.testing.assert_allclose(min_sq.numpy(), cdist(X, C, "sqeuclidean").min(axis=1))


@pytest.mark.parametrize("lloyd", ["plain", "bounded"])
def test_block_threads_give_the_serial_result_and_restore_torch_threads(lloyd, monkeypatch):
    # Small blocks, so that every loop has many blocks to spread over the threads, and
    # threads from the first point on.
    monkeypatch.setattr("clusterlab_algorithms._shared.blocks.CPU_BLOCK_BYTES", 4096)
    monkeypatch.setattr(lloyd_module.Lloyd, "MIN_THREADED_SAMPLES", 0)
    use_lloyd_mode(monkeypatch, lloyd)
    X = make_blobs(6000, 8, centers=7, cluster_std=2.5, random_state=3)[0].astype(np.float32)
    init = _init(X, 7, 3)
    serial = KMeans(7, init=init, n_init=1).fit(X)
    torch.set_num_threads(2)
    try:
        threaded = KMeans(7, init=init, n_init=1).fit(X)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    np.testing.assert_array_equal(threaded.labels_, serial.labels_)
    np.testing.assert_array_equal(threaded.cluster_centers_, serial.cluster_centers_)
    assert threaded.inertia_ == serial.inertia_
    reference = SklearnKMeans(7, init=init, n_init=1).fit(X)
    assert adjusted_rand_score(reference.labels_, threaded.labels_) == 1.0
    assert threaded.inertia_ == pytest.approx(reference.inertia_, rel=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_same_partition_is_an_adjusted_rand_index_of_one(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, 200)
    relabelled = rng.permutation(5)[labels]
    merged = np.where(labels == 4, 3, labels)
    split = labels.copy()
    split[np.flatnonzero(labels == 2)[::2]] = 5
    for other in (labels, relabelled, merged, split, rng.integers(0, 5, 200)):
        expected = adjusted_rand_score(labels, other) == 1.0
        got = lloyd_module.same_partition(torch.from_numpy(labels), torch.from_numpy(other), 6)
        assert got == expected


def test_a_later_run_with_the_same_clusters_does_not_replace_the_first(monkeypatch):
    # Runs that end in the same clusters under other numbers differ in inertia only by
    # rounding, which on a GPU changes from fit to fit: the first must be kept, as
    # scikit-learn keeps it, or the labels would depend on that rounding.
    first = torch.tensor([0, 0, 1, 1, 2, 2])
    runs = [
        lloyd_module.Run(torch.zeros(3, 1), first, 1.0, 3),
        lloyd_module.Run(torch.ones(3, 1), torch.tensor([2, 2, 0, 0, 1, 1]), 1.0 - 1e-7, 4),
        lloyd_module.Run(torch.ones(3, 1), torch.tensor([0, 0, 0, 1, 2, 2]), 1.5, 5),
    ]
    monkeypatch.setattr(lloyd_module.Lloyd, "run", lambda self, *a, **k: runs.pop(0))
    X = np.arange(6, dtype=np.float32).reshape(-1, 1)
    fitted = KMeans(3, n_init=3, random_state=0).fit(X)
    assert fitted.labels_.tolist() == first.tolist() and fitted.n_iter_ == 3

    better = torch.tensor([0, 0, 1, 1, 1, 2])
    runs = [
        lloyd_module.Run(torch.zeros(3, 1), first, 1.0, 3),
        lloyd_module.Run(torch.ones(3, 1), better, 0.5, 4),
    ]
    fitted = KMeans(3, n_init=2, random_state=0).fit(X)
    assert fitted.labels_.tolist() == better.tolist() and fitted.inertia_ == 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_half_gaps_are_lower_bounds_in_one_block_and_in_many(dtype):
    rng = np.random.default_rng(0)
    centers = (rng.normal(size=(40, 12)) * 5).astype(dtype)
    distances = cdist(centers, centers)
    np.fill_diagonal(distances, np.inf)
    true_half = distances.min(axis=1) / 2
    X = torch.zeros((1, 12), dtype=torch.from_numpy(centers).dtype)
    for budget in (2**20, 1000):  # 40 x 40 in one block, or in blocks of a few rows
        lloyd = lloyd_module.Lloyd(X, X[:, 0], budget=budget)
        half = lloyd._half_gaps(torch.from_numpy(centers)).numpy().astype(np.float64)
        assert np.all(half <= true_half)
        np.testing.assert_allclose(half, true_half, rtol=1e-3)


@pytest.mark.parametrize("plain_share", [0.0, 0.05, 0.3, 2.0])
def test_full_passes_with_or_without_bounds_give_sklearns_iterates(plain_share, monkeypatch):
    # 0: no pass keeps bounds (every iteration measures every point); 2: every full pass
    # keeps them; in between, passes keep bounds once few points change cluster.
    use_lloyd_mode(monkeypatch, "bounded")
    monkeypatch.setattr(lloyd_module.Lloyd, "PLAIN_MOVED_SHARE", plain_share)
    _assert_strict_iterates_match_sklearn(n_samples=5000, seed=11)


def _assert_strict_iterates_match_sklearn(n_samples: int, seed: int) -> None:
    """Fit overlapping 6-D blobs to strict convergence; labels and counts as sklearn's."""
    X = make_blobs(n_samples, 6, centers=9, cluster_std=3.0, random_state=seed)[0]
    X = X.astype(np.float32)
    init = _init(X, 9, seed)
    ours = KMeans(9, init=init, n_init=1, tol=0).fit(X)
    reference = SklearnKMeans(9, init=init, n_init=1, tol=0).fit(X)
    np.testing.assert_array_equal(ours.labels_, reference.labels_)
    assert ours.n_iter_ == reference.n_iter_ > 5
    assert ours.inertia_ == pytest.approx(reference.inertia_, rel=1e-5)


@pytest.mark.parametrize(
    "n_rows, rows",
    [(0, 5), (10, 3), (100_000, 32_768), (3_500, 32_768), (20_000, 32_768), (16_385, 8_192)],
)
def test_even_row_blocks_cover_the_rows_in_an_even_number_of_near_equal_blocks(n_rows, rows):
    blocks = list(even_row_blocks(n_rows, rows))
    covered = [i for start, stop in blocks for i in range(start, stop)]
    assert covered == list(range(n_rows))
    sizes = [stop - start for start, stop in blocks]
    assert all(0 < size <= rows for size in sizes)
    if len(blocks) > 1:
        assert len(blocks) % 2 == 0 and max(sizes) - min(sizes) <= 1
    if n_rows >= 2 * MIN_EVEN_BLOCK_ROWS:
        assert len(blocks) >= 2


def test_workspace_buffers_are_reused_per_thread_and_scores_match_a_fresh_block():
    workspace = ScratchBuffers(torch.device("cpu"))
    first = workspace.get("scores", (4, 100), torch.float32)
    smaller = workspace.get("scores", (3, 50), torch.float32)
    assert smaller.data_ptr() == first.data_ptr() and smaller.shape == (3, 50)
    other_dtype = workspace.get("scores", (3, 50), torch.float64)
    assert other_dtype.dtype == torch.float64

    rng = np.random.default_rng(5)
    X = torch.from_numpy(rng.normal(size=(700, 9)))
    C = torch.from_numpy(rng.normal(size=(13, 9)))
    c_sq = (C * C).sum(1)
    for block in (X[:700], X[:300], X[:700]):
        fresh = column_argmin(center_scores(block, C, c_sq))
        reused = column_argmin(center_scores(block, C, c_sq, workspace), workspace)
        assert torch.equal(fresh[1], reused[1]) and torch.equal(fresh[0], reused[0])
        expected = cdist(block.numpy(), C.numpy(), "sqeuclidean").argmin(axis=1)
        np.testing.assert_array_equal(reused[1].numpy(), expected)


@pytest.mark.parametrize("share", [0.0, 0.03, 0.5, 1.0])
def test_indices_above_is_torchs_nonzero(share):
    generator = torch.Generator().manual_seed(int(share * 100))
    values = torch.rand(10_000, generator=generator)
    limits = torch.full_like(values, 1 - share)
    expected = torch.nonzero(values > limits).squeeze(1)
    assert torch.equal(lloyd_module.indices_above(values, limits), expected)


def _threading_seen(monkeypatch, modules, n_samples: int, seed: int) -> set[bool]:
    """Fit ``n_samples`` blobs, checking the labels against scikit-learn's from the same
    centres; return whether each block hand-out (through ``modules``) asked for threads."""
    seen: list[bool] = []
    block_workers = lloyd_module.block_workers

    def recording(device, *, threaded=True):
        seen.append(threaded)
        return block_workers(device, threaded=threaded)

    for module in modules:
        monkeypatch.setattr(module, "block_workers", recording)
    X = make_blobs(n_samples, 4, centers=3, random_state=seed)[0].astype(np.float32)
    init = _init(X, 3, seed)
    ours = KMeans(3, init=init, n_init=1).fit(X)
    reference = SklearnKMeans(3, init=init, n_init=1).fit(X)
    assert adjusted_rand_score(reference.labels_, ours.labels_) == 1.0
    return set(seen)


@pytest.mark.parametrize("n_samples, threaded", [(5_000, False), (6_000, True)])
def test_short_fits_run_their_blocks_on_one_thread(n_samples, threaded, monkeypatch):
    monkeypatch.setattr(lloyd_module.Lloyd, "MIN_THREADED_SAMPLES", 6_000)
    modules = (lloyd_module, working_data_module)
    assert _threading_seen(monkeypatch, modules, n_samples, seed=0) == {threaded}


@pytest.mark.parametrize("work, threaded", [(5_000 * 4 * 3 + 1, False), (5_000 * 4 * 3, True)])
def test_passes_with_enough_products_run_on_threads(work, threaded, monkeypatch):
    # Fewer points than the sample threshold, but n d k at or above the work threshold.
    monkeypatch.setattr(lloyd_module.Lloyd, "MIN_THREADED_WORK", work)
    assert _threading_seen(monkeypatch, (lloyd_module,), 5_000, seed=1) == {threaded}


@pytest.mark.parametrize("gap_fraction", [0.0, 0.1, 2.0])
def test_the_half_gap_test_is_optional_and_keeps_sklearns_iterates(gap_fraction, monkeypatch):
    # 0: the gaps are checked on every bounded iteration's candidates; 2: never.
    use_lloyd_mode(monkeypatch, "bounded")
    monkeypatch.setattr(lloyd_module.Lloyd, "GAP_TEST_FRACTION", gap_fraction)
    calls: list[int] = []
    half_gaps = lloyd_module.Lloyd._half_gaps

    def counting(self, centers):
        calls.append(centers.shape[0])
        return half_gaps(self, centers)

    monkeypatch.setattr(lloyd_module.Lloyd, "_half_gaps", counting)
    _assert_strict_iterates_match_sklearn(n_samples=8000, seed=4)
    if gap_fraction == 0.0:
        assert len(calls) >= 3
    if gap_fraction == 2.0:
        assert not calls


@pytest.mark.parametrize("shift, centred", [(0.0, False), (3.0, True), (1e3, True)])
def test_data_far_from_the_origin_are_centred_and_give_the_same_clusters(shift, centred):
    X = make_blobs(3000, 8, centers=6, cluster_std=2.0, random_state=2)[0].astype(np.float32)
    X -= X.mean(axis=0)
    working = working_data_module.working_data(torch.from_numpy(X + shift), budget=2**24)
    assert (working.offset is not None) == centred
    init = _init(X, 6, 2)
    near = KMeans(6, init=init, n_init=1).fit(X)
    far = KMeans(6, init=init + shift, n_init=1).fit(X + shift)
    reference = SklearnKMeans(6, init=init + shift, n_init=1).fit(X + shift)
    assert adjusted_rand_score(near.labels_, far.labels_) == 1.0
    assert adjusted_rand_score(reference.labels_, far.labels_) == 1.0
    np.testing.assert_allclose(far.cluster_centers_ - shift, near.cluster_centers_, atol=1e-2)
    assert far.inertia_ == pytest.approx(reference.inertia_, rel=1e-4)
