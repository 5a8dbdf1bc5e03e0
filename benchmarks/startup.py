"""Start-up: the wall time of the ``clusterlab`` command on the quickstart experiment.

Each case runs the installed console script (as ``make quickstart`` does) in a scratch
folder holding a copy of ``experiments/``: ``validate``, ``run`` on a fresh store (the
store file and its artifacts removed before every round) and ``run`` again on the store
the previous round left (every trial already finished). One unmeasured ``run`` first
fills the caches a user's second command finds filled (bytecode, the migrated empty
store schema). The figure is the median over the rounds; each round also runs with
``--profile-startup`` once, whose steps go in the row's notes.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._harness import ROOT, Context, Row, Target

# Wall-time goals in seconds.
LIMITS = {"validate": 1.5, "run, fresh store": 3.0, "run, rerun": 2.5}
ROUNDS, QUICK_ROUNDS = 5, 3


def _command() -> list[str]:
    """The console script beside this interpreter, else the module it runs."""
    script = Path(sys.executable).with_name("clusterlab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "clusterlab.cli"]


def _timed(args: list[str], folder: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([*_command(), *args], cwd=folder, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"clusterlab {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return wall


def _steps(args: list[str], folder: Path) -> str:
    """The ``--profile-startup`` report of one more run, as one line."""
    done = subprocess.run(
        [*_command(), "--profile-startup", *args], cwd=folder, capture_output=True, text=True
    )
    report = done.stderr.split("start-up steps (seconds):\n", 1)[-1]
    return "; ".join(" ".join(line.split()) for line in report.splitlines() if line.strip())


def _fresh(folder: Path) -> None:
    (folder / "mlflow.db").unlink(missing_ok=True)
    shutil.rmtree(folder / "mlruns", ignore_errors=True)


def run(ctx: Context) -> list[Row]:
    """Median wall times of validate, a fresh run and a rerun of the quickstart."""
    folder = ctx.scratch / "startup"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "experiments", folder / "experiments")
    rounds = QUICK_ROUNDS if ctx.quick else ROUNDS
    file = "experiments/quickstart.yaml"
    cases = {
        "validate": (["validate", file], lambda: None),
        "run, fresh store": (["run", file, "--no-progress"], lambda: _fresh(folder)),
        "run, rerun": (["run", file, "--no-progress"], lambda: None),
    }
    ctx.log(f"startup: {len(cases)} commands x {rounds} rounds ...")
    _timed(["run", file, "--no-progress"], folder)
    rows = []
    for case, (args, before) in cases.items():
        samples = []
        for _ in range(rounds):
            before()
            samples.append(_timed(args, folder))
        before()
        row = Row(
            "startup",
            f"quickstart: {case}",
            params={"command": "clusterlab " + " ".join(args), "rounds": rounds},
            unit="s",
            samples={"clusterlab": samples},
            times={"clusterlab": statistics.median(samples)},
            targets=[Target("time", None, LIMITS[case])],
            agreement="exit code 0",
        )
        row.notes.append(f"rounds: {', '.join(f'{s:.2f}' for s in samples)} s")
        row.notes.append(f"steps: {_steps(args, folder)}")
        rows.append(row.settle())
    return rows
