"""Scores one trial's labels with the experiment's metrics.

An external score (one that needs ground truth) is computed against every reference
labelling of the dataset, each time leaving out the points that reference marks as
noise (``-1``), and the best value is the trial's score, as the clustering-benchmark
methodology prescribes: a clustering is as good as its agreement with the closest of
the valid partitions. With one reference and no noise in it, this is the plain score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clusterlab.data import BuiltDataset
from clusterlab.errors import ScoreUndefined
from clusterlab.registry import PluginEntry, Registry

#: How a reference labelling marks the points that belong to no cluster.
REFERENCE_NOISE = -1


@dataclass
class TrialScores:
    """The metrics of one trial.

    Attributes:
        values: each defined score, by metric key.
        undefined: the reason of each score that is not defined, by metric key.
        by_reference: for external scores of a dataset with several references, the
            value against each reference in order (``None`` where undefined).
    """

    values: dict[str, float] = field(default_factory=dict)
    undefined: dict[str, str] = field(default_factory=dict)
    by_reference: dict[str, list[float | None]] = field(default_factory=dict)


def score_trial(
    metrics: Sequence[Any],
    registry: Registry,
    data: BuiltDataset,
    labels: np.ndarray,
    estimator: Any,
    seed: int,
) -> TrialScores:
    """Every metric of ``metrics`` (the experiment's metric entries) on one result."""
    scores = TrialScores()
    for metric in metrics:
        entry = registry.get("metric", metric.name)
        options = dict(metric.options)
        if "random_state" in entry.context:
            options["random_state"] = seed
        try:
            if entry.needs_ground_truth and data.references:
                value, per_reference = _best_over_references(
                    entry, data, labels, estimator, options
                )
                if len(data.references) > 1:
                    scores.by_reference[metric.key] = per_reference
            else:
                value = _finite(entry.obj(data.X, labels, data.y, estimator, **options))
        except ScoreUndefined as why:
            scores.undefined[metric.key] = str(why) or "not defined for this result"
            continue
        scores.values[metric.key] = value
    return scores


def _finite(value: Any) -> float:
    if value is None or not np.isfinite(float(value)):
        raise ScoreUndefined(f"the metric returned {value!r}")
    return float(value)


def _best_over_references(
    entry: PluginEntry,
    data: BuiltDataset,
    labels: np.ndarray,
    estimator: Any,
    options: dict[str, Any],
) -> tuple[float, list[float | None]]:
    """The best score against any reference, each without its noise points, and the
    score against each; undefined only where it is undefined against all of them."""
    values: list[float | None] = []
    reasons: list[str] = []
    for number, reference in enumerate(data.references):
        keep = np.asarray(reference) != REFERENCE_NOISE
        X, y, found = data.X, reference, labels
        if not keep.all():
            import torch

            rows = torch.from_numpy(keep).to(data.X.device)
            X, y, found = data.X[rows], reference[keep], labels[keep]
        try:
            values.append(_finite(entry.obj(X, found, y, estimator, **options)))
        except ScoreUndefined as why:
            values.append(None)
            reasons.append(f"reference {number}: {why}" if len(data.references) > 1 else str(why))
    defined = [v for v in values if v is not None]
    if not defined:
        raise ScoreUndefined("; ".join(reasons))
    best = max(defined) if entry.greater_is_better else min(defined)
    return best, values
