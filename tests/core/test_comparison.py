"""Statistics over seeds: each setting's n, mean, sample standard deviation and Student t
interval, checked against numpy and scipy on the scores MLflow holds for a real grid."""

from __future__ import annotations

import math
import shutil
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy import stats

from clusterlab import ScoreUndefined, hookimpl
from clusterlab.comparison import (
    BEST_COLUMNS,
    CI_METHOD,
    STAT_COLUMNS,
    best_per_dataset,
    best_settings,
    best_trials,
    seed_stats,
    setting_stats,
)
from clusterlab.results_table import trials_frame
from clusterlab.runner import run_experiment
from tests.core.test_runner import options

NAME = "seed-stats"
# Dataset labels with characters that LaTeX, HTML and Markdown must escape.
BLOBS, PAIRS = "blobs_3", "pairs 50% & co"
SEED_GRID = {
    "name": NAME,
    "device": "cpu",
    "seeds": [0, 1, 2],
    "datasets": [
        {"name": "toy_blobs", "label": BLOBS, "params": {"n_samples": 45}},
        {"name": "toy_blobs", "label": PAIRS, "params": {"n_samples": 30, "centers": 2}},
    ],
    "algorithms": [
        {"name": "toy_kmeans", "params": {"n_init": 1}, "grid": {"n_clusters": [2, 3]}},
        {"name": "one_cluster"},
    ],
    "metrics": ["toy_silhouette", "toy_ari", "gappy", "rare"],
}
DIRECTIONS = {
    "fit_time_s": False,
    "toy_silhouette": True,
    "toy_ari": True,
    "gappy": True,
    "rare": False,
}


def gappy(X, labels, y_true, estimator):
    """Defined for seeds 0 and 2 only: two seeds of three, so n = 2."""
    if estimator.random_state == 1:
        raise ScoreUndefined("seed 1 on purpose")
    return float(np.mean(np.asarray(labels))) + 0.1 * estimator.random_state


def rare(X, labels, y_true, estimator):
    """Defined for seed 0 only, so n = 1; smaller is better."""
    if estimator.random_state != 0:
        raise ScoreUndefined("seed 0 only")
    return float(len(np.unique(np.asarray(labels))))


@hookimpl
def register_metrics(register):
    register("gappy", gappy, greater_is_better=True)
    register("rare", rare, greater_is_better=False)


SEED_METRICS = types.SimpleNamespace(register_metrics=register_metrics)

Key = tuple[str, str, str, str]  # dataset, algorithm, setting, metric


def run_seed_grid(folder: Path, template: Path) -> str:
    """Run :data:`SEED_GRID` into a fresh sqlite store in ``folder``; its URI."""
    shutil.copy(template, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # the store's artifacts go below the working directory
        result = run_experiment(SEED_GRID, options=options(uri, extra=(("seeds", SEED_METRICS),)))
    assert result.ok and result.count("FINISHED") == 18
    return uri


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory: pytest.TempPathFactory, migrated_store: Path) -> str:
    """The URI of a store holding one run of :data:`SEED_GRID`."""
    return run_seed_grid(tmp_path_factory.mktemp("seed-grid"), migrated_store)


def trial_runs(uri: str) -> list:
    """The grid's finished trial runs, as MLflow's own client finds them."""
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(NAME)
    query = "tags.`clusterlab.kind` = 'trial' and attributes.status = 'FINISHED'"
    return client.search_runs([experiment.experiment_id], query, max_results=1000)


def seed_values(uri: str) -> dict[Key, list[float]]:
    """Each setting's logged values per score, one per seed that defined it."""
    values: dict[Key, list[float]] = {}
    for run in trial_runs(uri):
        params = run.data.params
        k = params["algorithm.n_clusters"]
        setting = f"algorithm.n_clusters={k}" if params["algorithm"] == "toy_kmeans" else ""
        for metric in DIRECTIONS:
            if metric in run.data.metrics:
                key = (params["dataset"], params["algorithm"], setting, metric)
                values.setdefault(key, []).append(run.data.metrics[metric])
    return values


def reference_stats(values: list[float]) -> dict[str, float | None]:
    """n, mean, std and the 95 % interval by numpy and scipy; None where n < 2."""
    n = len(values)
    mean = float(np.mean(values))
    if n < 2:
        return {"n": n, "mean": mean, "std": None, "ci_low": None, "ci_high": None}
    sem = stats.sem(values)
    # scipy takes no zero scale; seeds that agree exactly give a zero-width interval.
    low, high = stats.t.interval(0.95, n - 1, loc=mean, scale=sem) if sem > 0 else (mean, mean)
    std = float(np.std(values, ddof=1))
    return {"n": n, "mean": mean, "std": std, "ci_low": float(low), "ci_high": float(high)}


def reference(uri: str) -> dict[Key, dict[str, float | None]]:
    """:func:`reference_stats` of every setting and score of the grid in ``uri``."""
    return {key: reference_stats(v) for key, v in seed_values(uri).items()}


def reference_best(uri: str) -> dict[tuple[str, str, str], set[str]]:
    """(dataset, algorithm, score) → the settings with the best mean (ties all count)."""
    means: dict[tuple[str, str, str], dict[str, float]] = {}
    for (dataset, algorithm, setting, metric), row in reference(uri).items():
        means.setdefault((dataset, algorithm, metric), {})[setting] = row["mean"]
    best = {}
    for key, by_setting in means.items():
        pick = max if DIRECTIONS[key[2]] else min
        top = pick(by_setting.values())
        best[key] = {s for s, m in by_setting.items() if m == pytest.approx(top, rel=1e-12)}
    return best


def assert_stats(found: dict, expected: dict, rel: float = 1e-9) -> None:
    """``found``'s n, mean, std and interval are ``expected``'s; an undefined one is empty
    (None, NaN or ""), never 0."""
    assert int(found["n"]) == expected["n"]
    for name in ("mean", "std", "ci_low", "ci_high"):
        value, want = found[name], expected[name]
        if want is None:
            assert value is None or value == "" or math.isnan(value), (name, value)
        else:
            assert float(value) == pytest.approx(want, rel=rel, abs=1e-12), name


def test_reference_grid_has_every_n(grid_store):
    expected = reference(grid_store)
    assert {row["n"] for row in expected.values()} == {1, 2, 3}
    # one cluster leaves the silhouette undefined for every seed: no setting row at all
    assert not any(k[1] == "one_cluster" and k[3] == "toy_silhouette" for k in expected)


def test_setting_stats_match_numpy_and_scipy(grid_store):
    table = setting_stats(trials_frame(trial_runs(grid_store)), DIRECTIONS)
    assert list(table.columns[: len(STAT_COLUMNS)]) == list(STAT_COLUMNS)
    expected = reference(grid_store)
    keys = list(zip(table.dataset, table.algorithm, table.setting, table.metric, strict=True))
    assert sorted(keys) == sorted(expected)
    for key, row in zip(keys, table.to_dict("records"), strict=True):
        assert_stats(row, expected[key])
        values = seed_values(grid_store)[key]
        assert (row["min"], row["max"]) == (min(values), max(values))
        assert row["greater_is_better"] is DIRECTIONS[key[3]]


def test_best_trials_keep_their_columns_and_add_the_spread(grid_store):
    frame = trials_frame(trial_runs(grid_store))
    table = best_trials(frame, DIRECTIONS)
    assert list(table.columns[: len(BEST_COLUMNS)]) == list(BEST_COLUMNS)
    expected, best = reference(grid_store), reference_best(grid_store)
    assert len(table) == len(best)
    for row in table.to_dict("records"):
        group = (row["dataset"], row["algorithm"], row["metric"])
        assert row["setting"] in best[group]
        want = expected[(*group[:2], row["setting"], row["metric"])]
        renamed = {"n": row["n_seeds"], "mean": row["score"]}
        assert_stats({**row, **renamed}, want)


def test_seed_stats_follow_scipy_and_leave_undefined_spreads_empty():
    values = [0.31, 0.47, 0.12, 0.4]
    found = seed_stats(values)
    low, high = stats.t.interval(0.95, 3, loc=np.mean(values), scale=stats.sem(values))
    assert found["n"] == 4
    assert found["std"] == pytest.approx(stats.tstd(values))
    assert (found["ci_low"], found["ci_high"]) == pytest.approx((low, high))
    one = seed_stats([0.5])
    assert (one["n"], one["mean"]) == (1, 0.5)
    assert all(math.isnan(one[k]) for k in ("std", "ci_low", "ci_high"))
    assert seed_stats([])["n"] == 0 and math.isnan(seed_stats([])["mean"])
    assert CI_METHOD == "Student t, n-1 dof"


def small_table() -> pd.DataFrame:
    """Two settings of one algorithm and one of another, a seed with a missing score."""
    nan = float("nan")
    rows = [
        ("d", "a", 1, 0, 0.2, 3.0),
        ("d", "a", 1, 1, 0.4, 1.0),
        ("d", "a", 2, 0, 0.6, 2.0),
        ("d", "a", 2, 1, nan, 2.0),
        ("d", "b", 1, 0, 0.6, 4.0),
        ("e", "b", 1, 0, 0.1, 5.0),
    ]
    columns = ["dataset", "algorithm", "algorithm.k", "seed", "up", "down"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["run_id"] = [f"r{i}" for i in range(len(frame))]
    return frame


def test_a_missing_seed_lowers_n_and_a_single_value_has_no_spread():
    table = setting_stats(small_table(), {"up": True, "down": False})
    up = table[(table.metric == "up") & (table.algorithm == "a")].set_index("setting")
    assert list(up["n"]) == [2, 1]
    assert up.loc["algorithm.k=1", "std"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert math.isnan(up.loc["algorithm.k=2", "std"])
    assert math.isnan(up.loc["algorithm.k=2", "ci_low"])
    # the representative run is the one closest to the mean
    assert up.loc["algorithm.k=2", "run_id"] == "r2"


def test_best_settings_and_the_best_per_dataset_follow_each_direction():
    table = setting_stats(small_table(), {"up": True, "down": False})
    best = best_settings(table)
    chosen = {(r.dataset, r.algorithm, r.metric): r.setting for r in best.itertuples()}
    assert chosen[("d", "a", "up")] == "algorithm.k=2"  # 0.6 from one seed beats 0.3
    assert chosen[("d", "a", "down")] == "algorithm.k=1"  # 2.0 ties; the first wins
    marked = best[best_per_dataset(best)]
    winners = {(r.dataset, r.metric): r.algorithm for r in marked.itertuples()}
    assert len(marked) == 5
    # on d, a and b tie for "up" at 0.6: both are best
    assert sorted(marked[(marked.dataset == "d") & (marked.metric == "up")].algorithm) == [
        "a",
        "b",
    ]
    assert winners[("d", "down")] == "a" and winners[("e", "down")] == "b"
