"""``clusterlab report --study SCORE``: a study read back from MLflow, in the report's
formats: the algorithms' scores per dataset under the selection rule with their mean
ranks, the Friedman and post-hoc tests, and the stability across seeds."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from clusterlab.errors import ExperimentError
from clusterlab.loading import load_experiment
from clusterlab.report import BEST_IN_BOLD, WRITERS, Report, experiment_and_uri
from clusterlab.results_table import FACT_DIRECTIONS, trials_frame
from clusterlab.schema import Study, StudySelectBy
from clusterlab.study_summary import POSTHOC_NAMES, StudyOutcome, compute_study
from clusterlab.tracking import ReadOnlyStore

if TYPE_CHECKING:
    import pandas as pd


def study_of(args: argparse.Namespace) -> Study:
    """The study the command line asks for: ``--study`` with ``--select-by``,
    ``--posthoc``, ``--missing`` and ``--alpha``, each defaulting to the experiment
    file's ``study:`` where a file with one is given."""
    declared = None
    if str(args.experiment).endswith((".yaml", ".yml")):
        declared = load_experiment(args.experiment).experiment.study
    fields: dict[str, Any] = declared.model_dump() if declared is not None else {}
    fields["score"] = args.study
    if args.select_by:
        fields["select"] = StudySelectBy(by=args.select_by)
    elif declared is None:
        fields["select"] = "oracle"
    for name in ("posthoc", "missing", "alpha"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    try:
        return Study.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()
        )
        raise ExperimentError(f"report --study: {problems}") from None


def study_report(args: argparse.Namespace) -> int:
    """Print the study ``args`` ask for; exit status 0."""
    name, uri = experiment_and_uri(args)
    study = study_of(args)
    store = ReadOnlyStore(uri, name)
    frame = trials_frame(store.finished_trials().values())
    if frame.empty:
        print(f"experiment '{name}' has no finished trials in {uri}", file=sys.stderr)
        return 0
    directions = {**store.directions(), **FACT_DIRECTIONS}
    wanted = [study.score] + ([] if isinstance(study.select, str) else [study.select.by])
    for score in wanted:
        if score not in directions or score not in frame.columns:
            scores = sorted(s for s in directions if s in frame.columns)
            raise ExperimentError(f"--study: no score '{score}'; scores: {', '.join(scores)}")
    outcome = compute_study(frame, directions, study, load_labels=_labels_loader(store, study))
    print(write_study(outcome, name, args.format))
    return 0


def _labels_loader(store: ReadOnlyStore, study: Study) -> Any:
    if not study.stability:
        return None
    return lambda run_id: store.load_array(run_id, "labels.npy")


def write_study(outcome: StudyOutcome, name: str, fmt: str) -> str:
    """The study in one of the report's formats: JSON as one object, the others as the
    scores table, the post-hoc p-values and the stability table one after the other."""
    if fmt == "json":
        return json.dumps(_json_ready(outcome), indent=1, ensure_ascii=False)
    parts = [scores_report(outcome, name)]
    if outcome.tests.posthoc is not None:
        parts.append(posthoc_report(outcome))
    if outcome.stability is not None and not outcome.stability.empty:
        parts.append(stability_report(outcome))
    return "\n\n".join(WRITERS[fmt](part) for part in parts)


def scores_report(outcome: StudyOutcome, name: str) -> Report:
    """Datasets × algorithms of the chosen settings' mean scores, the best per dataset in
    bold, and a last row of mean ranks; the caption gives the rule and the tests."""
    import pandas as pd

    table, tests = outcome.table, outcome.tests
    algorithms = [str(a) for a in table.columns]
    cells, bold = [], []
    for dataset, row in table.iterrows():
        values = row.to_numpy(dtype=float)
        defined = values[~pd.isna(values)]
        best = (
            (defined.max() if outcome.greater_is_better else defined.min())
            if defined.size
            else None
        )
        cells.append([str(dataset), *(_number(v) for v in values)])
        bold.append([False, *(best is not None and v == best for v in values)])
    ranks = [_number(tests.mean_ranks.get(a, math.nan), 3) for a in table.columns]
    cells.append(["mean rank", *ranks])
    bold.append([False] * (len(algorithms) + 1))
    data = table.copy()
    data.loc["mean rank"] = [tests.mean_ranks.get(a, math.nan) for a in table.columns]
    data = data.reset_index(names="dataset")
    return Report(
        title=f"Study of '{name}': {outcome.score} ({outcome.rule})",
        caption=_caption(outcome),
        data=data,
        headers=["dataset", *algorithms],
        cells=cells,
        bold=bold,
        numeric=[False, *(True for _ in algorithms)],
        bold_note=BEST_IN_BOLD,
    )


def _caption(outcome: StudyOutcome) -> str:
    tests = outcome.tests
    rule = (
        "the setting with the best mean of the score itself (oracle)"
        if outcome.rule == "oracle"
        else f"the setting with the best mean {outcome.rule.removeprefix('by ')}"
    )
    parts = [
        f"Each cell: the mean over seeds of {outcome.score} "
        f"({'higher' if outcome.greater_is_better else 'lower'} is better) of {rule}; "
        f"mean rank over the datasets, 1 is best."
    ]
    if outcome.missing == "worst":
        parts.append("An empty cell (no defined score) ranks last on its dataset.")
    if tests.dropped:
        parts.append(f"Left out of the ranks (a score is missing): {', '.join(tests.dropped)}.")
    if tests.p_value is None:
        parts.append(f"No test: {tests.not_computed}.")
    else:
        parts.append(
            f"Friedman test over {len(tests.ranks)} datasets: chi2 = {tests.statistic:.4g}, "
            f"p = {tests.p_value:.3g}; post-hoc: {POSTHOC_NAMES[outcome.posthoc]}, "
            f"alpha = {outcome.alpha:g}."
        )
    return " ".join(parts)


def posthoc_report(outcome: StudyOutcome) -> Report:
    """The post-hoc p-value of each pair of algorithms, those under the level in bold."""
    pvalues = outcome.tests.posthoc
    assert pvalues is not None
    names = [str(a) for a in pvalues.columns]
    cells = [[n, *(_number(v, 3) for v in pvalues.loc[n])] for n in pvalues.index]
    bold = [
        [False, *(a != b and v < outcome.alpha for b, v in pvalues.loc[a].items())]
        for a in pvalues.index
    ]
    return Report(
        title=f"{POSTHOC_NAMES[outcome.posthoc]} p-values",
        caption=f"The p-value of each pair of algorithms over {len(outcome.tests.ranks)} datasets.",
        data=pvalues.reset_index(names="algorithm"),
        headers=["algorithm", *names],
        cells=cells,
        bold=bold,
        numeric=[False, *(True for _ in names)],
        bold_note=f"In bold: the pairs that differ at alpha = {outcome.alpha:g}.",
    )


def stability_report(outcome: StudyOutcome) -> Report:
    """Per setting, the mean and minimum adjusted Rand index between its seeds' labels."""
    frame = outcome.stability
    assert frame is not None
    headers = ["dataset", "algorithm", "setting", "seeds", "ARI mean", "ARI min", "note"]
    cells = [
        [
            str(r.dataset),
            str(r.algorithm),
            str(r.setting),
            str(r.n_seeds),
            _number(r.ari_mean),
            _number(r.ari_min),
            str(r.reason),
        ]
        for r in frame.itertuples(index=False)
    ]
    return Report(
        title="Stability across seeds",
        caption=(
            "Pairwise adjusted Rand index between the labellings of a setting's seeds on "
            "the same data: 1 is the same partition whatever the seed."
        ),
        data=frame,
        headers=headers,
        cells=cells,
        bold=[[False] * len(headers) for _ in cells],
        numeric=[h in ("seeds", "ARI mean", "ARI min") for h in headers],
    )


def _number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value):.{digits}g}"


def _json_ready(outcome: StudyOutcome) -> dict[str, Any]:
    def records(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
        if frame is None:
            return None
        return json.loads(frame.to_json(orient="records", double_precision=15))

    return {
        **outcome.summary,
        "table": records(outcome.table.reset_index(names="dataset")),
        "chosen": records(outcome.chosen),
        "posthoc_p_values": records(
            None
            if outcome.tests.posthoc is None
            else outcome.tests.posthoc.reset_index(names="algorithm")
        ),
        "stability": records(outcome.stability),
    }
