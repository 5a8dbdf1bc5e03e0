"""Comparison of parameter settings across seeds: the best setting per dataset,
algorithm and score, as a table and as an HTML page."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from clusterlab.table_values import (
    PARAM_PREFIXES,
    as_text,
    format_value,
    param_columns,
    score_columns,
    value_text,
)

if TYPE_CHECKING:
    import pandas as pd

BEST_COLUMNS = (
    "dataset",
    "algorithm",
    "metric",
    "greater_is_better",
    "score",
    "score_min",
    "score_max",
    "n_seeds",
    "setting",
    "seed",
    "run_id",
)


def best_trials(df: pd.DataFrame, directions: Mapping[str, bool]) -> pd.DataFrame:
    """The best parameter setting per dataset, algorithm and score.

    Trials with identical parameters (different seeds) are averaged first, ignoring
    missing scores; the setting with the best mean in the score's direction wins (the
    first one in table order on a tie). Settings without any defined score are skipped,
    and so is a group where no setting has one.

    Returns:
        One row per dataset, algorithm and score, with columns:

        - ``dataset``, ``algorithm``: the group;
        - ``metric``: the score's name; ``greater_is_better``: its direction;
        - ``score``: the best setting's mean over seeds; ``score_min``, ``score_max``:
          its range over seeds; ``n_seeds``: how many seeds defined it;
        - ``setting``: the parameters that vary within the group, as ``name=value, ...``;
        - ``seed``, ``run_id``: a representative run of that setting, the one whose
          score is closest to the mean;
        - then every parameter column of ``df``, holding the best setting's values.
    """
    import pandas as pd

    params = param_columns(df)
    columns = [*BEST_COLUMNS, *params]
    scores = score_columns(df, directions)
    df = df.reset_index(drop=True)
    found: list[dict[str, Any]] = []
    for (dataset, algorithm), group in df.groupby(["dataset", "algorithm"], sort=False):
        varying = [p for p in params if as_text(group[p]).nunique() > 1]
        # Parameter values may be lists or mixed types; their text is a safe grouping key.
        keys = (
            group[params].map(value_text).agg("\x1f".join, axis=1)
            if params
            else pd.Series("", index=group.index)
        )
        for metric in scores:
            values = pd.to_numeric(group[metric], errors="coerce")
            stats = values.groupby(keys, sort=False).agg(["mean", "min", "max", "count"])
            stats = stats[stats["count"] > 0]
            if stats.empty:
                continue
            greater = bool(directions[metric])
            best = stats["mean"].idxmax() if greater else stats["mean"].idxmin()
            mean = float(stats.at[best, "mean"])
            members = values[(keys == best) & values.notna()]
            representative = group.loc[(members - mean).abs().idxmin()]
            found.append(
                {
                    "dataset": dataset,
                    "algorithm": algorithm,
                    "metric": metric,
                    "greater_is_better": greater,
                    "score": mean,
                    "score_min": float(stats.at[best, "min"]),
                    "score_max": float(stats.at[best, "max"]),
                    "n_seeds": int(stats.at[best, "count"]),
                    "setting": ", ".join(f"{p}={format_value(representative[p])}" for p in varying),
                    "seed": representative["seed"],
                    "run_id": representative["run_id"],
                    **{p: representative[p] for p in params},
                }
            )
    return pd.DataFrame(found, columns=columns)


def best_trials_html(table: pd.DataFrame, title: str = "Best trials") -> str:
    """A self-contained HTML page showing a :func:`best_trials` table.

    The parameter columns are left out (``setting`` names what varies) and the
    direction reads as ``higher`` or ``lower`` is better.
    """
    shown = table[[c for c in table.columns if not str(c).startswith(PARAM_PREFIXES)]].copy()
    if "greater_is_better" in shown.columns:
        shown["greater_is_better"] = shown["greater_is_better"].map(
            lambda greater: "higher" if greater else "lower"
        )
        shown = shown.rename(columns={"greater_is_better": "better"})
    body = shown.to_html(
        index=False, border=0, na_rep="", float_format=lambda v: f"{v:.4g}", escape=True
    )
    heading = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{heading}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }}
th, td {{ padding: 0.3rem 0.7rem; border-bottom: 1px solid #ddd; text-align: left; }}
th {{ background: #f3f3f3; }}
</style>
</head>
<body>
<h1>{heading}</h1>
<p>For each dataset, algorithm and score: the parameter setting with the best mean over
seeds, its range over seeds, and the run closest to that mean.</p>
{body}
</body>
</html>
"""
