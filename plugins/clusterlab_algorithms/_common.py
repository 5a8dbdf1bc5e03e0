"""Input and output handling shared by the torch estimators: tensors in, numpy or tensors out."""

from __future__ import annotations

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
