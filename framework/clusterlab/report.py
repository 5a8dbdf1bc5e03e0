"""``clusterlab report``: the best trials of an experiment, read back from MLflow."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from clusterlab.comparison import best_trials
from clusterlab.errors import ExperimentError
from clusterlab.loading import load_experiment
from clusterlab.results_table import FACT_DIRECTIONS, trials_frame
from clusterlab.tracking import ReadOnlyStore, resolve_tracking_uri

SHOWN = [
    "dataset",
    "algorithm",
    "metric",
    "score",
    "score_min",
    "score_max",
    "n_seeds",
    "setting",
    "run_id",
]


def _experiment_and_uri(args: argparse.Namespace) -> tuple[str, str]:
    name, file_uri = args.experiment, None
    path = Path(args.experiment)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        experiment = load_experiment(path).experiment
        name, file_uri = experiment.name, experiment.tracking.uri
    return name, resolve_tracking_uri(args.tracking_uri, file_uri)


def best_trials_table(name: str, uri: str) -> Any:
    """The best-trial table of experiment ``name`` in store ``uri`` (a pandas frame)."""
    store = ReadOnlyStore(uri, name)
    frame = trials_frame(store.finished_trials().values())
    if frame.empty:
        return frame
    return best_trials(frame, {**FACT_DIRECTIONS, **store.directions()})


def report(args: argparse.Namespace) -> int:
    """Print the best trials in the format asked for; exit status 0."""
    name, uri = _experiment_and_uri(args)
    table = best_trials_table(name, uri)
    if table.empty:
        print(f"experiment '{name}' has no finished trials in {uri}", file=sys.stderr)
        return 0
    if args.sort:
        if args.sort not in set(table["metric"]):
            raise ExperimentError(
                f"--sort {args.sort}: no such score; scores: {', '.join(sorted(set(table.metric)))}"
            )
        table = table[table["metric"] == args.sort]
        greater = bool(table["greater_is_better"].iloc[0])
        table = table.sort_values("score", ascending=not greater)
    else:
        table = table.sort_values(["metric", "dataset", "algorithm"], kind="stable")
    shown = table[SHOWN]
    if args.format == "csv":
        print(shown.to_csv(index=False), end="")
    elif args.format == "json":
        print(shown.to_json(orient="records", indent=1))
    elif args.format == "markdown":
        print(_markdown(shown))
    else:
        _rich_table(_compact(table), f"Best trials of '{name}'")
    return 0


def _compact(table: Any) -> Any:
    """The terminal view: the spread folded into the score, short run ids, short names."""
    view = table[["metric", "dataset", "algorithm", "setting"]].copy()
    view["setting"] = view["setting"].str.replace(r"(dataset|algorithm)\.", "", regex=True)
    spread = (table["score_max"] - table["score_min"]) / 2
    view["score"] = [
        f"{score:.4g}" + (f" ± {half:.2g}" if n > 1 else "")
        for score, half, n in zip(table["score"], spread, table["n_seeds"], strict=True)
    ]
    view["seeds"] = table["n_seeds"].astype(str)
    view["run"] = table["run_id"].str[:8]
    return view


def _markdown(table: Any) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join([header, rule, *rows])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def _rich_table(table: Any, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(title=title)
    for column in table.columns:
        view.add_column(column, overflow="fold")
    for row in table.itertuples(False):
        view.add_row(*(_cell(v) for v in row))
    Console().print(view)
