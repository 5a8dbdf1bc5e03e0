"""Loads an experiment: the file or mapping, its overrides and executor choice, then the schema.

This is the first step of an experiment's way in, entered once: what comes out is a
:class:`LoadedExperiment` whose schema is checked and whose every key still knows its
line. The grid (:mod:`clusterlab.grid`) and the checks against the plugins
(:mod:`clusterlab.checks`) take it from there.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from clusterlab.errors import ExperimentError
from clusterlab.overrides import Overrides, apply_overrides
from clusterlab.schema import Executor, Experiment
from clusterlab.schema_errors import located_problems
from clusterlab.yamlfile import SourceMap, load_yaml

# A caller's choice of executor: a registered name, or a whole ``executor:`` mapping.
ExecutorChoice = str | Mapping[str, Any]

# The executor a file gets when it names none (the schema's default).
_DEFAULT_EXECUTOR: str = Executor.model_fields["name"].default


@dataclass
class LoadedExperiment:
    """A parsed experiment with where it came from."""

    experiment: Experiment
    raw: dict[str, Any]
    source: SourceMap
    base_dir: Path
    path: Path | None


def load_experiment(
    experiment: str | Path | Mapping[str, Any],
    overrides: Overrides = (),
    executor: ExecutorChoice | None = None,
) -> LoadedExperiment:
    """Read an experiment (a path or a mapping), apply overrides and check its schema.

    Args:
        experiment: an experiment file, or the mapping such a file holds.
        overrides: ``KEY=VALUE`` strings or a mapping of dotted keys (see
            :func:`clusterlab.overrides.apply_overrides`).
        executor: replaces the file's ``executor:``. A name keeps the file's options when
            the file names the same executor (and drops them otherwise); a mapping such as
            ``{"name": "processes", "workers": 4}`` replaces the whole entry.

    Raises:
        ExperimentError: with every problem, each naming its file, line and key.
    """
    if isinstance(experiment, Mapping):
        raw = copy.deepcopy(dict(experiment))
        source = SourceMap("<experiment>")
        base_dir = Path.cwd()
        path = None
    else:
        path = Path(experiment)
        raw, source = load_yaml(path)
        base_dir = path.resolve().parent
    raw, touched = apply_overrides(raw, overrides)
    if executor is not None:
        spec, keep_lines = executor_entry(raw.get("executor"), executor)
        raw["executor"] = spec
        if not keep_lines:
            touched.append(("executor",))
    # What was overridden no longer comes from the file: its lines would point at old values.
    for location in touched:
        for line_key in [k for k in source.lines if k[: len(location)] == location]:
            source.lines.pop(line_key)
    return LoadedExperiment(parse_experiment(raw, source), raw, source, base_dir, path)


def executor_entry(current: Any, choice: ExecutorChoice) -> tuple[dict[str, Any], bool]:
    """The ``executor:`` entry after the caller's choice, and whether the file's lines hold.

    A name that the file already names keeps the file's options (and their lines); any
    other choice replaces the entry whole.
    """
    current = dict(current) if isinstance(current, Mapping) else {}
    if isinstance(choice, str):
        if current.get("name", _DEFAULT_EXECUTOR) == choice:
            return {**current, "name": choice}, True
        return {"name": choice}, False
    return dict(choice), False


def parse_experiment(raw: dict[str, Any], source: SourceMap) -> Experiment:
    """Check ``raw`` against the schema; every problem names its file, line and key."""
    try:
        return Experiment.model_validate(raw)
    except ValidationError as exc:
        raise ExperimentError(located_problems(exc, source)) from None
