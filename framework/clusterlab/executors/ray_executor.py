"""Runs trials as Ray tasks: on a Ray cluster, or on a Ray runtime started on this machine.

Each dataset is put into Ray's object store once and every task of it gets a reference;
a worker process keeps what it rebuilt from the job for its next tasks. Ray's own task
retries are off: a task whose worker or node is lost has its run marked FAILED first,
then runs again (``retries``).
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from clusterlab.errors import ClusterlabError, ExperimentError
from clusterlab.executors.base import ExecutionContext, TrialExecutor, TrialJob, WorkerError
from clusterlab.executors.faults import Attempts, lost_result
from clusterlab.executors.worker import run_trial

if TYPE_CHECKING:
    from clusterlab.grid import Trial
    from clusterlab.results import TrialResult

INSTALL_HINT = "pip install 'clusterlab[ray]'"
_WAIT_S = 0.5


class RayExecutor(TrialExecutor):
    """Runs each trial as a Ray task.

    Args:
        address: the cluster to join: ``auto`` (the one this machine belongs to) or
            ``ray://host:10001``; without it, a Ray runtime is started on this machine
            (unless the program already started or joined one).
        num_cpus: CPUs Ray reserves for each trial (default 1).
        num_gpus: GPUs Ray reserves for each trial (default 0; a fraction shares a GPU).
        retries: further tries for a trial whose worker or node was lost (default 1).
        runtime_env: Ray's runtime environment for the tasks (``env_vars``, ``pip``, ...).
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: float = 1,
        num_gpus: float = 0,
        retries: int = 1,
        runtime_env: dict[str, Any] | None = None,
    ) -> None:
        if importlib.util.find_spec("ray") is None:
            raise ClusterlabError(f"the executor 'ray' needs Ray: {INSTALL_HINT}")
        for name, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number of at least 0, got {value!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a whole number of at least 0, got {retries!r}")
        if address is not None and not isinstance(address, str):
            raise ValueError(f"address is 'auto' or 'ray://host:port', got {address!r}")
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.retries = retries
        self.runtime_env = runtime_env
        self._started_runtime = False
        self._in_flight: dict[Any, Trial] = {}
        self._reports: Any = None

    def trial_device(self, requested: str) -> str:
        """Resolved on the workers, not here: Ray shows a task only the GPUs it reserved, so
        ``cuda`` needs ``num_gpus`` and ``auto`` means ``cuda`` exactly when it has them."""
        kind = requested.split(":")[0]
        if kind == "auto":
            return "cuda" if self.num_gpus > 0 else "cpu"
        if kind == "cuda" and self.num_gpus <= 0:
            raise ExperimentError(
                f"device '{requested}' on Ray needs GPUs for each trial: set the executor's "
                f"num_gpus (e.g. num_gpus: 1)"
            )
        # A task sees its reserved GPUs as cuda:0, cuda:1, ...
        return kind

    def run(self, trials: Sequence[Trial], context: ExecutionContext) -> Iterator[TrialResult]:
        """Submit every trial as a task and yield each result as it comes back."""
        if not trials:
            return
        ray = _import_ray()
        self.warm_up()
        from ray.util.queue import Queue

        job_ref = ray.put(context.job)
        needed = {trial.dataset_key for trial in trials}
        data_refs = {key: ray.put(data) for key, data in context.datasets.items() if key in needed}
        # The object store holds the data now; the runner's copy would only take memory.
        context.datasets.clear()
        self._reports = Queue(actor_options={"num_cpus": 0})
        task = ray.remote(_ray_trial).options(
            num_cpus=self.num_cpus,
            num_gpus=self.num_gpus,
            max_retries=0,
            runtime_env=self.runtime_env,
        )

        def submit(trial: Trial) -> None:
            ref = task.remote(job_ref, trial, [data_refs[trial.dataset_key]], self._reports)
            self._in_flight[ref] = trial

        for trial in trials:
            submit(trial)
        attempts = Attempts(self.retries)
        run_ids: dict[int, str] = {}
        by_index = {trial.index: trial for trial in trials}
        while self._in_flight:
            done = self._wait(ray)
            running = {trial.index for trial in self._in_flight.values()}
            for index, run_id in self._drain_reports():
                if index in running:
                    run_ids[index] = run_id
                    context.on_start(by_index[index])
            for ref in done:
                trial = self._in_flight.pop(ref)
                run_id = run_ids.pop(trial.index, None)
                try:
                    result = ray.get(ref)
                except (ray.exceptions.RayTaskError, ray.exceptions.RuntimeEnvSetupError) as exc:
                    raise WorkerError(f"a Ray worker cannot run trials:\n{exc}") from None
                except ray.exceptions.RayError as exc:
                    reason = f"Ray lost the trial's worker ({_first_line(exc)})"
                    run_id = context.tracker.mark_lost(
                        context.job.parent_run_id, trial.hash, run_id, reason
                    )
                    if attempts.lost(trial):
                        submit(trial)
                    else:
                        yield lost_result(trial, run_id, reason)
                    continue
                yield result

    def warm_up(self) -> None:
        """Join the cluster (or start the local runtime) before the grid's runs are opened,
        so that an unreachable cluster is reported before anything is logged."""
        ray = _import_ray()
        if ray.is_initialized():
            return
        where = f"the Ray cluster at {self.address}" if self.address else "a local Ray runtime"
        try:
            if self.address:
                ray.init(address=self.address)
            else:
                ray.init(include_dashboard=False)
                self._started_runtime = True
        except Exception as exc:
            raise WorkerError(f"cannot use {where}: {_first_line(exc)}") from None

    def _wait(self, ray: Any) -> list[Any]:
        """The tasks that ended: waits up to a moment for one, then takes all that are done."""
        refs = list(self._in_flight)
        done, _running = ray.wait(refs, num_returns=1, timeout=_WAIT_S)
        if done:
            done, _running = ray.wait(refs, num_returns=len(refs), timeout=0)
        return done

    def _drain_reports(self) -> list[tuple[int, str]]:
        size = self._reports.qsize()
        return self._reports.get_nowait_batch(size) if size else []

    def close(self) -> None:
        """Cancel the tasks still running, and stop the Ray runtime this executor started."""
        if not self._in_flight and self._reports is None and not self._started_runtime:
            return
        ray = _import_ray()
        for ref in list(self._in_flight):
            # A task that ended meanwhile needs no cancelling.
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self._in_flight.clear()
        if self._reports is not None:
            self._reports.shutdown()
            self._reports = None
        if self._started_runtime:
            ray.shutdown()
            self._started_runtime = False


def _ray_trial(job: TrialJob, trial: Trial, data_refs: list[Any], reports: Any) -> TrialResult:
    """One Ray task: run one trial on this worker, the dataset read from the object store."""
    import ray

    def started(trial: Trial, run_id: str) -> None:
        reports.put((trial.index, run_id))

    return run_trial(job, trial, data=lambda: ray.get(data_refs[0]), on_run_started=started)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ClusterlabError(f"the executor 'ray' needs Ray: {INSTALL_HINT}") from None
    return ray


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
