"""MLflow tracking through ``MlflowClient``: parent and child runs, params, scores, artifacts."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clusterlab.errors import TrackingError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
KIND_TAG = "clusterlab.kind"
HASH_TAG = "clusterlab.trial_hash"
PARENT_TAG = "mlflow.parentRunId"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
_MAX_PARAM_CHARS = 500


def resolve_tracking_uri(cli_uri: str | None = None, file_uri: str | None = None) -> str:
    """The store to use: the CLI's, else the experiment file's, else ``MLFLOW_TRACKING_URI``,
    else MLflow's default ``sqlite:///mlflow.db`` in the working directory."""
    return cli_uri or file_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


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


class Tracker:
    """Writes one experiment invocation to an MLflow store."""

    def __init__(self, uri: str, experiment_name: str, artifact_location: str | None = None):
        import logging

        # MLflow reports every schema migration step at INFO on a fresh store.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        self.uri = uri
        # Artifact locations of the runs this tracker started: MLflow would look each
        # run up in the store again before its first artifact.
        self._artifact_uris: dict[str, str] = {}
        self._artifact_repos: dict[str, Any] = {}
        if uri.startswith(("http://", "https://")):
            _check_server(uri)
        try:
            with _store_lock(uri):
                self.client = MlflowClient(tracking_uri=uri)
                experiment = self.client.get_experiment_by_name(experiment_name)
                if experiment is None:
                    self.experiment_id = self.client.create_experiment(
                        experiment_name,
                        artifact_location=artifact_location,
                        # Without this MLflow's UI opens the experiment in its GenAI view.
                        tags={EXPERIMENT_KIND_TAG: "custom_model_development"},
                    )
                else:
                    if experiment.lifecycle_stage == "deleted":
                        self.client.restore_experiment(experiment.experiment_id)
                    self.experiment_id = experiment.experiment_id
        except Exception as exc:
            raise TrackingError(
                f"cannot use the MLflow tracking store '{uri}': {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}"
            ) from None

    def finished_trials(self) -> dict[str, Any]:
        """Trial hash → FINISHED child run, for every trial already done in this experiment."""
        runs: dict[str, Any] = {}
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{KIND_TAG}` = 'trial' and attributes.status = 'FINISHED'",
                max_results=1000,
                page_token=token,
            )
            for run in page:
                trial_hash = run.data.tags.get(HASH_TAG)
                if trial_hash and trial_hash not in runs:
                    runs[trial_hash] = run
            token = page.token
            if not token:
                return runs

    def start_run(
        self, run_name: str, tags: dict[str, str], parent_run_id: str | None = None
    ) -> str:
        """Create a run (a child where ``parent_run_id`` is given) and return its id."""
        tags = dict(tags)
        if parent_run_id:
            tags[PARENT_TAG] = parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self._artifact_uris[run.info.run_id] = run.info.artifact_uri
        return run.info.run_id

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

    def end_run(self, run_id: str, status: str) -> None:
        """Mark a run FINISHED, FAILED or KILLED."""
        self.client.set_terminated(run_id, status=status)
        self._artifact_uris.pop(run_id, None)
        self._artifact_repos.pop(run_id, None)

    def kill_unfinished(self, parent_run_id: str) -> None:
        """Mark the parent and every child still RUNNING as KILLED (after an interrupt)."""
        children = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}' and "
            "attributes.status = 'RUNNING'",
            max_results=1000,
        )
        for run in children:
            self.end_run(run.info.run_id, "KILLED")
        self.end_run(parent_run_id, "KILLED")

    def trial_runs(self, hashes: set[str]) -> list[Any]:
        """The latest FINISHED trial run of each hash in ``hashes``."""
        runs = self.finished_trials()
        return [run for trial_hash, run in runs.items() if trial_hash in hashes]


def lay_out_once(figure: Any) -> None:
    """Run a figure's layout engine (constrained, tight) once and keep the positions found.

    ``savefig`` on a figure with a layout engine draws it once to lay it out and again to
    render it, and the engine runs on both draws: measuring every text twice costs about
    a third of the save. With the positions fixed first the saved image is the same.
    """
    get_engine = getattr(figure, "get_layout_engine", None)
    engine = get_engine() if get_engine is not None else None
    if engine is None:
        return
    engine.execute(figure)
    figure.set_layout_engine("none")
