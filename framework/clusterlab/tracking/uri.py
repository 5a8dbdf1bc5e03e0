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


def check_store_from_file(uri: str, experiment_folder: Path) -> None:
    """Refuse a sqlite store that an experiment file names, where using it would change
    files the user did not point at on the command line: a new store outside the working
    directory and the experiment file's folder, or an existing database that is not an
    MLflow store (MLflow would add its tables to it)."""
    if not uri.startswith("sqlite:///"):
        return
    path = local_store_path(uri)
    if path is None:
        return
    target = path.resolve()
    if target.exists():
        check_is_mlflow_store(target, uri)
        return
    folders = {Path.cwd().resolve(), experiment_folder.resolve()}
    if not any(target.is_relative_to(folder) for folder in folders):
        raise TrackingError(
            f"tracking.uri {uri} in the experiment file would create a store at {target}, "
            f"outside this folder and the experiment file's; to use it, give it on the "
            f"command line (--tracking-uri)"
        )


def check_is_mlflow_store(path: Path, uri: str) -> None:
    """Refuse an existing, non-empty sqlite file that holds no MLflow store."""
    import sqlite3

    if path.is_dir() or path.stat().st_size == 0:
        return
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = {row[0] for row in connection.execute("select name from sqlite_master")}
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise TrackingError(f"{uri}: {path} is not a sqlite database ({exc})") from None
    if not {"alembic_version", "experiments", "runs"} <= names:
        raise TrackingError(
            f"{uri}: {path} is a sqlite database but not an MLflow store; MLflow would add "
            f"its tables to it. Choose another file"
        )
