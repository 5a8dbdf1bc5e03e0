"""Array handling the built-in plots share: fitted attributes as numpy, seeded subsamples."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_numpy(value: Any) -> np.ndarray | None:
    """``value`` as a numpy array (torch tensors are moved to the CPU); ``None`` stays ``None``."""
    if value is None:
        return None
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def as_matrix(X: Any) -> np.ndarray:
    """The data as a 2-D float64 array; a 1-D input becomes one column."""
    array = np.asarray(as_numpy(X), dtype=np.float64)
    return array.reshape(-1, 1) if array.ndim == 1 else array


def subsample(n: int, limit: int, seed: int) -> np.ndarray | None:
    """Sorted indices of at most ``limit`` of ``n`` rows drawn with ``seed``; ``None`` keeps all.

    Sorting keeps the rows in their original order, so a drawn subset looks like the
    full data with some points missing.
    """
    if n <= limit:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=limit, replace=False))


def sample_note(shown: int, total: int) -> str:
    """The title note for a subsample, e.g. ``"50,000 of 1,000,000 points shown"``."""
    return f"{shown:,} of {total:,} points shown"
