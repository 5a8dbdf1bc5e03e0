"""The devices the estimator tests run on: the CPU always, CUDA where there is one."""

from __future__ import annotations

import pytest
import torch

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def device_or_skip(device: str) -> str:
    """``device``, or skip the test when it is CUDA and no GPU is present."""
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    return device
