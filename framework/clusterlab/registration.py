"""The ``register`` callbacks that registration hooks receive, one typed protocol per kind.

These are what a plugin author calls; :meth:`clusterlab.registry.Registry.make_register`
builds them. The module imports nothing of the project, so the hook specs can name these
types without a cost at ``import clusterlab``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class RegisterAlgorithm(Protocol):
    """``register(name, estimator_class, *, description="")`` of ``register_algorithms``."""

    def __call__(self, name: str, estimator_class: type, /, *, description: str = "") -> None:
        """Register an estimator class with the scikit-learn clustering API as ``name``."""


class RegisterDataset(Protocol):
    """``register(name, loader, *, has_labels=True, axis_values=None, description="")`` of
    ``register_datasets``."""

    def __call__(
        self,
        name: str,
        loader: Callable[..., Any],
        /,
        *,
        has_labels: bool = True,
        axis_values: Callable[..., list[Any]] | None = None,
        description: str = "",
    ) -> None:
        """Register a loader returning ``(X, y)``; ``has_labels=False`` where y is never known;
        ``axis_values(param, filters, *, params, base_dir)`` lists the values of ``param``
        that a grid axis ``{each: filters}`` stands for."""


class RegisterMetric(Protocol):
    """``register(name, fn, *, greater_is_better, needs_ground_truth=False, description="")``
    of ``register_metrics``."""

    def __call__(
        self,
        name: str,
        fn: Callable[..., float],
        /,
        *,
        greater_is_better: bool,
        needs_ground_truth: bool = False,
        description: str = "",
    ) -> None:
        """Register a score ``fn(X, labels, y_true, estimator, **options) -> float``."""


class RegisterPlot(Protocol):
    """``register(name, fn, *, description="")`` of ``register_plots``."""

    def __call__(self, name: str, fn: Callable[[Any], Any], /, *, description: str = "") -> None:
        """Register ``fn(trial)`` returning a matplotlib figure or ``None``."""


class RegisterPreprocessor(Protocol):
    """``register(name, fn, *, description="")`` of ``register_preprocessors``."""

    def __call__(self, name: str, fn: Callable[..., Any], /, *, description: str = "") -> None:
        """Register a step ``fn(X, y, **params)`` returning the new ``(X, y)``."""


class RegisterExecutor(Protocol):
    """``register(name, executor_class, *, description="")`` of ``register_executors``."""

    def __call__(self, name: str, executor_class: type, /, *, description: str = "") -> None:
        """Register a :class:`clusterlab.executors.base.TrialExecutor` subclass as ``name``."""
