"""The plugin manager: entry points, in-process plugins, duplicates, broken and blocked plugins."""

from __future__ import annotations

import types
from importlib import metadata

import pytest

from clusterlab import hookimpl
from clusterlab.errors import PluginError
from clusterlab.plugins import build_plugins
from tests.core import toy_plugin


def test_in_process_plugin_registers_every_kind_with_its_parameters():
    plugins = build_plugins(autoload=False, extra=[("toy", toy_plugin)])
    registry = plugins.registry
    assert registry.names("algorithm") == ["exploding", "one_cluster", "toy_kmeans"]
    assert registry.names("dataset") == ["toy_blobs", "toy_noise"]
    kmeans = registry.get("algorithm", "toy_kmeans")
    assert {"n_clusters", "init", "n_init"} <= set(kmeans.params)
    assert "random_state" in kmeans.context and "random_state" not in kmeans.params
    blobs = registry.get("dataset", "toy_blobs")
    assert set(blobs.params) == {"n_samples", "centers"} and blobs.context == {"seed"}
    assert registry.get("dataset", "toy_noise").has_labels is False
    ari = registry.get("metric", "toy_ari")
    assert ari.needs_ground_truth and ari.greater_is_better
    assert registry.get("preprocessor", "scale").params["factor"].default == 2.0


def _module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def test_duplicate_name_names_both_plugins():
    def algorithms(register):
        register("toy_kmeans", toy_plugin.ToyKMeans)

    other = _module("other", register_algorithms=algorithms)
    with pytest.raises(PluginError) as info:
        build_plugins(autoload=False, extra=[("toy", toy_plugin), ("other", other)])
    message = str(info.value)
    assert "'toy_kmeans' is registered twice" in message
    assert "'toy'" in message and "'other'" in message


def test_malformed_registration_sets_the_plugin_aside_with_a_message_for_its_author():
    def metrics(register):
        register("no_direction", lambda X, labels, y, est: 0.0)

    def algorithms(register):
        register("half_registered", toy_plugin.Exploding)
        register("not_a_class", lambda X: X)

    bad = _module("bad", register_metrics=metrics)
    bad2 = _module("bad2", register_algorithms=algorithms)
    plugins = build_plugins(
        autoload=False, extra=[("toy", toy_plugin), ("bad", bad), ("bad2", bad2)]
    )
    broken = {name: error for name, _dist, error in plugins.registry.broken}
    assert "without greater_is_better" in broken["bad"]
    assert "estimator class with a fit" in broken["bad2"]
    # what the broken plugin registered before failing is dropped; the others stay
    assert "half_registered" not in plugins.registry.names("algorithm")
    assert "toy_kmeans" in plugins.registry.names("algorithm")


def _entry_point(name: str, value: str) -> metadata.EntryPoint:
    return metadata.EntryPoint(name=name, value=value, group="clusterlab")


def test_broken_entry_point_is_recorded_and_others_still_load():
    plugins = build_plugins(
        entry_points=[
            _entry_point("toy", "tests.core.toy_plugin"),
            _entry_point("broken", "no_such_module_anywhere.plugin"),
        ]
    )
    assert "toy_kmeans" in plugins.registry.names("algorithm")
    assert [(name, err.split(":")[0]) for name, _dist, err in plugins.registry.broken] == [
        ("broken", "ModuleNotFoundError")
    ]


def test_blocking_and_disabling_autoload(monkeypatch):
    points = [_entry_point("toy", "tests.core.toy_plugin")]
    assert build_plugins(entry_points=points, blocked=["toy"]).registry.names("algorithm") == []
    monkeypatch.setenv("CLUSTERLAB_BLOCK_PLUGINS", "toy")
    assert build_plugins(entry_points=points).registry.names("algorithm") == []
    monkeypatch.delenv("CLUSTERLAB_BLOCK_PLUGINS")
    monkeypatch.setenv("CLUSTERLAB_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert build_plugins(entry_points=points).registry.names("algorithm") == []
    monkeypatch.setenv("CLUSTERLAB_DISABLE_PLUGIN_AUTOLOAD", "0")
    assert build_plugins(entry_points=points).registry.names("algorithm") != []


def test_installed_built_ins_come_from_the_clusterlab_distribution():
    plugins = build_plugins(autoload=True)
    names = {p.name: p for p in plugins.loaded}
    assert {"algorithms", "datasets", "metrics", "plots", "sklearn"} <= set(names)
    assert all(names[n].distribution == "clusterlab" for n in ("algorithms", "metrics"))
