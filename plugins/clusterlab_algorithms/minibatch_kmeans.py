"""Mini-batch K-Means in torch with the scikit-learn API; batches stream to the device."""

from __future__ import annotations

from dataclasses import KW_ONLY
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from clusterlab.device import memory_budget
from clusterlab_algorithms._kmeans.assign import labels_inertia
from clusterlab_algorithms._kmeans.base import BaseKMeans
from clusterlab_algorithms._kmeans.minibatch import EarlyStopping, mean_variance, minibatch_step
from clusterlab_algorithms._shared.distances import squared_norms
from clusterlab_algorithms._shared.estimator_io import (
    make_generator,
    resolve_estimator_device,
    to_output,
    validate_input,
)
from clusterlab_algorithms._shared.params import estimator_params

__all__ = ["MiniBatchKMeans"]


@estimator_params
class MiniBatchKMeans(BaseKMeans):
    """Mini-batch K-Means in torch, on the CPU or a GPU, with scikit-learn's updates.

    Each step draws ``batch_size`` samples (with replacement), assigns them to the
    nearest centre and moves every centre towards the running mean of its points.
    The data may stay where it is (a numpy array stays on the CPU): only the batches,
    the initialisation sample and the blocks of the final labelling move to the device.

    Args:
        n_clusters: number of clusters and centres.
        init: ``"k-means++"``, ``"random"`` or an array ``(n_clusters, n_features)``.
        max_iter: most passes over the data (``max_iter * n_samples / batch_size`` steps).
        batch_size: samples per step.
        verbose: print the batch inertia at every step.
        random_state: seed (int), ``None`` or a numpy ``RandomState``.
        tol: stop when the squared centre shift of a step is at most ``tol`` times the
            mean per-feature variance of ``X``; 0 disables it.
        max_no_improvement: stop after this many steps without improvement of the
            smoothed batch inertia; ``None`` disables it.
        init_size: samples used for the initialisation (default ``3 * batch_size``).
        n_init: initialisations tried on the init sample, the best kept; ``"auto"`` is 1
            for k-means++ or given centres and 3 for ``"random"``.
        reassignment_ratio: centres whose count falls below this fraction of the largest
            are moved to random batch points.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``; ``None`` uses the input
            tensor's device (the CPU for numpy input).

    Fitted attributes: ``cluster_centers_``, ``labels_`` and ``inertia_`` (on all of
    ``X``), ``n_iter_``, ``n_steps_``, ``n_features_in_``.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseKMeans._parameter_constraints,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_no_improvement": [Interval(Integral, 0, None, closed="left"), None],
        "init_size": [Interval(Integral, 1, None, closed="left"), None],
        "reassignment_ratio": [Interval(Real, 0, None, closed="left")],
    }
    _default_n_init = 3

    n_clusters: int = 8
    _: KW_ONLY
    init: Any = "k-means++"
    max_iter: int = 100
    batch_size: int = 1024
    verbose: int = 0
    random_state: Any = None
    tol: float = 0.0
    max_no_improvement: int | None = 10
    init_size: int | None = None
    n_init: int | str = "auto"
    reassignment_ratio: float = 0.01
    device: Any = None

    def _init_sample_size(self, n_samples: int, batch_size: int) -> int:
        """scikit-learn's init sample: ``3 * batch_size``, at least ``3 * n_clusters``."""
        size = 3 * batch_size if self.init_size is None else self.init_size
        if size < self.n_clusters:
            size = 3 * self.n_clusters
        return min(size, n_samples)

    def _seed(
        self,
        sample: torch.Tensor,
        init_array: torch.Tensor | None,
        generator: torch.Generator,
        budget: int,
    ) -> torch.Tensor:
        """Initial centres chosen on ``sample`` (already on the device)."""
        mean = sample.mean(dim=0)
        centered = sample - mean
        shifted = None if init_array is None else init_array - mean
        centers = self._initial_centers(
            centered, squared_norms(centered), shifted, generator, budget
        )
        return centers + mean

    def _reassign_due(self, batch_size: int) -> bool:
        """scikit-learn's schedule: reassign after every ``10 * n_clusters`` samples."""
        self._n_since_last_reassign += batch_size
        if bool((self._counts == 0).any()) or self._n_since_last_reassign >= 10 * self.n_clusters:
            self._n_since_last_reassign = 0
            return True
        return False

    def fit(self, X: Any, y: Any = None) -> MiniBatchKMeans:
        """Cluster ``X`` by mini-batch steps and label all of it; returns the estimator."""
        self._validate_params()
        device = resolve_estimator_device(self.device, X)
        # The data stays where it is; batches move to the device one at a time.
        home = X.device if isinstance(X, torch.Tensor) else torch.device("cpu")
        data, as_tensor = validate_input(self, X, home, reset=True)
        n, _ = data.shape
        self._check_n_samples(n)
        budget = memory_budget(device)
        batch_size = min(self.batch_size, n)
        init_size = self._init_sample_size(n, batch_size)
        tol = mean_variance(data, budget) * self.tol if self.tol > 0 else 0.0
        generator = make_generator(self.random_state, device)
        sampler = generator
        if home != device:
            seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=device))
            sampler = make_generator(seed, home)
        with torch.no_grad():
            init_array = self._init_array(data[:1].to(device))
            valid = self._draw(data, init_size, sampler, device)
            best_inertia = None
            for _ in range(self._n_init()):
                sample = self._draw(data, init_size, sampler, device)
                candidate = self._seed(sample, init_array, generator, budget)
                _, inertia = labels_inertia(valid, candidate, budget)
                if self.verbose:
                    print(f"Inertia for init: {inertia}")
                if best_inertia is None or inertia < best_inertia:
                    centers, best_inertia = candidate, inertia
            self._counts = torch.zeros(self.n_clusters, dtype=data.dtype, device=device)
            self._n_since_last_reassign = 0
            stopping = EarlyStopping(batch_size, n, tol, self.max_no_improvement)
            n_steps = (self.max_iter * n) // batch_size
            step = 0
            for step in range(n_steps):
                batch = self._draw(data, batch_size, sampler, device)
                previous = centers.clone() if tol > 0 else None
                batch_inertia = minibatch_step(
                    batch,
                    centers,
                    self._counts,
                    generator,
                    reassign=self._reassign_due(batch_size),
                    reassignment_ratio=self.reassignment_ratio,
                    budget=budget,
                )
                shift = 0.0 if previous is None else float(((centers - previous) ** 2).sum())
                if self.verbose:
                    print(f"Minibatch step {step + 1}/{n_steps}: batch inertia {batch_inertia}")
                if stopping.converged(step, shift, batch_inertia):
                    break
            labels, inertia = labels_inertia(data, centers, budget)
        self._warn_if_fewer_clusters(labels)
        self._save_generator(generator)
        self.cluster_centers_ = to_output(centers, as_tensor)
        self.labels_ = to_output(labels, as_tensor)
        self.inertia_ = inertia
        self.n_steps_ = step + 1
        self.n_iter_ = int(np.ceil((step + 1) * batch_size / n))
        self._n_features_out = self.n_clusters
        return self

    def partial_fit(self, X: Any, y: Any = None) -> MiniBatchKMeans:
        """Update the centres with one batch ``X`` (the first call also initialises them).

        ``labels_`` and ``inertia_`` then describe this batch.
        """
        self._validate_params()
        first = not hasattr(self, "cluster_centers_")
        device = resolve_estimator_device(self.device, X)
        batch, as_tensor = validate_input(self, X, device, reset=first)
        budget = memory_budget(device)
        with torch.no_grad():
            if first:
                self._check_n_samples(batch.shape[0])
                generator = make_generator(self.random_state, device)
                size = self._init_sample_size(batch.shape[0], min(self.batch_size, len(batch)))
                sample = self._draw(batch, size, generator, device) if size < len(batch) else batch
                centers = self._seed(sample, self._init_array(batch), generator, budget)
                self._counts = torch.zeros(self.n_clusters, dtype=batch.dtype, device=device)
                self._n_since_last_reassign = 0
                self.n_steps_ = 0
            else:
                generator = self._load_generator(device)
                # Later batches follow the dtype the centres were first fitted in.
                batch = batch.to(torch.as_tensor(self.cluster_centers_).dtype)
                centers = self._fitted_centers(batch).clone()
                self._counts = self._counts.to(device=device, dtype=batch.dtype)
            minibatch_step(
                batch,
                centers,
                self._counts,
                generator,
                reassign=self._reassign_due(batch.shape[0]),
                reassignment_ratio=self.reassignment_ratio,
                budget=budget,
            )
            labels, inertia = labels_inertia(batch, centers, budget)
        self._save_generator(generator)
        self.cluster_centers_ = to_output(centers, as_tensor)
        self.labels_ = to_output(labels, as_tensor)
        self.inertia_ = inertia
        self.n_steps_ += 1
        self._n_features_out = self.n_clusters
        return self

    @staticmethod
    def _draw(
        data: torch.Tensor, size: int, generator: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        """``size`` rows of ``data`` drawn uniformly with replacement, moved to ``device``."""
        index = torch.randint(data.shape[0], (size,), generator=generator, device=data.device)
        return torch.index_select(data, 0, index).to(device)

    def _save_generator(self, generator: torch.Generator) -> None:
        # The state, not the generator, so that the estimator pickles and clones cleanly.
        self._rng_state = generator.get_state()
        self._rng_device = str(generator.device)

    def _load_generator(self, device: torch.device) -> torch.Generator:
        state = getattr(self, "_rng_state", None)
        if state is None or self._rng_device != str(torch.Generator(device=device).device):
            return make_generator(self.random_state, device)
        generator = torch.Generator(device=device)
        generator.set_state(state)
        return generator
