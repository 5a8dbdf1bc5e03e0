"""Which MLflow store to use, and store URIs that mean the same file from any folder."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def resolve_tracking_uri(cli_uri: str | None = None, file_uri: str | None = None) -> str:
    """The store to use: the CLI's, else the experiment file's, else ``MLFLOW_TRACKING_URI``,
    else MLflow's default ``sqlite:///mlflow.db`` in the working directory."""
    return cli_uri or file_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def absolute_store_uri(uri: str) -> str:
    """A sqlite URI with an absolute path, so that a worker in another folder writes the
    same file."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri.startswith(prefix + "/"):
        return uri
    path = uri.removeprefix(prefix)
    if path in ("", ":memory:"):
        return uri
    return prefix + str(Path(path).resolve())
