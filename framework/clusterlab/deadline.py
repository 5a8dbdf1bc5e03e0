"""A time limit on one trial, for fits that hang.

The limit is a timer signal (SIGALRM) that raises :class:`TrialTimeout` in the thread
running the trial, so the trial fails like any other. It needs that thread to be its
process's main thread (as under the ``local`` and ``processes`` executors) and Python
code to run: a call into native code that never returns is stopped by the executor's
backstop instead (``processes`` stops the worker), or not at all in-process.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: Extra time a worker gets, past its trial's limit, before its executor stops it.
BACKSTOP_GRACE_S = 10.0


class TrialTimeout(Exception):
    """A trial ran past the experiment's ``timeout_s``."""


def can_time_out() -> bool:
    """Whether :func:`trial_deadline` can stop a trial running on this thread."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def trial_deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TrialTimeout` in the block once it has run ``seconds`` (none where
    ``seconds`` is ``None`` or the limit cannot be set here)."""
    if seconds is None or not can_time_out():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TrialTimeout(f"the trial ran past timeout_s={seconds:g} and was stopped")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
