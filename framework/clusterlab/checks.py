"""Checks a loaded experiment against its plugins: names, parameter names, values, executor.

The last step before trials are built. Every problem is collected and reported together,
each with its file, line and key, before any trial starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from clusterlab.constraints import value_problem
from clusterlab.errors import ExperimentError
from clusterlab.executors.select import DEFAULT_EXECUTOR, executor_class
from clusterlab.grid import count_trials, preprocess_steps
from clusterlab.loading import LoadedExperiment
from clusterlab.names import suggest
from clusterlab.registry import PluginEntry, Registry, introspect_params
from clusterlab.schema import Component, Executor, expand_axis
from clusterlab.yamlfile import Location, SourceMap, format_location

DEFAULT_MAX_TRIALS = 10_000


def check_against_plugins(
    loaded: LoadedExperiment, registry: Registry, *, max_trials: int = DEFAULT_MAX_TRIALS
) -> None:
    """Check every plugin name, parameter name and value against what the plugins accept.

    Raises:
        ExperimentError: with every problem found, each naming its file, line and key.
    """
    checks = _Checks(registry, loaded.source)
    experiment = loaded.experiment

    datasets_without_labels: list[str] = []
    for d_index, dataset in enumerate(experiment.datasets):
        entry = checks.component("dataset", ("datasets", d_index), dataset)
        if entry is not None and not entry.has_labels:
            datasets_without_labels.append(dataset.name)
        for s_index, (step, params) in enumerate(preprocess_steps(dataset)):
            location = ("datasets", d_index, "preprocess", s_index)
            step_entry = checks.lookup("preprocessor", step, location, "preprocess step")
            if step_entry is not None:
                checks.keys_and_values(step_entry, location, params, "preprocess step")

    for a_index, algorithm in enumerate(experiment.algorithms):
        checks.component("algorithm", ("algorithms", a_index), algorithm)

    keys_seen: set[str] = set()
    for m_index, metric in enumerate(experiment.metrics):
        location = ("metrics", m_index)
        entry = checks.lookup("metric", metric.name, location)
        if entry is None:
            continue
        checks.keys_and_values(entry, location, metric.options, "metric")
        if metric.key in keys_seen:
            checks.report(location, f"metric '{metric.key}' is listed twice")
        keys_seen.add(metric.key)
        if entry.needs_ground_truth and datasets_without_labels:
            checks.report(
                location,
                f"metric '{metric.name}' needs ground-truth labels, but dataset(s) "
                f"{sorted(set(datasets_without_labels))} have none: remove the metric or "
                f"those datasets",
            )

    for p_index, plot in enumerate(experiment.plots):
        checks.lookup("plot", plot, ("plots", p_index))

    checks.executor(experiment.executor)

    total = count_trials(experiment)
    if total > max_trials:
        checks.problems.append(
            f"{loaded.source.source}: the grid expands to {total:,} trials, over the limit of "
            f"{max_trials:,}; narrow the grid or raise the limit with --max-trials"
        )
    if checks.problems:
        raise ExperimentError(checks.problems)


def unknown_name(kind: str, name: str, names: Iterable[str], registry: Registry) -> str:
    """``unknown KIND 'name'`` with the closest valid name, and the plugins that are
    broken or blocked (one of them may be the one that provides it)."""
    message = f"unknown {kind} '{name}'" + suggest(name, names)
    why = registry.unavailable()
    return f"{message}; {why}" if why else message


class _Checks:
    """The problems found so far, each with its file, line and key."""

    def __init__(self, registry: Registry, source: SourceMap) -> None:
        self.registry = registry
        self.source = source
        self.problems: list[str] = []

    def report(self, location: Location, message: str) -> None:
        """Record one problem at ``location``."""
        where = self.source.where(location)
        self.problems.append(f"{where}: {format_location(location)}: {message}")

    def lookup(
        self, kind: str, name: str, location: Location, what: str | None = None
    ) -> PluginEntry | None:
        """The entry registered as ``name``, or ``None`` after reporting it unknown."""
        entry = self.registry.entries[kind].get(name)
        if entry is None:
            names = self.registry.names(kind)
            self.report(location, unknown_name(what or kind, name, names, self.registry))
        return entry

    def component(self, kind: str, location: Location, component: Component) -> PluginEntry | None:
        """A dataset or algorithm: its name, the names and values of its params and grid."""
        entry = self.lookup(kind, component.name, (*location, "name"))
        if entry is None:
            return None
        self.keys_and_values(entry, (*location, "params"), component.params, kind)
        swept = {name: key for key, names in _axis_names(component) for name in names}
        for name, key in swept.items():
            if not entry.accepts(name):
                self.report(
                    (*location, "grid", key),
                    f"{kind} '{entry.name}' has no parameter '{name}'"
                    + suggest(name, entry.params),
                )
        given = set(component.params) | set(swept)
        missing = [p.name for p in entry.params.values() if p.required and p.name not in given]
        if missing:
            self.report(location, f"{kind} '{entry.name}' needs parameter(s) {missing}")
        for key, name, value in _axis_values(component):
            if entry.accepts(name):
                self.value(entry, (*location, "grid", key), name, value)
        return entry

    def keys_and_values(
        self, entry: PluginEntry, location: Location, params: dict[str, Any], what: str
    ) -> None:
        """Fixed parameters: each name is one the plugin takes, each value one it allows."""
        for key, value in params.items():
            if key in entry.context:
                self.report((*location, key), f"'{key}' is set by clusterlab itself; remove it")
            elif not entry.accepts(key):
                self.report(
                    (*location, key),
                    f"{what} '{entry.name}' has no parameter '{key}'" + suggest(key, entry.params),
                )
            else:
                self.value(entry, (*location, key), key, value)

    def value(self, entry: PluginEntry, location: Location, name: str, value: Any) -> None:
        """One value against what the plugin declares for ``name``."""
        problem = value_problem(entry, name, value)
        if problem is not None:
            self.report(location, problem)

    def executor(self, spec: Executor) -> None:
        """The executor's name, option names, and values (its constructor checks them)."""
        cls = executor_class(spec.name, self.registry)
        if cls is None:
            names = {*self.registry.names("executor"), DEFAULT_EXECUTOR}
            self.report(
                ("executor", "name"), unknown_name("executor", spec.name, names, self.registry)
            )
            return
        params, _context, accepts_any = introspect_params("executor", cls)
        unknown = [key for key in spec.options if not accepts_any and key not in params]
        for key in unknown:
            self.report(
                ("executor", key),
                f"executor '{spec.name}' has no option '{key}'"
                + (suggest(key, params) if params else "; it takes no options"),
            )
        if unknown:
            return
        try:
            cls(**spec.options)
        except Exception as exc:  # the executor's own check, whatever it raises
            text = str(exc).strip()
            message = text.splitlines()[0] if text else type(exc).__name__
            self.report(("executor",), f"executor '{spec.name}': {message}")


def _axis_names(component: Component) -> Iterator[tuple[str, list[str]]]:
    """Each grid key with the parameter names it sweeps (a paired axis has several)."""
    for key in component.grid:
        yield key, [name.strip() for name in key.split(",")]


def _axis_values(component: Component) -> Iterator[tuple[str, str, Any]]:
    """``(grid key, parameter name, value)`` for every distinct value an axis sweeps."""
    for key, names in _axis_names(component):
        seen: set[tuple[str, str]] = set()
        for point in expand_axis(component.grid[key]):
            values = point if len(names) > 1 else [point]
            for name, value in zip(names, values, strict=True):
                # repr with the type: 1 and 1.0 and True are different values to check.
                marker = (name, f"{type(value).__name__}:{value!r}")
                if marker not in seen:
                    seen.add(marker)
                    yield key, name, value
