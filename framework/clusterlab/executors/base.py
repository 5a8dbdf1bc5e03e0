"""The executor interface, and the plain-data job from which a worker rebuilds an experiment."""

from __future__ import annotations

import importlib
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from clusterlab.device import resolve_device
from clusterlab.errors import ClusterlabError, ExperimentError

if TYPE_CHECKING:
    from clusterlab.data import BuiltDataset
    from clusterlab.grid import DatasetKey, Trial
    from clusterlab.results import TrialResult
    from clusterlab.tracking import Tracker


class WorkerError(ClusterlabError):
    """A worker cannot run trials at all (it cannot import a plugin, say); the grid stops."""


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs to run trials of one invocation, as plain picklable data.

    A worker rebuilds the plugins, the experiment and the datasets from it; the trials
    themselves travel one by one.
    """

    raw: dict[str, Any]
    base_dir: str
    tracking_uri: str
    experiment_name: str
    experiment_id: str
    parent_run_id: str
    param_union: tuple[str, ...]
    device: str
    autoload_plugins: bool
    blocked_plugins: tuple[str, ...] = ()
    extra_plugins: tuple[tuple[str, str], ...] = ()
    python_path: tuple[str, ...] = ()
    share_work: bool = True


@dataclass
class ExecutionContext:
    """What the runner hands an executor along with the trials.

    Attributes:
        job: the invocation as plain data, for workers in other processes.
        tracker: the invocation's store, for closing the runs of lost workers.
        datasets: the built datasets, on the trial device for in-process executors and
            on the CPU for the others; an executor may free them once shipped.
        run_here: runs one trial in this process and returns its result.
        on_start: to be called when a trial starts (on a worker: when the worker reports
            its run); the runner fires ``before_trial`` and shows progress from it.
        trial_timeout_s: the experiment's limit on one trial, which the trial enforces
            itself; an executor that can stops a worker that does not return past it.
    """

    job: TrialJob
    tracker: Tracker
    datasets: dict[DatasetKey, BuiltDataset]
    run_here: Callable[[Trial], TrialResult]
    on_start: Callable[[Trial], None] = field(default=lambda trial: None)
    trial_timeout_s: float | None = None


class TrialExecutor(ABC):
    """Runs trials and yields their results as they finish.

    A subclass takes its options as keyword arguments in ``__init__``, where it only
    checks and stores them: ``clusterlab validate`` constructs it too.
    """

    #: Whether trials run in the runner's own process, on the data it built.
    in_process: bool = False

    def trial_device(self, requested: str) -> str:
        """The device trials run on, from the experiment's ``device``; its type is part of
        every trial's hash. By default ``requested`` as it resolves on this machine."""
        return str(resolve_device(requested))

    def warm_up(self) -> None:
        """Start workers ahead of ``run``, while the runner builds the data and opens the
        store; ``close`` stops them whatever happens next. By default nothing."""
        return None

    @abstractmethod
    def run(self, trials: Sequence[Trial], context: ExecutionContext) -> Iterator[TrialResult]:
        """Run ``trials`` and yield one result per trial, in the order they finish."""

    def close(self) -> None:
        """Stop whatever ``run`` started (workers, a runtime); safe to call more than once."""
        return None


def plugin_reference(name: str, plugin: object) -> str:
    """How a worker imports a plugin registered in-process: ``module`` or ``module:attr``."""
    if isinstance(plugin, ModuleType):
        if plugin.__name__ != "__main__":
            return plugin.__name__
    else:
        # An object plugin is importable when a module holds it under a name.
        for module_name in {getattr(plugin, "__module__", None), type(plugin).__module__}:
            module = sys.modules.get(module_name or "")
            if module is None or module_name == "__main__":
                continue
            for attribute, value in vars(module).items():
                if value is plugin:
                    return f"{module_name}:{attribute}"
    raise ExperimentError(
        f"plugin '{name}' was registered in-process as {plugin!r}, which worker processes "
        f"cannot import; register an importable module (or an object a module holds), "
        f"install the plugin with an entry point, or use the executor 'local'"
    )


def import_root(reference: str) -> str | None:
    """The folder to put on ``sys.path`` so that ``reference``'s module imports elsewhere."""
    module_name = reference.partition(":")[0]
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    root = path.parent
    for _ in range(module_name.count(".") + (path.name == "__init__.py")):
        root = root.parent
    return str(root)


def plugin_references(
    extra: Iterable[tuple[str, object]],
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """In-process plugins as ``(name, reference)`` pairs, and the folders they import from."""
    references = tuple((name, plugin_reference(name, plugin)) for name, plugin in extra)
    roots = {root for _name, ref in references if (root := import_root(ref)) is not None}
    return references, tuple(sorted(roots))


def import_reference(reference: str) -> object:
    """Import a plugin from a ``module`` or ``module:attr`` reference."""
    module_name, _, attribute = reference.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module
