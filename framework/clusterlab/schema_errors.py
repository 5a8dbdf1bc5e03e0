"""Turns the schema's validation errors into messages naming the file, line and key."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from clusterlab.names import suggest
from clusterlab.schema import Experiment
from clusterlab.yamlfile import Location, SourceMap, format_location


def located_problems(error: ValidationError, source: SourceMap) -> list[str]:
    """One ``file:line: key: message`` line per problem pydantic found, in its order."""
    problems = []
    for item in error.errors():
        location = tuple(p for p in item["loc"] if not _is_union_tag(p))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            parent = schema_keys(location[:-1])
            message = f"unknown key '{location[-1]}'" + suggest(str(location[-1]), parent)
        elif item["type"] == "missing":
            message = f"'{location[-1]}' is required"
        problems.append(f"{source.where(location)}: {format_location(location)}: {message}")
    return problems


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the member it tried into the location of a union's error
    # (``str``, ``dict[str,...]``, ``function-after``); the file has no such key.
    return isinstance(part, str) and ("[" in part or part in ("str", "function-after"))


def schema_keys(location: Location) -> list[str]:
    """The keys the schema allows at ``location`` (empty where that is not a model)."""
    model: Any = Experiment
    for part in location:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))
        model = next((a for a in inner if hasattr(a, "model_fields")), None)
        if model is None:
            return []
    return list(model.model_fields)
