"""Summary figures across an experiment's grid: each score against each swept parameter.

They work on a table with one row per finished trial: ``dataset``, ``algorithm``,
``seed``, ``run_id``, one column per parameter (``dataset.<p>``, ``algorithm.<p>``) and
one column per score, named after its metric. Nothing is averaged over a swept
parameter: each setting of the other swept parameters gets a line of its own, and a
point is the mean over seeds of one setting. pandas and matplotlib are imported by the
functions that use them.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    from matplotlib.axes import Axes
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
# One marker and line style per setting of the other swept parameters.
SETTING_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<")
SETTING_LINESTYLES = ("-", "--", ":", "-.")
BEST_MARKER = "*"
BEST_LABEL = "best mean per dataset"
# More lines than this in one axes are split into one subplot per dataset (or per setting).
MAX_LINES = 8
# Categorical points of neighbouring lines are shifted apart by at most this much.
MAX_DODGE = 0.3
# Lines without a defined score named in the title, before "and N more".
MAX_MISSING_NAMED = 12
SUMMARY_FOLDER = "summary"
MISSING_TEXT = "–"

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

    A line is one dataset (a dataset whose own parameters are swept gives one per
    setting of them, e.g. ``blobs (cluster_std=0.5)``) at one setting of the
    algorithm's other swept parameters (``blobs · linkage=ward``): colour tells the
    datasets apart, marker and line style the settings. Beyond :data:`MAX_LINES` lines
    the figure has one subplot per dataset, or per setting where those are fewer lines.

    A point is the mean over seeds. A numeric parameter gets a line with a band of
    mean ± sample standard deviation over seeds; any other (text, bools, lists) gets
    one tick per value and points with error bars of the same spread, dodged per line
    and not connected. Points whose count of seeds with a defined score is below the
    figure's largest are marked ``n=…``; each dataset's best mean, in the score's
    direction, is marked with a star. A line without any defined score is named in the
    figure's title; a figure is drawn when at least one line has a point.

    Returns:
        ``(artifact_path, figure)`` pairs, the path being
        ``summary/<algorithm>/<score>_vs_<param>.<image_format>``.
    """
    scores = score_columns(df, directions)
    if df.empty or not scores:
        return []
    df = df.reset_index(drop=True)
    pairs = swept_columns(df, swept)
    datasets = _dataset_lines(df, pairs)
    colours = {name: LINE_COLORS[i % len(LINE_COLORS)] for i, name in enumerate(datasets.unique())}
    figures: list[tuple[str, Figure]] = []
    for algorithm in df["algorithm"].unique():
        rows = df[df["algorithm"] == algorithm]
        params = _ordered_union(
            [p for p in cols if p.startswith("algorithm.")]
            for (_, a), cols in pairs.items()
            if a == algorithm
        )
        for param in params:
            axis = _Axis(rows[param])
            settings = _settings(rows, [p for p in params if p != param])
            for score in scores:
                lines = score_lines(datasets[rows.index], settings, axis.positions, rows, score)
                if not any(line.has_points for line in lines):
                    continue
                spec = _FigureSpec(str(algorithm), score, directions[score], param, axis)
                name = f"{_safe(score)}_vs_{_safe(short_name(param))}.{image_format}"
                path = f"{SUMMARY_FOLDER}/{_safe(algorithm)}/{name}"
                figures.append((path, _score_figure(spec, lines, colours)))
    return figures


@dataclass
class ScoreLine:
    """One line of a summary figure: a dataset at one setting of the other swept parameters.

    Attributes:
        dataset: the dataset's line name (with its swept parameters, if any).
        setting: the other swept parameters' values, ``""`` where there are none.
        points: ``x``, ``mean``, ``std`` (sample, ``NaN`` for one seed) and ``n_seeds`` per
            value of the plotted parameter the line's trials have, sorted by ``x``; ``mean``
            is ``NaN`` where no seed has a defined score.
    """

    dataset: str
    setting: str
    points: pd.DataFrame

    @property
    def label(self) -> str:
        """How the line reads in the legend and in the list of lines without a score."""
        return f"{self.dataset} · {self.setting}" if self.setting else self.dataset

    @property
    def has_points(self) -> bool:
        """Whether any value of the plotted parameter has a defined score."""
        return bool(self.points["mean"].notna().any())


def score_lines(
    datasets: pd.Series, settings: pd.Series, x: pd.Series, rows: pd.DataFrame, score: str
) -> list[ScoreLine]:
    """The lines of one figure, in order of first appearance of dataset and setting.

    ``datasets``, ``settings`` and ``x`` give each row of ``rows`` its line and position;
    rows without a position (the parameter does not apply to them) are left out.
    """
    import pandas as pd

    frame = pd.DataFrame(
        {
            "dataset": datasets,
            "setting": settings,
            "x": x,
            "seed": rows["seed"],
            "score": pd.to_numeric(rows[score], errors="coerce"),
        }
    ).dropna(subset=["x"])
    stats = point_stats(frame)
    lines = []
    for (dataset, setting), trials in frame.groupby(["dataset", "setting"], sort=False):
        # Every position the line's trials have, so an undefined one breaks the line.
        positions = pd.DataFrame({"x": sorted(trials["x"].unique())})
        own = stats[(stats["dataset"] == dataset) & (stats["setting"] == setting)]
        points = positions.merge(own.drop(columns=["dataset", "setting"]), on="x", how="left")
        points["n_seeds"] = points["n_seeds"].fillna(0).astype(int)
        lines.append(ScoreLine(str(dataset), str(setting), points))
    return lines


def point_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample standard deviation and count over seeds of ``score`` per line and ``x``.

    ``frame`` has columns ``dataset``, ``setting``, ``x``, ``seed`` and ``score``. Rows
    sharing all of them but the score (the same trial run twice) are averaged first, so
    that each seed counts once; undefined scores are left out. Returns columns
    ``dataset``, ``setting``, ``x``, ``mean``, ``std`` (``NaN`` for a single seed) and
    ``n_seeds``.
    """
    keys = ["dataset", "setting", "x"]
    frame = frame.dropna(subset=["score", "x"])
    per_seed = frame.groupby([*keys, "seed"], sort=False)["score"].mean()
    stats = per_seed.groupby(level=keys, sort=False).agg(["mean", "std", "count"])
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


@dataclass
class _FigureSpec:
    """What one figure plots: an algorithm's score against one of its parameters."""

    algorithm: str
    score: str
    greater_is_better: bool
    param: str
    axis: _Axis

    @property
    def heading(self) -> str:
        return f"{self.algorithm}: {self.score} against {short_name(self.param)}"

    @property
    def ylabel(self) -> str:
        return f"{self.score} ({'higher' if self.greater_is_better else 'lower'} is better)"


@dataclass
class _Style:
    """How one line is drawn: its dataset's colour, its setting's marker and line style."""

    colour: str
    marker: str
    linestyle: str
    offset: float = 0.0


def _score_figure(spec: _FigureSpec, lines: list[ScoreLine], colours: Mapping[str, str]) -> Figure:
    from matplotlib.figure import Figure

    panels = _panels([line for line in lines if line.has_points])
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    size = (6.4, 4.8) if len(panels) == 1 else (4.4 * ncols, 3.6 * nrows + 1.0)
    figure = Figure(figsize=size, dpi=100, layout="constrained")
    grid = list(figure.subplots(nrows, ncols, sharex=True, squeeze=False).flat)
    used = grid[: len(panels)]
    for axes in grid[len(panels) :]:
        axes.set_visible(False)
    styles = _styles(lines, colours, spec.axis.numeric)
    most = max(int(line.points["n_seeds"].max()) for line in lines if line.has_points)
    for axes, (title, members) in zip(used, panels, strict=True):
        _draw_panel(axes, spec, members, styles, most)
        if title:
            axes.set_title(title, fontsize=9)
    _mark_best(used, panels, styles, spec.greater_is_better)
    for axes in used:
        _legend(axes, single=len(used) == 1)
    _label(figure, used, spec, "\n".join([spec.heading, *_notes(spec, lines, most)]))
    return figure


def _label(figure: Figure, used: Sequence[Axes], spec: _FigureSpec, title: str) -> None:
    """Axis labels and the title on the one axes, or on the figure over its subplots."""
    xlabel = short_name(spec.param)
    if len(used) == 1:
        used[0].set_xlabel(xlabel)
        used[0].set_ylabel(spec.ylabel)
        used[0].set_title(title, fontsize=10)
    else:
        figure.supxlabel(xlabel)
        figure.supylabel(spec.ylabel)
        figure.suptitle(title, fontsize=10)


def _panels(lines: list[ScoreLine]) -> list[tuple[str, list[ScoreLine]]]:
    """The lines grouped into subplots: all in one up to :data:`MAX_LINES`, else one
    subplot per dataset, or per setting where a dataset has too many settings and the
    datasets are few."""
    if len(lines) <= MAX_LINES:
        return [("", lines)]
    datasets = list(dict.fromkeys(line.dataset for line in lines))
    settings = list(dict.fromkeys(line.setting for line in lines))
    by_dataset = len(settings) <= MAX_LINES or len(datasets) > MAX_LINES
    keys = datasets if by_dataset else settings
    return [
        (key, [line for line in lines if (line.dataset if by_dataset else line.setting) == key])
        for key in keys
    ]


def _styles(
    lines: list[ScoreLine], colours: Mapping[str, str], numeric: bool
) -> dict[tuple[str, str], _Style]:
    settings = list(dict.fromkeys(line.setting for line in lines))
    # Categorical points of different lines at one tick sit side by side, not on top.
    step = min(0.15, MAX_DODGE * 2 / len(lines)) if not numeric and len(lines) > 1 else 0.0
    return {
        (line.dataset, line.setting): _Style(
            colours[line.dataset],
            SETTING_MARKERS[settings.index(line.setting) % len(SETTING_MARKERS)],
            SETTING_LINESTYLES[settings.index(line.setting) % len(SETTING_LINESTYLES)],
            (index - (len(lines) - 1) / 2) * step,
        )
        for index, line in enumerate(lines)
    }


def _draw_panel(
    axes: Axes,
    spec: _FigureSpec,
    lines: list[ScoreLine],
    styles: Mapping[tuple[str, str], _Style],
    most: int,
) -> None:
    from matplotlib.ticker import MaxNLocator

    for line in lines:
        style = styles[(line.dataset, line.setting)]
        if spec.axis.numeric:
            _draw_band_line(axes, line, style)
        else:
            _draw_error_bars(axes, line, style)
        _mark_counts(axes, line, style, most)
    if spec.axis.numeric:
        xs = spec.axis.positions.dropna()
        if (xs > 0).all() and xs.max() >= 100 * xs.min():
            axes.set_xscale("log")
        elif (xs == xs.round()).all():
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        axes.set_xticks(range(len(spec.axis.categories)), labels=spec.axis.categories)


def _draw_band_line(axes: Axes, line: ScoreLine, style: _Style) -> None:
    """The mean as a line, broken where no seed is defined, in a band of mean ± std."""
    points = line.points
    axes.plot(
        points["x"],
        points["mean"],
        marker=style.marker,
        linestyle=style.linestyle,
        color=style.colour,
        label=line.label,
    )
    if points["std"].notna().any():
        # A single seed has no spread: the band leaves that point out rather than pinch.
        axes.fill_between(
            points["x"],
            points["mean"] - points["std"],
            points["mean"] + points["std"],
            color=style.colour,
            alpha=0.15,
            linewidth=0,
        )


def _draw_error_bars(axes: Axes, line: ScoreLine, style: _Style) -> None:
    """The mean at each category as a point with a bar of ± std; no line joins them."""
    points = line.points.dropna(subset=["mean"])
    axes.errorbar(
        points["x"] + style.offset,
        points["mean"],
        yerr=points["std"],
        fmt=style.marker,
        linestyle="none",
        color=style.colour,
        capsize=3,
        label=line.label,
    )


def _mark_counts(axes: Axes, line: ScoreLine, style: _Style, most: int) -> None:
    """``n=…`` beside each point with fewer seeds than the figure's best-covered point."""
    for point in line.points.itertuples(index=False):
        if 0 < point.n_seeds < most:
            axes.annotate(
                f"n={point.n_seeds}",
                (point.x + style.offset, point.mean),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=7,
                color=style.colour,
            )


def _mark_best(
    axes_list: Sequence[Axes],
    panels: list[tuple[str, list[ScoreLine]]],
    styles: Mapping[tuple[str, str], _Style],
    greater_is_better: bool,
) -> None:
    """A star on each dataset's best mean, in the subplot that holds it."""
    best: dict[str, tuple[float, float, int, _Style]] = {}
    sign = 1.0 if greater_is_better else -1.0
    for panel, (_, lines) in enumerate(panels):
        for line in lines:
            style = styles[(line.dataset, line.setting)]
            for point in line.points.dropna(subset=["mean"]).itertuples(index=False):
                held = best.get(line.dataset)
                if held is None or sign * point.mean > sign * held[1]:
                    best[line.dataset] = (point.x + style.offset, point.mean, panel, style)
    for x, mean, panel, style in best.values():
        axes_list[panel].scatter(
            [x],
            [mean],
            marker=BEST_MARKER,
            s=220,
            color=style.colour,
            edgecolors="black",
            linewidths=0.8,
            zorder=4,
            label="_best",
        )


def _legend(axes: Axes, single: bool) -> None:
    from matplotlib.lines import Line2D

    handles, labels = axes.get_legend_handles_labels()
    star = Line2D(
        [],
        [],
        marker=BEST_MARKER,
        linestyle="none",
        markersize=12,
        markerfacecolor="white",
        markeredgecolor="black",
    )
    axes.legend(
        [*handles, star],
        [*labels, BEST_LABEL],
        fontsize="small" if single else "x-small",
    )


def _notes(spec: _FigureSpec, lines: list[ScoreLine], most: int) -> list[str]:
    """The title's notes: what a point and its spread are, and the lines without a score."""
    drawn = [line for line in lines if line.has_points]
    counts = {int(n) for line in drawn for n in line.points["n_seeds"] if n > 0}
    if most == 1:
        notes = ["one seed per point: no spread to show"]
    else:
        if counts == {most}:
            seeds = f"mean over {most} seeds"
        else:
            seeds = f"mean over {min(counts)}–{most} seeds (n=… where fewer than {most})"
        spread = "band" if spec.axis.numeric else "bars"
        spread += ": mean ± std over seeds"
        if 1 in counts:
            spread += " (none where n=1)"
        notes = [f"{seeds}; {spread}"]
    missing = [line.label for line in lines if not line.has_points]
    if missing:
        named = ", ".join(missing[:MAX_MISSING_NAMED])
        if len(missing) > MAX_MISSING_NAMED:
            named += f" and {len(missing) - MAX_MISSING_NAMED} more"
        notes.extend(textwrap.wrap(f"no defined {spec.score}: {named}", width=90))
    return notes


def _settings(rows: pd.DataFrame, others: Sequence[str]) -> pd.Series:
    """Each row's setting of the other swept parameters, e.g. ``linkage=ward, n_init=3``."""
    import pandas as pd

    if not others:
        return pd.Series("", index=rows.index)
    return rows[list(others)].apply(
        lambda row: ", ".join(f"{short_name(c)}={_shown(row[c])}" for c in others), axis=1
    )


def _shown(value: Any) -> str:
    return MISSING_TEXT if is_missing(value) else format_value(value)


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
