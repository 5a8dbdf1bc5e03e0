"""Turns finished trial runs from MLflow into one table, and writes the parent's summary."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from clusterlab.comparison import best_trials, best_trials_html
from clusterlab.schema import Plots
from clusterlab.summary import summary_figures
from clusterlab.tracking import tags
from clusterlab.tracking.figures import log_figure

if TYPE_CHECKING:
    import pandas as pd

# Trial facts get a direction too, so the best-trial table can show the fastest setting.
FACT_DIRECTIONS = {"fit_time_s": False}
_NON_PARAM = {"dataset", "algorithm", "seed", "device", "dtype", "n_trials"}


def trials_frame(runs: Iterable[Any]) -> pd.DataFrame:
    """One row per MLflow trial run: names, ``dataset.*``/``algorithm.*`` params, seed,
    ``run_id``, ``dataset_digest`` (the digest of the data it ran on), ``trial_index``
    (its place in the grid) and every metric.
    Params that do not apply to a run (logged ``-``) are left empty."""
    import pandas as pd

    rows = []
    for run in runs:
        params = run.data.params
        row: dict[str, Any] = {
            "dataset": params.get("dataset"),
            "algorithm": params.get("algorithm"),
            "seed": int(params["seed"]) if params.get("seed", "").isdigit() else params.get("seed"),
            "run_id": run.info.run_id,
            "dataset_digest": run.data.tags.get(tags.DATASET_DIGEST),
            "trial_index": _number(run.data.tags.get(tags.TRIAL_INDEX, "")),
        }
        for key, value in params.items():
            if key not in _NON_PARAM and value != "-":
                row[key] = _number(value)
        row.update(run.data.metrics)
        rows.append(row)
    return pd.DataFrame(rows)


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def directions_of(experiment: Any, registry: Any) -> dict[str, bool]:
    """Metric name (as logged) → whether greater is better, for the experiment's metrics."""
    directions = {
        metric.key: registry.get("metric", metric.name).greater_is_better
        for metric in experiment.metrics
    }
    directions.update(FACT_DIRECTIONS)
    return directions


def log_parent_summary(
    tracker: Any,
    parent_id: str,
    frame: pd.DataFrame,
    directions: Mapping[str, bool],
    swept: Mapping[tuple[str, str], list[str]],
    plots: Plots | None = None,
) -> None:
    """The parent's summary: figures (in ``plots``' format and dpi), the best-trial table
    (as CSV, HTML and an MLflow table the UI shows), and the best score per score, dataset
    and algorithm as metrics named by :func:`best_metric_name`."""
    if frame.empty:
        return
    plots = plots if plots is not None else Plots()
    for path, figure in summary_figures(frame, directions, swept, image_format=plots.format):
        log_figure(tracker, parent_id, figure, path, plots.dpi)
    table = best_trials(frame, directions)
    tracker.log_text(parent_id, table.to_csv(index=False), "summary/best_trials.csv")
    tracker.log_text(parent_id, best_trials_html(table), "summary/best_trials.html")
    tracker.log_table(parent_id, _json_ready(table), "summary/best_trials.json")
    scores = table[~table["metric"].isin(FACT_DIRECTIONS)]
    tracker.log(
        parent_id,
        metrics={
            best_metric_name(row.metric, row.dataset, row.algorithm): row.score
            for row in scores.itertuples(index=False)
        },
    )


def best_metric_name(score: str, dataset: str, algorithm: str) -> str:
    """The parent run's metric for the best mean ``score`` of ``algorithm`` on ``dataset``:
    ``best/<score>/<dataset>/<algorithm>``, with characters MLflow refuses in a metric
    name replaced by ``_``."""
    return metric_name("best", score, dataset, algorithm)


def metric_name(*parts: str) -> str:
    """Parts joined by ``/``, with the characters MLflow refuses in a metric name as ``_``."""
    return "/".join(re.sub(r"[^\w.\- :]+", "_", str(part)) for part in parts)


def _json_ready(table: pd.DataFrame) -> pd.DataFrame:
    """The table with every cell JSON can hold: parameter values that are lists or other
    objects as their text."""
    table = table.copy()
    for column in table.select_dtypes(include=["object", "string"]).columns:
        table[column] = table[column].map(_json_cell)
    return table


def _json_cell(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str | bool):
        return value
    return str(value)
