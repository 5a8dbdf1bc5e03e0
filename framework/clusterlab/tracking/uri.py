"""Which MLflow store to use, where a local store lives (and its artifacts), and the links
to it in MLflow's UI."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, unquote, urlencode, urlparse

from clusterlab.errors import TrackingError

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


def local_store_path(uri: str) -> Path | None:
    """The file of a local sqlite store or the folder of MLflow's file store (relative to
    the working directory where the URI is); ``None`` for a tracking server, another
    database or an in-memory sqlite."""
    if uri.startswith("sqlite:///"):
        path = unquote(uri.removeprefix("sqlite:///").split("?", 1)[0])
        return None if path in ("", ":memory:") else Path(path)
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(uri) if parsed.scheme == "" else None


def default_artifact_root(uri: str) -> str | None:
    """Where a new experiment's artifacts go when nobody chose: ``mlruns`` beside a local
    sqlite store's file, so that the store and its artifacts stay together (MLflow's own
    default is ``./mlruns`` in whatever folder the command runs in). ``None`` for other
    stores, whose own default stands (a file store keeps artifacts inside itself)."""
    path = local_store_path(uri) if uri.startswith("sqlite:") else None
    return None if path is None else str(path.resolve().parent / "mlruns")


def require_existing_store(uri: str) -> None:
    """Refuse a local store that does not exist, where MLflow would quietly create an
    empty one: a mistyped path or another working directory, most likely."""
    path = local_store_path(uri)
    if path is not None and not path.exists():
        raise TrackingError(
            f"no MLflow store at {path.resolve()} ({uri}): nothing has been run into it; "
            f"run an experiment first (clusterlab run FILE), or name the store where the "
            f"runs are with --tracking-uri"
        )


def ui_address(host: str, port: int) -> str:
    """The address of a UI server bound to ``host`` and ``port``, as a browser on this
    machine reaches it (a server on every interface answers on the loopback)."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def runs_table_url(address: str, experiment_id: str, view_key: str | None = None) -> str:
    """The link to an experiment's runs table in the UI at ``address``, in MLflow 3's
    model-training pages (``workflowType``), opening the saved view ``view_key`` where
    one is given."""
    query = {"workflowType": "machine_learning"}
    if view_key:
        query["viewStateShareKey"] = view_key
    experiment = quote(experiment_id, safe="")
    return f"{address.rstrip('/')}/#/experiments/{experiment}/runs?{urlencode(query)}"
