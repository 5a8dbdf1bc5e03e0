"""Ctrl-C and SIGTERM while a grid runs: a stop request that is never lost.

Python delivers a signal as a ``KeyboardInterrupt`` raised wherever the main thread
happens to be, and where that is a garbage collector's callback or a ``__del__`` it is
printed as "Exception ignored" and dropped, so the grid would run on. Here a signal is
first recorded, so the runner also stops at its next safe point (after the current
trial), and while the runner closes its runs it is only recorded: the parent is then
ended KILLED rather than left RUNNING.

A signal must not land inside a call to the store either: sqlite keeps the lock of a
statement cut in the middle for as long as the interrupt's traceback holds its cursor,
so every write that ends the runs would then be refused with "database is locked".
:func:`uninterrupted` holds a signal back for the length of such a call.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# The instance entered on the main thread, for :func:`uninterrupted`.
_active: StopSignals | None = None


class StopSignals:
    """While entered (on the main thread; elsewhere it changes nothing), SIGINT and SIGTERM
    record a stop request and raise ``KeyboardInterrupt`` unless :meth:`deferred`; the
    previous handlers are restored on exit."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._deferring = 0
        self._previous: dict[int, Any] = {}
        self._outer: StopSignals | None = None

    def __enter__(self) -> StopSignals:
        global _active
        if threading.current_thread() is threading.main_thread():
            self._previous = {
                signum: signal.signal(signum, self._handle) for signum in STOP_SIGNALS
            }
            self._outer, _active = _active, self
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        global _active
        if self._previous:
            _active = self._outer
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    @property
    def requested(self) -> bool:
        """Whether a stop signal has arrived since this was entered."""
        return self.signum is not None

    def stop_if_requested(self) -> None:
        """Raise ``KeyboardInterrupt`` where a stop signal arrived (the safe point)."""
        if self.signum is not None:
            raise KeyboardInterrupt

    @property
    def deferring(self) -> bool:
        """Whether a :meth:`deferred` block is open."""
        return self._deferring > 0

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A block that a signal does not interrupt: it is only recorded, to be acted on
        by :meth:`stop_if_requested` or :attr:`requested` afterwards."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if not self._deferring:
            raise KeyboardInterrupt


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """A block (one call to the store) that a stop signal does not cut: the signal is
    recorded and, unless an enclosing block defers it too, raised as
    ``KeyboardInterrupt`` once the block is over. Outside a :class:`StopSignals` on the
    main thread (a worker, a library caller), the block runs as it is."""
    stops = _active
    if stops is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    with stops.deferred():
        yield
    if stops.requested and not stops.deferring:
        raise KeyboardInterrupt
