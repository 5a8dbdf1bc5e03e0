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
    load_entry_points = (not autoload_disabled()) if autoload is None else autoload
    if load_entry_points:
        points = (
            metadata.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
        )
        for point in sorted(points, key=lambda ep: ep.name):
            if point.name in blocked_names:
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
    for name, plugin in extra:
        if name in blocked_names:
            continue
        manager.register(plugin, name=name)
        loaded.append(LoadedPlugin(name, _module_distribution(plugin), "", None))
    registry = Registry()
    for record in loaded:
        if record.error:
            registry.broken.append((record.name, record.distribution, record.error))
    _collect_registrations(manager, registry, {p.name: p for p in loaded})
    return Plugins(manager=manager, registry=registry, loaded=loaded)


def _collect_registrations(
    manager: pluggy.PluginManager, registry: Registry, records: dict[str, LoadedPlugin]
) -> None:
    for plugin_name, plugin in manager.list_name_plugin():
        record = records.get(plugin_name) or LoadedPlugin(plugin_name, "", "")
        for kind, hook_name in _REGISTRATION_HOOKS.items():
            impl = getattr(plugin, hook_name, None)
            if impl is None or not _is_hookimpl(impl):
                continue
            register = registry.make_register(
                kind, plugin_name, record.distribution, record.version
            )
            try:
                impl(register=register)
            except DuplicateNameError:
                raise
            except Exception as exc:
                # A plugin that breaks while registering is set aside whole, so that one
                # faulty package never takes the others down.
                registry.remove_plugin(plugin_name)
                error = (
                    str(exc)
                    if isinstance(exc, PluginError)
                    else (f"failed in {hook_name}: {type(exc).__name__}: {exc}")
                )
                registry.broken.append((plugin_name, record.distribution, error))
                break


def _is_hookimpl(function: Any) -> bool:
    return hasattr(function, "clusterlab_impl")


def _distribution_of(point: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(point, "dist", None)
    if dist is None:
        return "", ""
    return dist.metadata["Name"] or dist.name, dist.version


def _module_distribution(plugin: object) -> str:
    module = plugin if isinstance(plugin, ModuleType) else type(plugin)
    return (getattr(module, "__name__", "") or "").split(".")[0]
