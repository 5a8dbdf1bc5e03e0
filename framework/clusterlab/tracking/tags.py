"""Every MLflow tag name clusterlab writes or reads, in one place."""

from __future__ import annotations

# MLflow's own tags.
PARENT = "mlflow.parentRunId"
NOTE = "mlflow.note.content"
#: Without it MLflow 3's UI opens a new experiment in its GenAI view. A UI with a workflow
#: selector (3.17 among them) goes by that instead: ``workflowType`` in the URL, else the
#: browser's last choice; ``clusterlab ui``'s link sets it.
EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_VALUE = "custom_model_development"
#: ``mlflow.sharedViewState.<key>``: a saved view of the experiment's runs table, opened by
#: the UI's ``viewStateShareKey=<key>`` link and listed under its Views.
SAVED_VIEW_PREFIX = "mlflow.sharedViewState."
#: The key of the saved view that ``clusterlab ui`` writes and links to.
RUNS_VIEW_KEY = "clusterlab"

# On every run clusterlab starts.
KIND = "clusterlab.kind"  # "experiment" (the parent) or "trial" (a child)
KIND_EXPERIMENT = "experiment"
KIND_TRIAL = "trial"
VERSION = "clusterlab.version"
#: The name of the invocation's parent run (on the parent, its own): the runs table groups
#: by it, so each invocation's trials sit under it.
INVOCATION = "clusterlab.invocation"

# On the parent run.
N_TRIALS = "clusterlab.n_trials"
#: JSON: metric key → whether greater is better, for reading scores back.
DIRECTIONS = "clusterlab.directions"
#: A digest of the grid's trial hashes: the parents of one grid share it.
GRID_HASH = "clusterlab.grid_hash"
#: How many finished trials the parent's summary covers (set once it is logged).
SUMMARY_TRIALS = "clusterlab.summary_trials"
#: The process that runs the invocation: host, process id and its start time.
OWNER_HOST = "clusterlab.owner_host"
OWNER_PID = "clusterlab.owner_pid"
OWNER_STARTED = "clusterlab.owner_started"
#: Why a later invocation ended a run whose process was gone.
ABANDONED = "clusterlab.abandoned"

# On a trial run.
TRIAL_HASH = "clusterlab.trial_hash"
TRIAL_INDEX = "clusterlab.trial_index"
DEVICE_NAME = "clusterlab.device_name"
PLUGIN = "clusterlab.plugin"
PLUGIN_DISTRIBUTION = "clusterlab.plugin_distribution"
PLUGIN_VERSION = "clusterlab.plugin_version"
DATASET_DIGEST = "clusterlab.dataset_digest"
#: ``ExceptionType: message`` of a FAILED trial (its traceback is the ``error.txt`` artifact).
ERROR = "clusterlab.error"
#: Why the details of a failure could not be logged.
ERROR_LOGGING = "clusterlab.error_logging"
#: Why a trial's worker was lost.
WORKER_LOST = "clusterlab.worker_lost"
#: ``clusterlab.undefined.<metric>``: why that score is not defined for the result.
UNDEFINED_PREFIX = "clusterlab.undefined."
#: ``clusterlab.plugin_error.<hook>``: a lifecycle hook raised after the trial was logged.
PLUGIN_ERROR_PREFIX = "clusterlab.plugin_error."
