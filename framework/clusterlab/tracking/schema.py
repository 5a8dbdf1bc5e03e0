"""A new local sqlite store starts as a copy of an empty one already migrated to this
MLflow version's schema, kept in the user's cache; MLflow otherwise runs every one of its
schema migrations on each new store file, which takes longer than a small experiment.

The copy holds what MLflow's migrations leave in a new store except its default
experiment, which MLflow adds, with this store's artifact location, when it opens the copy.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from importlib.metadata import version
from pathlib import Path

from clusterlab.tracking.uri import local_store_path

# Where the migrated copies live unless CLUSTERLAB_CACHE_DIR says otherwise.
_CACHE_ENV = "CLUSTERLAB_CACHE_DIR"


def cache_dir() -> Path:
    """The folder for clusterlab's cached files: ``CLUSTERLAB_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/clusterlab``, else ``~/.cache/clusterlab``."""
    if os.environ.get(_CACHE_ENV):
        return Path(os.environ[_CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "clusterlab"


def _template_path() -> Path:
    return cache_dir() / f"mlflow-{version('mlflow')}-empty.db"


def _build_template(path: Path) -> None:
    """Let MLflow create and migrate a store at a scratch name beside ``path``, remove its
    default experiment, and move it to ``path`` (at once: a reader never sees half a
    file)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        db = Path(scratch) / "store.db"
        store = SqlAlchemyStore(f"sqlite:///{db}", str(Path(scratch) / "artifacts"))
        store.engine.dispose()
        # Only MLflow's default experiment goes: it names the scratch folder, and MLflow
        # adds it again on opening the copy. Rows that migrations insert (the default
        # workspace) stay, as on a store MLflow migrated itself.
        connection = sqlite3.connect(db)
        with connection:
            connection.execute("DELETE FROM experiments")
        connection.close()
        os.replace(db, path)


def seed_new_store(uri: str) -> bool:
    """Give a sqlite store that does not exist yet the migrated empty schema, so that
    MLflow finds its tables in place; returns whether it did. Other stores, existing
    files and a cache that cannot be written are left to MLflow (which then migrates
    the new file itself)."""
    if not uri.startswith("sqlite:///"):
        return False
    path = local_store_path(uri)
    if path is None or path.exists():
        return False
    template = _template_path()
    partial = path.with_name(f".{path.name}.new")
    try:
        if not template.exists():
            _build_template(template)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, partial)
        os.replace(partial, path)
    except Exception:
        # The copy only saves time: whatever went wrong with it (a full or read-only
        # cache), MLflow can still migrate the new file itself.
        partial.unlink(missing_ok=True)
        return False
    return True
