"""Builds each dataset of an experiment once, checks it, and places it on the trial device."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clusterlab.errors import ExperimentError
from clusterlab.grid import DatasetKey, Trial
from clusterlab.registry import Registry
from clusterlab.yamlfile import SourceMap

# Copies of a generated dataset alive at once while it is built (numpy's, the tensor's).
_COPIES = 2


@dataclass
class BuiltDataset:
    """A dataset ready for trials: ``X`` on the device, labels on the CPU, and its digest.

    ``references`` holds every reference labelling the dataset gave (a benchmark dataset
    may have several), ``y`` the first of them, or ``None`` where there is none.
    """

    X: Any
    y: np.ndarray | None
    digest: str
    n_samples: int
    n_features: int
    references: tuple[np.ndarray, ...] = ()


def build_dataset(
    trial: Trial,
    registry: Registry,
    device: Any,
    dtype: Any,
    base_dir: Path,
    source: SourceMap | None = None,
) -> BuiltDataset:
    """Load a trial's dataset, apply its preprocessing on the device, and check the result;
    a problem names the dataset's entry, at its line of the file where ``source`` says."""
    entry = registry.get("dataset", trial.dataset)
    kwargs = dict(trial.dataset_params)
    if "seed" in entry.context:
        kwargs["seed"] = trial.dataset_seed
    if "base_dir" in entry.context:
        kwargs["base_dir"] = str(base_dir)
    where = dataset_where(trial, source)
    _check_room(trial.dataset_params, where)
    try:
        X, y = entry.obj(**kwargs)
    except (ValueError, FileNotFoundError, OSError, TypeError, KeyError) as exc:
        raise ExperimentError(f"{where}: {exc}") from None
    X = _as_tensor(X, where)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise ExperimentError(f"{where}: the data must be n x d, got shape {tuple(X.shape)}")
    references = as_references(y, X.shape[0], where)
    # Preprocessing sees one labelling as a vector and several as the columns of an
    # n x r matrix, so that a step dropping rows drops them from every reference.
    if not references:
        y = None
    elif len(references) == 1:
        y = references[0]
    else:
        y = np.stack(references, axis=1)
    X = X.to(device=device, dtype=dtype)
    for name, params in trial.preprocess:
        step = registry.get("preprocessor", name)
        step_kwargs = dict(params)
        if "seed" in step.context:
            step_kwargs["seed"] = trial.dataset_seed
        try:
            X, y = step.obj(X, y, **step_kwargs)
        except (ValueError, TypeError) as exc:
            raise ExperimentError(f"{where}: preprocess step '{name}': {exc}") from None
    if X.shape[0] == 0:
        raise ExperimentError(f"{where}: the dataset is empty (0 samples)")
    _check_finite(X, where)
    if y is not None:
        y = np.asarray(y)
        references = tuple(y.T) if y.ndim == 2 else (y,)
    return BuiltDataset(
        X=X.contiguous(),
        y=references[0] if references else None,
        digest=data_digest(X, y),
        n_samples=int(X.shape[0]),
        n_features=int(X.shape[1]),
        references=tuple(np.ascontiguousarray(r) for r in references),
    )


def as_references(y: Any, n_samples: int, where: str) -> tuple[np.ndarray, ...]:
    """The reference labellings a dataset returned: ``None`` (none), one vector of
    ``n_samples`` labels, or several as a list of vectors or an r x n array."""
    import torch

    if y is None:
        return ()
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    if isinstance(y, list | tuple) and y and not np.isscalar(y[0]):
        labellings = [np.asarray(r.cpu() if isinstance(r, torch.Tensor) else r) for r in y]
    else:
        array = np.asarray(y)
        labellings = list(array) if array.ndim == 2 else [array]
    for number, labels in enumerate(labellings):
        if labels.ndim != 1 or len(labels) != n_samples:
            which = f" in reference labelling {number}" if len(labellings) > 1 else ""
            raise ExperimentError(
                f"{where}: {labels.size} labels{which} (shape {tuple(labels.shape)}) for "
                f"{n_samples} samples"
            )
    return tuple(labellings)


def dataset_where(trial: Trial, source: SourceMap | None) -> str:
    """How a message names a trial's dataset: ``file:line: datasets[i] ('name')``."""
    entry = f"datasets[{trial.dataset_index}] ('{trial.dataset}')"
    if source is None:
        return f"dataset '{trial.dataset}' (datasets[{trial.dataset_index}])"
    return f"{source.where(('datasets', trial.dataset_index))}: {entry}"


def _check_room(params: dict[str, Any], where: str) -> None:
    """Refuse a dataset whose ``n_samples`` × ``n_features`` params (where it has both)
    could not fit in the memory this machine has free, before anything is generated."""
    n, d = params.get("n_samples"), params.get("n_features", 2)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, d)):
        return
    # Generators build float64 arrays and the tensor is a further copy of them.
    needed = _COPIES * 8 * n * d
    available = available_memory()
    if available is not None and needed > available:
        raise ExperimentError(
            f"{where}: n_samples={n:,} × n_features={d:,} needs about "
            f"{_bytes_text(needed)} of memory to build, and this machine has "
            f"{_bytes_text(available)} available; make the dataset smaller"
        )


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux's MemAvailable), else ``None``."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _bytes_text(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.1f} PiB"


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


def check_sizes(
    trials: list[Trial],
    built: Mapping[DatasetKey, BuiltDataset | int],
    source: SourceMap | None = None,
) -> None:
    """Every trial that asks for ``n_clusters`` gets at least that many samples; ``built``
    holds each dataset, or its number of samples."""
    problems = []
    for trial in trials:
        k = trial.algorithm_params.get("n_clusters")
        data = built.get(trial.dataset_key)
        n = data if isinstance(data, int) or data is None else data.n_samples
        if isinstance(k, int) and n is not None and n < k:
            where = f"algorithm '{trial.algorithm}' (algorithms[{trial.algorithm_index}])"
            if source is not None:
                swept = "algorithm.n_clusters" in trial.swept
                key = ("algorithms", trial.algorithm_index, "grid" if swept else "params")
                where = f"{source.where((*key, 'n_clusters'))}: algorithms[{trial.algorithm_index}]"
            problems.append(
                f"{where} asks for n_clusters={k} but dataset '{trial.dataset}' has only "
                f"{n} samples"
            )
    if problems:
        raise ExperimentError(sorted(set(problems)))


def check_datasets(
    trials: list[Trial], registry: Registry, dtype: Any, base_dir: Path, source: SourceMap
) -> None:
    """Build each dataset of ``trials`` once on the CPU, one at a time, and check it and
    the trials' ``n_clusters`` against it, as a run would before its first trial."""
    import torch

    samples: dict[DatasetKey, int] = {}
    for trial in trials:
        if trial.dataset_key not in samples:
            built = build_dataset(trial, registry, torch.device("cpu"), dtype, base_dir, source)
            samples[trial.dataset_key] = built.n_samples
            del built
    check_sizes(trials, samples, source)
