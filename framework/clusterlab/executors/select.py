"""Chooses the executor an experiment names: a registered one, or the in-process default."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clusterlab.errors import ExperimentError
from clusterlab.executors.base import TrialExecutor
from clusterlab.executors.local import LocalExecutor
from clusterlab.names import suggest

if TYPE_CHECKING:
    from clusterlab.registry import Registry
    from clusterlab.schema import Executor as ExecutorSpec

# The executor an experiment gets when its file names none. The runner always has it,
# also when no executor plugin is loaded.
DEFAULT_EXECUTOR = "local"


def executor_class(name: str, registry: Registry) -> type | None:
    """The class registered as executor ``name``; the in-process one for the default name."""
    entry = registry.entries["executor"].get(name)
    if entry is not None:
        return entry.obj
    if name == DEFAULT_EXECUTOR:
        return LocalExecutor
    return None


def create_executor(spec: ExecutorSpec, registry: Registry) -> TrialExecutor:
    """Construct the executor an experiment names, with its options."""
    cls = executor_class(spec.name, registry)
    if cls is None:
        names = {*registry.names("executor"), DEFAULT_EXECUTOR}
        raise ExperimentError(f"unknown executor '{spec.name}'" + suggest(spec.name, names))
    try:
        return cls(**spec.options)
    except (TypeError, ValueError) as exc:
        raise ExperimentError(f"executor '{spec.name}': {exc}") from None
