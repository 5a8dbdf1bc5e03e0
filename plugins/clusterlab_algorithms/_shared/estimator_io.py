"""Estimator inputs and outputs: device, validation, random state; numpy or tensors out."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch


def resolve_estimator_device(device: Any, X: Any) -> torch.device:
    """The device an estimator computes on: its ``device`` parameter, else the input's, else CPU."""
    if device is not None and str(device) != "auto":
        return torch.device(device)
    if isinstance(X, torch.Tensor):
        return X.device
    if device == "auto" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def as_float_tensor(X: Any, device: torch.device) -> tuple[torch.Tensor, bool]:
    """Convert ``X`` to a 2-D floating tensor on ``device``.

    float32 and float64 keep their dtype; anything else becomes float64 (as scikit-learn
    does). Returns the tensor and whether the input was a torch tensor, so fitted
    attributes can come back in the same kind of array.
    """
    was_tensor = isinstance(X, torch.Tensor)
    if was_tensor:
        tensor = X.detach()
        if tensor.dtype not in (torch.float32, torch.float64):
            tensor = tensor.to(torch.float64)
    else:
        array = np.asarray(X)
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float64)
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.to(device), was_tensor


def to_output(tensor: torch.Tensor, as_tensor: bool) -> Any:
    """Return ``tensor`` as is (tensor input) or as a numpy array on the CPU (numpy input)."""
    if as_tensor:
        return tensor
    return tensor.detach().cpu().numpy()


def make_generator(random_state: Any, device: torch.device) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded from ``random_state`` (never the global seed).

    ``None`` draws a fresh seed from numpy's entropy; an int seeds directly; a numpy
    ``RandomState`` or ``Generator`` contributes one draw.
    """
    if random_state is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    elif isinstance(random_state, np.random.RandomState):
        seed = int(random_state.randint(0, 2**31 - 1))
    elif isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(0, 2**31 - 1))
    else:
        seed = int(random_state)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def estimator_input(
    estimator: Any, X: Any, *, reset: bool, ensure_min_samples: int = 1
) -> tuple[torch.Tensor, bool]:
    """:func:`validate_input` on the device the estimator's ``device`` parameter resolves
    to for ``X`` (:func:`resolve_estimator_device`)."""
    device = resolve_estimator_device(estimator.device, X)
    return validate_input(estimator, X, device, reset=reset, ensure_min_samples=ensure_min_samples)


def validate_input(
    estimator: Any, X: Any, device: torch.device, *, reset: bool, ensure_min_samples: int = 1
) -> tuple[torch.Tensor, bool]:
    """Check ``X`` as scikit-learn estimators do and return it as a float tensor on ``device``.

    Tensors are checked here (2-D, at least one row, finite, feature count); anything else
    goes through scikit-learn's ``validate_data`` (lists, DataFrames and their column
    names, sparse rejection). ``reset=True`` records ``n_features_in_`` (fit), ``False``
    compares against it (predict). Returns the tensor and whether the input was a tensor.
    """
    if isinstance(X, torch.Tensor):
        tensor = _check_tensor(estimator, X, reset=reset, ensure_min_samples=ensure_min_samples)
        return tensor.to(device), True
    from sklearn.utils.validation import validate_data

    array = validate_data(
        estimator,
        X,
        dtype=[np.float64, np.float32],
        order="C",
        reset=reset,
        ensure_min_samples=ensure_min_samples,
    )
    with warnings.catch_warnings():
        # Read-only arrays (memory maps) are never written to, so sharing them is safe.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensor = torch.from_numpy(array)
    return tensor.to(device), False


def _check_tensor(
    estimator: Any, X: torch.Tensor, *, reset: bool, ensure_min_samples: int = 1
) -> torch.Tensor:
    name = type(estimator).__name__
    if X.is_complex():
        raise ValueError("Complex data not supported")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D tensor, got a {X.ndim}D tensor instead.")
    if X.shape[0] < ensure_min_samples:
        raise ValueError(
            f"Found array with {X.shape[0]} sample(s) (shape={tuple(X.shape)}) while a "
            f"minimum of {ensure_min_samples} is required by {name}."
        )
    if X.shape[1] < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(X.shape)}) while a "
            f"minimum of 1 is required by {name}."
        )
    tensor = X.detach()
    if tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.to(torch.float64)
    # A finite sum proves every entry finite without a full-size temporary; only an
    # overflowing or non-finite sum needs the elementwise check.
    if not bool(torch.isfinite(tensor.sum())) and not bool(torch.isfinite(tensor).all()):
        raise ValueError("Input X contains NaN or infinity.")
    n_features = int(tensor.shape[1])
    if reset:
        estimator.n_features_in_ = n_features
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif getattr(estimator, "n_features_in_", n_features) != n_features:
        raise ValueError(
            f"X has {n_features} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return tensor
