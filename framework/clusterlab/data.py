"""Builds each dataset of an experiment once, checks it, and places it on the trial device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clusterlab.errors import ExperimentError
from clusterlab.grid import DatasetKey, Trial
from clusterlab.registry import Registry


@dataclass
class BuiltDataset:
    """A dataset ready for trials: ``X`` on the device, labels on the CPU, and its digest."""

    X: Any
    y: np.ndarray | None
    digest: str
    n_samples: int
    n_features: int


def build_dataset(
    trial: Trial, registry: Registry, device: Any, dtype: Any, base_dir: Path
) -> BuiltDataset:
    """Load a trial's dataset, apply its preprocessing on the device, and check the result."""
    import torch

    entry = registry.get("dataset", trial.dataset)
    kwargs = dict(trial.dataset_params)
    if "seed" in entry.context:
        kwargs["seed"] = trial.seed
    if "base_dir" in entry.context:
        kwargs["base_dir"] = str(base_dir)
    where = f"dataset '{trial.dataset}' (datasets[{trial.dataset_index}])"
    try:
        X, y = entry.obj(**kwargs)
    except (ValueError, FileNotFoundError, OSError, TypeError, KeyError) as exc:
        raise ExperimentError(f"{where}: {exc}") from None
    X = _as_tensor(X, where)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise ExperimentError(f"{where}: the data must be n x d, got shape {tuple(X.shape)}")
    y = None if y is None else np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
    if y is not None and len(y) != X.shape[0]:
        raise ExperimentError(f"{where}: {len(y)} labels for {X.shape[0]} samples")
    X = X.to(device=device, dtype=dtype)
    for name, params in trial.preprocess:
        step = registry.get("preprocessor", name)
        step_kwargs = dict(params)
        if "seed" in step.context:
            step_kwargs["seed"] = trial.seed
        try:
            X, y = step.obj(X, y, **step_kwargs)
        except (ValueError, TypeError) as exc:
            raise ExperimentError(f"{where}: preprocess step '{name}': {exc}") from None
    if X.shape[0] == 0:
        raise ExperimentError(f"{where}: the dataset is empty (0 samples)")
    _check_finite(X, where)
    return BuiltDataset(
        X=X.contiguous(),
        y=y,
        digest=data_digest(X, y),
        n_samples=int(X.shape[0]),
        n_features=int(X.shape[1]),
    )


def _as_tensor(X: Any, where: str) -> Any:
    import torch

    if isinstance(X, torch.Tensor):
        return X
    array = np.asarray(X)
    if array.dtype.kind not in "biuf":
        raise ExperimentError(
            f"{where}: the data is not numeric (dtype {array.dtype}); choose numeric "
            f"feature columns"
        )
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


def _check_finite(X: Any, where: str) -> None:
    import torch

    bad = ~torch.isfinite(X)
    if bool(bad.any()):
        rows = int(bad.any(dim=1).sum())
        columns = torch.nonzero(bad.any(dim=0)).flatten().tolist()
        shown = ", ".join(map(str, columns[:10])) + (" ..." if len(columns) > 10 else "")
        raise ExperimentError(
            f"{where}: {rows} row(s) hold NaN or infinite values, in column(s) {shown}; "
            f"add the preprocess step 'drop_nonfinite' first to drop those rows"
        )


def data_digest(X: Any, y: np.ndarray | None) -> str:
    """A digest over every value of the data and labels (not a sample of them)."""
    import hashlib

    digest = hashlib.sha256()
    array = np.ascontiguousarray(X.detach().cpu().numpy())
    digest.update(str(array.shape).encode())
    digest.update(str(array.dtype).encode())
    digest.update(array.tobytes())
    if y is not None:
        digest.update(np.ascontiguousarray(y).tobytes())
    return digest.hexdigest()[:16]


def check_sizes(trials: list[Trial], built: dict[DatasetKey, BuiltDataset]) -> None:
    """Every trial that asks for ``n_clusters`` gets at least that many samples."""
    problems = []
    for trial in trials:
        k = trial.algorithm_params.get("n_clusters")
        data = built.get(trial.dataset_key)
        if isinstance(k, int) and data is not None and data.n_samples < k:
            problems.append(
                f"algorithm '{trial.algorithm}' (algorithms[{trial.algorithm_index}]) asks for "
                f"n_clusters={k} but dataset '{trial.dataset}' has only {data.n_samples} samples"
            )
    if problems:
        raise ExperimentError(sorted(set(problems)))
