"""What KMeans and MiniBatchKMeans share: parameters, seeding, predict, transform, score."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from clusterlab.device import memory_budget
from clusterlab_algorithms._kmeans.assign import labels_inertia, nearest_center
from clusterlab_algorithms._kmeans.seeding import plusplus_indices
from clusterlab_algorithms._shared.distances import pairwise_sq_dists
from clusterlab_algorithms._shared.estimator_io import estimator_input, to_output


class BaseKMeans(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """What KMeans and MiniBatchKMeans share: parameters, seeding, predict and transform."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random"}), "array-like"],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "device": [None, str, torch.device],
    }
    _default_n_init = 10

    def _n_init(self) -> int:
        """Number of initialisations: ``auto`` means 1 for k-means++ or given centres."""
        init_is_array = not isinstance(self.init, str)
        if self.n_init == "auto":
            return 1 if init_is_array or self.init == "k-means++" else self._default_n_init
        if init_is_array and self.n_init != 1:
            warnings.warn(
                f"Explicit initial center position passed: performing only one init in "
                f"{type(self).__name__} instead of n_init={self.n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            return 1
        return int(self.n_init)

    def _init_array(self, X: torch.Tensor) -> torch.Tensor | None:
        """The user's initial centres as a tensor like ``X``, or ``None`` for a named method."""
        if isinstance(self.init, str):
            return None
        if isinstance(self.init, torch.Tensor):
            centers = self.init.detach().to(device=X.device, dtype=X.dtype)
        else:
            centers = torch.as_tensor(np.asarray(self.init, dtype=np.float64)).to(
                device=X.device, dtype=X.dtype
            )
        if centers.ndim != 2 or centers.shape[0] != self.n_clusters:
            raise ValueError(
                f"The shape of the initial centers {tuple(centers.shape)} does not match "
                f"the number of clusters {self.n_clusters}."
            )
        if centers.shape[1] != X.shape[1]:
            raise ValueError(
                f"The shape of the initial centers {tuple(centers.shape)} does not match "
                f"the number of features of the data {X.shape[1]}."
            )
        if not bool(torch.isfinite(centers).all()):
            raise ValueError("The initial centers contain NaN or infinity.")
        return centers.clone()

    def _initial_centers(
        self,
        X: torch.Tensor,
        x_sq: torch.Tensor,
        init_array: torch.Tensor | None,
        generator: torch.Generator,
        budget: int,
    ) -> torch.Tensor:
        """Initial centres for one run: the given array, k-means++ or random distinct rows."""
        if init_array is not None:
            return init_array.clone()
        if self.init == "k-means++":
            indices = plusplus_indices(X, self.n_clusters, x_sq, generator, None, budget)
        else:
            indices = torch.randperm(X.shape[0], generator=generator, device=X.device)
            indices = indices[: self.n_clusters]
        return X[indices].clone()

    def _check_n_samples(self, n_samples: int) -> None:
        if n_samples < self.n_clusters:
            raise ValueError(f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}.")

    def _warn_if_fewer_clusters(self, labels: torch.Tensor) -> None:
        found = int((torch.bincount(labels, minlength=self.n_clusters) > 0).sum())
        if found < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({found}) found smaller than n_clusters "
                f"({self.n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _fitted_centers(self, X: torch.Tensor) -> torch.Tensor:
        """``cluster_centers_`` as a tensor on ``X``'s device and dtype."""
        return torch.as_tensor(self.cluster_centers_).to(device=X.device, dtype=X.dtype)

    def _test_data(self, X: Any) -> tuple[torch.Tensor, bool]:
        check_is_fitted(self)
        return estimator_input(self, X, reset=False)

    def fit_predict(self, X: Any, y: Any = None) -> Any:
        """Fit on ``X`` and return the cluster index of every sample (``labels_``)."""
        return self.fit(X).labels_

    def predict(self, X: Any) -> Any:
        """Index of the nearest fitted centre for every sample of ``X``."""
        data, as_tensor = self._test_data(X)
        with torch.no_grad():
            labels, _ = nearest_center(data, self._fitted_centers(data), memory_budget(data.device))
        return to_output(labels, as_tensor)

    def transform(self, X: Any) -> Any:
        """Euclidean distance from every sample of ``X`` to every fitted centre (n x k)."""
        data, as_tensor = self._test_data(X)
        with torch.no_grad():
            distances = pairwise_sq_dists(data, self._fitted_centers(data)).sqrt_()
        return to_output(distances, as_tensor)

    def fit_transform(self, X: Any, y: Any = None) -> Any:
        """Fit on ``X`` and return its distances to the fitted centres."""
        return self.fit(X).transform(X)

    def score(self, X: Any, y: Any = None) -> float:
        """Opposite of the inertia of ``X`` on the fitted centres (greater is better)."""
        data, _ = self._test_data(X)
        with torch.no_grad():
            centers = self._fitted_centers(data)
            _, inertia = labels_inertia(data, centers, memory_budget(data.device))
        return -inertia

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
