"""Reads an experiment file as plain data, within bounds, and remembers the line of every key.

An experiment file may come from anyone, so reading it is bounded before anything is
built from it: its size, its nesting depth, the number of YAML nodes it holds and how
many more its aliases (``*name``) would add, and it holds plain data only (strings,
numbers, booleans, null, lists and mappings: no tag builds an object). A key written
twice in one mapping is an error rather than last-wins. Each refusal names the file and
line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from clusterlab.errors import ExperimentError

Location = tuple[str | int, ...]

#: The largest experiment file read; a file is read no further than this.
MAX_FILE_BYTES = 4 * 1024 * 1024
#: How deeply lists and mappings may nest (an experiment needs about six levels).
MAX_DEPTH = 50
#: How many nodes the document may hold once every alias is expanded.
MAX_NODES = 200_000
#: How many nodes aliases may add: sharing a block of params a few times stays far
#: below, while a "billion laughs" document (aliases of aliases) goes over at once.
MAX_ALIAS_NODES = 10_000

_TAG = "tag:yaml.org,2002:"
# Tags that build something other than plain data; safe, but nothing in an experiment
# needs them, and refusing them keeps every value one of the plain types.
_NON_PLAIN_TAGS = ("binary", "timestamp", "omap", "pairs", "set")
_UTF16_32_MARKS = (b"\xff\xfe", b"\xfe\xff")


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
    """Load an experiment file safely; every refusal names the file and the line."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            # One byte past the limit tells a file over it from one exactly at it.
            data = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ExperimentError(f"{path}: no such experiment file") from None
    except OSError as exc:
        raise ExperimentError(f"{path}: cannot read the experiment file: {exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ExperimentError(
            f"{path}: the experiment file is over {MAX_FILE_BYTES // (1024 * 1024)} MiB;"
            " an experiment file holds a grid's description, not its values"
        )
    return parse_yaml(decode_text(data, str(path)), str(path))


def decode_text(data: bytes, source: str) -> str:
    """The file's bytes as UTF-8 text (a leading byte-order mark is dropped).

    Raises:
        ExperimentError: naming the line, column and byte offset of the first byte
            that is not UTF-8.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        hint = (
            " (it starts with a UTF-16 byte-order mark)" if data.startswith(_UTF16_32_MARKS) else ""
        )
        raise ExperimentError(
            f"{source}:{line}:{column}: the file is not UTF-8 text{hint}: byte "
            f"0x{data[offset]:02x} at offset {offset}; save it as UTF-8"
        ) from None


def parse_yaml_value(text: str, source: str = "<string>") -> Any:
    """Parse one YAML value of any kind (a ``--set`` value, say), within the bounds above."""
    return _load_bounded(text, source)[0]


def _load_bounded(text: str, source: str) -> tuple[Any, Any]:
    """The data of YAML ``text`` and its root node, read within the bounds above."""
    try:
        # The reader checks every character as it is built, so it is built inside.
        loader = _BoundedLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise ExperimentError(_marked_message(exc, source)) from None
    except yaml.reader.ReaderError as exc:
        raise ExperimentError(_reader_message(exc, text, source)) from None
    except yaml.YAMLError as exc:
        raise ExperimentError(f"{source}: YAML error: {exc}") from None
    return data, node


def parse_yaml(text: str, source: str = "<string>") -> tuple[dict[str, Any], SourceMap]:
    """Parse YAML text into a mapping and its :class:`SourceMap`, within the bounds above."""
    data, node = _load_bounded(text, source)
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


def _marked_message(exc: yaml.MarkedYAMLError, source: str) -> str:
    mark = exc.problem_mark
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    if isinstance(exc, _Refused):
        return f"{where}: {exc.problem}"
    if isinstance(exc, yaml.constructor.ConstructorError):
        # Only plain data is built: tags that would build objects are refused.
        return f"{where}: unsupported YAML tag (experiment files hold plain data): {exc.problem}"
    return f"{where}: YAML syntax error: {exc.problem}"


def _reader_message(exc: yaml.reader.ReaderError, text: str, source: str) -> str:
    # The reader gives an offset into the text; people look for a line and a column.
    position = exc.position
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    hint = " (a NUL byte: is the file UTF-16?)" if code == 0 else ""
    return (
        f"{source}:{line}:{column}: the file holds the control character "
        f"#x{code:04x}{hint}; an experiment file is plain text"
    )


class _Refused(yaml.MarkedYAMLError):
    """A document that is well-formed YAML but not one to read: over a bound, or a key
    written twice."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that counts while it composes, so that a hostile document is
    refused at the node that crosses a bound, before anything is built from it."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._alias_nodes = 0
        # Each composed node's size once its aliases are expanded; an alias adds the size
        # of the node it names. Keyed by id: the nodes live as long as the document.
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """Compose one node, refusing aliases, nesting and sizes past their bounds."""
        if self.check_event(yaml.AliasEvent):
            return self._compose_alias(parent, index)
        nested = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        if nested:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    f"lists and mappings nest more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark,
                )
        try:
            node = super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1
        self._sizes[id(node)] = 1 + sum(self._sizes[id(child)] for child in _children(node))
        self._nodes += 1
        self._check_total(node.start_mark)
        return node

    def _compose_alias(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        mark = self.peek_event().start_mark
        node = super().compose_node(parent, index)
        size = self._sizes.get(id(node))
        if size is None:
            # Its anchor is still open: the alias sits inside the node it names.
            raise _Refused("an alias refers to a node that contains it (a recursive alias)", mark)
        self._alias_nodes += size
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise _Refused(
                f"aliases expand to more than {MAX_ALIAS_NODES:,} YAML nodes; write the "
                "values out, or share fewer and smaller blocks",
                mark,
            )
        self._check_total(mark)
        return node

    def _check_total(self, mark: yaml.Mark) -> None:
        if self._nodes + self._alias_nodes > MAX_NODES:
            raise _Refused(f"the document holds more than {MAX_NODES:,} YAML nodes", mark)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """A mapping, refusing a key written twice (YAML would keep the last silently)."""
        if isinstance(node, yaml.MappingNode):
            self._refuse_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)

    def _refuse_duplicate_keys(self, node: yaml.MappingNode) -> None:
        first_line: dict[Any, int] = {}
        for key_node, _value in node.value:
            # A merge (``<<: *defaults``) may be overridden by the keys beside it.
            if key_node.tag == f"{_TAG}merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            marker = (type(key), key)
            if marker in first_line:
                raise _Refused(
                    f"duplicate key '{key_node.value}' (first written at line "
                    f"{first_line[marker]}): each key may appear once in a mapping",
                    key_node.start_mark,
                )
            first_line[marker] = key_node.start_mark.line + 1

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer; one too long for Python to read is refused at its line."""
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise _Refused(
                f"the number {node.value[:20]}... has too many digits", node.start_mark
            ) from None

    def refuse_tag(self, node: yaml.Node) -> Any:
        """Refuse a tag that builds something other than plain data."""
        raise _Refused(
            f"unsupported YAML tag (experiment files hold plain data: strings, numbers, "
            f"booleans, null, lists and mappings): {node.tag}",
            node.start_mark,
        )


for _name in _NON_PLAIN_TAGS:
    _BoundedLoader.add_constructor(f"{_TAG}{_name}", _BoundedLoader.refuse_tag)
_BoundedLoader.add_constructor(f"{_TAG}int", _BoundedLoader.construct_yaml_int)
# Unquoted dates read as the strings they are written as, not as datetime objects.
_BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != f"{_TAG}timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


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
