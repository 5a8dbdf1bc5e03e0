"""Retries MLflow calls that a busy sqlite store refused with "database is locked".

MLflow gives sqlite a busy timeout, but a transaction that reads before it writes can
still be refused at once while another process writes (sqlite's way out of a deadlock).
The refused transaction was rolled back, so calling again is safe.
"""

from __future__ import annotations

import functools
import random
import time
from typing import Any

_LOCKED = "database is locked"


def is_locked_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is sqlite's "database is locked"."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _LOCKED in str(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class LockRetryingClient:
    """Wraps an ``MlflowClient``: a call refused because sqlite was locked is tried again,
    after a growing, jittered pause, up to ``attempts`` times in all."""

    def __init__(self, client: Any, attempts: int = 8, first_pause_s: float = 0.05) -> None:
        self._client = client
        self._attempts = attempts
        self._first_pause_s = first_pause_s

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(self._attempts):
                try:
                    return value(*args, **kwargs)
                except Exception as exc:
                    if attempt == self._attempts - 1 or not is_locked_error(exc):
                        raise
                    # Jitter keeps two refused writers from colliding again in step.
                    time.sleep(self._first_pause_s * 2**attempt * (0.5 + random.random()))
            raise AssertionError("unreachable")

        return call
