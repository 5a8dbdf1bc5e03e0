"""Resources: a trial that would not fit in memory fails with the estimated need, and a
CUDA out-of-memory error fails only its trial and leaves the memory free for the next."""

from __future__ import annotations

import types

import pytest
import torch
from mlflow.tracking import MlflowClient

import clusterlab_algorithms.plugin
import clusterlab_datasets.plugin
from clusterlab import hookimpl
from clusterlab.runner import RunOptions, run_experiment

BUILT_INS = (
    ("algorithms", clusterlab_algorithms.plugin),
    ("datasets", clusterlab_datasets.plugin),
)


def options(store: str, *extra) -> RunOptions:
    return RunOptions(
        tracking_uri=store,
        autoload_plugins=False,
        extra_plugins=(*BUILT_INS, *extra),
        progress=False,
    )


def test_trial_over_its_memory_limit_fails_with_the_estimated_need(store):
    experiment = {
        "name": "memory",
        "device": "cpu",
        "datasets": [{"name": "blobs", "params": {"n_samples": 3000}}],
        "algorithms": [
            {"name": "agglomerative", "params": {"linkage": "average", "memory_limit_bytes": 1000}},
            {"name": "kmeans", "params": {"n_clusters": 3}},
        ],
    }
    result = run_experiment(experiment, options=options(store))
    failed, finished = result.trials
    assert failed.status == "FAILED" and finished.status == "FINISHED"
    assert "LinkageMemoryError" in failed.error
    assert "MB" in failed.error or "GB" in failed.error or "bytes" in failed.error
    run = MlflowClient(tracking_uri=store).get_run(failed.run_id)
    assert run.info.status == "FAILED"
    assert "LinkageMemoryError" in run.data.tags["clusterlab.error"]


class _Hog:
    """Asks CUDA for far more memory than any card has."""

    def __init__(self, n_clusters: int = 2, *, device: str | None = None):
        self.n_clusters = n_clusters
        self.device = device

    def fit(self, X):
        self.held = torch.empty(2**31, 2**10, device=X.device)  # 8 TiB of float32
        return self


@pytest.mark.cuda
def test_cuda_out_of_memory_fails_one_trial_and_frees_memory(store):
    if not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    hog = types.SimpleNamespace(
        register_algorithms=hookimpl(lambda register: register("hog", _Hog))
    )
    experiment = {
        "name": "oom",
        "device": "cuda",
        "datasets": [{"name": "blobs", "params": {"n_samples": 2000}}],
        "algorithms": [{"name": "hog"}, {"name": "kmeans", "params": {"n_clusters": 3}}],
    }
    result = run_experiment(experiment, options=options(store, ("hog", hog)))
    hogged, after = result.trials
    assert hogged.status == "FAILED" and "OutOfMemoryError" in hogged.error
    assert after.status == "FINISHED"
    assert torch.cuda.memory_allocated() < 2**30
