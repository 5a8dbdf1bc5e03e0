"""Covariance algebra of a Gaussian mixture: precision factors, log-determinants, parameters.

Shapes by covariance type, ``k`` components of ``d`` features: ``full`` ``(k, d, d)``,
``tied`` ``(d, d)``, ``diag`` ``(k, d)``, ``spherical`` ``(k,)``. A precision factor ``U``
satisfies ``precision = U @ U.T`` (``U`` upper triangular, as scikit-learn keeps it), so
the squared Mahalanobis distance of ``x`` is ``‖(x − μ) U‖²``.
"""

from __future__ import annotations

import math

import torch

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# scikit-learn's words, so that a failed fit reads the same from either implementation.
ILL_DEFINED = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)
FLOAT32_HINT = (
    " The numerical accuracy can also be improved by passing float64 data instead of float32."
)


def ill_defined_message(dtype: torch.dtype) -> str:
    """scikit-learn's error for a covariance that is not positive definite."""
    return ILL_DEFINED + (FLOAT32_HINT if dtype == torch.float32 else "")


def precision_cholesky(
    covariances: torch.Tensor, covariance_type: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The precision factors of ``covariances``, and a 0-d bool tensor: did any fail?

    For matrices ``U = L⁻ᵀ`` with ``L`` the lower Cholesky factor of the covariance, by a
    triangular solve, batched over components. The failure flag stays on the device so
    that the caller reads it together with the lower bound, one host read per iteration.
    """
    if covariance_type in ("full", "tied"):
        lower, info = torch.linalg.cholesky_ex(covariances)
        eye = torch.eye(covariances.shape[-1], dtype=covariances.dtype, device=covariances.device)
        eye = eye.expand_as(lower)
        factor = torch.linalg.solve_triangular(lower, eye, upper=False).mT
        return factor, (info != 0).any()
    failed = (covariances <= 0).any()
    return covariances.clamp(min=torch.finfo(covariances.dtype).tiny).rsqrt(), failed


def precision_cholesky_from_precisions(
    precisions: torch.Tensor, covariance_type: str
) -> torch.Tensor:
    """The upper triangular ``U`` with ``precisions = U Uᵀ``, as scikit-learn computes it.

    The Cholesky factor of the precision reversed in rows and columns, reversed back.
    """
    if covariance_type in ("full", "tied"):
        flipped = precisions.flip(-1, -2)
        return torch.linalg.cholesky(flipped).flip(-1, -2)
    return precisions.sqrt()


def precisions_of(factor: torch.Tensor, covariance_type: str) -> torch.Tensor:
    """Precision matrices (or vectors) from their factors: ``U Uᵀ`` or ``U²``."""
    if covariance_type in ("full", "tied"):
        return factor @ factor.mT
    return factor * factor


def covariances_of(precisions: torch.Tensor, covariance_type: str) -> torch.Tensor:
    """Covariances from precisions (used only when a fit made no M-step)."""
    if covariance_type in ("full", "tied"):
        return torch.linalg.inv(precisions)
    return 1.0 / precisions


def log_det_factor(factor: torch.Tensor, covariance_type: str, n_features: int) -> torch.Tensor:
    """``log det U`` per component (a scalar for ``tied``): half the log-det of the precision."""
    if covariance_type == "full":
        return torch.log(torch.diagonal(factor, dim1=-2, dim2=-1)).sum(-1)
    if covariance_type == "tied":
        return torch.log(torch.diagonal(factor)).sum()
    if covariance_type == "diag":
        return torch.log(factor).sum(-1)
    return n_features * torch.log(factor)


def n_parameters(n_components: int, n_features: int, covariance_type: str) -> int:
    """Free parameters of the mixture: covariances, means and ``k − 1`` weights."""
    k, d = n_components, n_features
    cov = {
        "full": k * d * (d + 1) / 2.0,
        "diag": k * d,
        "tied": d * (d + 1) / 2.0,
        "spherical": k,
    }[covariance_type]
    return int(cov + d * k + k - 1)


LOG_2PI = math.log(2 * math.pi)
