"""Telling a failing tracking store from other errors, and bounding how long MLflow's
client waits on a tracking server before it gives up."""

from __future__ import annotations

import errno
import os
import urllib.error
import urllib.request

#: MLflow's client waits 120 s per request and retries 7 times with doubling waits, so a
#: server that stopped answering could hold an invocation for a quarter of an hour. These
#: apply where the user has not set MLflow's variables.
HTTP_CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
# What the stores say when they cannot write: a full or read-only disk, a lost server.
_STORE_WORDS = (
    "API request to",
    "database or disk is full",
    "readonly database",
    "disk I/O error",
    "unable to open database file",
    "No space left on device",
    "Read-only file system",
)
_DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO}


def bound_http_waits() -> None:
    """Shorter request timeouts and retries for MLflow's HTTP client, unless set by the
    user; worker processes inherit them."""
    for name, value in HTTP_CLIENT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def is_store_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the store itself failed (unreachable, full, read-only), as
    opposed to an error in what was asked of it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _DISK_ERRNOS:
            return True
        if type(current).__module__.startswith(("requests", "urllib3")):
            return True
        if type(current).__name__ == "OperationalError" or any(
            word in str(current) for word in _STORE_WORDS
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def server_answers(uri: str, timeout_s: float = 5.0) -> bool:
    """Whether the tracking server at ``uri`` answers its health check now; ``True`` for
    stores that are not servers."""
    if not uri.startswith(("http://", "https://")):
        return True
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s):
            return True
    except (urllib.error.URLError, OSError, ValueError):
        return False
