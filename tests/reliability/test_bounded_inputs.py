"""The bounds on experiment files, in process: each holds at its edge, and what an ordinary
file does (aliases, merges, booleans where booleans belong, scikit-learn's defaults) still
reads."""

from __future__ import annotations

import contextlib
import inspect
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterlab.checks import check_against_plugins, check_grid_size
from clusterlab.errors import ExperimentError
from clusterlab.grid import count_trials
from clusterlab.loading import load_experiment
from clusterlab.plugins import build_plugins
from clusterlab.registry import Registry
from clusterlab.schema import Experiment, axis_length, expand_axis
from clusterlab.yamlfile import MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES, load_yaml, parse_yaml
from clusterlab_sklearn.plugin import file_value_problem, sample_clusterers

BASE = """\
name: bounded
device: cpu
datasets:
  - name: blobs
    params: {n_samples: 60, centers: 3}
algorithms:
  - name: kmeans
    params: {n_clusters: 3}
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The built-in plugins, as a run loads them."""
    return build_plugins(autoload=True).registry


def _problems(tmp_path: Path, text: str, registry: Registry) -> str:
    path = tmp_path / "e.yaml"
    path.write_text(text)
    try:
        check_against_plugins(load_experiment(path), registry)
    except ExperimentError as exc:
        return str(exc)
    return ""


# --- the loader ------------------------------------------------------------------------


def _shared_list(width: int, aliases: int) -> str:
    """A list of ``width`` scalars shared by ``aliases`` aliases: each adds ``width + 1``
    nodes (the list and its items)."""
    items = ", ".join(["1"] * width)
    return f"base: &b [{items}]\nuses: [{', '.join(['*b'] * aliases)}]\n"


def test_aliases_up_to_the_budget_read_and_one_node_more_is_refused():
    width = 99  # each alias adds 100 nodes
    data, _ = parse_yaml(_shared_list(width, MAX_ALIAS_NODES // 100))
    assert len(data["uses"]) == MAX_ALIAS_NODES // 100
    assert data["uses"][0] == [1] * width
    with pytest.raises(ExperimentError, match=r"e\.yaml:2:\d+: aliases expand to more than"):
        parse_yaml(_shared_list(width, MAX_ALIAS_NODES // 100 + 1), "e.yaml")


def test_nesting_up_to_the_depth_reads_and_one_level_more_is_refused():
    # The top-level mapping is the first level.
    lists = MAX_DEPTH - 1
    data, _ = parse_yaml("a: " + "[" * lists + "]" * lists)
    depth, value = 1, data["a"]
    while value:
        depth, value = depth + 1, value[0]
    assert depth == MAX_DEPTH - 1  # the innermost list is empty
    with pytest.raises(ExperimentError, match=rf"e\.yaml:1:\d+: .*more than {MAX_DEPTH} levels"):
        parse_yaml("a: " + "[" * (lists + 1) + "]" * (lists + 1), "e.yaml")


def test_merge_keys_may_be_overridden_but_a_key_written_twice_may_not():
    data, source = parse_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n")
    assert data["c"] == {"x": 3, "y": 2}
    assert source.line_of(("c", "x")) == 4
    # 1 and "1" are different keys; yes, true and True are one boolean key.
    assert parse_yaml("1: a\n'1': b\n")[0] == {1: "a", "1": "b"}
    with pytest.raises(ExperimentError, match=r"e\.yaml:2:1: duplicate key 'True' \(first"):
        parse_yaml("true: a\nTrue: b\n", "e.yaml")


def test_a_recursive_alias_is_refused_at_its_line():
    with pytest.raises(ExperimentError, match=r"e\.yaml:2:5: .*recursive alias"):
        parse_yaml("a: &x\n  - *x\n", "e.yaml")


def test_a_utf8_byte_order_mark_is_fine_and_dates_stay_strings(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: caf\xc3\xa9\ndescription: 2024-05-01\n")
    data, _ = load_yaml(path)
    assert data == {"name": "café", "description": "2024-05-01"}


def test_a_file_over_the_size_limit_is_refused_unparsed(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_bytes(b"name: x\n" + b"#" * MAX_FILE_BYTES)
    with pytest.raises(ExperimentError, match=rf"{path}: the experiment file is over"):
        load_yaml(path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: !!binary aGk=\n", "e.yaml:1:4: unsupported YAML tag"),
        ("a: !!set {x}\n", "e.yaml:1:4: unsupported YAML tag"),
        ("a: " + "9" * 5000 + "\n", "e.yaml:1:4: the number 9999"),
        ("a: b\x00c\n", "e.yaml:1:5: the file holds the control character #x0000"),
    ],
    ids=["binary", "set", "endless int", "NUL"],
)
def test_what_is_not_plain_text_data_is_refused_at_its_column(text, fragment):
    with pytest.raises(ExperimentError) as info:
        parse_yaml(text, "e.yaml")
    assert fragment in str(info.value)


# --- grid sizes ------------------------------------------------------------------------


def _reference_range(start: float, stop: float, step: float) -> list[float]:
    """A range as the docs define it: from start by step, both ends included (to a
    relative 1e-12, so that 0.1 + 2 * 0.1 counts as 0.3), stepped one point at a time."""
    points, index = [], 0
    while start + index * step <= stop + 1e-12 * max(1.0, abs(stop)):
        point = start + index * step
        points.append(round(point, 12) if isinstance(point, float) else point)
        index += 1
    return points


numbers = st.one_of(st.integers(-100, 100), st.floats(-10, 10).map(lambda x: round(x, 3)))


steps = st.one_of(st.integers(1, 5), st.sampled_from([0.1, 0.25, 1 / 3]))


@settings(max_examples=300, deadline=None)
@given(numbers, st.integers(0, 40), steps)
def test_a_range_is_counted_as_long_as_it_is_built(start, points, step):
    stop = start + points * step
    spec = {"range": [start, stop, step]}
    expected = _reference_range(start, stop, step)
    assert axis_length(spec) == len(expected)
    assert expand_axis(spec) == expected


def test_linspace_and_lists_are_counted_without_building_them():
    assert axis_length({"linspace": [0.0, 1.0, 10**12]}) == 10**12
    assert axis_length({"values": [1, 2, 3]}) == 3
    assert axis_length([[1, "a"], [2, "b"]]) == 2
    assert axis_length({"range": [1, 10**12, 3]}) == len(range(1, 10**12 + 1, 3))


def test_a_grid_of_a_quintillion_trials_is_counted_and_refused_in_milliseconds(tmp_path):
    axes = {name: {"range": [1, 1_000_000]} for name in ("n_clusters", "n_init", "max_iter")}
    spec = {
        "name": "huge",
        "seeds": [0, 1],
        "datasets": [{"name": "blobs"}, {"name": "blobs"}],
        "algorithms": [{"name": "kmeans", "grid": axes}],
    }
    started = time.perf_counter()
    with _address_space_capped():
        assert count_trials(Experiment.model_validate(spec)) == 2 * 2 * 10**18
        with pytest.raises(ExperimentError, match=r"expands to about 4\.0e18 trials"):
            check_grid_size(load_experiment(spec), max_trials=10_000)
    # A generous guard only: building any of it would take hours.
    assert time.perf_counter() - started < 5


@contextlib.contextmanager
def _address_space_capped(headroom: int = 1 << 30) -> Iterator[None]:
    """This process's address space capped a gigabyte above its size, so that counting
    by building would fail with a MemoryError here instead of filling the machine."""
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("the address space is read from /proc")
    size = next(line for line in status.read_text().splitlines() if line.startswith("VmSize"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = int(size.split()[1]) * 1024 + headroom
    resource.setrlimit(
        resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard)
    )
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# --- values ----------------------------------------------------------------------------


SKLEARN_KMEANS = BASE.replace("- name: kmeans", "- name: sklearn.KMeans")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SKLEARN_KMEANS.replace("n_clusters: 3}", "n_clusters: 3, copy_x: false}"), None),
        (SKLEARN_KMEANS.replace("n_clusters: 3}", "n_clusters: 3, verbose: true}"), None),
        (
            BASE.replace("n_samples: 60", "n_samples: true"),
            "e.yaml:5: datasets[0].params.n_samples: invalid value: n_samples=True",
        ),
        (
            BASE + "metrics: [{name: silhouette, sample_size: true}]\n",
            "e.yaml:9: metrics[0].sample_size: invalid value: sample_size=True",
        ),
        (
            SKLEARN_KMEANS.replace("n_clusters: 3}", "n_clusters: false}"),
            "e.yaml:8: algorithms[0].params.n_clusters: invalid value: n_clusters=False",
        ),
    ],
    ids=["sklearn boolean", "sklearn verbose", "dataset number", "metric option", "sklearn int"],
)
def test_booleans_pass_where_declared_and_never_for_a_number(tmp_path, registry, text, expected):
    problems = _problems(tmp_path, text, registry)
    if expected is None:
        assert problems == ""
    else:
        assert f"{tmp_path / expected}" in problems
        assert "a boolean (true/false) is not one" in problems


def _defaults(cls: type) -> list[tuple[str, Any]]:
    parameters = inspect.signature(cls).parameters.values()
    return [(p.name, p.default) for p in parameters if p.default is not inspect.Parameter.empty]


CLUSTERERS = sample_clusterers()


@pytest.mark.parametrize("name", sorted(CLUSTERERS))
def test_every_scikit_learn_default_may_be_written_in_a_file(name):
    cls = CLUSTERERS[name]
    refused = {p: file_value_problem(cls, p, d) for p, d in _defaults(cls)}
    assert {p: why for p, why in refused.items() if why is not None} == {}


@pytest.mark.parametrize(
    ("cls", "param", "value", "refused"),
    [
        ("AgglomerativeClustering", "memory", "/tmp/cache", "unpickles"),
        ("OPTICS", "memory", "cache", "unpickles"),
        ("AgglomerativeClustering", "connectivity", [[1, 0], [0, 1]], "not an array"),
        ("KMeans", "init", [[0.0, 0.0], [1.0, 1.0]], "not an array"),
        ("DBSCAN", "metric_params", {"p": 3}, "not a mapping"),
        ("SpectralClustering", "kernel_params", {"gamma": 1}, "not a mapping"),
        ("KMeans", "tol", {1, 2}, "not a set"),
        ("AgglomerativeClustering", "memory", None, None),
        ("AgglomerativeClustering", "metric", "manhattan", None),
        ("KMeans", "init", "random", None),
        ("GaussianMixture", "means_init", [[0.0, 0.0], [1.0, 1.0]], None),
        ("AffinityPropagation", "preference", [1.0, 2.0], None),
        ("Birch", "n_clusters", 3, None),
    ],
)
def test_scikit_learn_values_that_reach_files_or_code_are_refused(cls, param, value, refused):
    why = file_value_problem(CLUSTERERS[cls], param, value)
    if refused is None:
        assert why is None
    else:
        assert why is not None and refused in why


def test_a_refused_scikit_learn_value_is_reported_at_its_line(tmp_path, registry):
    text = BASE.replace("- name: kmeans", "- name: sklearn.AgglomerativeClustering").replace(
        "{n_clusters: 3}", "{n_clusters: 3, memory: cache}"
    )
    problems = _problems(tmp_path, text, registry)
    assert problems.startswith(
        f"{tmp_path / 'e.yaml'}:8: algorithms[0].params.memory: refused value: memory='cache'"
    )
