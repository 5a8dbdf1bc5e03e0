"""Shared fixtures: an isolated MLflow store per test and a small in-process plugin."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# Keep the two-core machine responsive when several torch ops run in one test.
os.environ.setdefault("OMP_NUM_THREADS", "2")
# Spinning OpenMP workers make many small torch operations crawl when cores are shared.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty sqlite store with MLflow's schema, created once (migrations take seconds)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_store: Path) -> str:
    """A fresh sqlite MLflow store in a temporary folder, also set as the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.copy(migrated_store, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _no_inherited_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test names its own store: a URI left in the environment (MLflow's
    ``set_tracking_uri`` exports one) must not send runs elsewhere."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
