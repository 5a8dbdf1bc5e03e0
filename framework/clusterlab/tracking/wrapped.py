"""A base for the wrappers around an ``MlflowClient`` that change how each call runs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class WrappedClient:
    """Passes attributes of ``client`` through; its methods run through :meth:`invoke`."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.invoke(value, args, kwargs)

        return call

    def invoke(self, method: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
        """Run one call of the client's ``method``; subclasses say how."""
        return method(*args, **kwargs)
