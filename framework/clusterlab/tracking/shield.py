"""Calls to the store that a stop signal cannot cut in the middle (see
:func:`clusterlab.stopping.uninterrupted`)."""

from __future__ import annotations

import functools
from typing import Any

from clusterlab.stopping import uninterrupted


class UninterruptedClient:
    """Wraps an ``MlflowClient``: each call runs to its end before a Ctrl-C or SIGTERM
    that arrived meanwhile is raised, so no statement is left holding the store's lock."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            with uninterrupted():
                return value(*args, **kwargs)

        return call
