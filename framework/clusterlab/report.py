"""``clusterlab report``: an experiment's parameter settings over seeds, read back from
MLflow.

Each setting (trials with identical parameters, different seeds) is described by n,
mean, sample standard deviation and a Student t confidence interval of the mean
(:func:`clusterlab.comparison.setting_stats`). The report shows the best setting per
dataset, algorithm and score (the default), every setting (``--all``), or one score as
algorithms × datasets (``--pivot``), as a terminal table, CSV, JSON, Markdown, HTML or a
LaTeX booktabs table.
"""

from __future__ import annotations

import argparse
import html
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clusterlab.comparison import (
    CI_LEVEL,
    CI_METHOD,
    STAT_COLUMNS,
    best_per_dataset,
    best_settings,
    html_page,
    setting_stats,
)
from clusterlab.errors import ExperimentError
from clusterlab.loading import load_experiment
from clusterlab.results_table import FACT_DIRECTIONS, trials_frame
from clusterlab.tracking import ReadOnlyStore, resolve_tracking_uri

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("table", "csv", "json", "markdown", "html", "latex")

# The flat report's columns in CSV and JSON, with the interval's level in its name.
CI_PERCENT = f"{CI_LEVEL:.0%}".rstrip("%")
CI_LOW, CI_HIGH = f"ci{CI_PERCENT}_low", f"ci{CI_PERCENT}_high"
_CI_NAMES = {"ci_low": CI_LOW, "ci_high": CI_HIGH}
# setting_stats' columns less the range and the representative seed, with the method.
DATA_COLUMNS = [
    *(_CI_NAMES.get(c, c) for c in STAT_COLUMNS if c not in ("min", "max", "seed", "run_id")),
    "ci_method",
    "run_id",
]
# The same, as the text formats head them.
TEXT_HEADERS = [
    "dataset",
    "algorithm",
    "metric",
    "setting",
    "n",
    "mean",
    "std",
    f"ci{CI_PERCENT} low",
    f"ci{CI_PERCENT} high",
    "run_id",
]
_NUMERIC_HEADERS = {"n", "mean", "std", f"ci{CI_PERCENT} low", f"ci{CI_PERCENT} high"}
STATS_NOTE = (
    "n: seeds with a defined score; mean over them; std: sample standard deviation"
    f" (ddof=1); ci{CI_PERCENT}: {CI_LEVEL:.0%} confidence interval of the mean"
    f" ({CI_METHOD}); std and ci{CI_PERCENT} are empty where n < 2."
)
BEST_IN_BOLD = "In bold: the best per dataset."


@dataclass
class Report:
    """What the report shows, before it is written in a format.

    ``data`` holds raw values for CSV and JSON; ``headers``, ``cells`` (text),
    ``bold`` (the cells to stand out) and ``numeric`` (which columns hold numbers, set
    right) are the same table for the text formats; ``bold_note`` says what the bold
    cells are, and ends the caption of the formats that show them.
    """

    title: str
    caption: str
    data: pd.DataFrame
    headers: list[str]
    cells: list[list[str]]
    bold: list[list[bool]]
    numeric: list[bool]
    bold_note: str = ""

    def text_caption(self) -> str:
        """The caption with what the bold cells are, for the formats that show them."""
        return f"{self.caption} {self.bold_note}" if self.bold_note else self.caption

    def text_rows(self) -> list[list[tuple[str, bool]]]:
        """Each row's cells with whether it is bold; an empty cell is never bold."""
        return [
            [(cell, bold and bool(cell)) for cell, bold in zip(row, marks, strict=True)]
            for row, marks in zip(self.cells, self.bold, strict=True)
        ]


def experiment_and_uri(args: argparse.Namespace) -> tuple[str, str]:
    """The experiment's name and the store's URI from ``args.experiment`` (a name or an
    experiment file, whose ``tracking.uri`` counts) and ``args.tracking_uri``."""
    name, file_uri = args.experiment, None
    path = Path(args.experiment)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        experiment = load_experiment(path).experiment
        name, file_uri = experiment.name, experiment.tracking.uri
    return name, resolve_tracking_uri(args.tracking_uri, file_uri)


def settings_table(name: str, uri: str) -> pd.DataFrame:
    """Every setting's scores over seeds of experiment ``name`` in store ``uri``: the
    :func:`~clusterlab.comparison.setting_stats` table of its finished trials, by score
    (the experiment's metrics in its order, then the trial facts), dataset and algorithm."""
    store = ReadOnlyStore(uri, name)
    frame = trials_frame(store.finished_trials().values())
    if frame.empty:
        return frame
    directions = {**store.directions(), **FACT_DIRECTIONS}
    stats = setting_stats(frame, directions)
    rank = stats["metric"].map({score: i for i, score in enumerate(directions)})
    # Settings keep their table order within a dataset and algorithm.
    ordered = stats.assign(rank=rank).sort_values(["rank", "dataset", "algorithm"], kind="stable")
    return ordered.drop(columns="rank").reset_index(drop=True)


def report(args: argparse.Namespace) -> int:
    """Print the report ``args`` ask for (see the ``report`` command); exit status 0."""
    name, uri = experiment_and_uri(args)
    stats = settings_table(name, uri)
    if stats.empty:
        print(f"experiment '{name}' has no finished trials in {uri}", file=sys.stderr)
        return 0
    by = _chosen_score(stats, args.by)
    if args.pivot:
        shown = _pivot_report(stats, by or _default_score(stats), name)
    else:
        shown = _flat_report(stats, by, args.all, name)
    print(WRITERS[args.format](shown))
    return 0


def _chosen_score(stats: pd.DataFrame, by: str | None) -> str | None:
    """``by`` when the table has that score; an :class:`ExperimentError` naming the
    scores when it has not."""
    scores = list(dict.fromkeys(stats["metric"]))
    if by is not None and by not in scores:
        raise ExperimentError(f"--by {by}: no such score; scores: {', '.join(sorted(scores))}")
    return by


def _default_score(stats: pd.DataFrame) -> str:
    """The score a pivot shows without ``--by``: the experiment's first metric (trial
    facts such as the fit time only where there is no metric)."""
    scores = list(dict.fromkeys(stats["metric"]))
    metrics = [s for s in scores if s not in FACT_DIRECTIONS]
    return (metrics or scores)[0]


def _flat_report(stats: pd.DataFrame, by: str | None, every: bool, name: str) -> Report:
    """One row per shown setting and score: every setting or the best per algorithm,
    of one score (best first per dataset) or of all (in the order of ``stats``)."""
    rows = stats if every else best_settings(stats)
    if by is not None:
        rows = rows[rows["metric"] == by]
        greater = bool(rows["greater_is_better"].iloc[0])
        rows = rows.sort_values(["dataset", "mean"], ascending=[True, not greater], kind="stable")
    data = rows.rename(columns=_CI_NAMES)
    data = data.assign(ci_method=CI_METHOD)[DATA_COLUMNS].reset_index(drop=True)
    best = best_per_dataset(rows).to_list()
    mean_at = TEXT_HEADERS.index("mean")
    cells = [_flat_cells(row) for row in data.to_dict("records")]
    scope = by if by else "each score"
    chosen = (
        f"Every setting, for {scope}."
        if every
        else f"The best setting per dataset and algorithm by the mean over seeds, for {scope}."
    )
    what = "Settings" if every else "Best settings"
    return Report(
        title=f"{what} of '{name}'",
        caption=f"{chosen} {STATS_NOTE}",
        data=data,
        headers=TEXT_HEADERS,
        cells=cells,
        bold=[[i == mean_at and is_best for i in range(len(TEXT_HEADERS))] for is_best in best],
        numeric=[h in _NUMERIC_HEADERS for h in TEXT_HEADERS],
        bold_note=BEST_IN_BOLD,
    )


def _flat_cells(row: dict[str, Any]) -> list[str]:
    """A flat report row (a record of :data:`DATA_COLUMNS`) as text, in
    :data:`TEXT_HEADERS` order."""
    names = [str(row[c]) for c in ("dataset", "algorithm", "metric", "setting", "n")]
    numbers = [_number(row[c]) for c in ("mean", "std", CI_LOW, CI_HIGH)]
    return [*names, *numbers, str(row["run_id"])]


def _pivot_report(stats: pd.DataFrame, score: str, name: str) -> Report:
    """Algorithms × datasets for ``score``: each cell the best setting's
    ``mean ± std (n)`` for that algorithm on that dataset."""
    import pandas as pd

    rows = best_settings(stats)
    rows = rows[rows["metric"] == score]
    datasets = list(dict.fromkeys(rows["dataset"]))
    algorithms = list(dict.fromkeys(rows["algorithm"]))
    text = {(r.algorithm, r.dataset): _pivot_cell(r.mean, r.std, r.n) for r in rows.itertuples()}
    best = {
        (r.algorithm, r.dataset)
        for r, is_best in zip(rows.itertuples(), best_per_dataset(rows), strict=True)
        if is_best
    }
    cells = [[a, *(text.get((a, d), "") for d in datasets)] for a in algorithms]
    greater = bool(rows["greater_is_better"].iloc[0])
    return Report(
        title=f"{score} of '{name}' by algorithm and dataset",
        caption=(
            f"{score} ({'higher' if greater else 'lower'} is better): mean ± std (n) over"
            " seeds of the best setting per algorithm and dataset, by the mean; std: sample"
            " standard deviation (ddof=1), left out where n < 2."
        ),
        data=pd.DataFrame(cells, columns=["algorithm", *datasets]),
        headers=["algorithm", *datasets],
        cells=cells,
        bold=[[False, *((a, d) in best for d in datasets)] for a in algorithms],
        numeric=[False, *(True for _ in datasets)],
        bold_note=BEST_IN_BOLD,
    )


def _pivot_cell(mean: float, std: float, n: int) -> str:
    """``mean ± std (n)``, or ``mean (n)`` where the standard deviation is not defined."""
    spread = "" if _is_nan(std) else f" ± {_number(std)}"
    return f"{_number(mean)}{spread} ({n})"


def _number(value: Any) -> str:
    """A statistic as text with four significant digits; empty where it is not defined."""
    return "" if _is_nan(value) else f"{float(value):.4g}"


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _csv(shown: Report) -> str:
    return shown.data.to_csv(index=False).rstrip("\n")


def _json(shown: Report) -> str:
    # Fifteen digits keep a double's value; pandas' default would round to ten.
    return shown.data.to_json(orient="records", indent=1, double_precision=15, force_ascii=False)


def _markdown(shown: Report) -> str:
    header = "| " + " | ".join(_markdown_cell(h) for h in shown.headers) + " |"
    rule = "|" + "".join("---:|" if n else "---|" for n in shown.numeric)
    rows = [
        "| " + " | ".join(_markdown_cell(c, bold) for c, bold in row) + " |"
        for row in shown.text_rows()
    ]
    return "\n".join([header, rule, *rows, "", f"*{shown.title}.* {shown.text_caption()}"])


def _markdown_cell(text: str, bold: bool = False) -> str:
    cell = text.replace("|", "\\|")
    return f"**{cell}**" if bold else cell


def _html(shown: Report) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in shown.headers)
    body = "\n".join(
        "<tr>" + "".join(_html_cell(c, bold) for c, bold in row) + "</tr>"
        for row in shown.text_rows()
    )
    table = f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    return html_page(shown.title, shown.text_caption(), table).rstrip("\n")


def _html_cell(text: str, bold: bool) -> str:
    cell = html.escape(text)
    return f"<td><strong>{cell}</strong></td>" if bold else f"<td>{cell}</td>"


# LaTeX's special characters in text, and the one non-ASCII sign the report writes.
_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "±": r"$\pm$",
}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters written so that they print as themselves."""
    return "".join(_LATEX_ESCAPES.get(char, char) for char in text)


def _latex(shown: Report) -> str:
    """A booktabs table (``\\usepackage{booktabs}``) in a ``table`` float with the
    caption and the report's bold cells. The flat table leaves the run ids out."""
    keep = [i for i, h in enumerate(shown.headers) if h != "run_id"]
    align = "".join("r" if shown.numeric[i] else "l" for i in keep)
    header = " & ".join(latex_escape(shown.headers[i]) for i in keep) + r" \\"
    rows = [" & ".join(_latex_cell(*row[i]) for i in keep) + r" \\" for row in shown.text_rows()]
    caption = latex_escape(f"{shown.title}. {shown.text_caption()}")
    return "\n".join(
        [
            r"\begin{table}[htbp]",
            r"\centering",
            rf"\caption{{{caption}}}",
            rf"\begin{{tabular}}{{{align}}}",
            r"\toprule",
            header,
            r"\midrule",
            *rows,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
        ]
    )


def _latex_cell(text: str, bold: bool) -> str:
    cell = latex_escape(text)
    return rf"\textbf{{{cell}}}" if bold else cell


def _terminal(shown: Report) -> str:
    """A rich table as the terminal shows it (short run ids and parameter names)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    view = Table(title=Text(shown.title), caption=Text(shown.text_caption()))
    for header, numeric in zip(shown.headers, shown.numeric, strict=True):
        view.add_column(header, overflow="fold", justify="right" if numeric else "left")
    for row in shown.text_rows():
        view.add_row(
            *(
                Text(_terminal_cell(h, c), style="bold" if bold else "")
                for h, (c, bold) in zip(shown.headers, row, strict=True)
            )
        )
    console = Console()
    with console.capture() as captured:
        console.print(view)
    return captured.get().rstrip("\n")


def _terminal_cell(header: str, text: str) -> str:
    if header == "run_id":
        return text[:8]
    if header == "setting":
        return re.sub(r"(^|, )(?:dataset|algorithm)\.", r"\1", text)
    return text


WRITERS = {
    "table": _terminal,
    "csv": _csv,
    "json": _json,
    "markdown": _markdown,
    "html": _html,
    "latex": _latex,
}
