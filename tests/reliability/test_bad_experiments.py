"""Bad experiment files: every problem reported with file, line and key, exit status 2,
and nothing written to the store."""

from __future__ import annotations

import pytest

from tests.reliability.conftest import SMALL, run_cli

CASES = [
    ("yaml syntax", SMALL.replace("seeds: [0]", "seeds: [0"), ["small.yaml:", "YAML syntax error"]),
    ("wrong type", SMALL.replace("seeds: [0]", "seeds: zero"), ["small.yaml:3: seeds:", "list"]),
    (
        "unknown key",
        SMALL.replace("metrics:", "metricz:"),
        ["small.yaml:11: metricz: unknown key 'metricz'; did you mean 'metrics'?"],
    ),
    (
        "empty grid",
        SMALL.replace("n_clusters: [2, 3]", "n_clusters: []"),
        ["small.yaml:10: algorithms[0].grid.n_clusters:", "at least one value"],
    ),
    (
        "contradictory grid",
        SMALL.replace("- name: kmeans", "- name: kmeans\n    params: {n_clusters: 4}"),
        ["set both in params and grid"],
    ),
    (
        "unknown parameter",
        SMALL.replace("n_clusters: [2, 3]", "n_cluster: [2, 3]"),
        ["small.yaml:10: algorithms[0].grid.n_cluster:", "did you mean 'n_clusters'?"],
    ),
    (
        "values out of range, all together",
        SMALL.replace("n_clusters: [2, 3]", "n_clusters: [0, 3]").replace(
            "metrics:", "  - name: dbscan\n    params: {eps: -1}\nmetrics:"
        ),
        ["algorithms[0].grid.n_clusters: invalid value", "algorithms[1].params.eps: invalid value"],
    ),
    (
        "python tags are not evaluated",
        SMALL.replace("name: small", "name: !!python/object/apply:os.system ['touch pwned']"),
        ["small.yaml:1:7: unsupported YAML tag", "python/object/apply"],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_file_exits_2_with_located_messages_and_no_store(workdir, text, expected):
    (workdir / "small.yaml").write_text(text)
    for command in (["validate"], ["run"]):
        result = run_cli(*command, "small.yaml", cwd=workdir)
        assert result.returncode == 2, result.stderr
        for fragment in expected:
            assert fragment in result.stderr
        assert "Traceback" not in result.stderr
    assert not (workdir / "mlflow.db").exists()
    assert not (workdir / "pwned").exists()


def test_grid_over_the_limit_and_max_trials(workdir):
    text = SMALL.replace("n_clusters: [2, 3]", "n_clusters: {range: [2, 30]}")
    (workdir / "small.yaml").write_text(text)
    refused = run_cli("validate", "small.yaml", "--max-trials", "10", cwd=workdir)
    assert refused.returncode == 2
    assert "29 trials, over the limit of 10" in refused.stderr
    assert run_cli("validate", "small.yaml", "--max-trials", "100", cwd=workdir).returncode == 0
