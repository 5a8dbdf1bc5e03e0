"""Property-based checks of grid expansion: counts, unique stable hashes, stable order."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from hypothesis import example, given, settings
from hypothesis import strategies as st

from clusterlab.grid import count_trials, expand_trials
from clusterlab.schema import Experiment

values = st.one_of(
    st.integers(-50, 50), st.floats(-5, 5, allow_nan=False), st.text("abc", max_size=3)
)
axes = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]),
    st.lists(values, min_size=1, max_size=4, unique_by=repr),
    max_size=3,
)
components = st.lists(
    st.fixed_dictionaries({"name": st.sampled_from(["x", "y"]), "grid": axes}),
    min_size=1,
    max_size=3,
)
experiments = st.fixed_dictionaries(
    {
        "name": st.just("p"),
        "seeds": st.lists(st.integers(0, 1000), min_size=1, max_size=3, unique=True),
        "datasets": components,
        "algorithms": components,
    }
)


def _product(component: dict) -> int:
    return math.prod(len(axis) for axis in component["grid"].values())


@settings(max_examples=60, deadline=None)
@given(experiments)
def test_count_is_the_product_of_the_axes(spec):
    experiment = Experiment.model_validate(spec)
    expected = (
        sum(_product(d) for d in spec["datasets"])
        * sum(_product(a) for a in spec["algorithms"])
        * len(spec["seeds"])
    )
    trials = expand_trials(experiment)
    assert len(trials) == count_trials(experiment) == expected


@settings(max_examples=60, deadline=None)
@given(experiments)
@example(
    {
        "name": "p",
        "seeds": [0],
        "datasets": [{"name": "x", "grid": {}}],
        "algorithms": [
            {"name": "x", "grid": {"a": [0], "b": [0], "c": [0]}},
            {"name": "x", "grid": {"a": [0], "c": [0], "b": [0]}},
        ],
    }
)
def test_hashes_are_unique_and_order_is_stable(spec):
    experiment = Experiment.model_validate(spec)
    first = expand_trials(experiment)
    second = expand_trials(Experiment.model_validate(spec))
    assert [t.hash for t in first] == [t.hash for t in second]
    # entries repeated in the file (in any key order) give identical trials; all other
    # trials differ
    configs = {json.dumps(t.config, sort_keys=True, default=repr) for t in first}
    assert len({t.hash for t in first}) == len(configs)


@settings(max_examples=10, deadline=None)
@given(experiments)
def test_hashes_are_stable_across_processes(spec):
    hashes = [t.hash for t in expand_trials(Experiment.model_validate(spec))]
    code = (
        "import json, sys\n"
        "from clusterlab.grid import expand_trials\n"
        "from clusterlab.schema import Experiment\n"
        "spec = json.loads(sys.stdin.read())\n"
        "print(','.join(t.hash for t in expand_trials(Experiment.model_validate(spec))))\n"
    )

    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout.strip()
    assert out.split(",") == hashes
