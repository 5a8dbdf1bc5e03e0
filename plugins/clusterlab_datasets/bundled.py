"""Real datasets shipped inside scikit-learn (iris, wine, breast cancer, digits), with labels.

Nothing is downloaded: scikit-learn installs these files with itself. They are fixed
data, so the trial's seed does not change them; the loaders accept it only because every
dataset is called with one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

Data = tuple[NDArray[np.float64], NDArray[np.int64] | None]


def iris(*, seed: int | None = None) -> Data:
    """Fisher's iris flowers: 150 samples, 4 features, 3 species."""
    from sklearn.datasets import load_iris

    return _load(load_iris)


def wine(*, seed: int | None = None) -> Data:
    """Wines from three cultivars: 178 samples, 13 chemical features, 3 classes."""
    from sklearn.datasets import load_wine

    return _load(load_wine)


def breast_cancer(*, seed: int | None = None) -> Data:
    """Wisconsin breast cancer tumours: 569 samples, 30 features, malignant or benign."""
    from sklearn.datasets import load_breast_cancer

    return _load(load_breast_cancer)


def digits(*, seed: int | None = None) -> Data:
    """Handwritten digits as 8x8 images: 1797 samples, 64 pixel features, 10 classes."""
    from sklearn.datasets import load_digits

    return _load(load_digits)


def _load(loader: Callable[..., Any]) -> Data:
    X, y = loader(return_X_y=True)
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)
