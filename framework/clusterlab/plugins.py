"""Builds the plugin manager: loads the ``clusterlab`` entry points and collects registrations."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from clusterlab import hookspecs
from clusterlab.errors import DuplicateNameError, PluginError
from clusterlab.registry import Registry

ENTRY_POINT_GROUP = "clusterlab"
DISABLE_AUTOLOAD_ENV = "CLUSTERLAB_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "CLUSTERLAB_BLOCK_PLUGINS"

_REGISTRATION_HOOKS = {
    "algorithm": "register_algorithms",
    "dataset": "register_datasets",
    "metric": "register_metrics",
    "plot": "register_plots",
    "preprocessor": "register_preprocessors",
    "executor": "register_executors",
}


@dataclass
class LoadedPlugin:
    """One plugin known to the manager, loaded or not."""

    name: str
    distribution: str
    version: str
    error: str | None = None


@dataclass
class Plugins:
    """A plugin manager together with what its plugins registered."""

    manager: pluggy.PluginManager
    registry: Registry
    loaded: list[LoadedPlugin]

    @property
    def hook(self) -> Any:
        """The manager's hook relay, for calling lifecycle hooks."""
        return self.manager.hook


def autoload_disabled() -> bool:
    """Whether entry-point loading is switched off by the environment."""
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in ("", "0", "false", "no")


def blocked_from_env() -> set[str]:
    """Plugin names blocked by ``CLUSTERLAB_BLOCK_PLUGINS`` (comma-separated)."""
    return {name.strip() for name in os.environ.get(BLOCK_ENV, "").split(",") if name.strip()}


def build_plugins(
    *,
    autoload: bool | None = None,
    blocked: Iterable[str] = (),
    extra: Iterable[tuple[str, object]] = (),
    entry_points: Iterable[metadata.EntryPoint] | None = None,
) -> Plugins:
    """Build a fresh plugin manager and registry, once per run.

    Args:
        autoload: load the ``clusterlab`` entry points; ``None`` follows the environment
            variable ``CLUSTERLAB_DISABLE_PLUGIN_AUTOLOAD``.
        blocked: plugin (entry-point) names not to load, added to ``CLUSTERLAB_BLOCK_PLUGINS``.
        extra: ``(name, module_or_object)`` plugins to register in-process (tests, notebooks).
        entry_points: the entry points to load instead of the installed ones (tests).

    A plugin that fails to import is recorded as broken and the others still load; a
    malformed registration or a duplicate name raises :class:`PluginError`.
    """
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    blocked_names = set(blocked) | blocked_from_env()
    loaded: list[LoadedPlugin] = []
    registry = Registry()
    load_entry_points = (not autoload_disabled()) if autoload is None else autoload
    if load_entry_points:
        points = (
            metadata.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
        )
        for point in sorted(points, key=lambda ep: ep.name):
            if point.name in blocked_names:
                registry.blocked.add(point.name)
                continue
            dist_name, dist_version = _distribution_of(point)
            record = LoadedPlugin(point.name, dist_name, dist_version)
            loaded.append(record)
            try:
                plugin = point.load()
            except Exception as exc:  # a broken plugin must not take the others down
                record.error = f"{type(exc).__name__}: {exc}"
                continue
            if manager.is_registered(plugin):
                continue
            manager.register(plugin, name=point.name)
    records_by_name = {record.name: record for record in loaded}
    for name, plugin in extra:
        if name in blocked_names:
            registry.blocked.add(name)
            continue
        if manager.is_registered(plugin):
            # The same module or object is installed and was loaded from its entry point
            # already: registering it again in-process adds nothing.
            continue
        if manager.get_plugin(name) is not None:
            raise PluginError(
                f"cannot register the in-process plugin '{name}': a plugin of that name is "
                f"already loaded from {_describe(records_by_name.get(name))}; give the "
                f"in-process plugin another name, or block the installed one with "
                f"--block-plugin {name}"
            )
        manager.register(plugin, name=name)
        loaded.append(LoadedPlugin(name, _module_distribution(plugin), "", None))
    for record in loaded:
        if record.error:
            registry.broken.append((record.name, record.distribution, record.error))
    _collect_registrations(manager, registry, {p.name: p for p in loaded})
    return Plugins(manager=manager, registry=registry, loaded=loaded)


def _collect_registrations(
    manager: pluggy.PluginManager, registry: Registry, records: dict[str, LoadedPlugin]
) -> None:
    """Call each plugin's registration hook implementations one at a time, in pluggy's
    call order, so that ``tryfirst``/``trylast`` and ``specname`` hold and each
    ``register`` knows whose names it records; a plugin that breaks while registering
    is set aside whole. Wrappers are not run around registration."""
    failed: set[str] = set()
    for kind, hook_name in _REGISTRATION_HOOKS.items():
        caller = getattr(manager.hook, hook_name)
        # pluggy calls the implementations from the end of this list to its start.
        for impl in reversed(caller.get_hookimpls()):
            plugin_name = impl.plugin_name
            if plugin_name in failed or impl.hookwrapper or impl.wrapper:
                continue
            record = records.get(plugin_name) or LoadedPlugin(plugin_name, "", "")
            register = registry.make_register(
                kind, plugin_name, record.distribution, record.version
            )
            # Call this one implementation (pluggy has resolved ``specname`` and sorted by
            # ``tryfirst``/``trylast``): its register records this plugin's names. A
            # subset caller would need every plugin object to be hashable, which a
            # namespace or dataclass plugin is not.
            arguments = {"register": register}
            try:
                impl.function(*(arguments[name] for name in impl.argnames))
            except DuplicateNameError:
                raise
            except Exception as exc:
                # A plugin that breaks while registering is set aside whole, so that one
                # faulty package never takes the others down.
                failed.add(plugin_name)
                registry.remove_plugin(plugin_name)
                error = (
                    str(exc)
                    if isinstance(exc, PluginError)
                    else (f"failed in {hook_name}: {type(exc).__name__}: {exc}")
                )
                registry.broken.append((plugin_name, record.distribution, error))


def _describe(record: LoadedPlugin | None) -> str:
    if record is None or not record.distribution:
        return "another registration"
    return f"the installed distribution {record.distribution} {record.version}".rstrip()


def _distribution_of(point: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(point, "dist", None)
    if dist is None:
        return "", ""
    return dist.metadata["Name"] or dist.name, dist.version


def _module_distribution(plugin: object) -> str:
    module = plugin if isinstance(plugin, ModuleType) else type(plugin)
    return (getattr(module, "__name__", "") or "").split(".")[0]
