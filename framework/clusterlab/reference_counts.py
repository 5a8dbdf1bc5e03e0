"""``n_clusters: reference``: an algorithm parameter set to the number of clusters of
the dataset's reference labelling.

A value of ``reference`` is resolved before the trials run: each dataset that such a
trial uses is built once on the CPU, and the trial becomes one trial per distinct
number of clusters among the dataset's references (noise, ``-1``, is no cluster). The
resolved number is what the trial's params and hash hold, so a rerun with the same
references finds the same trials.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from clusterlab.data import build_dataset
from clusterlab.errors import ExperimentError
from clusterlab.grid import DatasetKey, Trial
from clusterlab.registry import Registry
from clusterlab.yamlfile import SourceMap

#: The grid value that stands for the reference's number of clusters.
REFERENCE = "reference"


def uses_reference(trial: Trial) -> bool:
    """Whether any algorithm parameter of ``trial`` is ``reference``."""
    return any(value == REFERENCE for value in trial.algorithm_params.values())


def reference_counts(references: tuple[np.ndarray, ...]) -> list[int]:
    """The distinct numbers of clusters of ``references``, in their order."""
    counts: list[int] = []
    for labels in references:
        k = int(np.unique(labels[labels >= 0]).size)
        if k not in counts:
            counts.append(k)
    return counts


def resolve_reference_counts(
    trials: list[Trial],
    registry: Registry,
    dtype: str,
    base_dir: Path,
    source: SourceMap | None = None,
) -> list[Trial]:
    """The trials with every ``reference`` value replaced by each reference's number of
    clusters (one trial per distinct number), renumbered in run order; ``dtype`` is the
    experiment's (``float32``), in which the datasets are built."""
    if not any(uses_reference(trial) for trial in trials):
        return trials
    import torch

    counts: dict[DatasetKey, list[int]] = {}
    resolved: list[Trial] = []
    for trial in trials:
        if not uses_reference(trial):
            resolved.append(trial)
            continue
        key = trial.dataset_key
        if key not in counts:
            built = build_dataset(
                trial, registry, torch.device("cpu"), getattr(torch, dtype), base_dir, source
            )
            counts[key] = reference_counts(built.references)
            del built
        if not counts[key]:
            raise ExperimentError(
                f"algorithms[{trial.algorithm_index}] ('{trial.algorithm}') asks for the "
                f"reference's number of clusters, but dataset '{trial.dataset}' "
                f"(datasets[{trial.dataset_index}]) has no reference labelling"
            )
        names = [name for name, value in trial.algorithm_params.items() if value == REFERENCE]
        for k in counts[key]:
            params = {**trial.algorithm_params, **dict.fromkeys(names, k)}
            swept = dict(trial.swept)
            if len(counts[key]) > 1:
                # Several trials now differ by this value: their run names must say so.
                swept.update({f"algorithm.{name}": k for name in names})
            resolved.append(replace(trial, algorithm_params=params, swept=swept))
    return [replace(trial, index=index) for index, trial in enumerate(resolved)]
