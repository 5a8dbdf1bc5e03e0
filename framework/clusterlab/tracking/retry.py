"""Retries MLflow calls that a busy sqlite store refused with "database is locked".

MLflow gives sqlite a busy timeout, but a transaction that reads before it writes can
still be refused at once while another process writes (sqlite's way out of a deadlock).
The refused transaction was rolled back, so calling again is safe.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from clusterlab.tracking.wrapped import WrappedClient

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


class LockRetryingClient(WrappedClient):
    """Wraps an ``MlflowClient``: a call refused because sqlite was locked is tried again,
    after a growing, jittered pause, up to ``attempts`` times in all."""

    def __init__(self, client: Any, attempts: int = 8, first_pause_s: float = 0.05) -> None:
        super().__init__(client)
        self._attempts = attempts
        self._first_pause_s = first_pause_s

    def invoke(self, method: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
        """Run the call, again after a pause each time sqlite refused it as locked."""
        for attempt in range(self._attempts):
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                if attempt == self._attempts - 1 or not is_locked_error(exc):
                    raise
                # Jitter keeps two refused writers from colliding again in step.
                time.sleep(self._first_pause_s * 2**attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")
