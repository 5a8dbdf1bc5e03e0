"""Synthetic datasets: the tutorial's uniform data and scikit-learn's toy clustering shapes.

The shapes follow scikit-learn's "comparing different clustering algorithms on toy
datasets" example, each generated from the trial's ``seed`` so that a seed gives the same
array as the scikit-learn call with ``random_state=seed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import NDArray

Data = tuple[NDArray[np.float64], NDArray[np.int64] | None]

# The linear map that stretches round blobs into the example's anisotropic ones.
ANISOTROPIC_TRANSFORMATION = ((0.6, -0.6), (-0.4, 0.8))
VARIED_CLUSTER_STD = (1.0, 2.5, 0.5)


def uniform(
    n_samples: int = 500,
    n_features: int = 2,
    low: float = 0.0,
    high: float = 1.0,
    *,
    seed: int | None = None,
) -> Data:
    """Uniform random points in the box [low, high)^n_features, without clusters or labels.

    The tutorial's data: with the defaults it is ``np.random.RandomState(seed).rand(500, 2)``.
    """
    n_samples = _positive_int("n_samples", n_samples)
    n_features = _positive_int("n_features", n_features)
    low = _real("low", low)
    high = _real("high", high)
    if not low < high:
        raise ValueError(
            f"low ({low}) must be smaller than high ({high}); swap them or widen the range"
        )
    X = np.random.RandomState(seed).rand(n_samples, n_features)
    # Only rescale when asked, so the default is bit-identical to the tutorial's rand().
    if (low, high) != (0.0, 1.0):
        X = low + (high - low) * X
    return X, None


def no_structure(n_samples: int = 1000, *, seed: int | None = None) -> Data:
    """Uniform 2-D points on the unit square: a dataset in which no clustering is right."""
    n_samples = _positive_int("n_samples", n_samples)
    return np.random.RandomState(seed).rand(n_samples, 2), None


def blobs(
    n_samples: int = 1000,
    n_features: int = 2,
    centers: int | Sequence[Sequence[float]] = 3,
    cluster_std: float | Sequence[float] = 1.0,
    center_box: Sequence[float] = (-10.0, 10.0),
    *,
    seed: int | None = None,
) -> Data:
    """Isotropic Gaussian blobs (scikit-learn's make_blobs), labelled by blob."""
    from sklearn.datasets import make_blobs

    n_samples = _positive_int("n_samples", n_samples)
    n_features = _positive_int("n_features", n_features)
    centers_arg = _centers(centers, n_features)
    std_arg = _cluster_std(cluster_std, centers_arg)
    box = _center_box(center_box)
    X, y = make_blobs(
        n_samples=n_samples,
        n_features=n_features,
        centers=centers_arg,
        cluster_std=std_arg,
        center_box=box,
        random_state=seed,
    )
    return X, y.astype(np.int64)


def anisotropic(
    n_samples: int = 1000,
    centers: int = 3,
    cluster_std: float = 1.0,
    transformation: Sequence[Sequence[float]] = ANISOTROPIC_TRANSFORMATION,
    *,
    seed: int | None = None,
) -> Data:
    """Gaussian blobs sheared by a linear map into elongated, tilted clusters.

    ``make_blobs`` points times ``transformation`` (a d x d matrix; d is the number of
    features), by default scikit-learn's example matrix [[0.6, -0.6], [-0.4, 0.8]].
    """
    from sklearn.datasets import make_blobs

    n_samples = _positive_int("n_samples", n_samples)
    centers = _positive_int("centers", centers)
    cluster_std = _positive_real("cluster_std", cluster_std)
    matrix = np.asarray(transformation, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.size == 0:
        raise ValueError(
            f"transformation must be a square matrix given as a list "
            f"of rows, e.g. [[0.6, -0.6], [-0.4, 0.8]]; got shape {matrix.shape}"
        )
    X, y = make_blobs(
        n_samples=n_samples,
        n_features=matrix.shape[0],
        centers=centers,
        cluster_std=cluster_std,
        random_state=seed,
    )
    return X @ matrix, y.astype(np.int64)


def varied(
    n_samples: int = 1000,
    n_features: int = 2,
    cluster_std: Sequence[float] = VARIED_CLUSTER_STD,
    *,
    seed: int | None = None,
) -> Data:
    """Gaussian blobs of different spreads, one blob per entry of cluster_std."""
    from sklearn.datasets import make_blobs

    n_samples = _positive_int("n_samples", n_samples)
    n_features = _positive_int("n_features", n_features)
    stds = _spreads(
        cluster_std,
        "a non-empty list with one spread per blob, e.g. [1.0, 2.5, 0.5]",
        " (for equal spreads use 'blobs')",
    )
    X, y = make_blobs(
        n_samples=n_samples,
        n_features=n_features,
        centers=len(stds),
        cluster_std=stds,
        random_state=seed,
    )
    return X, y.astype(np.int64)


def moons(n_samples: int = 1000, noise: float = 0.05, *, seed: int | None = None) -> Data:
    """Two interleaving half circles (scikit-learn's make_moons), labelled by moon."""
    from sklearn.datasets import make_moons

    n_samples = _positive_int("n_samples", n_samples)
    noise = _non_negative_real("noise", noise)
    X, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    return X, y.astype(np.int64)


def circles(
    n_samples: int = 1000,
    noise: float = 0.05,
    factor: float = 0.5,
    *,
    seed: int | None = None,
) -> Data:
    """A small circle inside a large one (scikit-learn's make_circles), labelled by circle.

    ``factor`` is the inner circle's radius relative to the outer one, in [0, 1).
    """
    from sklearn.datasets import make_circles

    n_samples = _positive_int("n_samples", n_samples)
    noise = _non_negative_real("noise", noise)
    factor = _real("factor", factor)
    if not 0.0 <= factor < 1.0:
        raise ValueError(
            f"factor is the inner radius relative to the outer one and "
            f"must be in [0, 1); got {factor}"
        )
    X, y = make_circles(n_samples=n_samples, noise=noise, factor=factor, random_state=seed)
    return X, y.astype(np.int64)


# Parameter checks: experiment files hand over plain YAML values, so each is checked
# here with a message that names the parameter (the runner adds which dataset it is).


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def _positive_real(name: str, value: Any) -> float:
    number = _real(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be greater than 0; got {value!r}")
    return number


def _non_negative_real(name: str, value: Any) -> float:
    number = _real(name, value)
    if number < 0:
        raise ValueError(f"{name} must be 0 or more; got {value!r}")
    return number


def _centers(centers: Any, n_features: int) -> int | NDArray[np.float64]:
    if isinstance(centers, Integral) and not isinstance(centers, bool):
        return _positive_int("centers", centers)
    try:
        array = np.asarray(centers, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.empty((0,))
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != n_features:
        raise ValueError(
            f"centers must be a number of blobs or a list of "
            f"{n_features}-D points (one row per blob, n_features={n_features}); got {centers!r}"
        )
    return array


def _cluster_std(cluster_std: Any, centers: int | NDArray[np.float64]) -> Any:
    if isinstance(cluster_std, Real):
        return _positive_real("cluster_std", cluster_std)
    stds = _spreads(cluster_std, "a number or a list with one spread per center")
    n_centers = centers if isinstance(centers, int) else len(centers)
    if len(stds) != n_centers:
        raise ValueError(
            f"cluster_std lists {len(stds)} spreads but there are "
            f"{n_centers} centers; give one spread per center or a single number"
        )
    return stds


def _spreads(cluster_std: Any, expected: str, hint: str = "") -> list[float]:
    """The positive spreads a non-empty ``cluster_std`` list gives; an error says what was
    ``expected``, then ``hint``."""
    values = _sequence(cluster_std)
    if not values:
        raise ValueError(f"cluster_std must be {expected}; got {cluster_std!r}{hint}")
    return [_positive_real("cluster_std", value) for value in values]


def _center_box(center_box: Any) -> tuple[float, float]:
    values = _sequence(center_box)
    if len(values) != 2:
        raise ValueError(f"center_box must be two numbers [low, high]; got {center_box!r}")
    low = _real("center_box", values[0])
    high = _real("center_box", values[1])
    if not low < high:
        raise ValueError(f"center_box [low, high] needs low < high; got {center_box!r}")
    return low, high


def _sequence(value: Any) -> list[Any]:
    """The items of a list-like YAML value; an empty list for a scalar or a string."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        return []
    return list(value)
