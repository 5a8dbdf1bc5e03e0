"""The example plugin's hook implementations: one algorithm, one dataset, one metric."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from clusterlab import ScoreUndefined, hookimpl


class FarthestFirst:
    """Greedy k-center clustering: each new centre is the point farthest from the others.

    Follows the scikit-learn clustering API: parameters are stored in ``__init__`` and
    ``fit(X)`` sets ``labels_`` and ``cluster_centers_``.
    """

    def __init__(self, n_clusters: int = 3, *, device: str | None = None, random_state=None):
        self.n_clusters = n_clusters
        self.device = device
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> FarthestFirst:
        """Pick ``n_clusters`` centres by farthest-first traversal and label each point."""
        if not isinstance(self.n_clusters, int) or self.n_clusters < 1:
            raise ValueError(f"n_clusters must be a positive integer, got {self.n_clusters!r}")
        data = torch.as_tensor(X, device=self.device)
        generator = torch.Generator(device=data.device)
        generator.manual_seed(0 if self.random_state is None else int(self.random_state))
        first = int(torch.randint(len(data), (1,), generator=generator, device=data.device))
        centres = [first]
        nearest = torch.cdist(data, data[first : first + 1]).squeeze(1)
        for _ in range(1, self.n_clusters):
            far = int(torch.argmax(nearest))
            centres.append(far)
            nearest = torch.minimum(nearest, torch.cdist(data, data[far : far + 1]).squeeze(1))
        self.cluster_centers_ = data[centres].cpu().numpy()
        self.labels_ = torch.cdist(data, data[centres]).argmin(dim=1).cpu().numpy()
        return self

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit and return the labels."""
        return self.fit(X).labels_


def spirals(n_samples: int = 400, noise: float = 0.05, turns: float = 1.5, *, seed: int = 0):
    """Two interleaved spirals with Gaussian noise; labels say which spiral."""
    rng = np.random.default_rng(seed)
    half = n_samples // 2
    t = np.sqrt(rng.random(n_samples)) * turns * 2 * np.pi
    arm = np.r_[np.zeros(half, dtype=int), np.ones(n_samples - half, dtype=int)]
    sign = np.where(arm == 0, 1.0, -1.0)
    X = np.c_[sign * t * np.cos(t), sign * t * np.sin(t)] / (turns * 2 * np.pi)
    X += rng.normal(scale=noise, size=X.shape)
    return X, arm


def size_balance(X, labels, y_true, estimator) -> float:
    """Smallest cluster's size over the largest's (noise excluded): 1.0 is perfectly even."""
    sizes = np.bincount(labels[labels >= 0])
    sizes = sizes[sizes > 0]
    if len(sizes) < 2:
        raise ScoreUndefined("fewer than two clusters")
    return float(sizes.min() / sizes.max())


@hookimpl
def register_algorithms(register):
    """Register ``farthest_first``."""
    register("farthest_first", FarthestFirst)


@hookimpl
def register_datasets(register):
    """Register ``spirals``."""
    register("spirals", spirals, has_labels=True)


@hookimpl
def register_metrics(register):
    """Register ``size_balance``."""
    register("size_balance", size_balance, greater_is_better=True)
