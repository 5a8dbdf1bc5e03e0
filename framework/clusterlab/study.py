"""A study across datasets: each algorithm's chosen setting per dataset, ranks, the
Friedman test and a post-hoc test, on a trials table (see
:func:`clusterlab.results_table.trials_frame`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from clusterlab.comparison import setting_stats
from clusterlab.table_values import format_value, param_columns, short_name

if TYPE_CHECKING:
    import pandas as pd


def dataset_identities(frame: pd.DataFrame) -> pd.Series:
    """Each row's dataset as the study tells datasets apart: its name, and where the
    ``dataset.*`` params vary among the rows of that name, ``name (p=v, ...)``."""
    names = frame["dataset"].astype(str).copy()
    params = [p for p in param_columns(frame) if p.startswith("dataset.")]
    for name, rows in frame.groupby("dataset", sort=False):
        varying = [p for p in params if rows[p].map(format_value).nunique() > 1]
        if varying:
            names[rows.index] = rows[varying].apply(
                lambda row, n=name, cols=varying: (
                    f"{n} ({', '.join(f'{short_name(c)}={format_value(row[c])}' for c in cols)})"
                ),
                axis=1,
            )
    return names


def select_settings(
    frame: pd.DataFrame, directions: Mapping[str, bool], score: str, by: str | None = None
) -> pd.DataFrame:
    """Per dataset identity and algorithm, the setting with the best mean of ``by``
    (``score`` itself where ``None``: the oracle rule), with its mean ``score``.

    Returns columns ``dataset``, ``algorithm``, ``setting``, ``n``, ``mean``, ``std``,
    ``run_id``; ``mean`` is NaN where the chosen setting has no defined ``score``.
    """
    frame = frame.reset_index(drop=True).assign(dataset=lambda f: dataset_identities(f))
    chooser = by or score
    stats = setting_stats(frame, {score: directions[score], chooser: directions[chooser]})
    greater = directions[chooser]
    chosen = stats[stats["metric"] == chooser]
    best = chosen.loc[
        chosen.groupby(["dataset", "algorithm"], sort=False)["mean"].agg(
            "idxmax" if greater else "idxmin"
        )
    ]
    scores = stats[stats["metric"] == score][
        ["dataset", "algorithm", "setting", "n", "mean", "std", "run_id"]
    ]
    keys = ["dataset", "algorithm", "setting"]
    return best[keys].merge(scores, on=keys, how="left").reset_index(drop=True)


def friedman(table: pd.DataFrame, greater_is_better: bool) -> dict[str, Any]:
    """Ranks, the Friedman test and the Nemenyi p-values of a datasets × algorithms
    table; datasets with a missing score are dropped (and named)."""
    import scikit_posthocs as sp
    from scipy import stats

    complete = table.dropna()
    dropped = [str(d) for d in table.index if d not in complete.index]
    ranks = complete.rank(axis=1, ascending=not greater_is_better, method="average")
    result: dict[str, Any] = {"ranks": ranks, "mean_ranks": ranks.mean(), "dropped": dropped}
    if complete.shape[1] < 3 or complete.shape[0] < 2:
        result["not_computed"] = "needs at least 3 algorithms and 2 complete datasets"
        return result
    test = stats.friedmanchisquare(*(complete[c] for c in complete.columns))
    result.update(statistic=float(test.statistic), p_value=float(test.pvalue))
    result["posthoc"] = sp.posthoc_nemenyi_friedman(complete.to_numpy())
    return result


def stability(frame: pd.DataFrame, load_labels: Any, digest_column: str) -> pd.DataFrame:
    """Per setting (dataset identity, algorithm, params) with two or more seeds on the same
    data (one value of ``digest_column``), the mean and minimum pairwise adjusted Rand
    index between the seeds' labellings; ``load_labels(run_id)`` gives one labelling.
    Settings with one seed or seeds on different data get no value and a reason."""
    import itertools

    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    frame = frame.reset_index(drop=True).assign(dataset=lambda f: dataset_identities(f))
    params = param_columns(frame)
    keys = frame[params].map(format_value).agg("\x1f".join, axis=1) if params else ""
    rows = []
    for (dataset, algorithm, _), group in frame.groupby(["dataset", "algorithm", keys], sort=False):
        row: dict[str, Any] = {"dataset": dataset, "algorithm": algorithm}
        row["n_seeds"] = len(group)
        row.update(ari_mean=float("nan"), ari_min=float("nan"), reason="")
        if len(group) < 2:
            row["reason"] = "one seed"
        elif group[digest_column].nunique(dropna=False) > 1:
            row["reason"] = "the seeds saw different data (dataset digests differ)"
        else:
            labels = [load_labels(run_id) for run_id in group["run_id"]]
            scores = [adjusted_rand_score(a, b) for a, b in itertools.combinations(labels, 2)]
            row.update(ari_mean=float(sum(scores) / len(scores)), ari_min=float(min(scores)))
        rows.append(row)
    return pd.DataFrame(rows)
