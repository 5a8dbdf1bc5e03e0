"""What plugins registered: algorithms, datasets, metrics, plots and executors, keyed by name."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from clusterlab.errors import DuplicateNameError, PluginError

KINDS = ("algorithm", "dataset", "metric", "plot", "preprocessor", "executor")

# Arguments the runner supplies itself; an experiment file never sets them.
CONTEXT_ARGS = {
    "algorithm": {"device", "random_state"},
    "dataset": {"seed", "base_dir"},
    "metric": {"random_state"},
    "plot": set(),
    "preprocessor": {"seed"},
    "executor": set(),
}

# Keyword options each kind's ``register`` takes besides ``description`` (the protocols of
# :mod:`clusterlab.registration` spell out the same signatures for plugin authors).
REGISTER_OPTIONS: dict[str, set[str]] = {
    "algorithm": set(),
    "dataset": {"has_labels", "axis_values"},
    "metric": {"greater_is_better", "needs_ground_truth"},
    "plot": set(),
    "preprocessor": set(),
    "executor": set(),
}


@dataclass(frozen=True)
class Param:
    """One parameter a plugin accepts: its name, default (``inspect.Parameter.empty``) and,
    where its annotation is a ``Literal[...]``, the values it allows."""

    name: str
    default: Any
    choices: tuple[Any, ...] | None = None

    @property
    def required(self) -> bool:
        """Whether the experiment file must give this parameter."""
        return self.default is inspect.Parameter.empty


@dataclass
class PluginEntry:
    """A registered algorithm, dataset, metric, plot, preprocessor or executor."""

    kind: str
    name: str
    obj: Any
    plugin: str
    distribution: str
    version: str
    description: str = ""
    params: dict[str, Param] = field(default_factory=dict)
    context: set[str] = field(default_factory=set)
    accepts_any: bool = False
    greater_is_better: bool = True
    needs_ground_truth: bool = False
    has_labels: bool = True
    #: A dataset's lister of parameter values for ``{each: {...}}`` grid axes.
    axis_values: Callable[..., list[Any]] | None = None

    def accepts(self, key: str) -> bool:
        """Whether the experiment file may set parameter ``key``."""
        return self.accepts_any or key in self.params


def introspect_params(kind: str, obj: Any) -> tuple[dict[str, Param], set[str], bool]:
    """Read the parameters a plugin object accepts from its signature.

    Returns the settable parameters, the context arguments it declares, and whether it
    takes ``**kwargs`` (then any key is accepted).
    """
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        signature = _signature(target)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"cannot read the parameters of {kind} {obj!r}: {exc}") from exc
    params: dict[str, Param] = {}
    context: set[str] = set()
    accepts_any = False
    positional_skip = {
        "algorithm": 1,
        "dataset": 0,
        "metric": 4,
        "plot": 1,
        "preprocessor": 2,
        "executor": 0,
    }[kind]
    if inspect.isclass(obj):
        positional_skip = 1  # self
    for index, parameter in enumerate(signature.parameters.values()):
        if index < positional_skip and parameter.kind in (
            parameter.POSITIONAL_ONLY,
            parameter.POSITIONAL_OR_KEYWORD,
        ):
            continue
        if parameter.kind is parameter.VAR_KEYWORD:
            accepts_any = True
            continue
        if parameter.kind is parameter.VAR_POSITIONAL:
            continue
        if parameter.name in CONTEXT_ARGS[kind]:
            context.add(parameter.name)
            continue
        choices = literal_choices(parameter.annotation)
        params[parameter.name] = Param(parameter.name, parameter.default, choices)
    return params, context, accepts_any


def _signature(target: Any) -> inspect.Signature:
    """The signature with its annotations evaluated where they can be (``from __future__
    import annotations`` leaves them strings), else as written."""
    try:
        return inspect.signature(target, eval_str=True)
    except (NameError, AttributeError, SyntaxError, TypeError):
        # An annotation naming what only a type checker imports: no choices to read.
        return inspect.signature(target)


def literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    """The values a ``Literal[...]`` annotation allows (``Literal[...] | None`` adds ``None``);
    ``None`` for any other annotation."""
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        choices: list[Any] = []
        for member in typing.get_args(annotation):
            if member is type(None):
                choices.append(None)
            elif typing.get_origin(member) is Literal:
                choices.extend(typing.get_args(member))
            else:
                return None
        return tuple(choices)
    return None


class Registry:
    """All registered plugin objects, by kind and name, with where each came from."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, PluginEntry]] = {kind: {} for kind in KINDS}
        self.broken: list[tuple[str, str, str]] = []  # (plugin, distribution, error)
        #: Plugins not loaded because they were blocked (``--block-plugin``).
        self.blocked: set[str] = set()

    def unavailable(self) -> str:
        """Why a name may be missing: the broken and the blocked plugins, or ``""``."""
        parts = [f"plugin '{name}' is broken ({error})" for name, _dist, error in self.broken]
        parts += [f"plugin '{name}' is blocked" for name in sorted(self.blocked)]
        return "; ".join(parts)

    def add(self, entry: PluginEntry) -> None:
        """Add an entry; a name registered twice for one kind is an error naming both."""
        existing = self.entries[entry.kind].get(entry.name)
        if existing is not None:
            raise DuplicateNameError(
                f"{entry.kind} '{entry.name}' is registered twice: by plugin "
                f"'{existing.plugin}' of distribution '{existing.distribution}' and by plugin "
                f"'{entry.plugin}' of distribution '{entry.distribution}'. Uninstall one, or "
                f"block one with --block-plugin NAME."
            )
        self.entries[entry.kind][entry.name] = entry

    def remove_plugin(self, plugin: str) -> None:
        """Forget everything one plugin registered (used when its registration fails)."""
        for entries in self.entries.values():
            for name in [n for n, e in entries.items() if e.plugin == plugin]:
                del entries[name]

    def get(self, kind: str, name: str) -> PluginEntry:
        """Return the entry ``name`` of ``kind``; raises ``KeyError`` if there is none."""
        return self.entries[kind][name]

    def names(self, kind: str) -> list[str]:
        """Registered names of one kind, sorted."""
        return sorted(self.entries[kind])

    def make_register(
        self, kind: str, plugin: str, distribution: str, version: str
    ) -> Callable[..., None]:
        """Build the ``register`` callback handed to one plugin's registration hook."""

        def register(name: str, obj: Any, *, description: str = "", **metadata: Any) -> None:
            if not isinstance(name, str) or not name or any(c.isspace() for c in name):
                raise PluginError(
                    f"plugin '{plugin}' ({distribution}) registered a {kind} with an invalid "
                    f"name {name!r}: use a non-empty string without spaces"
                )
            if not callable(obj):
                raise PluginError(
                    f"plugin '{plugin}' ({distribution}) registered {kind} '{name}' as "
                    f"{obj!r}, which is not callable: register a class or function"
                )
            allowed = REGISTER_OPTIONS[kind]
            unknown = set(metadata) - allowed
            if unknown:
                raise PluginError(
                    f"plugin '{plugin}' ({distribution}) registered {kind} '{name}' with "
                    f"unknown option(s) {sorted(unknown)}; a {kind} takes "
                    f"{sorted(allowed | {'description'})}"
                )
            lister = metadata.get("axis_values")
            if lister is not None and not callable(lister):
                raise PluginError(
                    f"plugin '{plugin}' ({distribution}) registered dataset '{name}' with "
                    f"axis_values={lister!r}, which is not callable"
                )
            if kind == "metric" and "greater_is_better" not in metadata:
                raise PluginError(
                    f"plugin '{plugin}' ({distribution}) registered metric '{name}' without "
                    f"greater_is_better=True/False: summaries need the score's direction"
                )
            if kind == "algorithm" and not (inspect.isclass(obj) and hasattr(obj, "fit")):
                raise PluginError(
                    f"plugin '{plugin}' ({distribution}) registered algorithm '{name}' as "
                    f"{obj!r}: an algorithm is an estimator class with a fit(X) method"
                )
            if kind == "executor" and not (inspect.isclass(obj) and hasattr(obj, "run")):
                raise PluginError(
                    f"plugin '{plugin}' ({distribution}) registered executor '{name}' as "
                    f"{obj!r}: an executor is a class with a run(trials, context) method"
                )
            params, context, accepts_any = introspect_params(kind, obj)
            self.add(
                PluginEntry(
                    kind=kind,
                    name=name,
                    obj=obj,
                    plugin=plugin,
                    distribution=distribution,
                    version=version,
                    description=description or _first_line(obj.__doc__),
                    params=params,
                    context=context,
                    accepts_any=accepts_any,
                    greater_is_better=bool(metadata.get("greater_is_better", True)),
                    needs_ground_truth=bool(metadata.get("needs_ground_truth", False)),
                    has_labels=bool(metadata.get("has_labels", True)),
                    axis_values=metadata.get("axis_values"),
                )
            )

        return register


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""
