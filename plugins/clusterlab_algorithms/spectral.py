"""Spectral clustering in torch with scikit-learn's API: affinity, embedding, labels."""

from __future__ import annotations

from dataclasses import KW_ONLY
from numbers import Integral, Real
from typing import Any, ClassVar

import torch
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from clusterlab.device import memory_budget
from clusterlab_algorithms._shared.estimator_io import (
    estimator_input,
    make_generator,
    to_output,
)
from clusterlab_algorithms._shared.params import estimator_params
from clusterlab_algorithms._spectral.affinity import (
    AffinityTooLarge,
    connectivity_affinity,
    knn_indices,
    precomputed_knn_indices,
    rbf_affinity,
)
from clusterlab_algorithms._spectral.assign import cluster_qr, discretize
from clusterlab_algorithms._spectral.embedding import DENSE_MAX, spectral_embedding
from clusterlab_algorithms.kmeans import KMeans

__all__ = ["DENSE_MAX", "AffinityTooLarge", "SpectralClustering"]

AFFINITIES = ("rbf", "nearest_neighbors", "precomputed_nearest_neighbors")


@estimator_params
class SpectralClustering(ClusterMixin, BaseEstimator):
    """Spectral clustering on the CPU or a GPU, as scikit-learn's ``SpectralClustering``.

    Builds an affinity graph, embeds the points by the eigenvectors of the smallest
    eigenvalues of its symmetric normalised Laplacian, and assigns labels in that
    embedding (see ``docs/algorithms/spectral.md``).

    Parameters:
        n_clusters: number of clusters.
        eigen_solver: ``None``; the solver follows the size (dense ``eigh`` up to
            ``DENSE_MAX`` points, a Chebyshev-filtered subspace iteration above it).
        n_components: eigenvectors in the embedding; ``None`` means ``n_clusters``.
        random_state: seed (int), ``None`` or a numpy ``RandomState``: it seeds the
            iterative solver, the discretisation's first row and k-means.
        n_init: k-means runs for ``assign_labels="kmeans"``, the best kept.
        gamma: the rbf kernel's ``exp(-gamma |x - y|^2)``.
        affinity: ``"rbf"`` (dense, refused beyond the memory budget with
            :class:`AffinityTooLarge`), ``"nearest_neighbors"`` (sparse k-nearest-neighbour
            graph) or ``"precomputed_nearest_neighbors"`` (``X`` is a dense ``n x n``
            distance matrix).
        n_neighbors: neighbours per point (itself included) of the neighbour graphs.
        eigen_tol: largest residual ``|N v - mu v|`` of the iterative solver; ``"auto"``
            (or 0) is 1e-5 for float32 data and 1e-8 for float64.
        assign_labels: ``"kmeans"``, ``"discretize"`` or ``"cluster_qr"``.
        device: where to compute (``"cpu"``, ``"cuda"``, ...); ``None`` follows the input.

    Attributes:
        labels_: cluster of each point (int64).
        affinity_matrix_: the affinity: a dense array for ``"rbf"``, sparse (scipy CSR
            for numpy input, a torch sparse tensor for tensor input) for the graphs.
        embedding_: the spectral embedding, ``n x n_components``.
        eigenvalues_: the Laplacian's ``n_components`` smallest eigenvalues, ascending.
        n_features_in_: number of features (columns) seen in ``fit``.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "eigen_solver": [None],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "affinity": [StrOptions(set(AFFINITIES))],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "eigen_tol": [Interval(Real, 0.0, None, closed="left"), StrOptions({"auto"})],
        "assign_labels": [StrOptions({"kmeans", "discretize", "cluster_qr"})],
        "device": [None, str, torch.device],
    }

    n_clusters: int = 8
    _: KW_ONLY
    eigen_solver: None = None
    n_components: int | None = None
    random_state: Any = None
    n_init: int = 10
    gamma: float = 1.0
    affinity: str = "rbf"
    n_neighbors: int = 10
    eigen_tol: float | str = "auto"
    assign_labels: str = "kmeans"
    device: Any = None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> SpectralClustering:
        """Cluster ``X`` (``n x d`` data, or ``n x n`` distances for the precomputed graph).

        Sets ``affinity_matrix_``, ``embedding_``, ``eigenvalues_`` (the Laplacian's
        smallest, ascending) and ``labels_``; returns the estimator.
        """
        data, as_tensor = estimator_input(self, X, reset=True, ensure_min_samples=2)
        device = data.device
        n = data.shape[0]
        if self.affinity == "precomputed_nearest_neighbors" and data.shape[1] != n:
            raise ValueError(
                f"affinity='precomputed_nearest_neighbors' needs a square distance matrix, "
                f"got shape {tuple(data.shape)}"
            )
        n_components = self.n_clusters if self.n_components is None else self.n_components
        if n_components > n:
            raise ValueError(f"n_components={n_components} must be <= n_samples={n}.")
        # The random state is drawn from in scikit-learn's order (ARPACK's starting
        # vector, then the discretisation's first row or k-means' seed), so a seed gives
        # the discretisation the starting row it has in scikit-learn.
        random_state = check_random_state(self.random_state)
        solver_seed = random_state.uniform(-1, 1, n)
        budget = memory_budget(device)
        with torch.no_grad():
            affinity = self._affinity(data, budget)
            # 0 asks ARPACK for machine precision, and the subspace iteration for the
            # floor of the dtype it runs in: what "auto" is.
            eigen_tol = float(self.eigen_tol) if self.eigen_tol != "auto" else 0.0
            generator = make_generator(int(abs(solver_seed[0]) * 2**31), device)
            embedding = spectral_embedding(
                affinity, n_components, eigen_tol, generator, start=solver_seed
            )
            maps = embedding.maps
            if self.assign_labels == "cluster_qr":
                labels = cluster_qr(maps)
            elif self.assign_labels == "discretize":
                labels = discretize(maps, int(random_state.randint(n)))
            else:
                kmeans = KMeans(
                    self.n_clusters, n_init=self.n_init, random_state=random_state, device=device
                )
                labels = kmeans.fit(maps).labels_
        self.labels_ = to_output(labels.to(torch.int64), as_tensor)
        self.embedding_ = to_output(maps, as_tensor)
        self.eigenvalues_ = to_output(embedding.eigenvalues, as_tensor)
        self.affinity_matrix_ = _affinity_output(affinity, as_tensor)
        return self

    def fit_predict(self, X: Any, y: Any = None) -> Any:
        """Cluster ``X`` and return ``labels_``."""
        return self.fit(X).labels_

    def _affinity(self, data: torch.Tensor, budget: int) -> torch.Tensor:
        n = data.shape[0]
        if self.affinity == "rbf":
            return rbf_affinity(data, self.gamma, budget)
        if self.n_neighbors > n:
            raise ValueError(
                f"Expected n_neighbors <= n_samples_fit, but n_neighbors = "
                f"{self.n_neighbors}, n_samples_fit = {n}, n_samples = {n}"
            )
        if self.affinity == "nearest_neighbors":
            index = knn_indices(data, self.n_neighbors, budget)
        else:
            if bool((data < 0).any()):
                raise ValueError("Negative values in data passed to precomputed distance matrix.")
            index = precomputed_knn_indices(data, self.n_neighbors, budget)
        return connectivity_affinity(index, data.dtype)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.affinity == "precomputed_nearest_neighbors"
        return tags


def _affinity_output(affinity: torch.Tensor, as_tensor: bool) -> Any:
    """The affinity as fitted attribute: the tensor, or numpy / scipy CSR for numpy input."""
    if as_tensor:
        return affinity
    if not affinity.is_sparse:
        return affinity.cpu().numpy()
    from scipy.sparse import csr_matrix

    coo = affinity.coalesce().cpu()
    rows, cols = coo.indices().numpy()
    n = affinity.shape[0]
    return csr_matrix((coo.values().numpy(), (rows, cols)), shape=(n, n))
