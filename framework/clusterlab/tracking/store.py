"""The MLflow store through ``MlflowClient``: the writes of an invocation (:class:`Tracker`)
and the queries that the runner, the executors and ``report`` ask of a store."""

from __future__ import annotations

import contextlib
import fcntl
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import clusterlab.tracking.tags as tags_
from clusterlab.errors import ExperimentError, TrackingError
from clusterlab.tracking.failures import bound_http_waits
from clusterlab.tracking.figures import lay_out_once
from clusterlab.tracking.owner import owner_gone
from clusterlab.tracking.retry import LockRetryingClient
from clusterlab.tracking.schema import seed_new_store
from clusterlab.tracking.shield import UninterruptedClient
from clusterlab.tracking.uri import default_artifact_root, require_existing_store

_MAX_PARAM_CHARS = 500
# Column ids of MLflow's runs table (its ag-grid), and roughly how wide its characters are.
_RUN_NAME_COLUMN = "attributes.`Run Name`"
_FIXED_COLUMNS = [_RUN_NAME_COLUMN, "runDateAndNestInfo", "duration"]
_CHAR_PX = 7
# Runs a search returns per page; MLflow's stores refuse more than a few thousand.
_PAGE_SIZE = 1000
# How long a claim waits to learn whether a rival started later went ahead, and how often
# it asks meanwhile.
_CLAIM_WAIT_S = 30.0
_CLAIM_POLL_S = 0.05


def param_value(value: Any) -> str:
    """A parameter as MLflow stores it: short and readable; long arrays are abbreviated."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    if len(text) > _MAX_PARAM_CHARS:
        text = text[: _MAX_PARAM_CHARS - 3] + "..."
    return text


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """Serialise the creation of a local sqlite store: MLflow's schema migration is not
    safe to run twice at once."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    db_path = Path(uri.removeprefix("sqlite:///"))
    db_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = db_path.with_name(db_path.name + ".lock")
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_server(uri: str, timeout_s: float = 10.0) -> None:
    """Fail fast on an unreachable tracking server (MLflow's client would retry for minutes)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s):
            return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(
            f"the MLflow tracking server {uri} does not answer ({reason}); start it "
            f"(mlflow server --host ...) or choose another store with --tracking-uri"
        ) from None


# Tries of a dataset input that lost a race to insert the same new dataset.
_DATASET_ATTEMPTS = 3
# How sqlite and PostgreSQL word the refused insert.
_UNIQUE_VIOLATIONS = ("UNIQUE constraint failed", "duplicate key value violates unique")


def _client(uri: str) -> Any:
    import logging

    # MLflow reports every schema migration step at INFO on a fresh store.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    if uri.startswith(("http://", "https://")):
        bound_http_waits()
        _check_server(uri)
    return UninterruptedClient(MlflowClient(tracking_uri=uri))


def _unusable(uri: str, exc: Exception) -> TrackingError:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return TrackingError(
        f"cannot use the MLflow tracking store '{uri}': {type(exc).__name__}: {first}"
    )


class _StoreQueries:
    """The questions clusterlab asks of one experiment in a store; ``client`` and
    ``experiment_id`` are set by the subclass."""

    uri: str
    client: Any
    experiment_id: str

    def _search(self, filter_string: str, order_by: list[str] | None = None) -> Iterator[Any]:
        """Every run of the experiment that matches, page after page."""
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=filter_string,
                order_by=order_by,
                max_results=_PAGE_SIZE,
                page_token=token,
            )
            yield from page
            token = page.token
            if not token:
                return

    def finished_trials(self) -> dict[str, Any]:
        """Trial hash → FINISHED child run, for every trial already done in this experiment
        (the latest run of a hash where there are several)."""
        runs: dict[str, Any] = {}
        query = f"tags.`{tags_.KIND}` = '{tags_.KIND_TRIAL}' and attributes.status = 'FINISHED'"
        for run in self._search(query, order_by=["attributes.start_time DESC"]):
            trial_hash = run.data.tags.get(tags_.TRIAL_HASH)
            if trial_hash and trial_hash not in runs:
                runs[trial_hash] = run
        return runs

    def trial_runs(self, hashes: set[str]) -> list[Any]:
        """The latest FINISHED trial run of each hash in ``hashes``."""
        return [run for h, run in self.finished_trials().items() if h in hashes]

    def load_array(self, run_id: str, path: str) -> Any:
        """A run's ``.npy`` artifact (as :meth:`Tracker.log_array` saved it) as a numpy
        array, downloaded to a scratch folder that is removed afterwards."""
        import numpy as np

        with tempfile.TemporaryDirectory() as folder:
            local = self.client.download_artifacts(run_id, path, folder)
            return np.load(local, allow_pickle=False)

    def running_children(self, parent_run_id: str, trial_hash: str | None = None) -> list[Any]:
        """Child runs of ``parent_run_id`` still RUNNING (of one trial where a hash is
        given), however many there are."""
        query = f"tags.`{tags_.PARENT}` = '{parent_run_id}' and attributes.status = 'RUNNING'"
        if trial_hash:
            query += f" and tags.`{tags_.TRIAL_HASH}` = '{trial_hash}'"
        return list(self._search(query))

    def claimed_elsewhere(self, trial_hash: str, own_run_id: str) -> str | None:
        """The run that makes ``own_run_id`` redundant, or ``None``: a FINISHED run of the
        same trial, or one RUNNING under a live invocation that claimed it first (started
        earlier; the smaller run id on a tie) or that claimed it later but went ahead.

        Start times are the clients', taken before a run reaches the store, so a run
        started later may have looked for rivals before this one was there, found none
        and gone ahead; this one then yields to it (see :meth:`_went_ahead`). Of claims
        that all look after creating their runs, at most one goes ahead.
        """
        runs = list(self._search(f"tags.`{tags_.TRIAL_HASH}` = '{trial_hash}'"))
        mine = next((r for r in runs if r.info.run_id == own_run_id), None)
        if mine is None:
            return None
        claim = (mine.info.start_time, own_run_id)
        for run in runs:
            if run.info.run_id == own_run_id:
                continue
            if run.info.status == "FINISHED":
                return run.info.run_id
            if run.info.status != "RUNNING" or not self._parent_alive(run):
                continue
            earlier = (run.info.start_time, run.info.run_id) < claim
            if earlier or self._went_ahead(run.info.run_id):
                return run.info.run_id
        return None

    def _went_ahead(self, run_id: str) -> bool:
        """Whether the rival claim ``run_id`` went ahead with its trial: it logs its data
        right after its own look, and is deleted at once where it yields. Asked until one
        of the two shows (a live claim that shows neither in time is yielded to)."""
        deadline = time.monotonic() + _CLAIM_WAIT_S
        while True:
            run = self.client.get_run(run_id)
            if run.info.lifecycle_stage == "deleted":
                return False
            if run.inputs.dataset_inputs or run.info.status != "RUNNING":
                return True
            if time.monotonic() >= deadline:
                return True
            time.sleep(_CLAIM_POLL_S)

    def _parent_alive(self, run: Any) -> bool:
        """Whether a trial run's parent is RUNNING under a process that may still live."""
        parent_id = run.data.tags.get(tags_.PARENT)
        if not parent_id:
            return False
        parent = self.client.get_run(parent_id)
        return parent.info.status == "RUNNING" and owner_gone(parent.data.tags) is None

    def running_parents(self) -> list[Any]:
        """The experiment's parent runs still RUNNING, however many."""
        query = f"tags.`{tags_.KIND}` = '{tags_.KIND_EXPERIMENT}' and attributes.status = 'RUNNING'"
        return list(self._search(query))

    def run_status(self, run_id: str) -> str:
        """A run's status as the store has it now (RUNNING, FINISHED, FAILED, KILLED)."""
        return self.client.get_run(run_id).info.status

    def latest_parent(self) -> Any | None:
        """The parent run of the experiment's latest invocation, or ``None``."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{tags_.KIND}` = '{tags_.KIND_EXPERIMENT}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0] if runs else None

    def grid_summary_parent(self, grid_hash: str, n_trials: int) -> Any | None:
        """The latest FINISHED parent of the grid ``grid_hash`` whose summary covers
        ``n_trials`` finished trials, or ``None``."""
        query = (
            f"tags.`{tags_.KIND}` = '{tags_.KIND_EXPERIMENT}' and "
            f"tags.`{tags_.GRID_HASH}` = '{grid_hash}' and "
            f"tags.`{tags_.SUMMARY_TRIALS}` = '{n_trials}' and attributes.status = 'FINISHED'"
        )
        for run in self._search(query, order_by=["attributes.start_time DESC"]):
            return run
        return None

    def directions(self) -> dict[str, bool]:
        """Metric key → whether greater is better, as the latest invocation recorded it."""
        parent = self.latest_parent()
        if parent is None or tags_.DIRECTIONS not in parent.data.tags:
            return {}
        return json.loads(parent.data.tags[tags_.DIRECTIONS])

    def swept_params(self) -> list[str]:
        """The ``algorithm.*`` and ``dataset.*`` params whose value varies among the
        finished trials of one dataset and algorithm (the grid's swept axes), the
        algorithm's first."""
        values: dict[tuple[str, str, str], set[str]] = {}
        for run in self.finished_trials().values():
            params = run.data.params
            entry = (params.get("dataset", ""), params.get("algorithm", ""))
            for key, value in params.items():
                if key.startswith(("algorithm.", "dataset.")):
                    values.setdefault((*entry, key), set()).add(value)
        swept = {key for (_, _, key), seen in values.items() if len(seen) > 1}
        return sorted(swept, key=lambda key: (not key.startswith("algorithm."), key))

    def mark_model_training(self) -> None:
        """Tag the experiment as model training where it has no kind yet, so that MLflow
        3's UI opens it on its runs table instead of its GenAI pages."""
        experiment = self.client.get_experiment(self.experiment_id)
        if tags_.EXPERIMENT_KIND not in experiment.tags:
            self.client.set_experiment_tag(
                self.experiment_id, tags_.EXPERIMENT_KIND, tags_.EXPERIMENT_KIND_VALUE
            )

    def save_runs_view(self) -> str:
        """Save the experiment's runs table as clusterlab shows it, as the saved view
        ``clusterlab`` of MLflow's UI (an experiment tag, replaced each time): the swept
        params and the scores as columns, the runs grouped by invocation. Returns the
        view's key, for :func:`~clusterlab.tracking.uri.runs_table_url`."""
        names = [run.info.run_name or "" for run in self.finished_trials().values()]
        parent = self.latest_parent()
        invocations = [parent.info.run_name or ""] if parent else []
        state = runs_view_state(self.swept_params(), list(self.directions()), names, invocations)
        now = int(time.time() * 1000)
        # The envelope of the UI's own saved views: a name, times, and the state as text.
        view = {"name": "clusterlab", "createdAt": now, "updatedAt": now}
        view["state"] = json.dumps(state)
        key = tags_.RUNS_VIEW_KEY
        self.client.set_experiment_tag(
            self.experiment_id, tags_.SAVED_VIEW_PREFIX + key, json.dumps(view)
        )
        return key


def runs_view_state(
    params: list[str], scores: list[str], run_names: list[str], invocations: list[str]
) -> dict[str, Any]:
    """The state of MLflow's runs table (as its saved views hold it) that shows ``params``
    then ``scores`` as columns, wide enough for their names, for the longest of
    ``run_names`` and for the group rows of ``invocations`` (the runs are grouped by the
    invocation they belong to)."""
    columns = [f"params.`{name}`" for name in params] + [f"metrics.`{name}`" for name in scores]
    # A group row reads "Group: <name>" beside a count of its runs.
    longest = max([*map(len, run_names), *(len(name) + 12 for name in invocations)], default=0)
    widths = {_RUN_NAME_COLUMN: min(max(190, 60 + _CHAR_PX * longest), 420)}
    widths.update(
        {
            column: min(max(110, 40 + _CHAR_PX * len(name)), 240)
            for column, name in zip(columns, [*params, *scores], strict=True)
        }
    )
    return {
        "selectedColumns": columns,
        # Widths apply only to the columns that an order names.
        "columnOrder": [*_FIXED_COLUMNS, *columns],
        "columnWidths": widths,
        "groupBy": {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "tag", "groupByData": tags_.INVOCATION}],
        },
    }


def latest_experiment_name(uri: str) -> str | None:
    """The experiment of the store's latest clusterlab invocation; else its only
    experiment besides MLflow's ``Default``; else ``None``."""
    require_existing_store(uri)
    try:
        client = _client(uri)
        experiments = {e.experiment_id: e.name for e in client.search_experiments()}
        latest = (
            client.search_runs(
                list(experiments),
                filter_string=f"tags.`{tags_.KIND}` = '{tags_.KIND_EXPERIMENT}'",
                order_by=["attributes.start_time DESC"],
                max_results=1,
            )
            if experiments
            else []
        )
    except TrackingError:
        raise
    except Exception as exc:
        raise _unusable(uri, exc) from None
    if latest:
        return experiments.get(latest[0].info.experiment_id)
    others = [name for name in experiments.values() if name != "Default"]
    return others[0] if len(others) == 1 else None


class ReadOnlyStore(_StoreQueries):
    """An experiment that must already exist in a store, opened to read it (and, for
    ``clusterlab ui``, to save how its runs table shows); a local store that does not
    exist is refused rather than created."""

    def __init__(self, uri: str, experiment_name: str) -> None:
        self.uri = uri
        require_existing_store(uri)
        try:
            self.client = _client(uri)
            experiment = self.client.get_experiment_by_name(experiment_name)
            known = [] if experiment else [e.name for e in self.client.search_experiments()]
        except TrackingError:
            raise
        except Exception as exc:
            raise _unusable(uri, exc) from None
        if experiment is None:
            raise ExperimentError(
                f"no experiment '{experiment_name}' in {uri}; experiments there: "
                f"{', '.join(known) or 'none'}"
            )
        self.experiment_id = experiment.experiment_id


def _create_experiment(client: Any, uri: str, name: str, artifact_location: str | None) -> str:
    """Create experiment ``name``, tagged as model training, and return its id; its
    artifacts go to ``artifact_location`` where one is given, else beside a local sqlite
    store's file (``mlruns/<experiment id>``), else where the store's default puts them."""
    kind = {tags_.EXPERIMENT_KIND: tags_.EXPERIMENT_KIND_VALUE}
    root = None if artifact_location else default_artifact_root(uri)
    if root is None:
        return client.create_experiment(name, artifact_location=artifact_location, tags=kind)
    from mlflow.entities import ExperimentTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    # The default folder is named after the experiment's id, known only once it exists: a
    # store whose default root is that folder creates it (sharing the client's engine).
    store = SqlAlchemyStore(uri, root)
    return store.create_experiment(name, None, [ExperimentTag(k, v) for k, v in kind.items()])


class Tracker(_StoreQueries):
    """Writes one experiment invocation to an MLflow store (creating the experiment where
    it is new), and asks it what is already there."""

    def __init__(self, uri: str, experiment_name: str, artifact_location: str | None = None):
        self.uri = uri
        # Artifact locations of the runs this tracker started: MLflow would look each
        # run up in the store again before its first artifact.
        self._artifact_uris: dict[str, str] = {}
        self._artifact_repos: dict[str, Any] = {}
        # Parent run id → its name, the invocation tag of its children.
        self._invocations: dict[str, str] = {}
        try:
            with _store_lock(uri):
                seed_new_store(uri)
                self.client = _client(uri)
                experiment = self.client.get_experiment_by_name(experiment_name)
                if experiment is None:
                    try:
                        self.experiment_id = _create_experiment(
                            self.client, uri, experiment_name, artifact_location
                        )
                    except Exception:
                        # Another invocation created it since the lookup (a server does
                        # not serialise the two): use that one.
                        experiment = self.client.get_experiment_by_name(experiment_name)
                        if experiment is None:
                            raise
                        self.experiment_id = experiment.experiment_id
                else:
                    if experiment.lifecycle_stage == "deleted":
                        self.client.restore_experiment(experiment.experiment_id)
                    self.experiment_id = experiment.experiment_id
                    if tags_.EXPERIMENT_KIND not in experiment.tags:
                        self.mark_model_training()
        except TrackingError:
            raise
        except Exception as exc:
            raise _unusable(uri, exc) from None

    def retry_when_locked(self) -> Tracker:
        """Retry calls that a busy sqlite store refused (other stores unchanged); for
        invocations whose workers write the same file at once. Returns the tracker."""
        if self.uri.startswith("sqlite:") and not isinstance(self.client, LockRetryingClient):
            self.client = LockRetryingClient(self.client)
        return self

    def start_run(
        self, run_name: str, tags: dict[str, str], parent_run_id: str | None = None
    ) -> str:
        """Create a run (a child where ``parent_run_id`` is given) and return its id."""
        tags = dict(tags)
        if parent_run_id:
            tags[tags_.PARENT] = parent_run_id
        invocation = self._invocation(parent_run_id) if parent_run_id else run_name
        tags.setdefault(tags_.INVOCATION, invocation)
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self._artifact_uris[run.info.run_id] = run.info.artifact_uri
        if not parent_run_id:
            self._invocations[run.info.run_id] = run_name
        return run.info.run_id

    def _invocation(self, parent_run_id: str) -> str:
        """The name of parent run ``parent_run_id``, asked of the store once where another
        process started it (a worker's tracker)."""
        if parent_run_id not in self._invocations:
            name = self.client.get_run(parent_run_id).info.run_name or parent_run_id
            self._invocations[parent_run_id] = name
        return self._invocations[parent_run_id]

    def log(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Log params, metrics and tags in one request."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
            params=[Param(k, param_value(v)) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
        )

    def log_dataset(
        self, run_id: str, name: str, digest: str, source: str, tags: dict[str, str]
    ) -> None:
        """Record the trial's input data with clusterlab's digest over every value.

        MLflow's own digest reads only the first values of a dataset, so two files that
        differ near the end would share it; this one does not.
        """
        from mlflow.entities import Dataset, DatasetInput, InputTag

        source_text = json.dumps(source, default=repr)
        dataset = Dataset(name=name, digest=digest, source_type="clusterlab", source=source_text)
        input_tags = [InputTag("mlflow.data.context", "training")]
        input_tags += [InputTag(k, str(v)) for k, v in tags.items()]
        inputs = [DatasetInput(dataset, input_tags)]
        for attempt in range(_DATASET_ATTEMPTS):
            try:
                self.client.log_inputs(run_id, datasets=inputs)
                return
            except Exception as exc:
                # The store creates a dataset's row if it is missing, not atomically: two
                # workers logging the same new dataset at once can both try to insert it,
                # and the loser's transaction is rolled back. Again, the row is there.
                lost_race = any(marker in str(exc) for marker in _UNIQUE_VIOLATIONS)
                if attempt == _DATASET_ATTEMPTS - 1 or not lost_race:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def log_figure(self, run_id: str, figure: Any, path: str) -> None:
        """Save a matplotlib figure as a PNG artifact (its layout is fixed first).

        The PNG is compressed at zlib's fastest level: a few kB larger than matplotlib's
        default, several milliseconds less per figure.
        """
        lay_out_once(figure)
        save_kwargs = {"pil_kwargs": {"compress_level": 1}} if path.endswith(".png") else {}
        folder, _, filename = path.rpartition("/")
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(scratch) / filename
            figure.savefig(local, **save_kwargs)
            self._log_artifact(run_id, local, folder or None)

    def log_text(self, run_id: str, text: str, path: str) -> None:
        """Save text as an artifact."""
        self.client.log_text(run_id, text, path)

    def log_file(self, run_id: str, local_path: str | Path, folder: str | None = None) -> None:
        """Copy a local file into the run's artifacts."""
        self.client.log_artifact(run_id, str(local_path), folder)

    def log_table(self, run_id: str, frame: Any, path: str) -> None:
        """A pandas frame as an MLflow table artifact (``path`` ends in ``.json``), which
        the UI shows as a table."""
        self.client.log_table(run_id, data=frame, artifact_file=path)

    def log_array(self, run_id: str, array: Any, name: str) -> None:
        """Save a numpy array as ``name`` (``.npy``) in the run's artifacts."""
        import numpy as np

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            np.save(path, array)
            self._log_artifact(run_id, path, None)

    def _log_artifact(self, run_id: str, local_path: Path, folder: str | None) -> None:
        """Copy a file into a run's artifacts, through the run's repository once known."""
        repo = self._artifact_repos.get(run_id)
        if repo is None and run_id in self._artifact_uris:
            from mlflow.store.artifact.artifact_repository_registry import (
                get_artifact_repository,
            )

            repo = get_artifact_repository(self._artifact_uris[run_id], tracking_uri=self.uri)
            self._artifact_repos[run_id] = repo
        if repo is None:
            self.client.log_artifact(run_id, str(local_path), folder)
        else:
            repo.log_artifact(str(local_path), folder)

    def withdraw_run(self, run_id: str) -> None:
        """Delete a run this tracker started that turned out not to be needed."""
        self.client.delete_run(run_id)
        self._artifact_uris.pop(run_id, None)
        self._artifact_repos.pop(run_id, None)

    def end_run(self, run_id: str, status: str) -> None:
        """Mark a run FINISHED, FAILED or KILLED."""
        self.client.set_terminated(run_id, status=status)
        self._artifact_uris.pop(run_id, None)
        self._artifact_repos.pop(run_id, None)

    def end_running_children(self, parent_run_id: str, status: str) -> int:
        """End every child of ``parent_run_id`` still RUNNING with ``status``, however
        many; returns how many were ended."""
        children = self.running_children(parent_run_id)
        for run in children:
            self.end_run(run.info.run_id, status)
        return len(children)

    def end_invocation(self, parent_run_id: str, status: str) -> None:
        """End the children still RUNNING and then the parent itself with ``status`` (after
        an interrupt, KILLED; after an error that stopped the grid, FAILED)."""
        self.end_running_children(parent_run_id, status)
        self.end_run(parent_run_id, status)

    def mark_lost(
        self, parent_run_id: str, trial_hash: str, run_id: str | None, reason: str
    ) -> str | None:
        """Mark FAILED the run a dead worker left RUNNING, tagged with why; returns its id.

        The worker reports its run before fitting; where it died before that report
        arrived, the run is found by the trial's hash under the parent.
        """
        ids = {run.info.run_id for run in self.running_children(parent_run_id, trial_hash)}
        if run_id:
            ids.add(run_id)
        for lost_id in sorted(ids):
            if self.run_status(lost_id) != "RUNNING":
                continue  # it ended after all (the worker died after closing it)
            self.log(
                lost_id, tags={tags_.WORKER_LOST: reason, tags_.ERROR: f"WorkerLost: {reason}"}
            )
            self.end_run(lost_id, "FAILED")
        return run_id or (sorted(ids)[0] if ids else None)
