"""Summary figures across an experiment's grid: each score against each swept parameter.

They work on a table with one row per finished trial: ``dataset``, ``algorithm``,
``seed``, ``run_id``, one column per parameter (``dataset.<p>``, ``algorithm.<p>``) and
one column per score, named after its metric. pandas and matplotlib are imported by the
functions that use them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from clusterlab.table_values import (
    as_text,
    format_value,
    is_missing,
    param_columns,
    score_columns,
    short_name,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# One colour per dataset line, the same in every figure (matplotlib's tab10).
LINE_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
SUMMARY_FOLDER = "summary"

Swept = Mapping[tuple[str, str], Sequence[str]]


def swept_columns(df: pd.DataFrame, swept: Swept | None = None) -> dict[tuple[str, str], list[str]]:
    """The parameter columns that vary for each (dataset, algorithm) pair of ``df``.

    The union of what ``swept`` declares for the pair and what the data shows: a
    parameter with more than one distinct value (a missing value counts as one) among
    the pair's rows.
    """
    params = param_columns(df)
    result: dict[tuple[str, str], list[str]] = {}
    for (dataset, algorithm), rows in df.groupby(["dataset", "algorithm"], sort=False):
        declared = set((swept or {}).get((str(dataset), str(algorithm)), ()))
        result[(str(dataset), str(algorithm))] = [
            p for p in params if p in declared or as_text(rows[p]).nunique() > 1
        ]
    return result


def summary_figures(
    df: pd.DataFrame,
    directions: Mapping[str, bool],
    swept: Swept | None = None,
    image_format: str = "png",
) -> list[tuple[str, Figure]]:
    """One figure per algorithm, swept algorithm parameter and score: the score against it.

    Each figure has one line per dataset (a dataset whose own parameters are swept gives
    one line per setting of them, e.g. ``blobs (cluster_std=0.5)``). A point is the mean
    over seeds and the band spans the minimum to the maximum over seeds. When the
    algorithm sweeps other parameters too, each seed's score is first averaged over
    them, and the title says so. Missing scores (undefined for a trial) are left out.
    Numeric parameters get a numeric axis, others one tick per value.

    Returns:
        ``(artifact_path, figure)`` pairs, the path being
        ``summary/<algorithm>/<score>_vs_<param>.png``.
    """
    import pandas as pd

    scores = score_columns(df, directions)
    if df.empty or not scores:
        return []
    df = df.reset_index(drop=True)
    pairs = swept_columns(df, swept)
    lines = _dataset_lines(df, pairs)
    colours = {name: LINE_COLORS[i % len(LINE_COLORS)] for i, name in enumerate(lines.unique())}
    figures: list[tuple[str, Figure]] = []
    for algorithm in df["algorithm"].unique():
        rows = df[df["algorithm"] == algorithm]
        params = _ordered_union(
            [p for p in cols if p.startswith("algorithm.")]
            for (_, a), cols in pairs.items()
            if a == algorithm
        )
        for param in params:
            others = [short_name(p) for p in params if p != param]
            axis = _Axis(rows[param])
            for score in scores:
                stats = line_stats(
                    pd.DataFrame(
                        {
                            "line": lines[rows.index],
                            "x": axis.positions,
                            "seed": rows["seed"],
                            "score": pd.to_numeric(rows[score], errors="coerce"),
                        }
                    )
                )
                if stats.empty:
                    continue
                figure = _score_figure(
                    stats, axis, colours, str(algorithm), score, directions[score], param, others
                )
                name = f"{_safe(score)}_vs_{_safe(short_name(param))}.{image_format}"
                figures.append((f"{SUMMARY_FOLDER}/{_safe(algorithm)}/{name}", figure))
    return figures


def line_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, minimum and maximum over seeds of ``score`` per ``line`` and ``x``.

    ``frame`` has columns ``line``, ``x``, ``seed`` and ``score``; rows sharing all
    three keys (other parameters' settings) are averaged first, per seed. Returns columns
    ``line``, ``x``, ``mean``, ``min``, ``max``, ``n_seeds``, in the order of first
    appearance of each line and x.
    """
    frame = frame.dropna(subset=["score", "x"])
    per_seed = frame.groupby(["line", "x", "seed"], sort=False)["score"].mean()
    stats = per_seed.groupby(level=["line", "x"], sort=False).agg(["mean", "min", "max", "count"])
    return stats.rename(columns={"count": "n_seeds"}).reset_index()


class _Axis:
    """A parameter's values as plotted: numbers on a numeric axis, else category positions."""

    def __init__(self, values: pd.Series) -> None:
        import numpy as np
        import pandas as pd

        present = values.dropna()
        try:
            numbers = pd.to_numeric(present, errors="coerce")
        except (TypeError, ValueError):  # lists and other objects are categories
            numbers = pd.Series(np.nan, index=present.index)
        # MLflow hands parameters back as text: "3" is numeric, True is not.
        self.numeric = (
            len(present) > 0
            and not present.map(lambda v: isinstance(v, bool | np.bool_)).any()
            and bool(numbers.notna().all())
        )
        if self.numeric:
            self.positions = pd.Series(numbers, index=values.index, dtype=float)
            self.categories: list[str] = []
        else:
            text = values.map(lambda v: None if is_missing(v) else format_value(v))
            self.categories = list(dict.fromkeys(text.dropna()))
            self.positions = text.map(self.categories.index, na_action="ignore")


def _score_figure(
    stats: pd.DataFrame,
    axis: _Axis,
    colours: Mapping[str, str],
    algorithm: str,
    score: str,
    greater_is_better: bool,
    param: str,
    others: list[str],
) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.4, 4.8), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    for line, points in stats.groupby("line", sort=False):
        points = points.sort_values("x")
        colour = colours[line]
        axes.plot(points["x"], points["mean"], marker="o", color=colour, label=str(line))
        axes.fill_between(
            points["x"], points["min"], points["max"], color=colour, alpha=0.2, linewidth=0
        )
    name = short_name(param)
    if axis.numeric:
        xs = stats["x"].astype(float)
        if (xs > 0).all() and xs.max() >= 100 * xs.min():
            axes.set_xscale("log")
        elif (xs == xs.round()).all():
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        axes.set_xticks(range(len(axis.categories)), labels=axis.categories)
    axes.set_xlabel(name)
    axes.set_ylabel(f"{score} ({'higher' if greater_is_better else 'lower'} is better)")
    most = int(stats["n_seeds"].max())
    notes = [f"mean over {most} seed{'s' if most != 1 else ''}, band: min–max over seeds"]
    if others:
        notes.append(f"averaged over {', '.join(others)}")
    axes.set_title(f"{algorithm}: {score} against {name}\n{'; '.join(notes)}", fontsize=10)
    axes.legend(title="dataset", fontsize="small")
    return figure


def _dataset_lines(df: pd.DataFrame, pairs: Mapping[tuple[str, str], Sequence[str]]) -> pd.Series:
    """Each row's line name: its dataset, with the dataset's swept parameters if any."""
    names = df["dataset"].astype(str).copy()
    for dataset in df["dataset"].unique():
        swept = _ordered_union(
            [p for p in cols if p.startswith("dataset.")]
            for (d, _), cols in pairs.items()
            if d == str(dataset)
        )
        if not swept:
            continue
        mask = df["dataset"] == dataset
        names[mask] = df.loc[mask, swept].apply(
            lambda row, name=dataset, cols=swept: (
                f"{name} ({', '.join(f'{short_name(c)}={format_value(row[c])}' for c in cols)})"
            ),
            axis=1,
        )
    return names


def _ordered_union(groups: Any) -> list[str]:
    return list(dict.fromkeys(item for group in groups for item in group))


def _safe(name: Any) -> str:
    # Artifact paths: one folder level per part, nothing a file system could misread.
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "_"
