"""What a plugin author meets: registration through pluggy's own hook calls, clear errors
for clashing in-process plugins and for names a broken or blocked plugin would provide,
the plugin's name in `clusterlab plugins`, and one registration shown in full."""

from __future__ import annotations

import json
import types

import pytest
from sklearn.cluster import KMeans as SklearnKMeans

from clusterlab import hookimpl
from clusterlab.errors import ExperimentError, PluginError
from clusterlab.plugins import build_plugins
from clusterlab.runner import RunOptions, prepare
from tests.cli_process import run_cli
from tests.core import toy_plugin


class _First(SklearnKMeans):
    """Registered by the tryfirst plugin."""


class _Second(SklearnKMeans):
    """Registered by the plain plugin."""


def test_registration_hooks_honour_specname():
    class Renamed:
        @hookimpl(specname="register_algorithms")
        def my_algorithms(self, register):
            register("renamed_kmeans", _First)

    registry = build_plugins(autoload=False, extra=[("renamed", Renamed())]).registry
    assert registry.get("algorithm", "renamed_kmeans").obj is _First
    assert registry.get("algorithm", "renamed_kmeans").plugin == "renamed"


def test_registration_hooks_run_in_pluggy_order_with_tryfirst():
    order: list[str] = []

    class Plain:
        @hookimpl
        def register_algorithms(self, register):
            order.append("plain")
            register("second", _Second)

    class Early:
        @hookimpl(tryfirst=True)
        def register_algorithms(self, register):
            order.append("early")
            register("first", _First)

    # registered last, pluggy would call Plain's first without tryfirst
    build_plugins(autoload=False, extra=[("early", Early()), ("plain", Plain())])
    assert order == ["early", "plain"]


def test_the_same_plugin_in_process_and_installed_is_registered_once():
    plugins = build_plugins(autoload=False, extra=[("toy", toy_plugin), ("toy2", toy_plugin)])
    assert plugins.registry.get("algorithm", "toy_kmeans").plugin == "toy"


def test_a_second_plugin_under_a_taken_name_is_a_clear_error():
    other = types.ModuleType("other_plugin")
    with pytest.raises(PluginError, match="a plugin of that name is already loaded"):
        build_plugins(autoload=False, extra=[("toy", toy_plugin), ("toy", other)])


def test_an_unknown_name_says_which_plugins_are_blocked():
    experiment = {
        "name": "x",
        "datasets": [{"name": "toy_blobs"}],
        "algorithms": [{"name": "toy_kmeans"}],
    }
    options = RunOptions(
        autoload_plugins=False, extra_plugins=(("toy", toy_plugin),), blocked_plugins=("toy",)
    )
    with pytest.raises(ExperimentError) as error:
        prepare(experiment, options=options)
    assert "unknown dataset 'toy_blobs'" in str(error.value)
    assert "plugin 'toy' is blocked" in str(error.value)


def test_valid_names_are_listed_whole():
    registry = build_plugins(autoload=False, extra=[("toy", toy_plugin)]).registry
    options = RunOptions(autoload_plugins=False, extra_plugins=(("toy", toy_plugin),))
    with pytest.raises(ExperimentError) as error:
        prepare(
            {"name": "x", "datasets": [{"name": "toy_blobs"}], "algorithms": [{"name": "zz"}]},
            options=options,
        )
    for name in registry.names("algorithm"):
        assert name in str(error.value)
    assert "..." not in str(error.value)


@pytest.mark.slow
def test_plugin_flags_work_before_the_command_and_the_plugin_column_is_shown():
    before = run_cli("--block-plugin", "sklearn", "plugins", "--json")
    assert before.returncode == 0, before.stderr
    rows = json.loads(before.stdout)["registered"]
    assert json.loads(before.stdout)["blocked"] == ["sklearn"]
    assert rows and all(row["plugin"] != "sklearn" for row in rows)
    after = run_cli("plugins", "--block-plugin", "sklearn", "--json")
    assert json.loads(after.stdout)["registered"] == rows
    table = run_cli("plugins")
    assert "plugin" in table.stdout.splitlines()[2] and "sklearn" in table.stdout


@pytest.mark.slow
def test_plugins_name_shows_one_registration_and_suggests_for_a_typo():
    shown = run_cli("plugins", "silhouette")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("metric 'silhouette'")
    assert "plugin: metrics (clusterlab " in shown.stdout
    assert "sample_size" in shown.stdout
    assert "noise = 'exclude' (one of 'exclude', 'cluster')" in shown.stdout
    typo = run_cli("plugins", "silhuette")
    assert typo.returncode == 2
    assert "did you mean 'silhouette'?" in typo.stderr
