"""The ``clusterlab`` command through a real subprocess, with the installed plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.cli_process import run_cli
from tests.studies.battery_folder import battery_for

ROOT = Path(__file__).resolve().parents[2]


def clusterlab(*args: str, cwd: Path | None = None, env=None) -> subprocess.CompletedProcess:
    """``clusterlab ARGS`` in a subprocess with this environment (or ``env``)."""
    return run_cli(*args, cwd=cwd, env=env)


def test_help_imports_neither_torch_nor_mlflow():
    code = (
        "import sys, contextlib, io\n"
        "from clusterlab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main([])\n"
        "heavy = [m for m in ('torch', 'mlflow', 'matplotlib', 'sklearn') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert clusterlab("--help").returncode == 0


def test_validate_misspelt_algorithm_exits_2_with_line_and_suggestion(tmp_path):
    text = (ROOT / "experiments" / "quickstart.yaml").read_text()
    path = tmp_path / "typo.yaml"
    path.write_text(text.replace("- name: kmeans", "- name: kmean"))
    lines = path.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "kmean" in text)
    result = clusterlab("validate", str(path))
    assert result.returncode == 2
    assert f"{path}:{line}: algorithms[0].name: unknown algorithm 'kmean'" in result.stderr
    assert "did you mean 'kmeans'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_and_dry_run_on_the_quickstart():
    result = clusterlab("validate", "experiments/quickstart.yaml", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "valid — 7 trials" in result.stdout
    dry = clusterlab("run", "experiments/quickstart.yaml", "--dry-run", cwd=ROOT)
    assert dry.returncode == 0, dry.stderr
    assert "7 trials" in dry.stdout and "n_clusters=6" in dry.stdout


def test_plugins_lists_built_ins_with_distribution_and_parameters():
    result = clusterlab("plugins", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["broken"] == []
    names = {(row["kind"], row["name"]): row for row in listing["registered"]}
    for key in [
        ("algorithm", "kmeans"),
        ("algorithm", "dbscan"),
        ("dataset", "uniform"),
        ("metric", "silhouette"),
        ("plot", "scatter"),
    ]:
        assert key in names, key
        assert names[key]["distribution"] == "clusterlab"
    assert "n_clusters" in names[("algorithm", "kmeans")]["params"]
    blocked = json.loads(clusterlab("plugins", "--json", "-p", "no:sklearn").stdout)
    assert not any(row["name"].startswith("sklearn.") for row in blocked["registered"])


def test_missing_file_and_bad_override_exit_2(tmp_path):
    missing = clusterlab("validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such experiment file" in missing.stderr
    bad = clusterlab("validate", "experiments/quickstart.yaml", "--set", "seeds", cwd=ROOT)
    assert bad.returncode == 2 and "expected KEY=VALUE" in bad.stderr


def test_unavailable_device_is_an_error_that_lists_what_exists(tmp_path):
    import torch

    device = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"
    result = clusterlab(
        "run",
        str(ROOT / "experiments" / "quickstart.yaml"),
        "--set",
        f"device={device}",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'm.db'}",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "available here: cpu" in result.stderr
    assert not (tmp_path / "m.db").exists()


def test_every_shipped_experiment_file_validates(tmp_path: Path):
    for path in sorted((ROOT / "experiments").glob("*.yaml")):
        # A battery study reads its datasets from CLUSTERLAB_BATTERY_PATH: here a folder
        # holding a small dataset under each of the names it asks for.
        batteries = battery_for(yaml.safe_load(path.read_text()), tmp_path / path.stem)
        env = {**os.environ, "CLUSTERLAB_BATTERY_PATH": str(batteries)}
        result = clusterlab("validate", str(path), env=env)
        assert result.returncode == 0, f"{path.name}: {result.stderr}"


def test_profile_startup_times_each_step_of_validate():
    result = clusterlab("--profile-startup", "validate", "experiments/quickstart.yaml", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.split("start-up steps (seconds):\n", 1)[1].splitlines()
    seconds = {text.split(None, 1)[1]: float(text.split(None, 1)[0]) for text in lines}
    steps = [
        "import the runner (torch, MLflow's client, pandas)",
        "read the file, check its schema",
        "find and load the plugins",
        "check names, parameters and values against the plugins",
        "expand the grid, resolve the device",
        "build and check the datasets",
    ]
    assert list(seconds)[: len(steps)] == steps
    total = seconds["in all, from the CLI's first import"]
    assert sum(seconds[name] for name in steps) <= total
    assert (
        "start-up steps"
        not in clusterlab("validate", "experiments/quickstart.yaml", cwd=ROOT).stderr
    )


def test_console_entry_runs_exit_handlers_and_keeps_output_and_exit_code(tmp_path):
    # The console script leaves without the interpreter's teardown: whatever was
    # registered to run at exit must still run, and piped output must arrive whole.
    marker = tmp_path / "atexit-ran"
    code = (
        "import atexit, pathlib, sys\n"
        "from clusterlab.cli import entry\n"
        f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
        "sys.argv = ['clusterlab', *sys.argv[1:]]\n"
        "entry()\n"
    )
    listing = subprocess.run(
        [sys.executable, "-c", code, "plugins", "--json"], capture_output=True, text=True
    )
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout)["broken"] == []
    assert marker.read_text() == "yes"
    marker.unlink()
    missing = subprocess.run(
        [sys.executable, "-c", code, "validate", str(tmp_path / "absent.yaml")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert "absent.yaml" in missing.stderr and "Traceback" not in missing.stderr
    assert marker.read_text() == "yes"


def test_the_installed_command_is_the_quick_exit_entry():
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="clusterlab")
    assert script.value == "clusterlab.cli:entry"
