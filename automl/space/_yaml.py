"""Read a space file's YAML safely: bounded in size, depth and alias expansion, no duplicate keys.

The limits are enforced while the YAML is composed, before any Python value is built,
so an alias bomb is refused after a bounded amount of work instead of being expanded.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from automl.errors import SpaceError, UsageError
from automl.space._limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, clip, show

__all__ = ["is_file", "read_space_text", "yaml_load"]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_UTF16_32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class _Refused(Exception):
    """The YAML is well formed but is refused (too big, too deep, a duplicate key)."""


def _line(mark: Any) -> str:
    return f"line {mark.line + 1}" if mark is not None else "in the file"


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-4`` as a float and refuses bombs, deep nesting and duplicate keys.

    YAML 1.1 reads ``1e-4`` as a string; it is read as the float everyone means. Each
    node composed counts one, each alias counts the size of what it repeats (known
    once its anchor is composed), so the expanded size is known without expanding.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._sizes: dict[str, int] = {}

    def _count(self, n: int, mark: Any) -> None:
        self._nodes += n
        if self._nodes > MAX_NODES:
            raise _Refused(f"{_line(mark)}: the space expands to more than {MAX_NODES:,} values (each alias "
                           f"counts everything its anchor holds); a space has a few hundred - remove the "
                           f"nested aliases or the generated bulk")

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(yaml.AliasEvent):
            self._count_alias(self.peek_event())
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        event = self.peek_event()
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"{_line(event.start_mark)}: nested more than {MAX_DEPTH} levels deep; a space "
                           f"needs about 10")
        start = self._nodes
        self._count(1, event.start_mark)
        node: Node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None:
            self._sizes[event.anchor] = self._nodes - start
        return node

    def _count_alias(self, event: Any) -> None:
        if event.anchor not in self.anchors:
            return  # the composer reports the undefined alias
        size = self._sizes.get(event.anchor)
        if size is None:
            raise _Refused(f"{_line(event.start_mark)}: alias *{clip(event.anchor, 40)} is inside its own "
                           f"anchor, so the space would be infinite; use a value, not the alias, here")
        self._count(size, event.start_mark)

    def compose_mapping_node(self, anchor: str | None) -> MappingNode:
        node: MappingNode = super().compose_mapping_node(anchor)
        _refuse_duplicate_keys(node)
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as e:  # a 5,000-digit integer, a 13th month
            value = node.value if isinstance(node, ScalarNode) else node.tag
            raise _Refused(f"{_line(node.start_mark)}: cannot read the value {show(value)}: "
                           f"{clip(str(e).split(';')[0], 120)}") from None


def _refuse_duplicate_keys(node: MappingNode) -> None:
    """The last of two equal keys would silently win (``units: 16`` then ``units: 512``)."""
    seen: dict[tuple[str, str], Any] = {}
    for key, _ in node.value:
        if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
            continue
        first = seen.get((key.tag, key.value))
        if first is not None:
            raise _Refused(f"{_line(key.start_mark)}: duplicate key {show(key.value)} (first given on "
                           f"{_line(first)}); keep one of them")
        seen[(key.tag, key.value)] = key.start_mark


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |\.[0-9_]+(?:[eE][-+][0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def yaml_load(text: str, source: str = "search space") -> Any:
    """Parse YAML text into plain data, raising :class:`SpaceError` on bad or hostile YAML."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        raise SpaceError([("", f"not valid YAML: {clip(str(e), 600)}")], source) from None
    except _Refused as e:
        raise SpaceError([("", str(e))], source) from None
    except (ValueError, OverflowError) as e:  # raised while building a mapping, outside construct_object
        raise SpaceError([("", f"cannot read a value: {clip(str(e).split(';')[0], 120)}")], source) from None
    finally:
        loader.dispose()


def is_file(path: Path) -> bool:
    """``path.is_file()`` that says False, not OSError, for a name the system refuses (too long)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def read_space_text(path: Path) -> str:
    """The text of a space file: at most ``MAX_FILE_BYTES`` bytes of UTF-8."""
    if not is_file(path):
        raise UsageError(f"search space file not found: {clip(str(path), 300)}")
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read search space file {path}: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SpaceError([("", f"the file is larger than {MAX_FILE_BYTES:,} bytes; a space file is a few KB "
                               f"(generate fewer values, or use repeat: for many layers)")], str(path))
    return _decode(data, str(path))


def _decode(data: bytes, source: str) -> str:
    if data.startswith(_UTF16_32_BOMS):
        _not_text("it is UTF-16 or UTF-32 text", source)
    if b"\x00" in data:
        _not_text("it contains NUL bytes (a binary file, or UTF-16 text)", source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        _not_text(f"byte 0x{data[e.start]:02x} on line {line} is not UTF-8 (Latin-1 or Windows-1252 text?)",
                  source)


def _not_text(why: str, source: str) -> NoReturn:
    raise SpaceError([("", f"not a UTF-8 text file: {why}; save the space as UTF-8 YAML")], source)
