"""The plugin docs and tests keep up with the hook specifications."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

from clusterlab import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS = [
    name
    for name, value in vars(hookspecs).items()
    if callable(value) and hasattr(value, "clusterlab_spec")
]


def test_there_are_hooks():
    assert "register_algorithms" in HOOKS and "after_experiment" in HOOKS


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_signature_is_documented(name):
    parameters = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert f"### `{name}({parameters})`" in docs


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_exercised_by_a_test(name):
    tests = "".join(
        p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != "test_docs.py"
    )
    tests += (ROOT / "tests" / "core" / "toy_plugin.py").read_text()
    assert name in tests


def _documented_section(heading: str) -> str:
    docs = (ROOT / "docs" / "plugins.md").read_text()
    start = docs.index(heading)
    end = docs.find("\n### ", start + len(heading))
    return docs[start : end if end != -1 else len(docs)]


@pytest.mark.parametrize(
    ("heading", "cls"),
    [
        ("### `Trial`", "clusterlab.grid:Trial"),
        ("### `TrialResult`", "clusterlab.results:TrialResult"),
        ("### `ExperimentResult`", "clusterlab.results:ExperimentResult"),
        ("### `PluginFailure`", "clusterlab.results:PluginFailure"),
        ("### `TrialView`", "clusterlab.plotting:TrialView"),
    ],
)
def test_every_field_of_the_types_hooks_receive_is_documented(heading, cls):
    module, _, name = cls.partition(":")
    fields = [f.name for f in dataclasses.fields(getattr(importlib.import_module(module), name))]
    section = _documented_section(heading)
    missing = [f for f in fields if f"| `{f}` |" not in section]
    assert fields and missing == []
