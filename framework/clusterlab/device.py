"""Device resolution and memory budgets; torch is imported only when a function runs."""

from __future__ import annotations

import os
import re
from typing import Any

from clusterlab.errors import DeviceError

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
BUDGET_ENV = "CLUSTERLAB_MEMORY_BUDGET_MB"
_DEFAULT_CPU_BUDGET = 512 * 2**20


def available_devices() -> list[str]:
    """Names of the devices this machine offers, e.g. ``['cpu', 'cuda:0']``."""
    import torch

    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve_device(spec: str) -> Any:
    """Turn ``auto | cpu | cuda | cuda:N | mps`` into a ``torch.device`` that exists here.

    ``auto`` picks CUDA, then MPS, then the CPU. Any other device that is missing is an
    error naming what is available: there is no silent fallback.
    """
    import torch

    spec = str(spec).strip().lower()
    if not DEVICE_PATTERN.match(spec):
        raise DeviceError(
            f"unknown device '{spec}': use auto, cpu, cuda, cuda:N or mps "
            f"(available here: {', '.join(available_devices())})"
        )
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device '{spec}' was asked for but CUDA is not available "
                f"(available here: {', '.join(available_devices())})"
            )
        index = 0 if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"device '{spec}' does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s) "
                f"(available here: {', '.join(available_devices())})"
            )
        return torch.device("cuda", index)
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(
                f"device 'mps' was asked for but is not available "
                f"(available here: {', '.join(available_devices())})"
            )
    return device


def device_name(device: Any) -> str:
    """A human name of a device: the GPU's model, or the CPU's."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    import platform

    return platform.processor() or platform.machine() or "cpu"


def memory_budget(device: Any = "cpu") -> int:
    """Bytes a single temporary block (e.g. a chunk of distances) may take on ``device``.

    ``CLUSTERLAB_MEMORY_BUDGET_MB`` overrides it. On CUDA it is a quarter of the free
    memory; on the CPU a fixed 512 MiB, which keeps blocks cache-friendly and far from
    the machine's limit.
    """
    override = os.environ.get(BUDGET_ENV)
    if override:
        return max(1, int(float(override) * 2**20))
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return max(64 * 2**20, free // 4)
    return _DEFAULT_CPU_BUDGET


def total_memory(device: Any = "cpu") -> int:
    """Bytes of memory the device has in all (physical RAM for the CPU)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 2**30


def rows_per_block(n_cols: int, bytes_per_value: int, device: Any = "cpu") -> int:
    """How many rows of an ``rows x n_cols`` temporary fit in the memory budget (at least 1)."""
    return max(1, memory_budget(device) // max(1, n_cols * bytes_per_value))
