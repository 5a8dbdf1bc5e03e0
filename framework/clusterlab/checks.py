"""Checks a loaded experiment against its plugins: grid size, names, parameter names,
values, executor.

The last step before trials are built. The grid's size comes first, counted from the
axes' specs, so that a grid too large to build is refused before any axis is expanded.
Every other problem is collected and reported together, each with its file, line and
key, before any trial starts.
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
import types
import typing
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from clusterlab.constraints import value_problem
from clusterlab.errors import ExperimentError
from clusterlab.executors.select import DEFAULT_EXECUTOR, executor_class
from clusterlab.grid import count_trials, preprocess_steps
from clusterlab.loading import LoadedExperiment
from clusterlab.names import suggest
from clusterlab.reference_counts import REFERENCE
from clusterlab.registry import PluginEntry, Registry, introspect_params
from clusterlab.schema import Component, Executor, Experiment, axis_length, expand_axis
from clusterlab.yamlfile import Location, SourceMap, format_location

DEFAULT_MAX_TRIALS = 10_000

#: The optional class method through which a plugin object refuses a value that its
#: parameter would accept but an experiment file must not give (a path whose contents
#: are unpickled, say): ``cls.clusterlab_value_problem(name, value)`` returns why, or
#: ``None``. The scikit-learn wrappers declare one.
VALUE_PROBLEM_HOOK = "clusterlab_value_problem"


def check_against_plugins(
    loaded: LoadedExperiment, registry: Registry, *, max_trials: int = DEFAULT_MAX_TRIALS
) -> None:
    """Check every plugin name, parameter name and value against what the plugins accept.

    Raises:
        ExperimentError: with every problem found, each naming its file, line and key.
    """
    check_grid_size(loaded, max_trials)
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

    # The names sit under ``plots.names`` in the mapping form, at ``plots`` in the list form.
    names_at = ("plots",) if isinstance(loaded.raw.get("plots"), list) else ("plots", "names")
    for p_index, plot in enumerate(experiment.plots):
        checks.lookup("plot", plot, (*names_at, p_index))

    if experiment.study is not None:
        study = experiment.study
        names = ", ".join(sorted(keys_seen)) or "none"
        chosen = [("score", study.score)]
        if not isinstance(study.select, str):
            chosen.append(("by", study.select.by))
        for key, score in chosen:
            if score not in keys_seen:
                location = ("study", key) if key == "score" else ("study", "select", "by")
                checks.report(
                    location,
                    f"study {key} '{score}' is none of the experiment's metrics ({names}): "
                    f"add it under metrics",
                )

    checks.executor(experiment.executor)
    if checks.problems:
        raise ExperimentError(checks.problems)


def check_grid_size(loaded: LoadedExperiment, max_trials: int = DEFAULT_MAX_TRIALS) -> None:
    """Refuse a grid of more than ``max_trials`` trials, counted from the axes' specs.

    Nothing is expanded, so a grid of 10^18 trials is refused as fast as one of 10^4.
    The message names the largest factor of the product (an axis, the seeds, the
    datasets or the algorithms) at its line.

    Raises:
        ExperimentError: when the grid is over the limit.
    """
    total = count_trials(loaded.experiment)
    if total <= max_trials:
        return
    size, location = max(_grid_factors(loaded.experiment), key=lambda factor: factor[0])
    raise ExperimentError(
        f"{loaded.source.where(location)}: {format_location(location)}: the grid expands to "
        f"{_count_text(total)} trials, over the limit of {max_trials:,} "
        f"({_count_text(size)} values here); narrow the grid or raise the limit with "
        "--max-trials"
    )


def _grid_factors(experiment: Experiment) -> Iterator[tuple[int, Location]]:
    """How many values each part of the trial product has, with where it is written."""
    yield len(experiment.seeds), ("seeds",)
    yield len(experiment.datasets), ("datasets",)
    yield len(experiment.algorithms), ("algorithms",)
    for kind, components in (
        ("datasets", experiment.datasets),
        ("algorithms", experiment.algorithms),
    ):
        for index, component in enumerate(components):
            for key, axis in component.grid.items():
                yield axis_length(axis), (kind, index, "grid", key)


def _count_text(count: int) -> str:
    # Past a quadrillion the digits say nothing more (and past 4,300 of them Python
    # refuses to write an int out at all).
    if count < 10**15:
        return f"{count:,}"
    exponent = math.floor(math.log10(count))
    return f"about {10 ** (math.log10(count) - exponent):.1f}e{exponent}"


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
        """One value against what the plugin declares for ``name``: never a boolean for a
        number, nothing the plugin refuses to take from a file, and one it allows.
        ``reference`` (the reference's number of clusters) stands for a number."""
        if value == REFERENCE and entry.kind == "algorithm":
            kinds = declared_kinds(entry, name)
            if kinds and not kinds & {"any", "number"}:
                self.report(
                    location,
                    f"'{REFERENCE}' stands for the reference's number of clusters, but "
                    f"{entry.kind} '{entry.name}' takes no number for '{name}'",
                )
            return
        problem = (
            boolean_problem(entry, name, value)
            or refused_value(entry, name, value)
            or value_problem(entry, name, value)
        )
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


def refused_value(entry: PluginEntry, name: str, value: Any) -> str | None:
    """Why the plugin refuses ``value`` for ``name`` from an experiment file (through its
    :data:`VALUE_PROBLEM_HOOK`), or ``None``."""
    hook = getattr(entry.obj, VALUE_PROBLEM_HOOK, None)
    if not callable(hook):
        return None
    reason = hook(name, value)
    if reason is None:
        return None
    return f"refused value: {name}={value!r}; {entry.kind} '{entry.name}': {reason}"


def boolean_problem(entry: PluginEntry, name: str, value: Any) -> str | None:
    """Why a YAML ``true``/``false`` is refused for ``name``: it takes a number, not a
    boolean. ``None`` for any other value, and where booleans are declared.

    Python counts ``True`` as the int 1, and so do scikit-learn's ``Interval``
    constraints: ``n_clusters: true`` would run as one cluster.
    """
    if not isinstance(value, bool):
        return None
    kinds = declared_kinds(entry, name)
    if "number" not in kinds or kinds & {"boolean", "any"}:
        return None
    return (
        f"invalid value: {name}={value!r}; {entry.kind} '{entry.name}' takes a number here, "
        "and a boolean (true/false) is not one"
    )


def declared_kinds(entry: PluginEntry, name: str) -> set[str]:
    """What parameter ``name`` is declared to take, as kinds: ``number``, ``boolean``,
    ``any`` and ``other``; from its constraints table, else its annotation, else the type
    of its default. Empty where nothing is declared."""
    table = getattr(entry.obj, "_parameter_constraints", None)
    if isinstance(table, dict) and name in table:
        constraints = table[name]
        if isinstance(constraints, str):  # "no_validation"
            return {"any"}
        return set().union(*(_constraint_kinds(c) for c in constraints))
    annotation = _annotations(entry.obj).get(name)
    if annotation is not None:
        return _annotation_kinds(annotation)
    param = entry.params.get(name)
    default = None if param is None else param.default
    if isinstance(default, bool):
        return {"boolean"}
    return {"number"} if isinstance(default, int | float) else set()


def _constraint_kinds(constraint: Any) -> set[str]:
    """The kinds one entry of a scikit-learn constraints list takes.

    Read by shape rather than by scikit-learn's classes, whose module is private:
    ``Interval`` has ``left``/``right``/``closed``, ``Options``/``StrOptions`` have
    ``options``, ``Hidden`` wraps a ``constraint``.
    """
    if isinstance(constraint, str):
        return {"boolean"} if constraint in ("boolean", "verbose") else {"other"}
    if isinstance(constraint, type):
        return _type_kinds(constraint)
    if all(hasattr(constraint, part) for part in ("left", "right", "closed")):
        return {"number"}
    if hasattr(constraint, "options"):
        return set().union(*(_type_kinds(type(option)) for option in constraint.options))
    if hasattr(constraint, "constraint"):
        return _constraint_kinds(constraint.constraint)
    return {"other"}


def _type_kinds(cls: type) -> set[str]:
    if issubclass(cls, bool):
        return {"boolean"}
    if issubclass(cls, numbers.Number):
        return {"number"}
    return {"any"} if cls is object else {"other"}


def _annotation_kinds(annotation: Any) -> set[str]:
    """The kinds an annotation allows: unions and ``Literal`` member by member."""
    if annotation is Any:
        return {"any"}
    if isinstance(annotation, str):
        # Left unevaluated (a name only a type checker imports): read the simple names.
        names = set(re.findall(r"[A-Za-z_]\w*", annotation))
        kinds = {"boolean"} if "bool" in names else set()
        if names & {"int", "float", "Integral", "Real", "Number"}:
            kinds.add("number")
        return kinds or {"other"}
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return set().union(*(_type_kinds(type(choice)) for choice in typing.get_args(annotation)))
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_annotation_kinds(a) for a in typing.get_args(annotation)))
    if isinstance(annotation, type):
        return _type_kinds(annotation)
    return {"other"}


def _annotations(obj: Any) -> dict[str, Any]:
    """The annotations of the parameters a plugin object takes, evaluated where they can
    be (``from __future__ import annotations`` leaves them strings)."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        signature = inspect.signature(target, eval_str=True)
    except (NameError, AttributeError, SyntaxError, TypeError, ValueError):
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):
            return {}
    return {
        name: parameter.annotation
        for name, parameter in signature.parameters.items()
        if parameter.annotation is not inspect.Parameter.empty
    }
