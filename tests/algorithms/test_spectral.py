"""The torch SpectralClustering against scikit-learn's and scipy's: graphs, spectrum, labels.

Every fixture is checked three ways against independent references: the affinity
equals scikit-learn's ``affinity_matrix_``; the Laplacian's smallest eigenvalues equal
scipy's ``eigsh`` on the Laplacian scipy builds from scikit-learn's affinity; and the
labels agree with scikit-learn's for the same affinity and ``assign_labels`` (ARI; for
``discretize`` and ``cluster_qr`` where the embedding is not degenerate the labels are
also the same, as both run the same steps on the same embedding).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse import csgraph
from scipy.sparse.linalg import eigsh
from sklearn.cluster import SpectralClustering as SklearnSpectral
from sklearn.datasets import make_blobs, make_circles, make_moons
from sklearn.metrics import adjusted_rand_score, pairwise_distances
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from clusterlab_algorithms._spectral.embedding import spectral_embedding
from clusterlab_algorithms.spectral import AffinityTooLarge, SpectralClustering
from clusterlab_datasets import bundled
from tests.algorithms.devices import DEVICES, device_or_skip

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def _real(name: str) -> tuple[np.ndarray, int, float]:
    X, y = getattr(bundled, name)()
    X = StandardScaler().fit_transform(X)
    return X, len(np.unique(y)), 1.0 / X.shape[1]


# name -> (X, n_clusters, gamma); gamma suits each scale, so rbf graphs are not trivial.
DATA: dict[str, tuple[np.ndarray, int, float]] = {
    "moons": (make_moons(600, noise=0.06, random_state=0)[0], 2, 10.0),
    "circles": (make_circles(600, factor=0.5, noise=0.04, random_state=0)[0], 2, 10.0),
    "blobs": (make_blobs(600, 5, centers=4, random_state=0)[0], 4, 0.1),
    "iris": _real("iris"),
    "wine": _real("wine"),
    "breast_cancer": _real("breast_cancer"),
    "digits": _real("digits"),
}
AFFINITIES = ["nearest_neighbors", "rbf"]
ASSIGN = ["kmeans", "discretize", "cluster_qr"]
# digits (1797 points, 64 features) is the slowest case for scikit-learn: slow suite.
CASES = [pytest.param(name, marks=pytest.mark.slow) if name == "digits" else name for name in DATA]


def _pair(name: str, affinity: str, assign: str, **extra: Any) -> tuple[Any, Any]:
    X, k, gamma = DATA[name]
    kw = dict(n_clusters=k, affinity=affinity, assign_labels=assign, gamma=gamma, random_state=0)
    kw.update(extra)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        ref = SklearnSpectral(**kw).fit(X)
    return ref, SpectralClustering(**kw).fit(X)


def _tied_rows(X: np.ndarray, k: int) -> np.ndarray:
    """Points whose ``k``-th and ``k+1``-th nearest distances (itself first) tie."""
    D = np.sort(pairwise_distances(X), axis=1)
    return np.isclose(D[:, k - 1], D[:, k], rtol=1e-12, atol=0)


def _scipy_eigenvalues(affinity: Any, k: int) -> np.ndarray:
    """The ``k`` smallest eigenvalues of scikit-learn's Laplacian, by scipy's ``eigsh``."""
    laplacian = csgraph.laplacian(affinity, normed=True)
    laplacian = sp.csr_matrix(laplacian)
    laplacian.setdiag(1.0)
    values = eigsh(laplacian, k=k, sigma=-1e-5, which="LM", tol=0)[0]
    return np.sort(values)


@pytest.mark.parametrize("assign", ASSIGN)
@pytest.mark.parametrize("affinity", AFFINITIES)
@pytest.mark.parametrize("name", CASES)
def test_labels_agree_with_sklearn(name: str, affinity: str, assign: str) -> None:
    ref, ours = _pair(name, affinity, assign)
    assert adjusted_rand_score(ref.labels_, ours.labels_) >= 0.99
    assert ours.labels_.dtype == np.int64


@pytest.mark.parametrize("affinity", AFFINITIES)
@pytest.mark.parametrize("name", CASES)
def test_affinity_and_eigenvalues_match(name: str, affinity: str) -> None:
    ref, ours = _pair(name, affinity, "cluster_qr")
    expected = ref.affinity_matrix_
    got = ours.affinity_matrix_
    if affinity == "rbf":
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    else:
        assert sp.issparse(got)
        X = DATA[name][0]
        differ = sp.coo_matrix(abs(got - sp.csr_matrix(expected)))
        differ.eliminate_zeros()
        # Only a tie at a point's n_neighbors-th distance (iris has duplicates) may let
        # two searches keep different neighbours.
        tied = _tied_rows(X, ours.n_neighbors)
        assert np.all(tied[differ.row] | tied[differ.col])
    k = ours.embedding_.shape[1]
    np.testing.assert_allclose(
        ours.eigenvalues_, _scipy_eigenvalues(expected, k), rtol=0, atol=1e-4
    )


@pytest.mark.parametrize("name", ["moons", "wine", "iris"])
def test_same_labels_where_the_embedding_is_unique(name: str) -> None:
    """With distinct eigenvalues the embedding is scikit-learn's, so labels are the same."""
    for assign in ("discretize", "cluster_qr"):
        ref, ours = _pair(name, "rbf", assign)
        np.testing.assert_array_equal(ours.labels_, ref.labels_)


def test_embedding_matches_sklearn_up_to_rounding() -> None:
    """Same Laplacian, same scaling by ``sqrt(d)``, same sign flip as scikit-learn."""
    from sklearn.manifold import spectral_embedding as sk_embedding

    ref, ours = _pair("wine", "rbf", "cluster_qr")
    expected = sk_embedding(ref.affinity_matrix_, n_components=3, drop_first=False, random_state=0)
    np.testing.assert_allclose(ours.embedding_, expected, atol=1e-6)


def test_iterative_solver_matches_eigsh() -> None:
    """The subspace iteration (forced on a small graph) finds scipy's eigenvalues."""
    X = DATA["blobs"][0]
    ref = SklearnSpectral(n_clusters=4, affinity="nearest_neighbors", random_state=0).fit(X)
    affinity = torch.from_numpy(ref.affinity_matrix_.toarray()).to_sparse()
    gen = torch.Generator().manual_seed(0)
    iterative = spectral_embedding(affinity, 6, 1e-9, gen, dense_max=0)
    dense = spectral_embedding(affinity, 6, 1e-9, gen)
    expected = _scipy_eigenvalues(ref.affinity_matrix_, 6)
    np.testing.assert_allclose(iterative.eigenvalues.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(dense.eigenvalues.numpy(), expected, atol=1e-6)


def _separated_graph(isolated: bool) -> sp.csr_matrix:
    """scikit-learn's neighbour graph of three far-apart blobs: three components, and
    with ``isolated`` one more point without any edge."""
    X, _ = make_blobs(300, centers=[[0, 0], [20, 0], [0, 20]], random_state=0)
    graph = SklearnSpectral(n_clusters=3, affinity="nearest_neighbors", random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        affinity = sp.csr_matrix(graph.fit(X).affinity_matrix_)
    return sp.block_diag([affinity, sp.csr_matrix((1, 1))], format="csr") if isolated else affinity


def _laplacian_eigh(affinity: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Every eigenpair of scipy's normalised Laplacian of ``affinity`` (diagonal one), by
    numpy's dense solver, ascending."""
    laplacian = sp.csr_matrix(csgraph.laplacian(affinity, normed=True))
    laplacian.setdiag(1.0)
    return np.linalg.eigh(laplacian.toarray())


@pytest.mark.parametrize("dense_max", [0, 10_000], ids=["iterative-size", "dense-size"])
@pytest.mark.parametrize("isolated", [False, True], ids=["", "isolated-point"])
@pytest.mark.parametrize("n_components", [2, 3, 4])
def test_a_graph_of_separate_components_has_the_laplacians_eigenspace(
    n_components: int, isolated: bool, dense_max: int
) -> None:
    """Three components with edges: with three wanted vectors the embedding comes from
    the components themselves, exactly; with two or four, from a solver. Either way it
    spans the eigenvectors of the smallest eigenvalues of scipy's Laplacian (an isolated
    point's eigenvalue is one, not zero)."""
    affinity = _separated_graph(isolated)
    values, vectors = _laplacian_eigh(affinity)
    assert values[3] > 1e-3 > values[2]  # three zeros, then a gap
    # The Laplacian's degrees leave self-loops out.
    degree = np.asarray(affinity.sum(1)).ravel() - affinity.diagonal()
    dd = np.sqrt(np.where(degree == 0, 1.0, degree))
    gen = torch.Generator().manual_seed(0)
    tensor = torch.sparse_csr_tensor(
        torch.from_numpy(affinity.indptr.astype(np.int64)),
        torch.from_numpy(affinity.indices.astype(np.int64)),
        torch.from_numpy(affinity.data),
        affinity.shape,
    ).to_sparse_coo()
    embedding = spectral_embedding(tensor, n_components, 1e-10, gen, dense_max=dense_max)
    np.testing.assert_allclose(embedding.eigenvalues.numpy(), values[:n_components], atol=1e-8)
    ours = embedding.maps.numpy() * dd[:, None]
    np.testing.assert_allclose(ours.T @ ours, np.eye(n_components), atol=1e-8)
    if n_components <= 3:
        # Inside the zero eigenspace: ours must lie in scipy's.
        zero_space = vectors[:, :3]
        np.testing.assert_allclose(zero_space @ (zero_space.T @ ours), ours, atol=1e-8)
    else:
        reference = vectors[:, :n_components]
        np.testing.assert_allclose(ours @ ours.T, reference @ reference.T, atol=1e-6)
    if n_components == 3:
        # The exact embedding: constant on each component, and eigenvalues exactly zero.
        assert (embedding.eigenvalues.numpy() == 0).all()
        components = csgraph.connected_components(affinity)[1]
        rows = embedding.maps.numpy()[degree > 0]
        assert len(np.unique(rows.round(12), axis=0)) == 3
        assert adjusted_rand_score(components[degree > 0], rows.argmax(1)) == 1.0


@pytest.mark.parametrize("solver", ["arpack", "subspace"])
def test_a_connected_graph_of_crowded_eigenvalues_has_sklearns_embedding(
    solver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Noisy moons, float32: a connected neighbour graph whose two smallest nonzero
    eigenvalues lie within 1e-4 of each other. ARPACK (given a starting vector, on the
    CPU) and the subspace iteration (in float64) both give scikit-learn's embedding."""
    from sklearn.manifold import spectral_embedding as sk_embedding

    from clusterlab_algorithms._spectral import embedding as module

    X, _ = make_moons(2000, noise=0.1, random_state=0)
    ref = SklearnSpectral(n_clusters=2, affinity="nearest_neighbors", random_state=0)
    affinity = ref.fit(X.astype(np.float32)).affinity_matrix_
    assert csgraph.connected_components(affinity)[0] == 1
    expected_values = _scipy_eigenvalues(affinity, 3)
    assert expected_values[2] - expected_values[1] < 1e-3
    expected = sk_embedding(affinity, n_components=3, drop_first=False, random_state=0)

    def unused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the other solver ran")

    start = None
    if solver == "arpack":
        monkeypatch.setattr(module, "largest_eigenpairs", unused)
        start = np.random.RandomState(0).uniform(-1, 1, X.shape[0])
    else:
        monkeypatch.setattr(module, "smallest_eigenpairs", unused)
    coo = affinity.tocoo()
    tensor = torch.sparse_coo_tensor(
        torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64)),
        torch.from_numpy(coo.data.astype(np.float32)),
        coo.shape,
    ).coalesce()
    gen = torch.Generator().manual_seed(0)
    embedding = spectral_embedding(tensor, 3, 0.0, gen, dense_max=0, start=start)
    assert embedding.maps.dtype == torch.float32
    np.testing.assert_allclose(embedding.eigenvalues.numpy(), expected_values, atol=1e-7)
    np.testing.assert_allclose(embedding.maps.numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_both_component_searches_match_scipy(device: str) -> None:
    """The union-find (the GPU's) and scipy's search (the CPU's) give every point the
    smallest point of its scipy component, on a graph of many small components."""
    from clusterlab_algorithms._spectral.embedding import scipy_roots, union_find_roots

    rng = np.random.default_rng(0)
    n = 3000
    a, b = rng.integers(0, n, 2000), rng.integers(0, n, 2000)
    graph = sp.coo_matrix((np.ones(4000), (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()
    graph.sum_duplicates()
    count, labels = csgraph.connected_components(graph, directed=False)
    assert 100 < count < n
    smallest = np.array([np.flatnonzero(labels == c).min() for c in range(count)])
    rows = torch.from_numpy(np.repeat(np.arange(n), np.diff(graph.indptr)))
    cols = torch.from_numpy(graph.indices.astype(np.int64))
    off = rows != cols
    rows, cols = rows[off], cols[off]
    np.testing.assert_array_equal(scipy_roots(n, rows, cols).numpy(), smallest[labels])
    found = union_find_roots(n, rows.to(device_or_skip(device)), cols.to(device_or_skip(device)))
    np.testing.assert_array_equal(found.cpu().numpy(), smallest[labels])


def test_precomputed_nearest_neighbors() -> None:
    X, k, _ = DATA["circles"]
    D = pairwise_distances(X)
    kw = dict(n_clusters=k, affinity="precomputed_nearest_neighbors", random_state=0)
    ref = SklearnSpectral(assign_labels="cluster_qr", **kw).fit(D)
    ours = SpectralClustering(assign_labels="cluster_qr", **kw).fit(D)
    assert abs(ours.affinity_matrix_ - ref.affinity_matrix_).max() == 0
    assert adjusted_rand_score(ref.labels_, ours.labels_) == 1.0
    with pytest.raises(ValueError, match="square"):
        SpectralClustering(affinity="precomputed_nearest_neighbors").fit(X)


def test_n_components_larger_than_n_clusters() -> None:
    ref, ours = _pair("blobs", "rbf", "kmeans", n_components=6)
    assert ours.embedding_.shape == (600, 6)
    assert adjusted_rand_score(ref.labels_, ours.labels_) >= 0.99


def test_rbf_refused_beyond_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTERLAB_MEMORY_BUDGET_MB", "1")
    X = DATA["moons"][0]  # two 600 x 600 float64 matrices are 5.5 MiB
    with pytest.raises(AffinityTooLarge, match=r"600 x 600 .*nearest_neighbors"):
        SpectralClustering(n_clusters=2, affinity="rbf").fit(X)
    # One matrix (2.7 MiB) would fit in 4 MiB, but the fit holds two.
    monkeypatch.setenv("CLUSTERLAB_MEMORY_BUDGET_MB", "4")
    with pytest.raises(AffinityTooLarge, match="5 MiB"):
        SpectralClustering(n_clusters=2, affinity="rbf").fit(X)
    # The sparse graph needs no n x n matrix and runs under the same budget.
    labels = SpectralClustering(n_clusters=2, affinity="nearest_neighbors").fit(X).labels_
    assert labels.shape == (600,)


def test_tensor_in_tensor_out_float32() -> None:
    X, k, gamma = DATA["circles"]
    ref = SklearnSpectral(n_clusters=k, gamma=gamma, assign_labels="cluster_qr").fit(X)
    model = SpectralClustering(n_clusters=k, gamma=gamma, assign_labels="cluster_qr")
    model.fit(torch.from_numpy(X).float())
    assert isinstance(model.labels_, torch.Tensor)
    assert model.embedding_.dtype == torch.float32
    assert adjusted_rand_score(ref.labels_, model.labels_.numpy()) >= 0.99


def test_invalid_parameters() -> None:
    X = DATA["moons"][0]
    with pytest.raises(InvalidParameterError):
        SpectralClustering(affinity="cosine").fit(X)
    with pytest.raises(InvalidParameterError):
        SpectralClustering(assign_labels="spectral").fit(X)
    with pytest.raises(ValueError, match="n_neighbors"):
        SpectralClustering(affinity="nearest_neighbors", n_neighbors=700).fit(X)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("affinity", AFFINITIES)
def test_devices_agree_with_sklearn(device: str, affinity: str) -> None:
    device_or_skip(device)
    X, k, gamma = DATA["circles"]
    kw = dict(n_clusters=k, affinity=affinity, gamma=gamma, assign_labels="cluster_qr")
    ref = SklearnSpectral(**kw).fit(X)
    ours = SpectralClustering(device=device, **kw).fit(torch.from_numpy(X).to(device))
    assert ours.labels_.device.type == device
    assert adjusted_rand_score(ref.labels_, ours.labels_.cpu().numpy()) >= 0.99


@pytest.mark.parametrize("device", DEVICES)
def test_iterative_solver_on_device(device: str) -> None:
    """A graph above the dense size, on each device: the subspace iteration agrees."""
    device_or_skip(device)
    X = make_moons(2500, noise=0.06, random_state=1)[0]
    kw = dict(n_clusters=2, affinity="nearest_neighbors", assign_labels="cluster_qr")
    ref = SklearnSpectral(random_state=0, **kw).fit(X)
    ours = SpectralClustering(random_state=0, device=device, **kw).fit(
        torch.from_numpy(X).to(device)
    )
    assert adjusted_rand_score(ref.labels_, ours.labels_.cpu().numpy()) >= 0.99
    expected = _scipy_eigenvalues(ref.affinity_matrix_, 2)
    np.testing.assert_allclose(ours.eigenvalues_.cpu().numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("search", ["kd-tree", "blocks"])
@pytest.mark.parametrize("budget_mb", [16, 64, 256])
@pytest.mark.parametrize("d", [2, 8])
def test_neighbour_search_matches_sklearn(
    d: int, budget_mb: int, search: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The radius-pruned search (above 4096 points) finds scikit-learn's neighbours.

    Blobs of very different spread leave points beyond the sampled radius, which the
    full search must cover, and points in the dense blobs with more pairs than a padded
    row holds; the smaller budgets make the first radii list too many pairs. Duplicated
    points tie, so distances are compared.
    """
    from sklearn.neighbors import NearestNeighbors

    from clusterlab_algorithms._spectral import affinity
    from clusterlab_algorithms._spectral.affinity import knn_indices

    if search == "blocks":  # the GPU's search, forced on the CPU
        monkeypatch.setattr(affinity, "use_kd_tree", lambda X: False)
    X, _ = make_blobs(5000, d, centers=4, cluster_std=[0.2, 0.5, 1.0, 3.0], random_state=0)
    X = np.r_[X, X[:300]]
    index = knn_indices(torch.from_numpy(X), 10, budget_mb * 2**20).numpy()
    ours = np.sort(np.linalg.norm(X[index] - X[:, None], axis=2), axis=1)
    expected = NearestNeighbors(n_neighbors=10).fit(X).kneighbors(X)[0]
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    assert all(len(set(row)) == 10 for row in index)


@pytest.mark.parametrize("eigen_tol", [0, 1e-3])
def test_eigen_tol(eigen_tol: float) -> None:
    """0 means the dtype's floor (scikit-learn's ARPACK: machine precision); a loose
    tolerance still leaves eigenvalues within it of scipy's."""
    X = make_moons(1500, noise=0.06, random_state=2)[0]
    kw = dict(n_clusters=2, affinity="nearest_neighbors", assign_labels="cluster_qr")
    ref = SklearnSpectral(random_state=0, **kw).fit(X)
    ours = SpectralClustering(random_state=0, eigen_tol=eigen_tol, **kw).fit(X)
    expected = _scipy_eigenvalues(ref.affinity_matrix_, 2)
    np.testing.assert_allclose(ours.eigenvalues_, expected, atol=max(eigen_tol, 1e-8))
    assert adjusted_rand_score(ref.labels_, ours.labels_) >= 0.99


@pytest.mark.parametrize("name", ["moons", "blobs", "iris", "wine"])
def test_warns_where_sklearn_warns_of_a_disconnected_graph(name: str) -> None:
    X, k, _ = DATA[name]
    kw = dict(n_clusters=k, affinity="nearest_neighbors", random_state=0)
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        SklearnSpectral(assign_labels="cluster_qr", **kw).fit(X)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        SpectralClustering(assign_labels="cluster_qr", **kw).fit(X)

    def disconnected(caught: list[Any]) -> bool:
        return any("not fully connected" in str(w.message) for w in caught)

    assert disconnected(ours) == disconnected(theirs)


@pytest.mark.parametrize("outlier", [False, True])
def test_rbf_warns_where_sklearn_warns(outlier: bool) -> None:
    """A point whose rbf affinities all underflow is cut off, in scikit-learn too."""
    X = DATA["moons"][0]
    if outlier:
        X = np.r_[X, [[100.0, 100.0]]]
    kw = dict(n_clusters=2, gamma=10.0, assign_labels="cluster_qr", random_state=0)
    found = []
    for model in (SklearnSpectral(**kw), SpectralClustering(**kw)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X)
        found.append(any("not fully connected" in str(w.message) for w in caught))
    assert found == [outlier, outlier]
