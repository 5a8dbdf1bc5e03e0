"""Fixtures shared by the estimator tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module")
def one_cpu_thread() -> Iterator[None]:
    """Torch on one CPU thread for a module's tests: their fits are small, and on a shared
    two-core machine a second OpenMP thread makes every small op wait for a scheduler
    slot, several times slower than one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
