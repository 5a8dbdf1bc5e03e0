"""Reads an experiment file with ``yaml.safe_load`` and remembers the line of every key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from clusterlab.errors import ExperimentError

Location = tuple[str | int, ...]


class SourceMap:
    """Where each key of a loaded YAML document was written: file, line and column."""

    def __init__(self, source: str, lines: dict[Location, int] | None = None) -> None:
        self.source = source
        self.lines: dict[Location, int] = lines or {}

    def line_of(self, location: Location) -> int | None:
        """The line of ``location``, or of its closest enclosing key that has one."""
        location = tuple(location)
        while location:
            if location in self.lines:
                return self.lines[location]
            location = location[:-1]
        return None

    def where(self, location: Location) -> str:
        """``file:line`` for messages (``file`` alone where the line is unknown)."""
        line = self.line_of(location)
        return f"{self.source}:{line}" if line else self.source


def format_location(location: Location) -> str:
    """Render a key path as it reads in the file: ``algorithms[0].grid.eps``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<top level>"


def load_yaml(path: str | Path) -> tuple[dict[str, Any], SourceMap]:
    """Load an experiment file safely; a syntax error names the line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExperimentError(f"{path}: no such experiment file") from None
    except OSError as exc:
        raise ExperimentError(f"{path}: cannot read the experiment file: {exc}") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str = "<string>") -> tuple[dict[str, Any], SourceMap]:
    """Parse YAML text into a mapping and its :class:`SourceMap`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        if isinstance(exc, yaml.constructor.ConstructorError):
            # safe_load builds plain data only: tags that would build objects are refused.
            raise ExperimentError(
                f"{where}: unsupported YAML tag (experiment files hold plain data): {exc.problem}"
            ) from None
        raise ExperimentError(f"{where}: YAML syntax error: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ExperimentError(f"{source}: YAML error: {exc}") from None
    if data is None:
        raise ExperimentError(f"{source}: the experiment file is empty")
    if not isinstance(data, dict):
        raise ExperimentError(
            f"{source}:1: an experiment file is a mapping (name:, datasets:, algorithms: ...),"
            f" not a {type(data).__name__}"
        )
    lines: dict[Location, int] = {}
    _record_lines(node, (), lines)
    return data, SourceMap(source, lines)


def _record_lines(node: yaml.Node | None, location: Location, lines: dict[Location, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = (*location, key)
            lines[child] = key_node.start_mark.line + 1
            _record_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*location, index)
            lines[child] = item.start_mark.line + 1
            _record_lines(item, child, lines)
