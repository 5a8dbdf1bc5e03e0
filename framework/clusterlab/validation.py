"""Former home of experiment loading and checking, kept as re-exports for older imports.

The loading path now lives in one module per step: :mod:`clusterlab.overrides`,
:mod:`clusterlab.loading`, :mod:`clusterlab.schema_errors` and :mod:`clusterlab.checks`.
"""

from __future__ import annotations

from clusterlab.checks import DEFAULT_MAX_TRIALS, check_against_plugins
from clusterlab.loading import LoadedExperiment, load_experiment, parse_experiment
from clusterlab.overrides import apply_overrides

__all__ = [
    "DEFAULT_MAX_TRIALS",
    "LoadedExperiment",
    "apply_overrides",
    "check_against_plugins",
    "load_experiment",
    "parse_experiment",
]
