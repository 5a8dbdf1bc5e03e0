"""``KEY=VALUE`` overrides: parsing them (``--set``) and applying them to an experiment mapping."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from clusterlab.errors import ExperimentError
from clusterlab.schema import LIST_SHORTHANDS
from clusterlab.yamlfile import Location, parse_yaml_value

Overrides = Mapping[str, Any] | Iterable[str]


def parse_overrides(overrides: Overrides) -> list[tuple[str, Any]]:
    """The ``(dotted key, value)`` pairs of a mapping, or of ``KEY=VALUE`` strings.

    Values given as strings are parsed as YAML (``seeds=[0,1]``, ``device=cpu``), so that
    ``--set`` writes what the file would.
    """
    if isinstance(overrides, Mapping):
        return list(overrides.items())
    pairs: list[tuple[str, Any]] = []
    for item in overrides:
        if "=" not in item:
            raise ExperimentError(f"--set {item}: expected KEY=VALUE (e.g. device=cpu)")
        key, text = item.split("=", 1)
        # Read within the experiment file's bounds: aliases, nesting and size.
        value = parse_yaml_value(text, f"--set {key.strip()}") if text.strip() else ""
        pairs.append((key.strip(), value))
    return pairs


def apply_overrides(
    raw: dict[str, Any], overrides: Overrides
) -> tuple[dict[str, Any], list[Location]]:
    """Apply overrides (dotted keys, list indices as numbers) to a copy of ``raw``.

    Returns the new mapping and the key paths that were set, so that the caller can
    forget the file lines of what no longer comes from the file.
    """
    data = copy.deepcopy(raw)
    touched: list[Location] = []
    for key, value in parse_overrides(overrides):
        parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.split(".")]
        _set(data, parts, value, key)
        touched.append(tuple(parts))
    return data, touched


def _set(data: dict[str, Any], parts: list[str | int], value: Any, key: str) -> None:
    target: Any = data
    for depth, part in enumerate(parts[:-1]):
        # A key inside a section written in its list form (``plots: [scatter]`` with
        # ``--set plots.format=svg``) turns the list into the mapping it stands for.
        shorthand = LIST_SHORTHANDS.get(tuple(map(str, parts[: depth + 1])))
        if (
            shorthand is not None
            and isinstance(target, dict)
            and isinstance(target.get(part), list)
            and isinstance(parts[depth + 1], str)
            and parts[depth + 1] != shorthand
        ):
            target[part] = {shorthand: target[part]}
        try:
            target = target[part]
        except (KeyError, IndexError, TypeError):
            if isinstance(part, str) and isinstance(target, dict):
                target[part] = {}
                target = target[part]
            else:
                where = ".".join(map(str, parts[: depth + 1]))
                raise ExperimentError(
                    f"--set {key}: '{where}' does not exist in the experiment"
                ) from None
    last = parts[-1]
    if isinstance(target, list) and isinstance(last, int):
        if last >= len(target):
            raise ExperimentError(f"--set {key}: index {last} is past the end of the list")
        target[last] = value
    elif isinstance(target, dict):
        target[last] = value
    else:
        raise ExperimentError(f"--set {key}: cannot set a key inside a {type(target).__name__}")
