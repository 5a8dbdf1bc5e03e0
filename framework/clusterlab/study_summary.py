"""A study's outcome from a trials table, and how the parent run keeps it: the
algorithms × datasets table of the chosen settings, mean ranks, the Friedman and
post-hoc tests, the critical-difference diagram and the stability across seeds.

The parent run's artifacts, under ``summary/study/``:

- ``table.csv``: per dataset (rows) and algorithm (columns) the mean score over seeds
  of the setting the rule chose; ``chosen.csv`` names those settings, with ``n`` and
  ``std`` and a representative run;
- ``ranks.csv``: each algorithm's rank per dataset; ``tests.json``: mean ranks, the
  Friedman statistic and p-value, the post-hoc test's name and level, the datasets left
  out; ``posthoc.csv``: the post-hoc p-value of each pair of algorithms;
- ``critical_difference.<format>``: the critical-difference diagram;
- ``stability.csv``: per setting with two or more seeds on the same data, the mean and
  minimum pairwise adjusted Rand index between the seeds' labellings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clusterlab.results_table import metric_name
from clusterlab.schema import Plots, PosthocTest, Study
from clusterlab.study import RankTests, friedman, select_settings, stability
from clusterlab.tracking.figures import log_figure

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

FOLDER = "summary/study"
POSTHOC_NAMES = {
    "nemenyi": "Nemenyi",
    "wilcoxon_holm": "Wilcoxon signed-rank, Holm-corrected",
}


@dataclass
class StudyOutcome:
    """A study of ``score`` over a trials table (see :func:`compute_study`)."""

    score: str
    rule: str
    greater_is_better: bool
    chosen: pd.DataFrame
    table: pd.DataFrame
    tests: RankTests
    posthoc: PosthocTest
    alpha: float
    missing: str = "drop"
    stability: pd.DataFrame | None = None

    @property
    def summary(self) -> dict[str, Any]:
        """The tests as JSON can hold them (``tests.json``)."""
        tests = self.tests
        return {
            "score": self.score,
            "greater_is_better": self.greater_is_better,
            "rule": self.rule,
            "datasets": [str(d) for d in tests.ranks.index],
            "dropped_datasets": tests.dropped,
            "mean_ranks": {str(a): float(r) for a, r in tests.mean_ranks.items()},
            "friedman_statistic": tests.statistic,
            "friedman_p_value": tests.p_value,
            "posthoc": self.posthoc,
            "alpha": self.alpha,
            "missing": self.missing,
            "not_computed": tests.not_computed,
        }


def compute_study(
    frame: pd.DataFrame,
    directions: Mapping[str, bool],
    study: Study,
    load_labels: Callable[[str], Any] | None = None,
) -> StudyOutcome:
    """The study ``study`` declares, over ``frame`` (one row per finished trial, as
    :func:`clusterlab.results_table.trials_frame` builds it). ``load_labels(run_id)``
    gives a run's labels, for the stability across seeds; without it there is none."""
    by = None if isinstance(study.select, str) else study.select.by
    if "trial_index" in frame.columns:
        # Datasets and algorithms then appear in the experiment file's order.
        numbered = frame["trial_index"].map(lambda value: isinstance(value, int))
        if numbered.all():
            frame = frame.sort_values("trial_index", kind="stable")
    chosen = select_settings(frame, directions, study.score, by)
    datasets = list(dict.fromkeys(chosen["dataset"]))
    algorithms = list(dict.fromkeys(chosen["algorithm"]))
    table = chosen.pivot(index="dataset", columns="algorithm", values="mean")
    table = table.reindex(index=datasets, columns=algorithms)
    greater = bool(directions[study.score])
    tests = friedman(table, greater_is_better=greater, posthoc=study.posthoc, missing=study.missing)
    rule = "oracle" if by is None else f"by {by}"
    outcome = StudyOutcome(
        study.score, rule, greater, chosen, table, tests, study.posthoc, study.alpha, study.missing
    )
    if study.stability and load_labels is not None:
        outcome.stability = stability(frame, load_labels)
    return outcome


def critical_difference_figure(outcome: StudyOutcome) -> Figure | None:
    """The critical-difference diagram of the mean ranks (scikit-posthocs'): algorithms
    on a rank axis, a bar joining those the post-hoc test does not tell apart at the
    study's level. ``None`` where the tests were not computed."""
    tests = outcome.tests
    if tests.posthoc is None:
        return None
    import scikit_posthocs as sp
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.0, 1.2 + 0.3 * len(tests.mean_ranks)))
    # The labels stand outside the axes, left and right of the rank axis.
    figure.subplots_adjust(left=0.2, right=0.8, top=0.8, bottom=0.02)
    ax = figure.add_subplot()
    sp.critical_difference_diagram(
        tests.mean_ranks,
        tests.posthoc,
        alpha=outcome.alpha,
        ax=ax,
        label_fmt_left="{label} ({rank:.2f})",
        label_fmt_right="({rank:.2f}) {label}",
    )
    ax.set_title(
        f"Mean rank by {outcome.score} ({outcome.rule}) over {len(tests.ranks)} datasets; "
        f"Friedman p = {tests.p_value:.3g}\nbars join algorithms the "
        f"{POSTHOC_NAMES[outcome.posthoc]} test does not separate at α = {outcome.alpha:g}",
        fontsize=9,
    )
    return figure


def log_study(tracker: Any, parent_id: str, outcome: StudyOutcome, plots: Plots) -> None:
    """The study's artifacts and metrics on the parent run (see the module's docstring);
    its metrics are ``study/mean_rank/<algorithm>`` and ``study/friedman_p_value``."""
    tests = outcome.tests
    tracker.log_text(parent_id, outcome.table.to_csv(), f"{FOLDER}/table.csv")
    chosen = outcome.chosen[["dataset", "algorithm", "setting", "n", "mean", "std", "run_id"]]
    tracker.log_text(parent_id, chosen.to_csv(index=False), f"{FOLDER}/chosen.csv")
    tracker.log_text(parent_id, tests.ranks.to_csv(), f"{FOLDER}/ranks.csv")
    tracker.log_text(parent_id, json.dumps(outcome.summary, indent=2), f"{FOLDER}/tests.json")
    if tests.posthoc is not None:
        tracker.log_text(parent_id, tests.posthoc.to_csv(), f"{FOLDER}/posthoc.csv")
    figure = critical_difference_figure(outcome)
    if figure is not None:
        path = f"{FOLDER}/critical_difference.{plots.format}"
        log_figure(tracker, parent_id, figure, path, plots.dpi)
    if outcome.stability is not None:
        tracker.log_text(
            parent_id, outcome.stability.to_csv(index=False), f"{FOLDER}/stability.csv"
        )
    metrics = {
        metric_name("study", "mean_rank", str(a)): float(r) for a, r in tests.mean_ranks.items()
    }
    if tests.p_value is not None and math.isfinite(tests.p_value):
        metrics["study/friedman_p_value"] = tests.p_value
    if metrics:
        tracker.log(parent_id, metrics=metrics)
