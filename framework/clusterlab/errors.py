"""Exceptions that clusterlab raises on purpose, each with a message meant for a person."""

from __future__ import annotations


class ClusterlabError(Exception):
    """Base of every error clusterlab reports without a traceback."""

    exit_code = 1


class ExperimentError(ClusterlabError):
    """An experiment file (or its overrides) is invalid; carries every problem found."""

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class PluginError(ClusterlabError):
    """A plugin could not be loaded or registered something malformed."""

    exit_code = 2


class DuplicateNameError(PluginError):
    """Two plugins registered the same name for one kind; start-up stops."""


class DeviceError(ClusterlabError):
    """The requested device does not exist on this machine."""

    exit_code = 2


class TrackingError(ClusterlabError):
    """The MLflow tracking store cannot be reached or written."""

    exit_code = 2


class ScoreUndefined(Exception):
    """Raised by a metric when its score is not defined for a result (e.g. one cluster).

    The runner then logs no value for that metric and tags the trial's run with the reason.
    """
