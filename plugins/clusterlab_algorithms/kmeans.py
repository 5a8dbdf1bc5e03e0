"""K-Means (Lloyd's algorithm) in torch with the scikit-learn API, and k-means++ seeding."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import KW_ONLY
from numbers import Integral
from typing import Any

import torch
from sklearn.base import BaseEstimator

from clusterlab.device import memory_budget
from clusterlab_algorithms._kmeans.base import BaseKMeans
from clusterlab_algorithms._kmeans.lloyd import Lloyd, Run, same_partition
from clusterlab_algorithms._kmeans.seeding import plusplus_indices
from clusterlab_algorithms._kmeans.working_data import tolerance, working_data
from clusterlab_algorithms._shared.distances import squared_norms
from clusterlab_algorithms._shared.estimator_io import (
    estimator_input,
    make_generator,
    to_output,
    validate_input,
)
from clusterlab_algorithms._shared.params import estimator_params
from clusterlab_algorithms._shared.threads import one_cpu_thread

__all__ = ["KMeans", "kmeans_plusplus"]


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    *,
    random_state: Any = None,
    n_local_trials: int | None = None,
) -> tuple[Any, Any]:
    """Choose ``n_clusters`` initial centres among the rows of ``X`` by greedy k-means++.

    Works on a numpy array (on the CPU) or a torch tensor (on its device), with
    randomness from a ``torch.Generator`` seeded by ``random_state``. With
    ``n_local_trials=None`` each centre is the best of ``2 + log(n_clusters)`` candidates,
    as in scikit-learn. Returns ``(centers, indices)``: numpy arrays for numpy input,
    tensors for tensor input; ``centers == X[indices]``.
    """
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, Integral) or n_clusters < 1:
        raise ValueError(f"n_clusters should be an integer >= 1, got {n_clusters!r}.")
    if n_local_trials is not None and n_local_trials < 1:
        raise ValueError(f"n_local_trials should be >= 1 or None, got {n_local_trials!r}.")
    device = X.device if isinstance(X, torch.Tensor) else torch.device("cpu")
    data, as_tensor = validate_input(_Unfitted(), X, device, reset=True)
    if data.shape[0] < n_clusters:
        raise ValueError(f"n_samples={data.shape[0]} should be >= n_clusters={n_clusters}.")
    budget = memory_budget(device)
    with torch.no_grad():
        centered = data - data.mean(dim=0)
        indices = plusplus_indices(
            centered,
            int(n_clusters),
            squared_norms(centered),
            make_generator(random_state, device),
            n_local_trials,
            budget,
        )
        centers = data[indices]
    return to_output(centers, as_tensor), to_output(indices, as_tensor)


class _Unfitted(BaseEstimator):
    """A stand-in estimator for validating input outside of an estimator."""


@estimator_params
class KMeans(BaseKMeans):
    """K-Means clustering by Lloyd's algorithm in torch, on the CPU or a GPU.

    Follows scikit-learn's ``KMeans`` (greedy k-means++ seeding, the same tolerance and
    empty-cluster handling) with distances computed as one matrix product per block of
    rows, sized so that no block exceeds :func:`clusterlab.device.memory_budget`.

    Args:
        n_clusters: number of clusters and centres.
        init: ``"k-means++"``, ``"random"`` (distinct random rows) or an array of shape
            ``(n_clusters, n_features)`` of initial centres.
        n_init: runs from different seeds, the lowest inertia kept; ``"auto"`` is 1 for
            k-means++ or given centres and 10 for ``"random"``.
        max_iter: most Lloyd iterations per run.
        tol: stop when the summed squared centre shift is at most ``tol`` times the mean
            per-feature variance of ``X``.
        random_state: seed (int), ``None`` or a numpy ``RandomState``; randomness comes
            only from a ``torch.Generator`` on the device.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``; ``None`` uses the input
            tensor's device (the CPU for numpy input).
        verbose: print the inertia at every iteration.

    Fitted attributes: ``cluster_centers_``, ``labels_``, ``inertia_``, ``n_iter_``,
    ``n_features_in_``: numpy arrays for numpy input, tensors on the device for tensor input.
    """

    n_clusters: int = 8
    _: KW_ONLY
    init: Any = "k-means++"
    n_init: int | str = "auto"
    max_iter: int = 300
    tol: float = 1e-4
    random_state: Any = None
    device: Any = None
    verbose: int = 0

    def fit(self, X: Any, y: Any = None) -> KMeans:
        """Cluster ``X`` (n x d, numpy or torch) and return the fitted estimator."""
        self._validate_params()
        data, as_tensor = estimator_input(self, X, reset=True)
        device = data.device
        self._check_n_samples(data.shape[0])
        n_init = self._n_init()
        budget = memory_budget(device)
        generator = make_generator(self.random_state, device)
        # Where the iterations run on one thread, so does the rest: its few operations
        # are as small, and waking a second thread for each costs more than it gives.
        threads = Lloyd.uses_threads(*data.shape, self.n_clusters)
        with torch.no_grad(), nullcontext() if threads else one_cpu_thread(device):
            working = working_data(data, budget)
            centered, x_sq, mean = working.X, working.x_sq, working.offset
            tol = tolerance(working, self.tol)
            lloyd = Lloyd(centered, x_sq, budget)
            init_array = self._init_array(data)
            if init_array is not None and mean is not None:
                init_array -= mean
            best: Run | None = None
            for _ in range(n_init):
                centers = self._initial_centers(centered, x_sq, init_array, generator, budget)
                if self.verbose:
                    print("Initialization complete")
                run = lloyd.run(centers, max_iter=self.max_iter, tol=tol, verbose=self.verbose)
                if best is None or (
                    run.inertia < best.inertia
                    and not same_partition(run.labels, best.labels, self.n_clusters)
                ):
                    best = run
            assert best is not None
            centers = best.centers if mean is None else best.centers + mean
        self._warn_if_fewer_clusters(best.labels)
        self.cluster_centers_ = to_output(centers, as_tensor)
        self.labels_ = to_output(best.labels, as_tensor)
        self.inertia_ = best.inertia
        self.n_iter_ = best.n_iter
        self._n_features_out = self.n_clusters
        return self
