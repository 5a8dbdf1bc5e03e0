"""Grid axes written ``{each: {filter: value}}``: every value of a dataset parameter that
the dataset's plugin lists (every dataset of a benchmark battery, say), filtered as the
plugin allows. They are listed once the plugins are loaded and before the grid is
expanded, so that everything after sees a plain list."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from clusterlab.errors import ExperimentError
from clusterlab.loading import LoadedExperiment
from clusterlab.registry import Registry
from clusterlab.schema import EACH


def _is_each(axis: Any) -> bool:
    return isinstance(axis, dict) and len(axis) == 1 and EACH in axis


def resolve_each_axes(loaded: LoadedExperiment, registry: Registry) -> LoadedExperiment:
    """``loaded`` with every ``{each: ...}`` dataset axis replaced by the list of values
    its dataset's ``axis_values`` gives; an :class:`ExperimentError` names each axis
    that cannot be listed, at its line of the file."""
    experiment = loaded.experiment
    if not any(_is_each(a) for d in experiment.datasets for a in d.grid.values()):
        return loaded
    problems: list[str] = []
    datasets = []
    for index, dataset in enumerate(experiment.datasets):
        grid = dict(dataset.grid)
        for key, axis in dataset.grid.items():
            if not _is_each(axis):
                continue
            at = loaded.source.where(("datasets", index, "grid", key))
            where = f"{at}: datasets[{index}] ('{dataset.name}') grid.{key}"
            entry = registry.entries["dataset"].get(dataset.name)
            if entry is None:
                continue  # the plugin checks name the unknown dataset
            if "," in key:
                problems.append(f"{where}: {{each: ...}} lists one parameter, not '{key}'")
                continue
            if entry.axis_values is None:
                problems.append(
                    f"{where}: dataset '{dataset.name}' lists no values for '{key}': "
                    f"write them as a list"
                )
                continue
            try:
                values = list(
                    entry.axis_values(
                        key,
                        dict(axis[EACH]),
                        params=dict(dataset.params),
                        base_dir=str(loaded.base_dir),
                    )
                )
            except (ValueError, OSError) as exc:
                problems.append(f"{where}: {exc}")
                continue
            if not values:
                problems.append(f"{where}: no value of '{key}' passes the filters {axis[EACH]}")
                continue
            grid[key] = values
        datasets.append(dataset.model_copy(update={"grid": grid}))
    if problems:
        raise ExperimentError(problems)
    return replace(loaded, experiment=experiment.model_copy(update={"datasets": datasets}))
