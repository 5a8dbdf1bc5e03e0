"""Preprocessing steps on torch tensors: scaling, PCA and dropping non-finite rows.

Every step computes on the tensor's own device and dtype; only the labels, which stay a
numpy array, are indexed on the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import torch

Labels = NDArray[Any] | None


def standardize(
    X: torch.Tensor, y: Labels, with_mean: bool = True, with_std: bool = True
) -> tuple[torch.Tensor, Labels]:
    """Scale each feature to zero mean and unit variance; constant features become 0.

    Matches scikit-learn's ``StandardScaler`` (population variance). ``with_mean`` and
    ``with_std`` switch the centring and the scaling off.
    """
    import torch

    _check_finite("standardize", X)
    constant = _constant_columns(X)
    out = X
    if with_mean:
        # The column's own value as its mean makes a constant column exactly 0, free of the
        # rounding a computed mean leaves behind.
        out = out - torch.where(constant, X[0], X.mean(dim=0))
    if with_std:
        std = X.std(dim=0, correction=0)
        out = out / torch.where(constant, torch.ones_like(std), std)
    return out, y


def minmax(
    X: torch.Tensor, y: Labels, feature_range: Sequence[float] = (0.0, 1.0)
) -> tuple[torch.Tensor, Labels]:
    """Scale each feature linearly to feature_range, by default [0, 1].

    Matches scikit-learn's ``MinMaxScaler``: a constant feature maps to the range's low end.
    """
    import torch

    low, high = _feature_range(feature_range)
    _check_finite("minmax", X)
    data_min = X.amin(dim=0)
    data_range = X.amax(dim=0) - data_min
    data_range = torch.where(data_range == 0, torch.ones_like(data_range), data_range)
    return (X - data_min) / data_range * (high - low) + low, y


def pca(
    X: torch.Tensor, y: Labels, n_components: int | float = 2, whiten: bool = False
) -> tuple[torch.Tensor, Labels]:
    """Project onto the leading principal components of the centred data (exact SVD).

    ``n_components`` is a count, or a fraction in (0, 1) of the variance to keep (the
    fewest components that explain at least that much). ``whiten`` scales each component
    to unit variance. Matches scikit-learn's ``PCA``, signs included: the largest entry of
    each component's direction is made positive.
    """
    import torch

    _check_finite("pca", X)
    n_samples, n_features = X.shape
    if n_samples < 2:
        raise ValueError(f"needs at least 2 rows of data; got {n_samples}")
    work = X if X.dtype in (torch.float32, torch.float64) else X.to(torch.float32)
    centred = work - work.mean(dim=0)
    # The right singular vectors of the data are those of its R factor: the SVD of a small
    # square matrix instead of an n-row U, which keeps memory at the size of the data.
    R = torch.linalg.qr(centred, mode="r").R
    _, S, Vh = torch.linalg.svd(R, full_matrices=False)
    variance = S**2 / (n_samples - 1)
    k = _n_components(n_components, n_samples, n_features, variance)
    components = Vh[:k]
    # A deterministic sign per component, the rule scikit-learn applies: the entry of
    # largest magnitude is positive.
    pivots = components.abs().argmax(dim=1, keepdim=True)
    signs = torch.sign(components.gather(1, pivots))
    components = components * torch.where(signs == 0, torch.ones_like(signs), signs)
    projected = centred @ components.T
    if whiten:
        scale = torch.sqrt(variance[:k])
        projected = projected / torch.where(scale == 0, torch.ones_like(scale), scale)
    return projected.to(X.dtype), y


def drop_nonfinite(X: torch.Tensor, y: Labels) -> tuple[torch.Tensor, Labels]:
    """Drop the rows whose features hold NaN or ±inf, and the same rows of the labels."""
    import torch

    keep = torch.isfinite(X).all(dim=1)
    n_kept = int(keep.sum())
    if n_kept == 0:
        raise ValueError(
            f"every one of the {X.shape[0]} rows holds NaN or "
            f"±inf, so no data is left; check the data file for missing values"
        )
    if n_kept == X.shape[0]:
        return X, y
    labels = None if y is None else np.asarray(y)[keep.cpu().numpy()]
    return X[keep], labels


def _check_finite(step: str, X: torch.Tensor) -> None:
    import torch

    if X.shape[0] == 0:
        raise ValueError("the data has no rows")
    finite_rows = torch.isfinite(X).all(dim=1)
    n_bad = X.shape[0] - int(finite_rows.sum())
    if n_bad:
        # A statistic over NaN is NaN: every value would be lost, not only the bad rows.
        raise ValueError(
            f"{n_bad} of {X.shape[0]} rows hold NaN or ±inf; add "
            f"drop_nonfinite as a preprocess step before {step}"
        )


def _constant_columns(X: torch.Tensor) -> torch.Tensor:
    return X.amax(dim=0) == X.amin(dim=0)


def _feature_range(feature_range: Any) -> tuple[float, float]:
    values = (
        list(feature_range)
        if isinstance(feature_range, Sequence) and not isinstance(feature_range, str)
        else []
    )
    numbers = [v for v in values if isinstance(v, Real) and not isinstance(v, bool)]
    if len(values) != 2 or len(numbers) != 2 or not float(numbers[0]) < float(numbers[1]):
        raise ValueError(
            f"feature_range must be two numbers [low, high] with low < high; got {feature_range!r}"
        )
    return float(numbers[0]), float(numbers[1])


def _n_components(value: Any, n_samples: int, n_features: int, variance: torch.Tensor) -> int:
    most = min(n_samples, n_features)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(
            f"n_components must be a number of components or a fraction "
            f"of variance in (0, 1); got {value!r}"
        )
    if isinstance(value, Integral) or (float(value).is_integer() and value >= 1):
        count = int(value)
        if not 1 <= count <= most:
            raise ValueError(
                f"n_components={count} is out of range; with "
                f"{n_samples} rows and {n_features} features it must be between 1 and {most}"
            )
        return count
    if not 0.0 < float(value) < 1.0:
        raise ValueError(
            f"n_components={value} is neither a whole number of components "
            f"nor a fraction of variance in (0, 1)"
        )
    ratio = (variance / variance.sum()).cumsum(dim=0)
    # As scikit-learn counts: one more than the components whose cumulative share stays
    # at or below the fraction.
    return min(int((ratio <= float(value)).sum()) + 1, most)
