"""The view of a finished trial that plot plugins draw from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class TrialView:
    """Everything a plot needs about one finished trial, on the CPU.

    Attributes:
        X: the data the estimator was fitted on (after preprocessing), ``n x d`` numpy.
        labels: the labels found, ``-1`` for noise.
        y_true: ground-truth labels, or ``None``.
        estimator: the fitted estimator (``cluster_centers_``, ``children_`` ... where it has them).
        dataset: the dataset's registered name.
        algorithm: the algorithm's registered name.
        dataset_params: the dataset's resolved parameters.
        algorithm_params: the algorithm's resolved parameters.
        swept: the parameters that vary across the grid, for titles.
        seed: the trial's seed.
        scores: the scores computed for this trial, by metric name.
    """

    X: np.ndarray
    labels: np.ndarray
    y_true: np.ndarray | None
    estimator: Any
    dataset: str
    algorithm: str
    dataset_params: dict[str, Any] = field(default_factory=dict)
    algorithm_params: dict[str, Any] = field(default_factory=dict)
    swept: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """A short title: algorithm with its swept parameters, dataset, seed."""
        shown = ", ".join(f"{k}={v}" for k, v in self.swept.items())
        head = f"{self.algorithm} ({shown})" if shown else self.algorithm
        return f"{head} · {self.dataset} · seed {self.seed}"
