"""The steps of a command's start, timed for ``clusterlab --profile-startup``.

Steps are recorded always (a clock read each) and printed only when asked, so a slow
start can be traced to its step: the imports, the file, the plugins, the checks, the
data or the store.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TextIO

# When this module was first imported: the CLI imports it before anything heavy.
_ORIGIN = time.perf_counter()
_steps: list[tuple[str, float]] = []


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    """Time the block as the start-up step ``name`` (steps may not nest)."""
    began = time.perf_counter()
    try:
        yield
    finally:
        _steps.append((name, time.perf_counter() - began))


def report(stream: TextIO | None = None) -> None:
    """Print each step's seconds, the seconds outside them and the total since the CLI
    started."""
    out = stream or sys.stderr
    total = time.perf_counter() - _ORIGIN
    print("start-up steps (seconds):", file=out)
    for name, seconds in _steps:
        print(f"  {seconds:8.3f}  {name}", file=out)
    counted = sum(seconds for _, seconds in _steps)
    print(
        f"  {total - counted:8.3f}  the rest of the command (its trials, where it runs any)",
        file=out,
    )
    print(f"  {total:8.3f}  in all, from the CLI's first import", file=out)
