"""Calls to the store that a stop signal cannot cut in the middle (see
:func:`clusterlab.stopping.uninterrupted`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clusterlab.stopping import uninterrupted
from clusterlab.tracking.wrapped import WrappedClient


class UninterruptedClient(WrappedClient):
    """Wraps an ``MlflowClient``: each call runs to its end before a Ctrl-C or SIGTERM
    that arrived meanwhile is raised, so no statement is left holding the store's lock."""

    def invoke(self, method: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
        """Run the call with stop signals held back until it returns."""
        with uninterrupted():
            return method(*args, **kwargs)
