"""A study across datasets: each algorithm's chosen setting per dataset, ranks, the
Friedman test and a post-hoc test, on a trials table (see
:func:`clusterlab.results_table.trials_frame`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clusterlab.comparison import setting_stats
from clusterlab.schema import PosthocTest
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


@dataclass
class RankTests:
    """Ranks and significance over a datasets × algorithms table of scores.

    Attributes:
        ranks: each algorithm's rank per dataset (1 is best; ties share the mean rank).
        mean_ranks: each algorithm's mean rank over the datasets.
        dropped: the datasets left out because an algorithm has no score there.
        statistic, p_value: the Friedman test's (``None`` where not computed).
        posthoc: the post-hoc test's p-value for each pair of algorithms.
        not_computed: why the tests were not run, or empty.
    """

    ranks: pd.DataFrame
    mean_ranks: pd.Series
    dropped: list[str]
    statistic: float | None = None
    p_value: float | None = None
    posthoc: pd.DataFrame | None = None
    not_computed: str = ""


def friedman(
    table: pd.DataFrame,
    greater_is_better: bool,
    posthoc: PosthocTest = "nemenyi",
    missing: str = "drop",
) -> RankTests:
    """Ranks, the Friedman test (scipy) and the post-hoc p-values (scikit-posthocs:
    Nemenyi's test, or pairwise Wilcoxon signed-rank tests with Holm's correction) of a
    datasets × algorithms table. A missing score drops its dataset (``missing="drop"``,
    the dropped datasets are named) or ranks last there (``"worst"``, for the rank tests
    only: the tests then run on the ranks, which give the same Friedman and Nemenyi
    results as the scores they rank)."""
    import scikit_posthocs as sp
    from scipy import stats

    if missing == "worst":
        complete = table.dropna(how="all")
        filled = complete.rank(axis=1, ascending=not greater_is_better, method="average")
        # An absent score ranks after every present one, ties among the absent shared.
        absent = filled.isna()
        last = filled.notna().sum(axis=1)
        share = last + (absent.sum(axis=1) + 1) / 2
        ranks = filled.mask(absent, share, axis=0)
        complete = -ranks  # higher is better: the tests below rank this again
        greater_is_better = True
    else:
        complete = table.dropna()
    dropped = [str(d) for d in table.index if d not in complete.index]
    ranks = complete.rank(axis=1, ascending=not greater_is_better, method="average")
    result = RankTests(ranks=ranks, mean_ranks=ranks.mean(), dropped=dropped)
    if complete.shape[1] < 3 or complete.shape[0] < 2:
        result.not_computed = (
            f"the Friedman test needs at least 3 algorithms and 2 datasets where every "
            f"algorithm has a score; there are {complete.shape[1]} and {complete.shape[0]}"
        )
        return result
    test = stats.friedmanchisquare(*(complete[c] for c in complete.columns))
    result.statistic, result.p_value = float(test.statistic), float(test.pvalue)
    if posthoc == "nemenyi":
        pvalues = sp.posthoc_nemenyi_friedman(complete.to_numpy())
    else:
        groups = [complete[c].to_numpy() for c in complete.columns]
        pvalues = sp.posthoc_wilcoxon(groups, p_adjust="holm")
    pvalues.index = pvalues.columns = list(complete.columns)
    result.posthoc = pvalues
    return result


def stability(
    frame: pd.DataFrame, load_labels: Callable[[str], Any], digest_column: str = "dataset_digest"
) -> pd.DataFrame:
    """Per setting (dataset identity, algorithm, params) with two or more seeds on the same
    data (one value of ``digest_column``), the mean and minimum pairwise adjusted Rand
    index between the seeds' labellings; ``load_labels(run_id)`` gives one labelling.
    Settings with one seed or seeds on different data get no value and a reason."""
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    frame = frame.reset_index(drop=True).assign(dataset=lambda f: dataset_identities(f))
    params = param_columns(frame)
    rows = []
    for (dataset, algorithm), runs in frame.groupby(["dataset", "algorithm"], sort=False):
        varying = [p for p in params if runs[p].map(format_value).nunique() > 1]
        keys = (
            runs[varying].map(format_value).agg("\x1f".join, axis=1)
            if varying
            else pd.Series("", index=runs.index)
        )
        for _, group in runs.groupby(keys, sort=False):
            first = group.iloc[0]
            setting = ", ".join(f"{short_name(p)}={format_value(first[p])}" for p in varying)
            row: dict[str, Any] = {"dataset": dataset, "algorithm": algorithm, "setting": setting}
            row.update(n_seeds=len(group), ari_mean=float("nan"), ari_min=float("nan"), reason="")
            if len(group) < 2:
                row["reason"] = "one seed"
            elif group[digest_column].nunique(dropna=False) > 1:
                row["reason"] = "the seeds saw different data (set the dataset's data_seed)"
            else:
                labels = [load_labels(run_id) for run_id in group["run_id"]]
                pairs = [adjusted_rand_score(a, b) for a, b in itertools.combinations(labels, 2)]
                row.update(ari_mean=float(sum(pairs) / len(pairs)), ari_min=float(min(pairs)))
            rows.append(row)
    return pd.DataFrame(rows)
