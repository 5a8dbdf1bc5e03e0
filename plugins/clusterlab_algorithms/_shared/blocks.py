"""Row blocks sized to a memory budget (on the CPU also to the cache), and their layout."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch

# On the CPU a block of distances larger than this falls out of the core's cache; work
# on such blocks is memory-bound, so blocks are capped here even under a larger budget.
CPU_BLOCK_BYTES = 2 * 2**20

# Blocks shared out to threads come in an even number of near-equal blocks, unless that
# would split fewer than twice this many rows: 100k rows in blocks of at most 32,768 were
# 3 x 32,768 + 1,696 rows, and one of two threads had 65,536 of them.
MIN_EVEN_BLOCK_ROWS = 8192


def rows_per_block(n_cols: int, itemsize: int, budget_bytes: int) -> int:
    """How many rows of an ``rows x n_cols`` temporary of ``itemsize`` bytes fit in the budget.

    Always at least 1, so a tiny budget degrades to row-by-row work instead of failing.
    """
    return max(1, int(budget_bytes) // max(1, n_cols * itemsize))


def block_rows(n_cols: int, itemsize: int, budget_bytes: int, device: torch.device) -> int:
    """Rows per block for a ``rows x n_cols`` temporary: the budget, and on the CPU the cache."""
    rows = rows_per_block(n_cols, itemsize, budget_bytes)
    if device.type == "cpu":
        rows = min(rows, rows_per_block(n_cols, itemsize, CPU_BLOCK_BYTES))
    return rows


def row_blocks(n_rows: int, rows: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive row blocks of at most ``rows`` rows covering ``n_rows``."""
    for start in range(0, n_rows, rows):
        yield start, min(start + rows, n_rows)


def even_row_blocks(n_rows: int, rows: int) -> Iterator[tuple[int, int]]:
    """Like :func:`row_blocks`, in an even number of near-equal blocks where rows allow.

    The layout depends on ``n_rows`` and ``rows`` alone, not on the number of threads,
    so that results do not depend on the machine.
    """
    count = -(-n_rows // rows)
    if count == 0:
        return iter(())
    if count % 2 and (count > 1 or n_rows >= 2 * MIN_EVEN_BLOCK_ROWS):
        count += 1
    bounds = [i * n_rows // count for i in range(count + 1)]
    return itertools.pairwise(bounds)
