"""torch's CPU threads around block loops: one thread inside them, or blocks on Python threads.

torch parallelises each operation on its own; on the CPU every operation then wakes its
worker threads and waits for them, which for the many block-sized operations of a loop
costs more than the second core gains, the more so with ``OMP_WAIT_POLICY=PASSIVE``
(sleeping threads, the setting the CLI and benchmarks use). Handing whole blocks to
threads instead, as scikit-learn's OpenMP loops do with chunks of rows, pays that cost
once per block. torch releases the GIL inside its kernels, so the threads run in
parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

T = TypeVar("T")


@contextmanager
def one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run torch's CPU operations on one thread inside the block (no effect on a GPU).

    Merge and block loops are thousands of operations on blocks of moderate size. A
    second thread gains them little, and when the machine is busy every parallel region
    waits for a free core, which made them many times slower on a loaded two-core
    machine. The previous setting is restored on exit, as scikit-learn does with its
    BLAS thread limits.
    """
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class BlockWorkers:
    """Calls a function on ``(start, stop)`` blocks, on a thread pool or in order."""

    def __init__(self, pool: ThreadPoolExecutor | None = None) -> None:
        self._pool = pool

    def map(self, fn: Callable[[int, int], T], blocks: Iterable[tuple[int, int]]) -> list[T]:
        """``[fn(start, stop) for each block]``, in the blocks' order.

        Blocks may run at the same time: ``fn`` must only write to the rows of its block.
        """
        blocks = list(blocks)
        if self._pool is None or len(blocks) < 2:
            return [fn(start, stop) for start, stop in blocks]
        return list(self._pool.map(lambda block: fn(*block), blocks))


SERIAL = BlockWorkers()
# One pool per thread count, kept for the process, so that a fit does not pay for
# starting threads.
_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = ThreadPoolExecutor(threads, thread_name_prefix="clusterlab-block")
            _POOLS[threads] = pool
        return pool


@contextmanager
def block_workers(device: torch.device, *, threaded: bool = True) -> Iterator[BlockWorkers]:
    """Workers for block loops on ``device``.

    On the CPU with several torch threads: torch runs on one thread inside the block
    (restored on exit) and the workers are as many Python threads as torch had, or, for
    work too short to share (``threaded=False``), the blocks run in order on that one
    thread. On a GPU, or with one thread, blocks run in order.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2:
        yield SERIAL
        return
    if not threaded:
        with one_cpu_thread(device):
            yield SERIAL
        return
    with one_cpu_thread(device):
        # The pool's threads start inside this block, so torch sets them up with one
        # thread each, and they keep it.
        yield BlockWorkers(_pool(threads))
