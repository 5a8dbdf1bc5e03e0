"""Loads and checks an experiment file: schema, plugin names, parameter names and values.

Every problem is collected and reported together, each with its file, line and key,
before any trial starts.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from clusterlab.errors import ExperimentError
from clusterlab.executors.select import DEFAULT_EXECUTOR, executor_class
from clusterlab.grid import count_trials, grid_points, preprocess_steps
from clusterlab.names import suggest
from clusterlab.registry import PluginEntry, Registry
from clusterlab.schema import Experiment
from clusterlab.yamlfile import Location, SourceMap, format_location, load_yaml

DEFAULT_MAX_TRIALS = 10_000
_MAX_VALUE_CHECKS = 2_000


@dataclass
class LoadedExperiment:
    """A parsed experiment with where it came from."""

    experiment: Experiment
    raw: dict[str, Any]
    source: SourceMap
    base_dir: Path
    path: Path | None


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any] | Iterable[str]) -> tuple:
    """Apply ``KEY=VALUE`` overrides (dotted keys, list indices as numbers) to a copy of ``raw``.

    Values given as strings are parsed as YAML (``seeds=[0,1]``, ``device=cpu``). Returns
    the new mapping and the overridden key paths.
    """
    data = copy.deepcopy(raw)
    if isinstance(overrides, Mapping):
        pairs = list(overrides.items())
    else:
        pairs = []
        for item in overrides:
            if "=" not in item:
                raise ExperimentError(f"--set {item}: expected KEY=VALUE (e.g. device=cpu)")
            key, text = item.split("=", 1)
            try:
                value = yaml.safe_load(text) if text.strip() else ""
            except yaml.YAMLError as exc:
                raise ExperimentError(f"--set {item}: cannot parse the value: {exc}") from None
            pairs.append((key.strip(), value))
    touched: list[Location] = []
    for key, value in pairs:
        parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.split(".")]
        target: Any = data
        for depth, part in enumerate(parts[:-1]):
            try:
                target = target[part]
            except (KeyError, IndexError, TypeError):
                if isinstance(part, str) and isinstance(target, dict):
                    target[part] = {}
                    target = target[part]
                else:
                    where = ".".join(map(str, parts[: depth + 1]))
                    raise ExperimentError(
                        f"--set {key}: '{where}' does not exist in the experiment"
                    ) from None
        last = parts[-1]
        if isinstance(target, list) and isinstance(last, int):
            if last >= len(target):
                raise ExperimentError(f"--set {key}: index {last} is past the end of the list")
            target[last] = value
        elif isinstance(target, dict):
            target[last] = value
        else:
            raise ExperimentError(f"--set {key}: cannot set a key inside a {type(target).__name__}")
        touched.append(tuple(parts))
    return data, touched


def load_experiment(
    experiment: str | Path | Mapping[str, Any], overrides: Mapping[str, Any] | Iterable[str] = ()
) -> LoadedExperiment:
    """Read an experiment (a path or a mapping), apply overrides and check its schema."""
    if isinstance(experiment, Mapping):
        raw = copy.deepcopy(dict(experiment))
        source = SourceMap("<experiment>")
        base_dir = Path.cwd()
        path = None
    else:
        path = Path(experiment)
        raw, source = load_yaml(path)
        base_dir = path.resolve().parent
    raw, touched = apply_overrides(raw, overrides)
    for location in touched:
        source.lines.pop(location, None)
    return LoadedExperiment(parse_experiment(raw, source), raw, source, base_dir, path)


def parse_experiment(raw: dict[str, Any], source: SourceMap) -> Experiment:
    """Check the schema; every problem names its file, line and key."""
    try:
        return Experiment.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = tuple(p for p in error["loc"] if not _is_union_tag(p))
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                parent = _schema_keys(location[:-1])
                message = f"unknown key '{location[-1]}'" + suggest(str(location[-1]), parent)
            elif error["type"] == "missing":
                message = f"'{location[-1]}' is required"
            problems.append(f"{source.where(location)}: {format_location(location)}: {message}")
        raise ExperimentError(problems) from None


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("str", "function-after"))


def _schema_keys(location: Location) -> list[str]:
    model: Any = Experiment
    for part in location:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))
        model = next((a for a in inner if hasattr(a, "model_fields")), None)
        if model is None:
            return []
    return list(model.model_fields)


def _unknown(kind: str, name: str, names: Iterable[str], registry: Registry) -> str:
    """``unknown KIND 'name'`` with the closest valid name, and the plugins that are
    broken or blocked (one of them may be the one that provides it)."""
    message = f"unknown {kind} '{name}'" + suggest(name, names)
    why = registry.unavailable()
    return f"{message}; {why}" if why else message


def check_against_plugins(
    loaded: LoadedExperiment, registry: Registry, *, max_trials: int = DEFAULT_MAX_TRIALS
) -> None:
    """Check every plugin name, parameter name and value against what the plugins accept."""
    experiment, source = loaded.experiment, loaded.source
    problems: list[str] = []

    def report(location: Location, message: str) -> None:
        problems.append(f"{source.where(location)}: {format_location(location)}: {message}")

    datasets_without_labels: list[str] = []
    for d_index, dataset in enumerate(experiment.datasets):
        entry = _check_component(report, registry, "dataset", ("datasets", d_index), dataset)
        if entry is not None and not entry.has_labels:
            datasets_without_labels.append(dataset.name)
        for s_index, (step, params) in enumerate(preprocess_steps(dataset)):
            location = ("datasets", d_index, "preprocess", s_index)
            step_entry = registry.entries["preprocessor"].get(step)
            if step_entry is None:
                names = registry.names("preprocessor")
                report(location, _unknown("preprocess step", step, names, registry))
                continue
            _check_keys(report, step_entry, location, params, "preprocess step")

    for a_index, algorithm in enumerate(experiment.algorithms):
        location = ("algorithms", a_index)
        entry = _check_component(report, registry, "algorithm", location, algorithm)
        if entry is not None:
            _check_values(report, entry, location, algorithm)

    keys_seen: dict[str, int] = {}
    for m_index, metric in enumerate(experiment.metrics):
        location = ("metrics", m_index)
        entry = registry.entries["metric"].get(metric.name)
        if entry is None:
            names = registry.names("metric")
            report(location, _unknown("metric", metric.name, names, registry))
            continue
        _check_keys(report, entry, location, metric.options, "metric")
        if metric.key in keys_seen:
            report(location, f"metric '{metric.key}' is listed twice")
        keys_seen[metric.key] = m_index
        if entry.needs_ground_truth and datasets_without_labels:
            report(
                location,
                f"metric '{metric.name}' needs ground-truth labels, but dataset(s) "
                f"{sorted(set(datasets_without_labels))} have none: remove the metric or "
                f"those datasets",
            )

    for p_index, plot in enumerate(experiment.plots):
        if plot not in registry.entries["plot"]:
            report(("plots", p_index), _unknown("plot", plot, registry.names("plot"), registry))

    _check_executor(report, registry, experiment.executor)

    total = count_trials(experiment)
    if total > max_trials:
        problems.append(
            f"{source.source}: the grid expands to {total:,} trials, over the limit of "
            f"{max_trials:,}; narrow the grid or raise the limit with --max-trials"
        )
    if problems:
        raise ExperimentError(problems)


def _check_component(report, registry: Registry, kind: str, location: Location, component):
    entry = registry.entries[kind].get(component.name)
    if entry is None:
        names = registry.names(kind)
        report(
            (*location, "name"),
            _unknown(kind, component.name, names, registry),
        )
        return None
    _check_keys(report, entry, (*location, "params"), component.params, kind)
    swept = {}
    for key in component.grid:
        for name in key.split(","):
            swept[name.strip()] = key
    for name, key in swept.items():
        if not entry.accepts(name):
            report(
                (*location, "grid", key),
                f"{kind} '{entry.name}' has no parameter '{name}'" + suggest(name, entry.params),
            )
    given = set(component.params) | set(swept)
    missing = [p.name for p in entry.params.values() if p.required and p.name not in given]
    if missing:
        report(location, f"{kind} '{entry.name}' needs parameter(s) {missing}")
    return entry


def _check_executor(report, registry: Registry, spec) -> None:
    """The executor's name, option names, and values (its constructor checks them)."""
    from clusterlab.registry import introspect_params

    cls = executor_class(spec.name, registry)
    if cls is None:
        names = {*registry.names("executor"), DEFAULT_EXECUTOR}
        report(("executor", "name"), _unknown("executor", spec.name, names, registry))
        return
    params, _context, accepts_any = introspect_params("executor", cls)
    unknown = [key for key in spec.options if not accepts_any and key not in params]
    for key in unknown:
        report(
            ("executor", key),
            f"executor '{spec.name}' has no option '{key}'"
            + (suggest(key, params) if params else "; it takes no options"),
        )
    if unknown:
        return
    try:
        cls(**spec.options)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        report(("executor",), f"executor '{spec.name}': {message}")


def _check_keys(report, entry: PluginEntry, location: Location, params: dict, what: str) -> None:
    for key in params:
        if key in entry.context:
            report((*location, key), f"'{key}' is set by clusterlab itself; remove it")
        elif not entry.accepts(key):
            report(
                (*location, key),
                f"{what} '{entry.name}' has no parameter '{key}'" + suggest(key, entry.params),
            )


_PARAM_IN_MESSAGE = re.compile(r"The '(\w+)' parameter")


def _check_values(report, entry: PluginEntry, location: Location, component) -> None:
    """Build the estimator for each grid point and run its own parameter validation."""
    validate = getattr(entry.obj, "_validate_params", None)
    if validate is None:
        return
    seen: set[str] = set()
    for point in grid_points(component)[:_MAX_VALUE_CHECKS]:
        params = {k: v for k, v in {**component.params, **point}.items() if entry.accepts(k)}
        try:
            estimator = entry.obj(**params)
            estimator._validate_params()
        except Exception as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if message in seen:
                continue
            seen.add(message)
            match = _PARAM_IN_MESSAGE.search(message)
            key_location = location
            if match:
                name = match.group(1)
                if name in component.params:
                    key_location = (*location, "params", name)
                else:
                    key_location = (*location, "grid", _grid_key(component, name))
            report(key_location, f"invalid value: {message}")


def _grid_key(component, name: str) -> str:
    for key in component.grid:
        if name in [n.strip() for n in key.split(",")]:
            return key
    return name
