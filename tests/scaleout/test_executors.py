"""Executors: one grid in this process, on worker processes and on Ray, all under one parent
run; dead workers, interrupts and locked sqlite stores.

This module is also a plugin (the ``napping`` algorithm), imported by module path in the
workers, so that a test can kill a worker while it is surely inside a fit.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from clusterlab import hookimpl
from clusterlab.errors import ExperimentError
from clusterlab.executors.base import TrialExecutor, WorkerError
from clusterlab.plugins import build_plugins
from clusterlab.runner import RunOptions, execute, prepare, run_experiment
from clusterlab.tracking.retry import LockRetryingClient, is_locked_error
from clusterlab.tracking.tags import WORKER_LOST as LOST_TAG
from tests.core import toy_plugin
from tests.mlflow_server import started_mlflow_server

ROOT = Path(__file__).resolve().parents[2]
# The built-in executors' plugin module, registered in-process where autoloading is off.
executors_plugin = importlib.import_module("clusterlab_executors.plugin")
MARKERS_ENV = "CLUSTERLAB_TEST_NAP_MARKERS"

# 12 trials of the built-in plugins: 3 seeds x 4 settings of K-Means.
GRID: dict[str, Any] = {
    "name": "scaleout",
    "device": "cpu",
    "seeds": [0, 1, 2],
    "datasets": [{"name": "blobs", "params": {"n_samples": 300, "centers": 3}}],
    "algorithms": [
        {"name": "kmeans", "params": {"n_init": 2}, "grid": {"n_clusters": [2, 3, 4, 5]}}
    ],
    "metrics": ["silhouette", "adjusted_rand"],
}

NAPS: dict[str, Any] = {
    "name": "naps",
    "device": "cpu",
    "seeds": [0, 1, 2],
    "datasets": [{"name": "toy_blobs", "params": {"n_samples": 30}}],
    "algorithms": [{"name": "napping", "grid": {"seconds": [0.8, 0.9]}}],
    "metrics": ["toy_ari"],
}


class Napping:
    """Sleeps, then puts every point in one cluster; while asleep, a file named after its
    process id marks that this process is inside a fit."""

    def __init__(self, seconds: float = 1.0, *, random_state: int | None = None) -> None:
        self.seconds = seconds
        self.random_state = random_state

    def fit(self, X: Any) -> Napping:
        folder = os.environ.get(MARKERS_ENV)
        marker = Path(folder) / str(os.getpid()) if folder else None
        if marker is not None:
            marker.touch()
        time.sleep(self.seconds)
        if marker is not None:
            marker.unlink()
        self.labels_ = np.zeros(len(X), dtype=np.int64)
        return self


# What ``on_trial_error`` received in this process.
trial_errors: list[str] = []


@hookimpl
def register_algorithms(register: Any) -> None:
    """The ``napping`` algorithm, for tests that stop workers in the middle of a fit."""
    register("napping", Napping)


@hookimpl
def on_trial_error(trial: Any, error: BaseException) -> None:
    """Record the error of a failed trial."""
    trial_errors.append(f"{trial.index} {type(error).__name__}: {error}")


def this_plugin() -> types.ModuleType:
    """This module as a plugin, under the name workers import it by."""
    return sys.modules[__name__]


def toy_options(store: str, executor: Any, **kwargs: Any) -> RunOptions:
    """Options with only the toy, napping and executor plugins, in-process."""
    return RunOptions(
        tracking_uri=store,
        autoload_plugins=False,
        extra_plugins=(
            ("toy", toy_plugin),
            ("napping", this_plugin()),
            ("executors", executors_plugin),
        ),
        progress=False,
        executor=executor,
        **kwargs,
    )


def all_runs(store: str, name: str) -> list:
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name(name)
    return client.search_runs([experiment.experiment_id], max_results=1000)


def trial_runs(store: str, name: str) -> list:
    return [r for r in all_runs(store, name) if r.data.tags.get("clusterlab.kind") == "trial"]


def kill_first_napper(markers: Path, killed: list[int], timeout_s: float = 180.0) -> None:
    """SIGKILL the first process seen inside a nap (a worker mid-fit)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for marker in markers.iterdir():
            pid = int(marker.name)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.02)


# --- choosing and checking executors (fast) ------------------------------------------------


def test_built_in_executors_are_registered_with_their_options():
    plugins = build_plugins(autoload=False, extra=[("executors", executors_plugin)])
    registry = plugins.registry
    assert registry.names("executor") == ["local", "processes", "ray"]
    processes = registry.get("executor", "processes")
    assert {"workers", "devices", "threads_per_worker", "retries"} <= set(processes.params)
    assert processes.params["retries"].default == 1
    ray_entry = registry.get("executor", "ray")
    assert {"address", "num_cpus", "num_gpus", "retries"} <= set(ray_entry.params)


def test_executor_plugin_registers_through_the_hook_and_a_malformed_one_is_set_aside(store):
    class Backwards(TrialExecutor):
        """Runs the trials here, last first."""

        in_process = True

        def run(self, trials, context):
            for trial in reversed(trials):
                yield context.run_here(trial)

    good = types.SimpleNamespace(
        register_executors=hookimpl(lambda register: register("backwards", Backwards))
    )
    bad = types.SimpleNamespace(
        register_executors=hookimpl(lambda register: register("broken", lambda: None))
    )
    plugins = build_plugins(autoload=False, extra=[("good", good), ("bad", bad)])
    assert plugins.registry.names("executor") == ["backwards"]
    assert "an executor is a class with a run(trials, context) method" in str(
        plugins.registry.broken
    )

    experiment = {**NAPS, "algorithms": [{"name": "toy_kmeans", "grid": {"n_clusters": [2, 3]}}]}
    options = RunOptions(
        tracking_uri=store,
        autoload_plugins=False,
        extra_plugins=(("toy", toy_plugin), ("good", good)),
        progress=False,
        executor="backwards",
    )
    result = run_experiment(experiment, options=options)
    # results come back in trial order whatever order the executor ran them in
    assert [r.trial.index for r in result.trials] == list(range(6))
    assert result.ok and result.count("FINISHED") == 6
    runs = trial_runs(store, "naps")
    started = sorted(runs, key=lambda r: r.info.start_time)
    assert [int(r.data.tags["clusterlab.trial_index"]) for r in started] == [5, 4, 3, 2, 1, 0]
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {result.parent_run_id}


@pytest.mark.parametrize(
    ("executor", "message"),
    [
        ({"name": "proceses"}, "unknown executor 'proceses'; did you mean 'processes'?"),
        ({"name": "processes", "worker": 2}, "has no option 'worker'; did you mean 'workers'?"),
        ({"name": "processes", "workers": 0}, "workers must be a whole number of at least 1"),
        ({"name": "processes", "devices": ["gpu:0"]}, "unknown device 'gpu:0' in devices"),
        ({"name": "ray", "num_gpus": -1}, "num_gpus must be a number of at least 0"),
        ({"name": "local", "workers": 2}, "executor 'local' has no option 'workers'"),
    ],
)
def test_executor_names_and_options_are_validated_with_their_line(tmp_path, executor, message):
    import yaml

    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({**NAPS, "executor": executor}, sort_keys=False))
    with pytest.raises(ExperimentError) as error:
        prepare(path, options=toy_options("sqlite:///unused.db", None))
    text = str(error.value)
    assert message in text
    first = path.read_text().splitlines().index("executor:") + 1
    line = int(re.search(r"grid\.yaml:(\d+)", text).group(1))
    assert first <= line <= first + len(executor)


def test_local_executor_works_without_any_executor_plugin(store):
    options = RunOptions(
        tracking_uri=store,
        autoload_plugins=False,
        extra_plugins=(("toy", toy_plugin), ("napping", this_plugin())),
        progress=False,
    )
    loaded, _plugins, _trials = prepare({**NAPS, "executor": {"name": "local"}}, options=options)
    assert loaded.experiment.executor.name == "local"
    with pytest.raises(ExperimentError, match="unknown executor 'processes'"):
        prepare({**NAPS, "executor": {"name": "processes"}}, options=options)


def test_executor_choice_overrides_the_file_and_keeps_its_options_for_the_same_name():
    file = {**NAPS, "executor": {"name": "processes", "workers": 3, "retries": 0}}
    same, _, _ = prepare(file, options=toy_options("sqlite:///unused.db", "processes"))
    assert same.experiment.executor.options == {"workers": 3, "retries": 0}
    other, _, _ = prepare(file, options=toy_options("sqlite:///unused.db", "local"))
    assert other.experiment.executor.name == "local" and other.experiment.executor.options == {}
    mapping, _, _ = prepare(file, options=toy_options("sqlite:///x.db", {"name": "ray"}))
    assert mapping.raw["executor"] == {"name": "ray"}


def test_missing_ray_is_reported_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ExperimentError) as error:
        prepare({**NAPS, "executor": {"name": "ray"}}, options=toy_options("sqlite:///u.db", None))
    assert "pip install 'clusterlab[ray]'" in str(error.value)


def test_plugin_objects_that_workers_cannot_import_are_refused_before_any_trial(store):
    recorder = types.SimpleNamespace(before_trial=hookimpl(lambda trial: None))
    options = toy_options(store, {"name": "processes", "workers": 1})
    options.extra_plugins = (*options.extra_plugins, ("recorder", recorder))
    with pytest.raises(ExperimentError, match="plugin 'recorder' was registered in-process"):
        run_experiment(NAPS, options=options)
    assert MlflowClient(tracking_uri=store).get_experiment_by_name("naps") is None


def test_locked_sqlite_calls_are_retried_and_create_one_run(store):
    from sqlalchemy.exc import OperationalError

    client = MlflowClient(tracking_uri=store)
    experiment_id = client.create_experiment("locked")
    sqlalchemy_store = client._tracking_client.store
    real_create = sqlalchemy_store.create_run
    refusals = []

    def refuse_twice(*args, **kwargs):
        if len(refusals) < 2:
            refusals.append(1)
            raise OperationalError("INSERT INTO runs", {}, Exception("database is locked"))
        return real_create(*args, **kwargs)

    sqlalchemy_store.create_run = refuse_twice
    retrying = LockRetryingClient(client, first_pause_s=0.001)
    run = retrying.create_run(experiment_id, run_name="once")
    assert len(refusals) == 2
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [run.info.run_id]
    # any other error is not retried
    with pytest.raises(Exception, match=r"not found"):
        retrying.get_run("0" * 32)
    assert not is_locked_error(ValueError("something else"))


# --- worker processes (slow: each worker is a fresh Python that imports torch and MLflow) ---


@pytest.mark.slow
@pytest.mark.parametrize("retries", [1, 0], ids=["retried", "failed-then-rerun"])
def test_killed_worker_fails_or_retries_only_its_trial(store, tmp_path, monkeypatch, retries):
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv(MARKERS_ENV, str(markers))
    trial_errors.clear()
    killed: list[int] = []
    killer = threading.Thread(target=kill_first_napper, args=(markers, killed), daemon=True)
    killer.start()
    executor = {"name": "processes", "workers": 2, "retries": retries}
    result = run_experiment(NAPS, options=toy_options(store, executor))
    killer.join(timeout=5)
    assert killed, "no worker was seen inside a fit"

    runs = trial_runs(store, "naps")
    assert not [r for r in all_runs(store, "naps") if r.info.status == "RUNNING"]
    lost = [r for r in runs if LOST_TAG in r.data.tags]
    assert len(lost) == 1
    assert lost[0].info.status == "FAILED"
    assert f"worker process {killed[0]} died (killed by signal 9)" in lost[0].data.tags[LOST_TAG]
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {result.parent_run_id}
    finished = {r.data.tags["clusterlab.trial_hash"] for r in runs if r.info.status == "FINISHED"}
    lost_hash = lost[0].data.tags["clusterlab.trial_hash"]
    if retries:
        assert result.ok and result.count("FINISHED") == 6
        assert len(finished) == 6 and lost_hash in finished
        assert len(runs) == 7
        assert trial_errors == []
    else:
        assert result.count("FINISHED") == 5 and result.count("FAILED") == 1
        failed = next(r for r in result.trials if r.status == "FAILED")
        assert failed.run_id == lost[0].info.run_id and failed.error.startswith("WorkerLost")
        # the parent tells its plugins about a trial its worker took down for good
        reported = f"{failed.trial.index} WorkerLost: {lost[0].data.tags[LOST_TAG]}"
        assert trial_errors == [reported]
        assert lost_hash not in finished
        rerun = run_experiment(NAPS, options=toy_options(store, "local"))
        assert rerun.count("SKIPPED") == 5 and rerun.count("FINISHED") == 1
        assert next(r for r in rerun.trials if r.status == "FINISHED").trial.hash == lost_hash


@pytest.mark.slow
def test_workers_given_devices_record_them_and_agree_with_local(store):
    executor = {"name": "processes", "devices": ["cpu", "cpu"], "threads_per_worker": 1}
    experiment = {**NAPS, "algorithms": [{"name": "toy_kmeans", "grid": {"n_clusters": [2, 3]}}]}
    result = run_experiment(experiment, options=toy_options(store, executor))
    assert result.ok and result.count("FINISHED") == 6
    local = run_experiment(experiment, options=toy_options(store, "local", force=True))
    runs = trial_runs(store, "naps")
    assert len(runs) == 12 and {r.data.params["device"] for r in runs} == {"cpu"}
    scores = {}
    for r in result.trials + local.trials:
        scores.setdefault(r.trial.hash, []).append(r.scores["toy_ari"])
    assert all(len(v) == 2 and v[0] == pytest.approx(v[1]) for v in scores.values())


@pytest.mark.slow
@pytest.mark.cuda
def test_workers_on_gpus_record_the_gpu_they_used(store):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    devices = [f"cuda:{index % torch.cuda.device_count()}" for index in range(2)]
    experiment = {
        **NAPS,
        "device": "cuda",
        "algorithms": [{"name": "toy_kmeans", "grid": {"n_clusters": [2, 3]}}],
    }
    result = run_experiment(
        experiment, options=toy_options(store, {"name": "processes", "devices": devices})
    )
    assert result.ok and result.count("FINISHED") == 6
    runs = trial_runs(store, "naps")
    assert {r.data.params["device"] for r in runs} <= set(devices)
    names = {torch.cuda.get_device_name(device) for device in devices}
    assert {r.data.tags["clusterlab.device_name"] for r in runs} <= names
    assert {r.trial.device for r in result.trials} <= set(devices)


@pytest.mark.slow
def test_a_worker_that_cannot_run_trials_stops_the_grid_with_its_error(store, monkeypatch):
    options = toy_options(store, {"name": "processes", "workers": 1})
    loaded, plugins, trials = prepare(NAPS, options=options)
    # The workers load plugins as the environment says when the grid starts: without
    # the toy plugin, they cannot build its dataset.
    monkeypatch.setenv("CLUSTERLAB_BLOCK_PLUGINS", "toy")
    with pytest.raises(WorkerError, match="toy_blobs"):
        execute(loaded, plugins, trials, options)
    runs = all_runs(store, "naps")
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert [r.info.status for r in runs if r.data.tags["clusterlab.kind"] == "experiment"] == [
        "FAILED"
    ]


INTERRUPT_DRIVER = """
import sys
sys.path.insert(0, {root!r})
from tests.scaleout.test_executors import NAPS, toy_options
from clusterlab.runner import run_experiment

if __name__ == "__main__":
    experiment = {{**NAPS, "seeds": list(range(8))}}
    try:
        run_experiment(experiment, options=toy_options({store!r}, {{"name": "processes"}}))
    except KeyboardInterrupt:
        sys.exit(130)
"""


def test_workers_started_after_the_fork_server_see_the_parent_s_environment_then(
    store, tmp_path, monkeypatch
):
    from clusterlab.executors.processes import _worker_context

    executor = {"name": "processes", "workers": 2}
    one_seed = {
        **NAPS,
        "seeds": [0],
        "algorithms": [{"name": "napping", "params": {"seconds": 0.3}}],
    }
    monkeypatch.delenv(MARKERS_ENV, raising=False)
    assert run_experiment(one_seed, options=toy_options(store, executor)).ok
    assert _worker_context().get_start_method() == "forkserver"
    # The server now runs, started without the variable; later workers must still get it.
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv(MARKERS_ENV, str(markers))
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.update(path.name for path in markers.iterdir())
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    again = {**one_seed, "name": "naps-again"}
    result = run_experiment(again, options=toy_options(store, executor))
    done.set()
    watcher.join(timeout=5)
    assert result.ok
    assert seen and str(os.getpid()) not in seen


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_leaves_nothing_running(store, tmp_path):
    import psutil

    markers = tmp_path / "markers"
    markers.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(INTERRUPT_DRIVER.format(root=str(ROOT), store=store))
    process = subprocess.Popen(
        [sys.executable, str(driver)],
        cwd=tmp_path,
        env={**os.environ, MARKERS_ENV: str(markers)},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not any(markers.iterdir()):
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        children = psutil.Process(process.pid).children()
        servers = [c for c in children if "forkserver" in " ".join(c.cmdline())]
        assert len(servers) == 1
        # The workers are forked by the fork server, not by the driver.
        workers = servers[0].children()
        assert len(workers) == 2
        # A terminal's Ctrl-C reaches the whole process group, workers included.
        os.killpg(process.pid, signal.SIGINT)
        _out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, err
    _gone, alive = psutil.wait_procs([*workers, *servers], timeout=10)
    assert not alive
    runs = all_runs(store, "naps")
    assert not [r for r in runs if r.info.status == "RUNNING"]
    parent = [r for r in runs if r.data.tags.get("clusterlab.kind") == "experiment"]
    assert [p.info.status for p in parent] == ["KILLED"]
    assert "KILLED" in {
        r.info.status for r in runs if r.data.tags.get("clusterlab.kind") == "trial"
    }


# --- Ray (slow: starts a local Ray runtime) ------------------------------------------------


@pytest.mark.slow
def test_ray_worker_killed_mid_trial_is_marked_failed_and_retried(store, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv(MARKERS_ENV, str(markers))
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        runtime_env={"env_vars": {MARKERS_ENV: str(markers)}},
    )
    try:
        killed: list[int] = []
        killer = threading.Thread(target=kill_first_napper, args=(markers, killed), daemon=True)
        killer.start()
        result = run_experiment(NAPS, options=toy_options(store, {"name": "ray"}))
        killer.join(timeout=5)
        # the executor leaves a runtime it did not start running
        assert ray.is_initialized()
    finally:
        ray.shutdown()
    assert killed
    assert result.ok and result.count("FINISHED") == 6
    runs = trial_runs(store, "naps")
    assert not [r for r in all_runs(store, "naps") if r.info.status == "RUNNING"]
    lost = [r for r in runs if LOST_TAG in r.data.tags]
    assert len(lost) == 1 and lost[0].info.status == "FAILED"
    assert "Ray lost the trial's worker" in lost[0].data.tags[LOST_TAG]
    finished = {r.data.tags["clusterlab.trial_hash"] for r in runs if r.info.status == "FINISHED"}
    assert len(finished) == 6 and lost[0].data.tags["clusterlab.trial_hash"] in finished


# --- the same grid on all three executors, each against a real MLflow server ---------------


@contextlib.contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    """An ``mlflow server`` on a sqlite store in ``folder``, serving its artifacts; its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    artifacts = ["--artifacts-destination", str(folder / "artifacts"), "--serve-artifacts"]
    store = f"sqlite:///{folder / 'mlflow.db'}"
    with started_mlflow_server(store, folder, folder / "server.log", artifacts) as server:
        server.wait_until_up(timeout_s=120)
        yield server.url


@pytest.mark.e2e
def test_the_same_grid_gives_the_same_runs_on_every_executor(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    import ray

    monkeypatch.chdir(tmp_path)
    executors = {
        "local": {"name": "local"},
        "processes": {"name": "processes", "workers": 2, "threads_per_worker": 1},
        "ray": {"name": "ray", "num_cpus": 1},
    }
    stores: dict[str, dict[str, Any]] = {}
    for name, executor in executors.items():
        with mlflow_server(tmp_path / name) as url:
            result = run_experiment(
                GRID, options=RunOptions(tracking_uri=url, progress=False, executor=executor)
            )
            problems = [
                (r.trial.run_name, r.error) for r in result.trials if r.status != "FINISHED"
            ]
            assert result.ok and result.count("FINISHED") == 12, (name, problems)
            client = MlflowClient(tracking_uri=url)
            runs = all_runs(url, "scaleout")
            parents = [r for r in runs if r.data.tags.get("clusterlab.kind") == "experiment"]
            assert [p.info.run_id for p in parents] == [result.parent_run_id], name
            assert parents[0].info.status == "FINISHED"
            children = [r for r in runs if r.data.tags.get("clusterlab.kind") == "trial"]
            assert len(children) == 12
            assert {c.data.tags["mlflow.parentRunId"] for c in children} == {result.parent_run_id}
            assert {c.info.status for c in children} == {"FINISHED"}
            assert {c.data.params["device"] for c in children} == {"cpu"}
            labels = client.download_artifacts(
                children[0].info.run_id, "labels.npy", str(tmp_path / name)
            )
            assert np.load(labels).shape == (300,)
            stores[name] = {c.data.tags["clusterlab.trial_hash"]: c.data.metrics for c in children}
        if name == "ray":
            # the executor started its own runtime and stops it again
            assert not ray.is_initialized()

    hashes = {name: set(scores) for name, scores in stores.items()}
    assert hashes["local"] == hashes["processes"] == hashes["ray"]
    assert len(hashes["local"]) == 12
    for trial_hash, reference in stores["local"].items():
        for name in ("processes", "ray"):
            for metric in ("silhouette", "adjusted_rand", "n_clusters_found"):
                assert stores[name][trial_hash][metric] == pytest.approx(
                    reference[metric], rel=1e-5
                )


def test_a_worker_preloads_the_parent_s_modules_and_passes_over_names_it_cannot_import():
    from clusterlab.executors import processes

    code = (
        "import sys\n"
        "from clusterlab.executors.processes import _preload\n"
        "assert 'colorsys' not in sys.modules and 'wave' not in sys.modules\n"
        "_preload(['colorsys', 'no_such_module_here', 'os.no_such_attribute', 'wave'])\n"
        "print('colorsys' in sys.modules, 'wave' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]
    names = processes._modules_to_preload()
    assert names == [n for n in sys.modules if n not in ("__main__", "__mp_main__")]
    assert names.index("clusterlab") < names.index("clusterlab.executors.processes")
    # Packed, the list fits a pipe's buffer: the parent does not wait on a worker's imports.
    packed = processes.pack_names(names)
    assert processes.unpack_names(packed) == names
    assert len(pickle.dumps(packed)) < 64 * 1024 < len(pickle.dumps(names)) or len(names) < 2000
    assert processes.unpack_names(processes.pack_names([])) == []


def test_close_asks_every_idle_worker_to_stop_before_waiting_for_any(store):
    from clusterlab.executors.processes import ProcessesExecutor

    executor = ProcessesExecutor(workers=2, threads_per_worker=1)
    executor.warm_up()
    executor._wait_for_start()
    slots = list(executor._slots)
    # Idle, not still importing: a worker that is still starting may be killed on close.
    for slot in slots:
        assert slot.connection.poll(120)
        assert slot.connection.recv() == ("ready",)
    asked_when_first_joined: list[bool] = []
    first = slots[0].process.join

    def join(timeout=None):
        asked_when_first_joined.append(all(s.asked_to_stop for s in slots))
        return first(timeout)

    slots[0].process.join = join
    executor.close()
    assert asked_when_first_joined and asked_when_first_joined[0]
    # They leave through the quick exit, with status 0, once their pipes say stop.
    assert [s.process.exitcode for s in slots] == [0, 0]
