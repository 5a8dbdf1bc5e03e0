"""Expands an experiment into trials: datasets-grid × seeds × algorithms-grid, stably ordered."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from clusterlab.registry import PluginEntry, Registry
from clusterlab.schema import Component, DatasetEntry, Experiment, axis_length, expand_axis


@dataclass(frozen=True)
class DatasetKey:
    """Identifies one built dataset: shared by every trial that uses the same data."""

    index: int
    name: str
    params_json: str
    preprocess_json: str
    seed: int


@dataclass(frozen=True)
class Trial:
    """One run of one algorithm setting on one dataset setting with one seed; frozen, so
    a changed trial is a new one (``dataclasses.replace``)."""

    index: int
    dataset: str
    dataset_index: int
    dataset_params: dict[str, Any]
    preprocess: list[tuple[str, dict[str, Any]]]
    algorithm: str
    algorithm_index: int
    algorithm_params: dict[str, Any]
    seed: int
    dtype: str
    device: str
    swept: dict[str, Any] = field(default_factory=dict)
    dataset_label: str = ""
    algorithm_label: str = ""
    #: The seed the data is made from where the dataset entry fixes one; else ``seed``.
    data_seed: int | None = None

    @property
    def dataset_seed(self) -> int:
        """The seed the trial's data and its preprocessing are made from."""
        return self.seed if self.data_seed is None else self.data_seed

    @property
    def dataset_key(self) -> DatasetKey:
        """The key under which this trial's data is built once and shared."""
        return DatasetKey(
            self.dataset_index,
            self.dataset,
            canonical_json(self.dataset_params),
            canonical_json(self.preprocess),
            self.dataset_seed,
        )

    @property
    def config(self) -> dict[str, Any]:
        """The trial's resolved configuration, as hashed (``data_seed`` only where set, so
        that the hashes of trials without one stay what they were)."""
        config = {
            "dataset": {
                "name": self.dataset,
                "params": self.dataset_params,
                "preprocess": [[name, params] for name, params in self.preprocess],
            },
            "algorithm": {"name": self.algorithm, "params": self.algorithm_params},
            "seed": self.seed,
            "dtype": self.dtype,
            "device_type": self.device.split(":")[0],
        }
        if self.data_seed is not None:
            config["data_seed"] = self.data_seed
        return config

    @property
    def hash(self) -> str:
        """A stable digest of the resolved configuration (same in every process)."""
        return hashlib.sha256(canonical_json(self.config).encode()).hexdigest()[:16]

    @property
    def run_name(self) -> str:
        """A short name for the runs table, swept values first: ``n_clusters=4 · kmeans ·
        blobs · s0`` (the algorithm's swept values, then the dataset's, then the labels
        and the seed); where several values are swept, names of several words shrink to
        their initials: ``eps=0.1 ms=5 · dbscan · blobs · s0`` for ``min_samples``.

        The MLflow UI cuts a long name at its end, so what tells the trials of one entry
        apart comes first. Unique within a grid whose entries have distinct labels (the
        values stand in a fixed order); the trial's hash is computed from its
        configuration, never from this name.
        """
        algorithm = [item for item in self.swept.items() if item[0].startswith("algorithm.")]
        dataset = [item for item in self.swept.items() if item[0].startswith("dataset.")]
        names = [key.split(".", 1)[1] for key, _ in algorithm + dataset]
        if len(names) > 1:
            names = _initials(names)
        values = " ".join(
            f"{name}={_name_value(value)}"
            for name, (_, value) in zip(names, algorithm + dataset, strict=True)
        )
        labels = [self.algorithm_label or self.algorithm, self.dataset_label or self.dataset]
        return " · ".join([*([values] if values else []), *labels, f"s{self.seed}"])


def _name_value(value: Any) -> str:
    """A swept value as a run name shows it: text as it is, anything else as compact JSON
    (``0.5``, ``true``, ``[1,2]``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=repr)


def _initials(names: list[str]) -> list[str]:
    """``min_samples`` → ``ms``, ``eps`` stays ``eps``; the names as they are where two
    would read the same."""
    short = [
        "".join(part[0] for part in name.split("_") if part) if "_" in name else name
        for name in names
    ]
    return short if len(set(short)) == len(short) else names


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces; non-JSON values by their ``repr``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def grid_hash(trials: list[Trial]) -> str:
    """A stable digest of a grid: of its trials' hashes, whatever their order."""
    joined = ",".join(sorted({trial.hash for trial in trials}))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def grid_points(component: Component) -> list[dict[str, Any]]:
    """Every setting of a component's grid (the product of its axes), in file order.

    Builds them all: count them first with :func:`count_points`.
    """
    axes: list[list[dict[str, Any]]] = []
    for key, axis in component.grid.items():
        names = [name.strip() for name in key.split(",")]
        values = expand_axis(axis)
        if len(names) == 1:
            axes.append([{names[0]: value} for value in values])
        else:
            axes.append([dict(zip(names, value, strict=True)) for value in values])
    points = []
    for combination in itertools.product(*axes):
        point: dict[str, Any] = {}
        for part in combination:
            point.update(part)
        points.append(point)
    return points


def count_points(component: Component) -> int:
    """How many settings a component's grid has, from its axes' specs alone."""
    return math.prod(axis_length(axis) for axis in component.grid.values())


def count_trials(experiment: Experiment) -> int:
    """How many trials an experiment expands to, counted without building any axis, so
    that a grid too large to build is measured in microseconds."""
    datasets = sum(count_points(d) for d in experiment.datasets)
    algorithms = sum(count_points(a) for a in experiment.algorithms)
    return datasets * algorithms * len(experiment.seeds)


def resolved_params(entry: PluginEntry | None, given: dict[str, Any]) -> dict[str, Any]:
    """The given parameters completed with the plugin's defaults, in signature order."""
    if entry is None:
        return dict(given)
    params: dict[str, Any] = {}
    for name, param in entry.params.items():
        if name in given:
            params[name] = given[name]
        elif not param.required:
            params[name] = param.default
    for name, value in given.items():
        params.setdefault(name, value)
    return params


def preprocess_steps(dataset: DatasetEntry) -> list[tuple[str, dict[str, Any]]]:
    """A dataset's preprocessing steps as ``(name, params)`` pairs."""
    steps = []
    for step in dataset.preprocess:
        if isinstance(step, str):
            steps.append((step, {}))
        else:
            name, params = next(iter(step.items()))
            steps.append((name, dict(params or {})))
    return steps


def iter_trials(experiment: Experiment, registry: Registry | None = None) -> Iterator[Trial]:
    """Yield the trials in run order: each dataset setting and seed, then every algorithm setting.

    That order uses each built dataset for a run of consecutive trials, so it can be freed
    as soon as they are done.
    """
    index = 0

    def lookup(kind: str, name: str) -> PluginEntry | None:
        if registry is None:
            return None
        return registry.entries[kind].get(name)

    dataset_labels = _labels(experiment.datasets)
    algorithm_labels = _labels(experiment.algorithms)
    for d_index, dataset in enumerate(experiment.datasets):
        d_entry = lookup("dataset", dataset.name)
        d_swept_names = dataset.param_names_swept()
        for d_point in grid_points(dataset):
            d_params = resolved_params(d_entry, {**dataset.params, **d_point})
            for seed in experiment.seeds:
                for a_index, algorithm in enumerate(experiment.algorithms):
                    a_entry = lookup("algorithm", algorithm.name)
                    a_swept_names = algorithm.param_names_swept()
                    for a_point in grid_points(algorithm):
                        a_params = resolved_params(a_entry, {**algorithm.params, **a_point})
                        swept = {f"dataset.{k}": d_point[k] for k in d_swept_names}
                        swept.update({f"algorithm.{k}": a_point[k] for k in a_swept_names})
                        yield Trial(
                            index=index,
                            dataset=dataset.name,
                            dataset_index=d_index,
                            dataset_params=d_params,
                            preprocess=preprocess_steps(dataset),
                            algorithm=algorithm.name,
                            algorithm_index=a_index,
                            algorithm_params=a_params,
                            seed=seed,
                            dtype=experiment.dtype,
                            device=experiment.device,
                            swept=swept,
                            dataset_label=dataset_labels[d_index],
                            algorithm_label=algorithm_labels[a_index],
                            data_seed=dataset.data_seed,
                        )
                        index += 1


def _labels(components: list[Any]) -> list[str]:
    return [c.label or c.name for c in components]


def expand_trials(experiment: Experiment, registry: Registry | None = None) -> list[Trial]:
    """All trials of an experiment, in run order (see :func:`iter_trials`)."""
    return list(iter_trials(experiment, registry))
