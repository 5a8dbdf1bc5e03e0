"""Helpers for the reliability suite: the CLI in a subprocess, and plugins installed as real
distributions on a temporary path (an entry point found by importlib.metadata, no pip)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests import cli_process

ROOT = Path(__file__).resolve().parents[2]

SMALL = """\
name: small
device: cpu
seeds: [0]
datasets:
  - name: blobs
    params: {n_samples: 200, centers: 3}
algorithms:
  - name: kmeans
    grid:
      n_clusters: [2, 3]
metrics: [silhouette]
"""


def kmeans_grid(
    name: str,
    seeds: int,
    n_samples: int,
    centers: int,
    n_init: int,
    ks: list[int],
    max_iter: int = 100,
) -> str:
    """An experiment file sweeping the torch K-Means over ``ks`` on 8-D blobs, with a fixed
    number of iterations (``tol: 0``) so that each trial takes a predictable time."""
    return f"""\
name: {name}
device: cpu
seeds: {list(range(seeds))}
datasets:
  - name: blobs
    params: {{n_samples: {n_samples}, n_features: 8, centers: {centers}}}
algorithms:
  - name: kmeans
    params: {{n_init: {n_init}, max_iter: {max_iter}, tol: 0.0}}
    grid:
      n_clusters: {ks}
"""


def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``clusterlab ARGS`` started in a subprocess in ``cwd``, with the test environment
    and its output captured as text; the caller waits for it or stops it."""
    return subprocess.Popen(
        [sys.executable, "-m", "clusterlab.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def experiment_runs(store: str, name: str, kind: str | None = None) -> list:
    """Every run of experiment ``name`` in ``store`` (none before it exists); with ``kind``,
    only those tagged ``clusterlab.kind`` = ``kind`` (``trial`` or ``parent``)."""
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return [r for r in runs if kind is None or r.data.tags.get("clusterlab.kind") == kind]


def clean_env(extra_path: Path | None = None) -> dict[str, str]:
    """This environment without a tracking URI (each test names its own store)."""
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    return env


def run_cli(*args: str, cwd: Path, extra_path: Path | None = None, timeout: float = 300):
    """Run ``clusterlab`` in a subprocess; ``extra_path`` is put on ``PYTHONPATH``."""
    return cli_process.run_cli(*args, cwd=cwd, env=clean_env(extra_path), timeout=timeout)


def install_fake_distribution(site: Path, name: str, module_source: str) -> None:
    """Put a distribution with a ``clusterlab`` entry point ``name`` into folder ``site``."""
    module = f"{name}_plugin"
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = site / f"{name}_dist-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-dist\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[clusterlab]\n{name} = {module}\n")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory for one CLI run, holding ``small.yaml``."""
    (tmp_path / "small.yaml").write_text(SMALL)
    return tmp_path
