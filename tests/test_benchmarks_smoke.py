"""Smoke tests of the benchmark suite: the harness on tiny sizes, and its agreement checks.

Nothing here asserts how fast anything is: only that cases run, that wrong results are
caught before a time is reported, and that the reports are well formed.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from benchmarks import adopt
from benchmarks import agglomerative as agglo_bench
from benchmarks import dbscan as dbscan_bench
from benchmarks import kmeans as kmeans_bench
from benchmarks.__main__ import details, render_markdown, render_text, table_rows
from benchmarks._harness import (
    Context,
    Disagreement,
    Impl,
    Row,
    Target,
    alternate,
    measure,
    measure_in_children,
    peak_in_child,
    save_arrays,
)


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    """A one-round CPU context that writes into a temporary folder."""
    return Context(
        quick=True, device="cpu", repeats=1, out_dir=tmp_path, scratch=tmp_path, log=lambda _: None
    )


def test_alternate_rotates_and_checks_the_first_round() -> None:
    calls: list[str] = []

    def make(name: str) -> Any:
        return lambda: calls.append(name) or name

    seen: list[dict[str, Any]] = []

    def check(results: Any) -> str:
        seen.append(dict(results))
        return "fine"

    samples, results, agreement = alternate(
        {"a": make("a"), "b": make("b"), "c": make("c")}, check, repeats=3
    )
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert {name: len(values) for name, values in samples.items()} == {"a": 3, "b": 3, "c": 3}
    assert results == {"a": "a", "b": "b", "c": "c"}
    assert agreement == "fine"
    assert len(seen) == 1


def test_a_wrong_kmeans_result_is_rejected_and_no_time_reported(ctx: Context) -> None:
    data = kmeans_bench.make_data(400, 4, 3)
    params = {"iterations": 5, "device": "cpu"}

    def wrong(data: Any, params: Any) -> Any:
        fitted = kmeans_bench.fit_sklearn(data, params)
        return SimpleNamespace(inertia_=fitted.inertia_ * 1.01, n_iter_=fitted.n_iter_)

    impls = [Impl("clusterlab", wrong), Impl("sklearn", kmeans_bench.fit_sklearn)]
    row = Row("kmeans", "tiny", targets=[Target("time", "sklearn", 1.0)])
    measure(row, ctx, data, params, impls, kmeans_bench.make_check(data["X"]))
    assert row.error is not None and "inertia" in row.error
    assert row.times == {}
    assert row.met is False
    assert row.targets[0].value is None


def test_a_disagreeing_peer_is_left_out_and_the_case_goes_on(ctx: Context) -> None:
    data = kmeans_bench.make_data(400, 4, 3)
    params = {"iterations": 5, "device": "cpu"}

    def off_peer(data: Any, params: Any) -> Any:
        return SimpleNamespace(centroids=data["init"] + 5.0, obj=[0.0] * 5)

    impls = [
        Impl("clusterlab", kmeans_bench.fit_sklearn),
        Impl("sklearn", kmeans_bench.fit_sklearn),
        Impl("faiss", off_peer),
    ]
    row = Row("kmeans", "tiny", targets=[Target("time", "sklearn", 1.0)])
    measure(row, ctx, data, params, impls, kmeans_bench.make_check(data["X"]))
    assert row.error is None
    assert set(row.times) == {"clusterlab", "sklearn"}
    assert "faiss left out" in row.agreement


def test_clusterlab_kmeans_agrees_with_sklearn_on_a_tiny_case(ctx: Context) -> None:
    data = kmeans_bench.make_data(500, 4, 3)
    params = {"iterations": kmeans_bench.ITERATIONS, "device": "cpu"}
    impls = [i for i in kmeans_bench.impls() if i.name != "faiss"]
    row = Row("kmeans", "tiny", unit="s/iter", targets=[Target("time", "sklearn", 1.0)])
    measure(
        row,
        ctx,
        data,
        params,
        impls,
        kmeans_bench.make_check(data["X"]),
        per=kmeans_bench.per_iteration,
    )
    assert row.error is None, row.error
    assert "inertia within" in row.agreement
    assert row.targets[0].value is not None


def test_dbscan_check_accepts_renumbering_and_rejects_other_cores() -> None:
    X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2], [9.0]], dtype=np.float32)
    labels = np.array([0, 0, 0, 1, 1, 1, -1])
    core = np.array([0, 1, 2, 3, 4, 5])
    renumbered = np.array([1, 1, 1, 0, 0, 0, -1])
    assert "ARI 1.0" in dbscan_bench.compare_labels(X, 0.15, (renumbered, core), (labels, core))
    with pytest.raises(Disagreement, match="core points differ"):
        dbscan_bench.compare_labels(X, 0.15, (labels, core[:-1]), (labels, core))
    noisy = labels.copy()
    noisy[5] = -1
    with pytest.raises(Disagreement, match="noise differs"):
        dbscan_bench.compare_labels(X, 0.15, (noisy, core), (labels, core))


def test_dbscan_check_allows_a_border_point_shared_by_two_clusters() -> None:
    # Point 3 (x=1.5) is within eps=1 of core points of both clusters; either is valid.
    X = np.array([[0.0], [0.5], [1.0], [1.5], [2.0], [2.5], [3.0]], dtype=np.float32)
    core = np.array([0, 1, 2, 4, 5, 6])
    first = np.array([0, 0, 0, 0, 1, 1, 1])
    second = np.array([0, 0, 0, 1, 1, 1, 1])
    text = dbscan_bench.compare_labels(X, 0.6, (second, core), (first, core))
    assert "1 border points" in text
    far = np.array([0, 0, 0, 1, 1, 1, 1])
    with pytest.raises(Disagreement, match="border point"):
        dbscan_bench.compare_labels(X, 0.4, (far, core), (first, core))


def test_agglomerative_check_rejects_wrong_heights() -> None:
    X = agglo_bench.make_data(60, d=3)
    params = {"linkage": "average", "device": "cpu"}
    reference = agglo_bench.fit_sklearn(X, params)
    good = SimpleNamespace(
        linkage_matrix_=np.column_stack([reference.children_, reference.distances_]),
        labels_=reference.labels_,
    )
    assert "clusterlab 0.0e+00" in agglo_bench.check({"clusterlab": good, "sklearn": reference})
    off = SimpleNamespace(
        linkage_matrix_=np.column_stack([reference.children_, reference.distances_ * 1.001]),
        labels_=reference.labels_,
    )
    with pytest.raises(Disagreement, match="merge heights") as caught:
        agglo_bench.check({"clusterlab": off, "sklearn": reference})
    assert caught.value.who == "clusterlab"


def test_peak_memory_is_measured_in_a_fresh_process(tmp_path: Path) -> None:
    path = save_arrays(tmp_path, "tiny", kmeans_bench.make_data(300, 4, 3))
    impl = Impl("sklearn", kmeans_bench.fit_sklearn)
    got = peak_in_child(impl, path, {"iterations": 3, "device": "cpu"}, "cpu", timeout_s=300)
    assert got["peak_mb"] >= 0.0
    assert got["time_s"] > 0.0
    assert got["n_iter"] >= 1
    assert got["method"]


def broken_fit(data: Any, params: Any) -> Any:
    """A fit that fails, for the child-process test."""
    raise ValueError("deliberately broken")


def test_a_failing_child_leaves_a_note_and_the_others_are_measured(ctx: Context) -> None:
    data = kmeans_bench.make_data(300, 4, 3)
    impls = [Impl("sklearn", kmeans_bench.fit_sklearn), Impl("broken", broken_fit)]
    row = Row("scaling:kmeans", "tiny", params={"n": 300}, unit="s/iter")
    params = {"iterations": 3, "device": "cpu"}
    measure_in_children(row, ctx, data, params, impls, per_iteration=True)
    assert set(row.times) == set(row.peak_mb) == {"sklearn"}
    assert any("broken not measured" in note and "deliberately" in note for note in row.notes)


def test_targets_and_the_table_report_met_and_gaps() -> None:
    met = Row("kmeans", "a", times={"clusterlab": 1.0, "sklearn": 2.0})
    met.targets = [Target("time", "sklearn", 1.0)]
    missed = Row("dbscan", "b", times={"clusterlab": 3.0, "sklearn": 2.0})
    missed.targets = [Target("time", "sklearn", 0.5)]
    absolute = Row("overhead", "c", unit="s/trial", times={"clusterlab": 0.05})
    absolute.targets = [Target("time", None, 0.06)]
    failed = Row("agglomerative", "d", error="results differ: heights")
    rows = [r.settle() for r in (met, missed, absolute, failed)]
    assert [r.met for r in rows] == [True, False, True, False]
    assert missed.targets[0].outcome() == "MISSED 1.500×, 3.00× the goal"
    cells = table_rows(rows)
    assert len(cells) == 5
    text = render_text(cells)
    assert "results differ" in text and "ms/trial" in text
    assert render_markdown(cells).count("\n") == 5
    assert isinstance(details(rows), str)
    assert rows[0].to_dict()["targets"][0]["met"] is True


def test_records_of_a_separate_benchmark_become_rows() -> None:
    records = [
        {"implementation": "clusterlab", "n_samples": 10_000, "n_features": 16, "median_s": 0.1},
        {"implementation": "scikit-learn", "n_samples": 10_000, "n_features": 16, "median_s": 1.0},
        {"executor": "local", "workers": 1, "wall_s": 2.5, "speedup": 1.0},
    ]
    rows = adopt("silhouette", records)
    assert rows[0].times == {"clusterlab": 0.1, "sklearn": 1.0}
    assert rows[0].targets[0].value == pytest.approx(0.1)
    assert rows[0].met is True
    assert rows[1].case == "executor local, workers 1"
    assert rows[1].times == {"clusterlab": 2.5}
    assert rows[1].params["speedup"] == 1.0


def test_a_scale_out_record_with_a_speedup_goal_is_judged_against_local() -> None:
    records = [
        {
            "grid": "hdbscan",
            "executor": "processes",
            "wall_s": 6.0,
            "local_wall_s": 12.0,
            "goal_speedup": 1.6,
        },
        {
            "grid": "hdbscan",
            "executor": "processes",
            "wall_s": 9.0,
            "local_wall_s": 12.0,
            "goal_speedup": 1.6,
        },
    ]
    met, missed = adopt("scaleout", records)
    assert met.times == {"clusterlab": 6.0, "local": 12.0}
    assert met.targets[0].value == pytest.approx(0.5)
    assert met.met is True
    assert missed.targets[0].value == pytest.approx(0.75)
    assert missed.met is False
