"""Small hostile inputs: a ``--set`` value read within the file's bounds, seeds that numpy
would refuse, and ``clusterlab ui`` that does not look ``mlflow`` up on ``PATH``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.mlflow_server import free_port
from tests.reliability.conftest import SMALL, clean_env, run_cli


def test_an_alias_bomb_in_a_set_value_is_refused(workdir):
    bomb = "&a [" + ", ".join(["*a"] * 3) + "]"
    result = run_cli("validate", "small.yaml", "--set", f"seeds={bomb}", cwd=workdir)
    assert result.returncode == 2, result.stderr
    assert "--set seeds:1:" in result.stderr and "recursive alias" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ("[true]", "valid integer"),
        ("[-1]", "greater than or equal to 0"),
        ("[1.5]", "valid integer"),
        ("[4294967296]", "less than 4294967296"),
    ],
)
def test_seeds_numpy_would_refuse_are_refused_at_their_line(tmp_path, seeds, message):
    (tmp_path / "seeds.yaml").write_text(SMALL.replace("seeds: [0]", f"seeds: {seeds}"))
    result = run_cli("validate", "seeds.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "seeds.yaml:3: seeds[0]" in result.stderr and message in result.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_ui_runs_mlflow_from_its_own_environment_whatever_path_says(workdir):
    assert run_cli("run", "small.yaml", "--no-progress", cwd=workdir).returncode == 0
    port = free_port()
    env = {**clean_env(), "PATH": "/nonexistent"}  # no mlflow (nor anything else) on PATH
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clusterlab.cli",
            "ui",
            "small.yaml",
            "--no-browser",
            "--port",
            str(port),
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline, up = time.monotonic() + 120, False
        while not up and time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    up = True
            except OSError:
                time.sleep(0.5)
        assert up, "the MLflow UI did not answer"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    assert "Traceback" not in err
