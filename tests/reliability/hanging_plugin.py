"""Algorithms that hang, for the per-trial time limit: in Python code, and in a call that
no timer signal reaches (as native code that never returns)."""

from __future__ import annotations

import signal
import time

import numpy as np

from clusterlab import hookimpl


class Hanging:
    """Sleeps for ``seconds`` in fit (``where="python"``), or blocks the timer signal
    first, as a fit stuck in native code would not see it (``where="native"``)."""

    def __init__(self, seconds: float = 60.0, where: str = "python"):
        self.seconds, self.where = seconds, where

    def fit(self, X):
        if self.where == "native":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(self.seconds)
        self.labels_ = np.zeros(len(X), dtype=np.int64)
        return self


@hookimpl
def register_algorithms(register):
    register("hanging", Hanging)
