"""Named scratch buffers that a loop over blocks reuses instead of allocating, per thread."""

from __future__ import annotations

import math
import threading

import torch


class ScratchBuffers:
    """Work buffers on one device, kept for reuse by a loop over blocks, one set per thread.

    A block's temporaries are megabytes, and allocated afresh they often come back as
    new pages, each faulted in on first touch (a fault per 4 KiB page), which can cost
    more than the arithmetic done in them, and on several threads fresh pages also make
    the blocks scale worse; reusing the buffers pays that once. Every thread has its own
    set, so blocks running at the same time never share a buffer.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._local = threading.local()

    def get(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised contiguous tensor of ``shape`` backed by this thread's buffer ``name``.

        The buffer grows when too small and is replaced for another dtype; the tensor is
        valid until this thread's next call for ``name``.
        """
        buffers: dict[str, torch.Tensor] = self._local.__dict__
        size = math.prod(shape)
        kept = buffers.get(name)
        if kept is None or kept.numel() < size or kept.dtype != dtype:
            kept = torch.empty(size, dtype=dtype, device=self.device)
            buffers[name] = kept
        return kept[:size].view(shape)
