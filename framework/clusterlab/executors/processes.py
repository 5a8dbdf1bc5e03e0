"""Runs trials on worker processes of this machine, one device per worker where devices are given.

Each worker rebuilds the experiment from the job once and then takes one trial at a time
over a pipe. A worker that dies fails or retries only the trial it was running, and
another worker takes its place.

Workers are forked from a fork server (spawned, where the platform has none) that has
imported torch, MLflow's store and the installed plugins once: each further worker then
starts in milliseconds instead of repeating seconds of imports. The server only imports,
so its children start without threads, open files of the store or a CUDA context; each
takes the parent's environment as it is when the worker starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from clusterlab.data import available_memory
from clusterlab.deadline import BACKSTOP_GRACE_S
from clusterlab.device import DEVICE_PATTERN, resolve_device
from clusterlab.errors import ExperimentError
from clusterlab.executors.base import ExecutionContext, TrialExecutor, TrialJob, WorkerError
from clusterlab.executors.faults import Attempts, lost_result
from clusterlab.executors.worker import run_trial
from clusterlab.quick_exit import leave

if TYPE_CHECKING:
    from clusterlab.grid import Trial
    from clusterlab.results import TrialResult

DEFAULT_WORKERS = 2
WORKERS_PER_CORE = 4
# What one idle worker holds once torch, MLflow and the plugins are imported.
WORKER_MEMORY_BYTES = 400 << 20
# How long the parent waits for a message before it checks on its workers again.
_POLL_S = 1.0
_STOP_TIMEOUT_S = 5.0


class ProcessesExecutor(TrialExecutor):
    """Runs trials on worker processes of this machine.

    Args:
        workers: how many processes; by default one per device in ``devices``, else 2.
        devices: one device per worker, in turn (``[cuda:0, cuda:1]``); each trial's
            ``device`` param records its worker's. By default every worker uses the
            experiment's ``device``.
        threads_per_worker: torch's CPU threads in each worker; by default the CPUs of
            this machine shared out between the workers.
        retries: further tries for a trial whose worker died (default 1).
    """

    def __init__(
        self,
        workers: int | None = None,
        devices: list[str] | None = None,
        threads_per_worker: int | None = None,
        retries: int = 1,
    ) -> None:
        if devices is not None:
            if isinstance(devices, str) or not devices:
                raise ValueError("devices is a non-empty list, e.g. [cuda:0, cuda:1]")
            for device in devices:
                if not DEVICE_PATTERN.match(str(device).strip().lower()) or device == "auto":
                    raise ValueError(
                        f"unknown device '{device}' in devices: use cpu, cuda:N or mps"
                    )
        _check_count("workers", workers, allow_none=True)
        _check_count("threads_per_worker", threads_per_worker, allow_none=True)
        _check_count("retries", retries, minimum=0)
        self.devices = [str(d).strip().lower() for d in devices] if devices else None
        self.workers = workers or (len(self.devices) if self.devices else DEFAULT_WORKERS)
        _check_machine_fits(self.workers)
        self.threads_per_worker = threads_per_worker or max(1, _cpu_count() // self.workers)
        self.retries = retries
        self._slots: list[_Slot] = []
        self._job: TrialJob | None = None
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None

    def trial_device(self, requested: str) -> str:
        """The experiment's device; with ``devices``, the first of them, which must be of
        the type the experiment asks for (every worker's device must exist here)."""
        if not self.devices:
            return str(resolve_device(requested))
        resolved = [resolve_device(device) for device in self.devices]
        types = {device.type for device in resolved}
        if len(types) > 1:
            raise ExperimentError(
                f"executor devices {self.devices} mix device types; list devices of one type"
            )
        if requested != "auto" and requested.split(":")[0] not in types:
            raise ExperimentError(
                f"the experiment runs on '{requested}' but the executor's devices are "
                f"{self.devices}; set device: auto, or list devices of that type"
            )
        return str(resolved[0])

    def run(self, trials: Sequence[Trial], context: ExecutionContext) -> Iterator[TrialResult]:
        """Hand trials to idle workers and yield each result as it comes back."""
        from multiprocessing.connection import wait

        # The workers rebuild their data; the runner's copy would only take memory.
        context.datasets.clear()
        if not trials:
            return
        queue: deque[Trial] = deque(trials)
        attempts = Attempts(self.retries)
        self.warm_up()
        self._wait_for_start()
        self._job = context.job
        for slot in self._slots:
            slot.send(context.job)
        remaining = len(trials)
        while remaining:
            for slot in self._slots:
                if slot.trial is None and queue and slot.alive:
                    slot.assign(queue.popleft())
            ready = wait([s.connection for s in self._slots if s.alive], timeout=_POLL_S)
            for slot in self._slots:
                if not slot.alive:
                    continue
                if slot.connection in ready:
                    try:
                        message = slot.connection.recv()
                    except (EOFError, OSError):
                        message = None
                    if message is not None:
                        result = self._handle(slot, message, context)
                        if result is not None:
                            remaining -= 1
                            yield result
                        continue
                elif slot.process.is_alive() and not slot.overdue(context.trial_timeout_s):
                    continue
                # The pipe closed, the process is gone, or its trial hangs past its limit.
                trial, run_id = slot.trial, slot.run_id
                overdue = slot.overdue(context.trial_timeout_s)
                reason = slot.overdue_reason(context.trial_timeout_s) if overdue else ""
                reason = reason or slot.death_reason()
                slot.stop()
                if not slot.ready:
                    raise WorkerError(
                        f"{reason.removesuffix(' while running this trial')} before it was "
                        f"ready; a script that runs experiments on worker processes must "
                        f'start them under `if __name__ == "__main__":`'
                    )
                self._slots[slot.index] = self._start(slot.index)
                if trial is None:
                    continue
                lost_id = context.tracker.mark_lost(
                    context.job.parent_run_id, trial.hash, run_id, reason
                )
                if not overdue and attempts.lost(trial):
                    queue.appendleft(trial)
                else:
                    remaining -= 1
                    yield lost_result(trial, lost_id, reason)

    def _handle(self, slot: _Slot, message: tuple, context: ExecutionContext) -> TrialResult | None:
        kind = message[0]
        if kind == "ready":
            slot.ready = True
            return None
        if kind == "started":
            slot.run_id = message[2]
            # The limit covers the trial from here, as the worker's own timer does: a
            # worker slow to get to its run (still importing, a loaded machine, a slow
            # store) is not stopped for time the trial never had.
            slot.assigned_at = time.monotonic()
            if slot.trial is not None:
                context.on_start(slot.trial)
            return None
        if kind == "done":
            slot.trial, slot.run_id = None, None
            return message[2]
        raise WorkerError(
            f"worker {slot.index} ({slot.device or 'default device'}) failed:\n{message[2]}"
        )

    def warm_up(self) -> None:
        """Start the worker processes in the background: they import what the parent has
        imported, then wait for the job. :meth:`run` waits for them to have started."""
        if self._slots or self._starting is not None:
            return
        self._start_error = None
        # The first start waits for the fork server's imports; meanwhile the parent builds
        # its data and opens its store.
        self._starting = threading.Thread(
            target=self._start_all, name="clusterlab-worker-start", daemon=True
        )
        self._starting.start()

    def _start_all(self) -> None:
        try:
            self._slots = [self._start(index) for index in range(self.workers)]
        except BaseException as exc:
            self._start_error = exc

    def _wait_for_start(self) -> None:
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        if self._start_error is not None:
            error, self._start_error = self._start_error, None
            raise WorkerError(f"the worker processes could not start: {error}") from error

    def _start(self, index: int) -> _Slot:
        context = _worker_context()
        parent_end, child_end = context.Pipe()
        device = self.devices[index % len(self.devices)] if self.devices else None
        process = context.Process(
            target=_worker_main,
            args=(
                child_end,
                device,
                self.threads_per_worker,
                pack_names(_modules_to_preload()),
                dict(os.environ),
            ),
            name=f"clusterlab-worker-{index}",
            daemon=True,
        )
        process.start()
        child_end.close()
        slot = _Slot(index, device, process, parent_end)
        if self._job is not None:
            slot.send(self._job)
        return slot

    def close(self) -> None:
        """Stop every worker: ask politely, then terminate those still running."""
        with contextlib.suppress(WorkerError):
            self._wait_for_start()
        # All are asked first, so that they wind down together rather than in turn.
        for slot in self._slots:
            slot.ask_to_stop()
        for slot in self._slots:
            slot.stop()
        self._slots = []
        self._job = None


@dataclass
class _Slot:
    """One worker process, and the trial it is running."""

    index: int
    device: str | None
    process: Any
    connection: Any
    trial: Trial | None = None
    run_id: str | None = None
    alive: bool = True
    ready: bool = False
    assigned_at: float = 0.0
    asked_to_stop: bool = False

    def assign(self, trial: Trial) -> None:
        """Send ``trial`` to this worker."""
        self.trial, self.run_id = trial, None
        self.assigned_at = time.monotonic()
        self.send(trial)

    def overdue(self, timeout_s: float | None) -> bool:
        """Whether the trial runs past its limit and the grace the worker has to stop it
        itself: a fit stuck in native code, which the worker's own timer cannot reach.
        Counted from the trial's run starting, or from its hand-out until then."""
        if timeout_s is None or self.trial is None:
            return False
        return time.monotonic() - self.assigned_at > timeout_s + BACKSTOP_GRACE_S

    def overdue_reason(self, timeout_s: float | None) -> str:
        """Why an :meth:`overdue` worker was stopped, for the tag on its run."""
        return (
            f"the trial ran past timeout_s={timeout_s:g} (and {BACKSTOP_GRACE_S:g} s of "
            f"grace) without returning; worker process {self.process.pid} was stopped"
        )

    def send(self, message: Any) -> None:
        """Send a message; where the worker is gone, the main loop sees its pipe closed."""
        with contextlib.suppress(OSError):
            self.connection.send(message)

    def death_reason(self) -> str:
        """Why this worker is gone, for the tag on the run it left behind."""
        self.process.join(timeout=_STOP_TIMEOUT_S)
        code = self.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        where = f" on {self.device}" if self.device else ""
        return f"worker process {self.process.pid}{where} died ({how}) while running this trial"

    def ask_to_stop(self) -> None:
        """Tell an idle worker to finish; one that is mid-trial is left to :meth:`stop`."""
        if self.alive and not self.asked_to_stop and self.trial is None:
            self.asked_to_stop = True
            self.send(None)

    def stop(self) -> None:
        """End the worker process and close its pipe."""
        if not self.alive:
            return
        self.alive = False
        if not self.asked_to_stop:
            self.asked_to_stop = True
            self.send(None)
        if self.trial is not None and self.process.is_alive():
            self.process.terminate()  # it is mid-trial: do not wait for the fit to end
        self.process.join(timeout=_STOP_TIMEOUT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def _worker_context() -> Any:
    """The fork server's context, its imports set up on first use; spawn's where the
    platform has no fork server."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Only read when the server starts: later calls change nothing for a running server,
    # and a worker imports what the server lacks from the list it is given.
    context.set_forkserver_preload(_server_preload())
    return context


def _server_preload() -> list[str]:
    """What the fork server imports: torch, MLflow's store, the worker and every installed
    plugin's module that this process has imported. A short list: it travels on the
    server's command line."""
    from importlib import metadata

    from clusterlab.plugins import ENTRY_POINT_GROUP

    # Plugins this process has not imported (blocked, or not loaded) stay unimported.
    plugins = {entry.module for entry in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    loaded = sorted(name for name in plugins if name in sys.modules)
    base = ["torch", "mlflow.store.tracking.sqlalchemy_store", "clusterlab.executors.worker"]
    return [*base, __name__, *loaded]


def _modules_to_preload() -> list[str]:
    """The modules this process has imported so far, in the order it imported them: by
    the time workers start, the plugins' modules and everything they use."""
    return [name for name in sys.modules if name not in ("__main__", "__mp_main__")]


def pack_names(names: Sequence[str]) -> bytes:
    """``names`` compressed, a few tens of KB for thousands of modules.

    A spawned child reads its arguments only once it has imported the parent's main
    module, and the parent's write of arguments larger than a pipe's buffer (64 KiB on
    Linux) waits for that: unpacked, the module list made the parent wait for each worker's
    imports in turn.
    """
    return zlib.compress("\n".join(names).encode())


def unpack_names(packed: bytes) -> list[str]:
    """The names :func:`pack_names` packed."""
    text = zlib.decompress(packed).decode() if packed else ""
    return text.split("\n") if text else []


def _preload(modules: Sequence[str]) -> None:
    """Import ``modules`` (the parent's, in its order) while the parent still prepares the
    grid, so that the job's plugins and store are quick to set up once it arrives."""
    import importlib

    # Loaded before the parent opens its store, so not in its list: the default store.
    for name in (*modules, "mlflow.store.tracking.sqlalchemy_store"):
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception:
            # Some names exist only as attributes of a package (made at import time);
            # anything a trial really needs is imported again, with its error, when the
            # job's plugins load.
            continue


def _worker_main(
    connection: Any,
    device: str | None,
    threads: int,
    preload: bytes = b"",
    environment: dict[str, str] | None = None,
) -> NoReturn:
    """A worker process: take the job, then trials, from the pipe until told to stop or the
    parent is gone; then leave at once (the parent waits for it)."""
    if environment is not None:
        # Forked from a server started earlier: the parent's variables as they are now.
        os.environ.clear()
        os.environ.update(environment)
    _serve(connection, device, threads, preload)
    leave(0)


def _serve(connection: Any, device: str | None, threads: int, preload: bytes) -> None:
    """The worker's work: preload, then the job, then one trial after another."""
    # Ctrl-C in a terminal reaches the whole process group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    _preload(unpack_names(preload))

    torch.set_num_threads(threads)
    connection.send(("ready",))
    try:
        job = connection.recv()
    except (EOFError, OSError):
        return
    if job is None:
        return

    def started(trial: Trial, run_id: str) -> None:
        connection.send(("started", trial.index, run_id))

    while True:
        try:
            trial = connection.recv()
        except (EOFError, OSError):
            return
        if trial is None:
            return
        try:
            result = run_trial(job, trial, device=device, on_run_started=started)
        except BaseException:
            connection.send(("error", trial.index, traceback.format_exc()))
            return
        connection.send(("done", trial.index, result))


def _check_machine_fits(workers: int) -> None:
    """Refuse more workers than this machine can hold: each one is a Python process with
    torch and MLflow imported, and more than a few per core only wait on each other."""
    cores = _cpu_count()
    if workers > WORKERS_PER_CORE * cores:
        raise ValueError(
            f"workers: {workers} on a machine with {cores} CPU core(s); at most "
            f"{WORKERS_PER_CORE * cores} ({WORKERS_PER_CORE} per core)"
        )
    available = available_memory()
    if available is not None and workers * WORKER_MEMORY_BYTES > available:
        raise ValueError(
            f"workers: {workers} workers need about {workers * WORKER_MEMORY_BYTES >> 20:,} MiB "
            f"before any data ({WORKER_MEMORY_BYTES >> 20} MiB each), and this machine has "
            f"{available >> 20:,} MiB available; use fewer workers"
        )


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _check_count(name: str, value: Any, *, minimum: int = 1, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
