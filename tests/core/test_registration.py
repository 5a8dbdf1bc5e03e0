"""The typed ``register`` callbacks: the hook specs name them, the registry takes what they
declare, and the plugin docs show their exact signatures."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from clusterlab import hookspecs, registration
from clusterlab.registry import REGISTER_OPTIONS

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = {
    "register_algorithms": ("algorithm", registration.RegisterAlgorithm),
    "register_datasets": ("dataset", registration.RegisterDataset),
    "register_metrics": ("metric", registration.RegisterMetric),
    "register_plots": ("plot", registration.RegisterPlot),
    "register_preprocessors": ("preprocessor", registration.RegisterPreprocessor),
    "register_executors": ("executor", registration.RegisterExecutor),
}


def _rendered(protocol: type) -> str:
    """The callback's signature as the docs write it: ``register(name, fn, *, a=1)``."""
    parts: list[str] = []
    star = False
    for parameter in list(inspect.signature(protocol.__call__).parameters.values())[1:]:
        if parameter.kind is parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        if parameter.default is parameter.empty:
            parts.append(parameter.name)
        else:
            default = '""' if parameter.default == "" else repr(parameter.default)
            parts.append(f"{parameter.name}={default}")
    return f"register({', '.join(parts)})"


def test_every_registration_hook_has_a_protocol():
    specs = {name for name in vars(hookspecs) if name.startswith("register_")}
    assert specs == set(PROTOCOLS)


@pytest.mark.parametrize("hook", sorted(PROTOCOLS))
def test_the_spec_names_its_protocol(hook):
    _kind, protocol = PROTOCOLS[hook]
    annotation = inspect.signature(getattr(hookspecs, hook)).parameters["register"].annotation
    assert annotation == protocol.__name__


@pytest.mark.parametrize("hook", sorted(PROTOCOLS))
def test_the_registry_takes_the_options_the_protocol_declares(hook):
    kind, protocol = PROTOCOLS[hook]
    keywords = {
        p.name
        for p in inspect.signature(protocol.__call__).parameters.values()
        if p.kind is p.KEYWORD_ONLY
    }
    assert keywords - {"description"} == REGISTER_OPTIONS[kind]


@pytest.mark.parametrize("hook", sorted(PROTOCOLS))
def test_the_docs_show_the_callbacks_signature_under_its_hook(hook):
    docs = (ROOT / "docs" / "plugins.md").read_text()
    start = docs.index(f"### `{hook}(register)`")
    end = docs.find("\n### ", start + 1)
    section = docs[start:end]
    assert f"`{_rendered(PROTOCOLS[hook][1])}`" in section
