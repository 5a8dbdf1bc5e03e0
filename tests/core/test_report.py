"""``clusterlab report`` reads each setting's scores over seeds back from MLflow and
writes the same n, mean, std and interval in every format."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from clusterlab.cli import main
from clusterlab.runner import run_experiment
from tests.core.test_comparison import (
    DIRECTIONS,
    NAME,
    PAIRS,
    assert_stats,
    reference,
    reference_best,
    run_seed_grid,
)
from tests.core.test_runner import EXPERIMENT, options

FORMATS = ["table", "csv", "json", "markdown", "html", "latex"]
METHOD = "Student t, n-1 dof"
# Text formats print four significant digits.
TEXT_REL = 1e-3


def test_report_json_matches_the_best_mean_per_setting(store, capsys):
    result = run_experiment(EXPERIMENT, options=options(store))
    capsys.readouterr()
    code = main(["report", "runner-test", "--tracking-uri", store, "--format", "json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    silhouette = [
        r for r in rows if r["metric"] == "toy_silhouette" and r["algorithm"] == "toy_kmeans"
    ]
    assert len(silhouette) == 1
    by_k: dict[int, list[float]] = {}
    for trial in result.trials:
        if trial.trial.algorithm == "toy_kmeans":
            by_k.setdefault(trial.trial.algorithm_params["n_clusters"], []).append(
                trial.scores["toy_silhouette"]
            )
    best_k = max(by_k, key=lambda k: np.mean(by_k[k]))
    assert silhouette[0]["mean"] == pytest.approx(np.mean(by_k[best_k]))
    assert silhouette[0]["setting"] == f"algorithm.n_clusters={best_k}"
    # fit time is a score where smaller is better
    fit = [r for r in rows if r["metric"] == "fit_time_s" and r["algorithm"] == "toy_kmeans"]
    assert fit and fit[0]["mean"] > 0


def test_report_sort_and_formats(store, capsys):
    run_experiment(EXPERIMENT, options=options(store))
    capsys.readouterr()
    assert (
        main(
            [
                "report",
                "runner-test",
                "--tracking-uri",
                store,
                "--sort",
                "toy_ari",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("dataset,algorithm,metric,greater_is_better,setting,n,mean")
    scores = [float(line.split(",")[6]) for line in lines[1:]]
    assert scores == sorted(scores, reverse=True)
    assert main(["report", "runner-test", "--tracking-uri", store, "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("| dataset | algorithm |")


def test_report_unknown_experiment_exits_2(store, capsys):
    run_experiment(EXPERIMENT, options=options(store))
    assert main(["report", "nope", "--tracking-uri", store]) == 2
    assert "no experiment 'nope'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory: pytest.TempPathFactory, migrated_store: Path) -> str:
    """A store holding the three-seed grid of ``test_comparison``."""
    return run_seed_grid(tmp_path_factory.mktemp("report-grid"), migrated_store)


def report_text(capsys, monkeypatch, uri: str, *flags: str) -> str:
    """What ``clusterlab report`` prints for the seed grid with ``flags``."""
    monkeypatch.setenv("COLUMNS", "250")  # a terminal table wide enough not to fold cells
    capsys.readouterr()
    assert main(["report", NAME, "--tracking-uri", uri, *flags]) == 0
    return capsys.readouterr().out


class _Cells(HTMLParser):
    """The text of every ``th`` and ``td`` cell of an HTML page, row by row, and
    whether the cell is in ``strong``."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.bold: list[list[bool]] = []
        self._cell: list[str] | None = None
        self._strong = False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
            self.bold.append([])
        elif tag in ("td", "th"):
            self._cell = []
            self._strong = False
        elif tag == "strong":
            self._strong = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self.bold[-1].append(self._strong)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


LATEX_TEXT = [
    (r"\textbackslash{}", "\\"),
    (r"\textless{}", "<"),
    (r"\textgreater{}", ">"),
    (r"\textbar{}", "|"),
    (r"$\pm$", "±"),
    (r"\&", "&"),
    (r"\%", "%"),
    (r"\$", "$"),
    (r"\#", "#"),
    (r"\_", "_"),
    (r"\{", "{"),
    (r"\}", "}"),
]


def latex_rows(text: str) -> tuple[list[str], list[list[str]], list[list[bool]]]:
    """A booktabs table's header, body cells (as printed) and which cells are bold."""
    lines = text.strip().splitlines()
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert lines.count(rule) == 1, rule
    top, mid, bottom = (lines.index(r) for r in (r"\toprule", r"\midrule", r"\bottomrule"))
    assert top < mid < bottom and r"\begin{tabular}" in lines[top - 1]
    assert lines[mid - 1 : mid] == [lines[top + 1]]  # one header line

    def split(line: str) -> list[str]:
        assert line.endswith(r" \\")
        raw = [c.strip() for c in re.split(r"(?<!\\)&", line[: -len(r" \\")])]
        # every special character is escaped: none is left bare in a cell
        assert not any(re.search(r"(?<!\\)[_%#&]", cell) for cell in raw), raw
        return raw

    def text_of(cell: str) -> str:
        cell = re.sub(r"^\\textbf\{(.*)\}$", r"\1", cell)
        for escaped, char in LATEX_TEXT:
            cell = cell.replace(escaped, char)
        return cell

    header = [text_of(c) for c in split(lines[top + 1])]
    body = [split(line) for line in lines[mid + 1 : bottom]]
    bold = [[c.startswith(r"\textbf{") for c in row] for row in body]
    return header, [[text_of(c) for c in row] for row in body], bold


def markdown_rows(text: str) -> tuple[list[str], list[list[str]], list[list[bool]]]:
    """A markdown table's header, body cells (as printed) and which cells are bold."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    rows = [[c.strip() for c in line.strip()[1:-1].split(" | ")] for line in lines]
    assert set(lines[1]) <= set("|-:")
    body = rows[2:]
    bold = [[re.fullmatch(r"\*\*.+\*\*", c) is not None for c in row] for row in body]
    plain = [[c[2:-2] if re.fullmatch(r"\*\*.+\*\*", c) else c for c in row] for row in body]
    return rows[0], plain, bold


def html_rows(text: str) -> tuple[list[str], list[list[str]], list[list[bool]]]:
    """An HTML table's header, body cells and which cells are bold."""
    cells = _Cells()
    cells.feed(text)
    assert not any(cells.bold[0]), "a header cell is bold"
    return cells.rows[0], cells.rows[1:], cells.bold[1:]


MARKED_ROWS = {"markdown": markdown_rows, "html": html_rows, "latex": latex_rows}


def parsed_table(fmt: str, out: str) -> list[dict[str, str]]:
    """The rows of a report in format ``fmt``, each as header → cell text."""
    if fmt == "json":
        return json.loads(out)
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(out)))
    if fmt in MARKED_ROWS:
        header, body, _ = MARKED_ROWS[fmt](out)
        rows = [header, *body]
    else:
        header = next(line for line in out.splitlines() if "┃" in line)
        body = [line for line in out.splitlines() if line.startswith("│")]
        rows = [
            [c.strip() for c in line.split("┃" if "┃" in line else "│")[1:-1]]
            for line in [header, *body]
        ]
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def stats_of(row: dict[str, str]) -> dict[str, str]:
    """A flat report row's statistics under the reference's names."""
    low, high = {"ci95 low", "ci95_low"}, {"ci95 high", "ci95_high"}
    names = {**dict.fromkeys(low, "ci_low"), **dict.fromkeys(high, "ci_high")}
    return {names.get(k, k): v for k, v in row.items()}


def expected_setting(fmt: str, setting: str) -> str:
    """The setting as format ``fmt`` prints it: the terminal drops the name prefixes."""
    return setting.replace("algorithm.", "") if fmt == "table" else setting


@pytest.mark.parametrize("every", [False, True], ids=["best", "all"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_carries_n_mean_std_and_interval(grid_store, capsys, monkeypatch, fmt, every):
    out = report_text(capsys, monkeypatch, grid_store, "--format", fmt, *(["--all"] * every))
    rows = [stats_of(r) for r in parsed_table(fmt, out)]
    expected, best = reference(grid_store), reference_best(grid_store)
    shown = {}
    for row in rows:
        group = (row["dataset"], row["algorithm"], row["metric"])
        setting = next(
            s for s in {k[2] for k in expected} if expected_setting(fmt, s) == row["setting"]
        )
        key = (*group[:2], setting, group[2])
        assert key not in shown
        shown[key] = row
        assert_stats(row, expected[key], rel=1e-9 if fmt in ("csv", "json") else TEXT_REL)
        if not every:
            assert setting in best[group]
    assert len(shown) == (len(expected) if every else len(best))
    assert {row["n"] for row in rows} >= ({1, 2, 3} if fmt == "json" else {"1", "2", "3"})
    # the output names how the interval is computed
    if fmt in ("csv", "json"):
        assert {row["ci_method"] for row in rows} == {METHOD}
    else:
        assert METHOD in " ".join(out.split())


PIVOT_CELL = re.compile(r"^(\S+)(?: ± (\S+))? \((\d+)\)$")


@pytest.mark.parametrize("score", ["toy_ari", "rare"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_pivot_cells_are_mean_std_and_n_in_every_format(
    grid_store, capsys, monkeypatch, fmt, score
):
    out = report_text(capsys, monkeypatch, grid_store, "--pivot", "--by", score, "--format", fmt)
    rows = parsed_table(fmt, out)
    expected, best = reference(grid_store), reference_best(grid_store)
    datasets = sorted({k[0] for k in best if k[2] == score})
    assert [list(row) for row in rows] == [["algorithm", *datasets]] * len(rows)
    assert sorted(row["algorithm"] for row in rows) == sorted({k[1] for k in best if k[2] == score})
    rel = TEXT_REL  # pivot cells are text in every format
    for row in rows:
        for dataset in datasets:
            mean, std, n = PIVOT_CELL.match(row[dataset]).groups()
            (setting,) = best[(dataset, row["algorithm"], score)]
            want = expected[(dataset, row["algorithm"], setting, score)]
            assert int(n) == want["n"]
            assert float(mean) == pytest.approx(want["mean"], rel=rel, abs=1e-12)
            if want["std"] is None:
                assert std is None  # "mean (n)": no spread where n = 1, not 0
            else:
                assert float(std) == pytest.approx(want["std"], rel=rel, abs=1e-12)


@pytest.mark.parametrize("fmt", list(MARKED_ROWS))
def test_pivot_is_bold_on_the_best_algorithm_per_dataset(grid_store, capsys, monkeypatch, fmt):
    out = report_text(capsys, monkeypatch, grid_store, "--pivot", "--by", "rare", "--format", fmt)
    header, body, bold = MARKED_ROWS[fmt](out)
    expected, best = reference(grid_store), reference_best(grid_store)
    assert PAIRS in header and "In bold: the best per dataset." in " ".join(out.split())
    if fmt == "latex":
        assert r"pairs 50\% \& co" in out
    for column, dataset in enumerate(header[1:], start=1):
        means = {}
        for row in body:
            (setting,) = best[(dataset, row[0], "rare")]
            means[row[0]] = expected[(dataset, row[0], setting, "rare")]["mean"]
        top = min(means.values())  # smaller is better for "rare"
        marked = {row[0] for row, flags in zip(body, bold, strict=True) if flags[column]}
        assert marked == {a for a, m in means.items() if m == top}
        assert not any(flags[0] for flags in bold)


@pytest.mark.parametrize("flags", [[], ["--all"]], ids=["best", "all"])
@pytest.mark.parametrize("fmt", list(MARKED_ROWS))
def test_table_is_bold_on_the_best_row_per_dataset_and_score(
    grid_store, capsys, monkeypatch, flags, fmt
):
    out = report_text(capsys, monkeypatch, grid_store, "--format", fmt, *flags)
    header, body, bold = MARKED_ROWS[fmt](out)
    if fmt != "latex":
        header, body, bold = _without_run_id(header, body, bold)
    assert "run_id" not in header
    at = {name: i for i, name in enumerate(header)}
    groups: dict[tuple[str, str], list[int]] = {}
    for i, row in enumerate(body):
        groups.setdefault((row[at["dataset"]], row[at["metric"]]), []).append(i)
    expected = reference(grid_store)
    for (dataset, metric), members in groups.items():
        means = [
            expected[(dataset, body[i][at["algorithm"]], body[i][at["setting"]], metric)]["mean"]
            for i in members
        ]
        top = (max if DIRECTIONS[metric] else min)(means)
        marked = [i for i in members if bold[i][at["mean"]]]
        assert marked == [i for i, m in zip(members, means, strict=True) if m == top]
    # only the mean is ever bold
    assert all(not flag for flags in bold for j, flag in enumerate(flags) if j != at["mean"])


def _without_run_id(header, body, bold):
    """A table with its run_id column left out, as the LaTeX table leaves it."""
    keep = [i for i, name in enumerate(header) if name != "run_id"]
    return (
        [header[i] for i in keep],
        [[row[i] for i in keep] for row in body],
        [[flags[i] for i in keep] for flags in bold],
    )


@pytest.mark.parametrize("flags", [[], ["--pivot", "--by", "rare"]], ids=["table", "pivot"])
def test_latex_compiles_with_booktabs(grid_store, capsys, monkeypatch, tmp_path, flags):
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("pdflatex is not on PATH; the table is still checked by latex_rows")
    out = report_text(capsys, monkeypatch, grid_store, "--format", "latex", *flags)
    document = "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
    (tmp_path / "report.tex").write_text(f"{document}{out}\n\\end{{document}}\n")
    done = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "report.pdf").stat().st_size > 0


def test_by_keeps_one_score_best_first_and_sort_is_the_same(grid_store, capsys, monkeypatch):
    by = report_text(capsys, monkeypatch, grid_store, "--by", "rare", "--format", "json")
    sort = report_text(capsys, monkeypatch, grid_store, "--sort", "rare", "--format", "json")
    assert by == sort
    rows = json.loads(by)
    assert {r["metric"] for r in rows} == {"rare"}
    for dataset in {r["dataset"] for r in rows}:
        means = [r["mean"] for r in rows if r["dataset"] == dataset]
        assert means == sorted(means)  # smaller is better for "rare"
    assert all(r["std"] is None and r["ci95_low"] is None for r in rows)  # n = 1


def test_an_unknown_score_exits_2_naming_the_scores(grid_store, capsys):
    assert main(["report", NAME, "--tracking-uri", grid_store, "--by", "nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and all(score in err for score in DIRECTIONS)


def test_all_and_pivot_do_not_go_together(grid_store, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["report", NAME, "--tracking-uri", grid_store, "--all", "--pivot"])
    assert stop.value.code == 2
    assert "not allowed with" in capsys.readouterr().err
