"""clusterlab: clustering experiments as YAML grids, run on CPU or GPU, tracked in MLflow.

Importing this package stays cheap: torch, MLflow and matplotlib are imported only by
the functions that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clusterlab.errors import ClusterlabError, ExperimentError, PluginError, ScoreUndefined
from clusterlab.hookspecs import hookimpl, hookspec

__version__ = "0.1.0"

__all__ = [
    "ClusterlabError",
    "ExperimentError",
    "PluginError",
    "ScoreUndefined",
    "__version__",
    "hookimpl",
    "hookspec",
    "run_experiment",
]

if TYPE_CHECKING:
    from clusterlab.results import ExperimentResult


def run_experiment(experiment: Any, **overrides: Any) -> ExperimentResult:
    """Run an experiment file (a path) or an experiment mapping and return its trials' scores.

    Keyword overrides set top-level or dotted keys, as ``--set`` does on the command
    line (``run_experiment("e.yaml", seeds=[0], **{"tracking.uri": "sqlite:///x.db"})``).
    """
    from clusterlab.runner import run_experiment as _run

    return _run(experiment, **overrides)
