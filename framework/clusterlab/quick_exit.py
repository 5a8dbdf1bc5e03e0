"""Leaving a process without the interpreter's teardown.

Freeing torch, MLflow's SQLAlchemy engine, matplotlib and every module object at exit
takes longer than many commands and many worker lifetimes do, and nothing in it is
needed: the exit handlers that matter (MLflow's, logging's flush, multiprocessing's
finalizers) are registered with :mod:`atexit` and run first, then the standard streams
are flushed and the process ends with ``os._exit``.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

# Python's own exit status when flushing standard output fails at exit.
_FLUSH_FAILED = 120


def leave(code: int) -> NoReturn:
    """End the process with ``code`` after its exit handlers ran and its output is out.

    Where a thread of someone else's is still working, the normal exit is taken, so that
    the thread can finish as it would have.
    """
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(not thread.daemon for thread in others):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            # A reader that went away (``clusterlab report ... | head``) is not an error of
            # the command; Python's own exit reports it the same way.
            code = code or _FLUSH_FAILED
    os._exit(code)
