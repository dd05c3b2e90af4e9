"""Compose YAML -> a tree of located values (`Node`), and the messages about them.

Owns `Node` (a value with the place it was written: scalars, mappings of `Node`,
lists of `Node`; an entry of a mapping also knows where its key is), `Diagnostic` (an
error or a warning at ``file:line:column``) and `read_file`, which reads one compose
file with the manifest loader's safe YAML reading (`manifests.yaml_tree`: YAML 1.2
booleans, anchors and ``<<`` merge keys, duplicate keys and alias bombs refused).
Neighbours: every other module of `manifests.compose` works on these trees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from swarm_operator.manifests import DEFAULT_MAX_FILE_BYTES
from swarm_operator.manifests.results import SourceRef, one_line
from swarm_operator.manifests.yaml_tree import (
    Budget,
    Builder,
    BuildError,
    ComposeLoader,
    Lines,
    Pos,
)


@dataclass(frozen=True)
class Diagnostic:
    """One problem (or, ``warning=True``, one remark) at its place in a compose file."""

    source: SourceRef
    message: str
    warning: bool = False

    def __str__(self) -> str:
        tag = "warning: " if self.warning else ""
        return f"{self.source}: {tag}{one_line(self.message)}"


@dataclass(eq=False)
class Node:
    """A compose value and where it was written.

    ``value`` is a scalar (text, number, boolean, None), a ``dict[str, Node]`` or a
    ``list[Node]``. ``key_at`` is where the key of this entry is, inside a mapping
    (``at`` itself when the value has no key: list items, documents).
    """

    value: Any
    at: SourceRef
    key_at: SourceRef | None = None

    @property
    def key_place(self) -> SourceRef:
        return self.key_at or self.at

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)

    def get(self, key: str) -> Node | None:
        if isinstance(self.value, dict):
            found: Node | None = self.value.get(key)
            return found
        return None

    def plain(self) -> Any:
        """The value without places: plain dicts, lists and scalars."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


def _from_pos(value: Any, pos: Pos, path: Path) -> Node:
    at = SourceRef(path, pos.line, pos.column)
    key_at = SourceRef(path, pos.key_line, pos.key_column) if pos.key_line else None
    if isinstance(value, dict):
        children = pos.children
        assert isinstance(children, dict)
        return Node({str(k): _from_pos(v, children[k], path) for k, v in value.items()}, at, key_at)
    if isinstance(value, list):
        items = pos.children
        assert isinstance(items, list)
        return Node([_from_pos(v, p, path) for v, p in zip(value, items, strict=True)], at, key_at)
    return Node(value, at, key_at)


def read_file(path: Path, problems: list[Diagnostic]) -> Node | None:
    """One compose file as a tree; None (and the reason in ``problems``) when it cannot be read."""

    def fail(line: int, column: int, message: str) -> None:
        problems.append(Diagnostic(SourceRef(path, line, column), message))

    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(0, 0, f"cannot read: {exc.strerror or exc}")
        return None
    if len(data) > DEFAULT_MAX_FILE_BYTES:
        fail(1, 1, f"file is {len(data)} bytes, more than {DEFAULT_MAX_FILE_BYTES}: refused")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(1, 1, f"not UTF-8 text (byte 0x{data[exc.start]:02x}): save the file as UTF-8")
        return None
    lines = Lines(text)
    try:
        nodes = list(yaml.compose_all(text, Loader=ComposeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = lines.at(mark) if mark else (1, 1)
        fail(line, column, f"YAML syntax error: {exc.problem or 'invalid YAML'}")
        return None
    except yaml.YAMLError as exc:
        fail(1, 1, f"YAML error: {exc}")
        return None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        fail(1, 1, "empty compose file")
        return None
    if len(nodes) > 1:
        line, column = lines.at(nodes[1].start_mark)
        fail(line, column, "a compose file holds one YAML document, this is a second one")
        return None
    try:
        value, pos = Builder(lines, Budget()).build(nodes[0])
    except BuildError as exc:
        fail(exc.line, exc.column, exc.message)
        return None
    if not isinstance(value, dict):
        fail(pos.line, pos.column, "a compose file must be a mapping (services: ...)")
        return None
    for key in value:
        if not isinstance(key, str):
            child = pos.children[key]  # type: ignore[index]
            fail(child.key_line, child.key_column, f"a key must be text, got {key!r}")
            return None
    return _from_pos(value, pos, path)
