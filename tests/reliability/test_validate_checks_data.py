"""``clusterlab validate`` checks what a run would refuse before its first trial, without
fitting: the datasets are built (sizes, files, preprocessing against dimensions,
``n_clusters`` against ``n_samples``), metric options are value-checked, and the machine's
memory and cores bound dataset sizes and workers. Each problem exits 2 with its file and
line, and ``run`` reports the same place."""

from __future__ import annotations

import pytest

from tests.reliability.conftest import run_cli

HEAD = "name: checked\ndevice: cpu\nseeds: [0]\n"
KMEANS = "algorithms:\n  - name: kmeans\n    grid:\n      n_clusters: [2, 3]\n"

CASES = {
    "no samples": (
        HEAD + "datasets:\n  - name: blobs\n    params: {n_samples: 0}\n" + KMEANS,
        "bad.yaml:5: datasets[0] ('blobs'): n_samples must be a positive integer",
    ),
    "more clusters than samples": (
        HEAD + "datasets:\n  - name: blobs\n    params: {n_samples: 2}\n" + KMEANS,
        "bad.yaml:10: algorithms[0] asks for n_clusters=3 but dataset 'blobs' has only 2",
    ),
    "a file that is not there": (
        HEAD + "datasets:\n  - name: file\n    params: {path: missing.csv}\n" + KMEANS,
        "bad.yaml:5: datasets[0] ('file'): path",
    ),
    "pca past the dimensions": (
        HEAD
        + "datasets:\n  - name: blobs\n    params: {n_samples: 50, n_features: 2}\n"
        + "    preprocess: [{pca: {n_components: 5}}]\n"
        + KMEANS,
        "bad.yaml:5: datasets[0] ('blobs'): preprocess step 'pca': n_components=5",
    ),
    "a dataset larger than memory": (
        HEAD + "datasets:\n  - name: blobs\n    params: {n_samples: 1000000000000}\n" + KMEANS,
        "of memory to build, and this machine has",
    ),
    "a metric option out of range": (
        HEAD
        + "datasets:\n  - name: blobs\n"
        + KMEANS
        + "metrics:\n  - {name: silhouette, sample_size: -5}\n",
        "bad.yaml:11: metrics[0].sample_size: invalid value: sample_size=-5",
    ),
    "more workers than the machine holds": (
        HEAD
        + "executor: {name: processes, workers: 4096}\n"
        + "datasets:\n  - name: blobs\n"
        + KMEANS,
        "bad.yaml:4: executor: executor 'processes': workers: 4096 on a machine with",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validate_refuses_what_a_run_would_with_its_line(tmp_path, case):
    text, message = CASES[case]
    (tmp_path / "bad.yaml").write_text(text)
    result = run_cli("validate", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["no samples", "more clusters than samples", "a file that is not there"]
)
def test_run_names_the_same_place_and_logs_nothing(tmp_path, case):
    text, message = CASES[case]
    (tmp_path / "bad.yaml").write_text(text)
    result = run_cli("run", "bad.yaml", "--no-progress", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_text_cell_is_not_printed_back(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,c\n1,2,secret-value\n3,4,y\n")
    (tmp_path / "bad.yaml").write_text(
        HEAD + "datasets:\n  - name: file\n    params: {path: t.csv}\n" + KMEANS
    )
    result = run_cli("validate", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "'c' holds text that is not a number in data row 1" in result.stderr
    assert "secret-value" not in result.stderr
