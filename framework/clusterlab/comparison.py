"""Comparison of parameter settings across seeds.

Trials with identical parameters and different seeds form one *setting*.
:func:`setting_stats` describes every setting by its scores over seeds (n, mean, sample
standard deviation and a Student t confidence interval of the mean);
:func:`best_settings` keeps the best setting per dataset, algorithm and score, and
:func:`best_trials` is that selection in the shape of the parent run's summary table,
which :func:`best_trials_html` shows as an HTML page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
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

CI_LEVEL = 0.95
# How the interval is computed, named wherever one is shown.
CI_METHOD = "Student t, n-1 dof"

STAT_COLUMNS = (
    "dataset",
    "algorithm",
    "metric",
    "greater_is_better",
    "setting",
    "n",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "min",
    "max",
    "seed",
    "run_id",
)

BEST_COLUMNS = (
    "dataset",
    "algorithm",
    "metric",
    "greater_is_better",
    "score",
    "score_min",
    "score_max",
    "n_seeds",
    "std",
    "ci_low",
    "ci_high",
    "setting",
    "seed",
    "run_id",
)

# The columns of a setting_stats table behind best_trials' names for them.
_BEST_NAMES = {"mean": "score", "min": "score_min", "max": "score_max", "n": "n_seeds"}


def seed_stats(values: Sequence[float]) -> dict[str, float | int]:
    """n, mean, sample standard deviation and confidence interval of ``values``.

    ``values`` are one setting's defined scores, one per seed. The standard deviation has
    ``ddof=1``; the interval is ``mean ± t(0.975, n-1) · std / √n`` (:data:`CI_LEVEL`,
    :data:`CI_METHOD`). With fewer than two values the standard deviation and the
    interval are NaN (not defined), and with none the mean is NaN too.
    """
    import numpy as np
    from scipy import stats

    array = np.asarray(values, dtype=float)
    n = int(array.size)
    nan = math.nan
    if n == 0:
        return {"n": 0, "mean": nan, "std": nan, "ci_low": nan, "ci_high": nan}
    mean = float(array.mean())
    if n < 2:
        return {"n": n, "mean": mean, "std": nan, "ci_low": nan, "ci_high": nan}
    std = float(array.std(ddof=1))
    half = float(stats.t.ppf((1 + CI_LEVEL) / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def setting_stats(df: pd.DataFrame, directions: Mapping[str, bool]) -> pd.DataFrame:
    """Every parameter setting's scores over seeds, per dataset, algorithm and score.

    ``df`` is a trials table (see :mod:`clusterlab.table_values`); ``directions`` maps each
    score to whether greater is better, and names the scores described. Missing scores
    (undefined for a seed) are left out of a setting's statistics, and a setting without
    any defined value of a score has no row for it.

    Returns:
        One row per dataset, algorithm, setting and score, in table order, with columns:

        - ``dataset``, ``algorithm``; ``metric``: the score's name;
          ``greater_is_better``: its direction;
        - ``setting``: the parameters that vary within the dataset and algorithm, as
          ``name=value, ...`` (empty where nothing varies);
        - ``n``: seeds with a defined score; ``mean``; ``std``: the sample standard
          deviation; ``ci_low``, ``ci_high``: the confidence interval of the mean (both
          from :func:`seed_stats`, NaN where ``n < 2``); ``min``, ``max``: the range;
        - ``seed``, ``run_id``: a representative run, the one closest to the mean;
        - then every parameter column of ``df``, holding the setting's values.
    """
    import pandas as pd

    params = param_columns(df)
    scores = score_columns(df, directions)
    df = df.reset_index(drop=True)
    rows: list[dict[str, Any]] = []
    for (dataset, algorithm), group in df.groupby(["dataset", "algorithm"], sort=False):
        varying = [p for p in params if as_text(group[p]).nunique() > 1]
        keys = _setting_keys(group, params)
        for metric in scores:
            values = pd.to_numeric(group[metric], errors="coerce")
            for _, members in values.groupby(keys, sort=False):
                defined = members.dropna()
                if defined.empty:
                    continue
                stats = seed_stats(defined.to_list())
                representative = group.loc[(defined - stats["mean"]).abs().idxmin()]
                rows.append(
                    {
                        "dataset": dataset,
                        "algorithm": algorithm,
                        "metric": metric,
                        "greater_is_better": bool(directions[metric]),
                        "setting": _setting_text(representative, varying),
                        **stats,
                        "min": float(defined.min()),
                        "max": float(defined.max()),
                        "seed": representative["seed"],
                        "run_id": representative["run_id"],
                        **{p: representative[p] for p in params},
                    }
                )
    return pd.DataFrame(rows, columns=[*STAT_COLUMNS, *params])


def _setting_keys(group: pd.DataFrame, params: list[str]) -> pd.Series:
    """One text key per row that is equal exactly for rows of the same setting."""
    import pandas as pd

    if not params:
        return pd.Series("", index=group.index)
    # Parameter values may be lists or mixed types; their text is a safe grouping key.
    return group[params].map(value_text).agg("\x1f".join, axis=1)


def _setting_text(row: pd.Series, varying: list[str]) -> str:
    return ", ".join(f"{p}={format_value(row[p])}" for p in varying)


def best_settings(stats: pd.DataFrame) -> pd.DataFrame:
    """The rows of a :func:`setting_stats` table with the best mean per dataset,
    algorithm and score, in the score's direction (the first in table order on a tie)."""
    if stats.empty:
        return stats
    groups = stats.groupby(["dataset", "algorithm", "metric"], sort=False)
    chosen = [
        group["mean"].idxmax() if group["greater_is_better"].iloc[0] else group["mean"].idxmin()
        for _, group in groups
    ]
    return stats.loc[chosen]


def best_per_dataset(stats: pd.DataFrame) -> pd.Series:
    """Whether each row of a :func:`setting_stats` table (or a selection of it) has the
    best mean among the rows of its dataset and score; every row of a tie is best."""
    means = stats["mean"]
    keys = [stats["dataset"], stats["metric"]]
    greater = stats["greater_is_better"].astype(bool)
    best = means.where(greater, -means).groupby(keys, sort=False).transform("max")
    return means.where(greater, -means).eq(best) & means.notna()


def best_trials(df: pd.DataFrame, directions: Mapping[str, bool]) -> pd.DataFrame:
    """The best parameter setting per dataset, algorithm and score.

    Trials with identical parameters (different seeds) are described over seeds first by
    :func:`setting_stats`, ignoring missing scores; the setting with the best mean in the
    score's direction wins (the first one in table order on a tie). Settings without any
    defined score are skipped, and so is a group where no setting has one.

    Returns:
        One row per dataset, algorithm and score, with columns:

        - ``dataset``, ``algorithm``: the group;
        - ``metric``: the score's name; ``greater_is_better``: its direction;
        - ``score``: the best setting's mean over seeds; ``score_min``, ``score_max``:
          its range over seeds; ``n_seeds``: how many seeds defined it; ``std``: its
          sample standard deviation; ``ci_low``, ``ci_high``: the confidence interval of
          its mean (see :func:`seed_stats`; both empty where ``n_seeds < 2``);
        - ``setting``: the parameters that vary within the group, as ``name=value, ...``;
        - ``seed``, ``run_id``: a representative run of that setting, the one whose
          score is closest to the mean;
        - then every parameter column of ``df``, holding the best setting's values.
    """
    best = best_settings(setting_stats(df, directions)).rename(columns=_BEST_NAMES)
    params = param_columns(df)
    return best[[*BEST_COLUMNS, *params]].reset_index(drop=True)


def best_trials_html(table: pd.DataFrame, title: str = "Best trials") -> str:
    """A self-contained HTML page showing a :func:`best_trials` table.

    The parameter columns are left out (``setting`` names what varies), and so are the
    standard deviation and the interval, which the CSV and JSON copies hold; the direction
    reads as ``higher`` or ``lower`` is better.
    """
    hidden = {"std", "ci_low", "ci_high"}
    shown = table[
        [c for c in table.columns if not str(c).startswith(PARAM_PREFIXES) and c not in hidden]
    ].copy()
    if "greater_is_better" in shown.columns:
        shown["greater_is_better"] = shown["greater_is_better"].map(
            lambda greater: "higher" if greater else "lower"
        )
        shown = shown.rename(columns={"greater_is_better": "better"})
    body = shown.to_html(
        index=False, border=0, na_rep="", float_format=lambda v: f"{v:.4g}", escape=True
    )
    return html_page(
        title,
        "For each dataset, algorithm and score: the parameter setting with the best mean"
        " over seeds, its range over seeds, and the run closest to that mean.",
        body,
    )


def html_page(title: str, caption: str, body: str) -> str:
    """A self-contained HTML page: ``title`` as its heading, ``caption`` (plain text,
    escaped here) as a paragraph, then ``body`` (HTML, already escaped) as it is."""
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
<p>{html.escape(caption)}</p>
{body}
</body>
</html>
"""
