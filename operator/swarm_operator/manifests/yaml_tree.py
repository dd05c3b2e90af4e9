"""YAML text -> plain values with a tree of positions, safely. Pure.

Owns how a manifest file's YAML is read: `ComposeLoader` (the safe loader with YAML 1.2
booleans, base-60 numbers as text, scalar tag resolution cached) composes the node tree
once, keeping every node's position and not expanding aliases; `Builder` walks that tree
into Python values and, alongside, a tree of positions (`Pos`), counting nodes reached
through aliases (an alias bomb is refused), refusing duplicate keys, unknown tags and
recursive aliases (`BuildError`, with its place). Neighbours: `manifests.loader` calls it
per document; `manifests.locate` walks the positions to place a validation error.
"""

from __future__ import annotations

import typing
from typing import Any

import yaml

try:  # the C parser is ~10x faster; both are safe loaders
    _Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader


_TAG = "tag:yaml.org,2002:"
_STR_TAG = _TAG + "str"
_BOOL_TAG = _TAG + "bool"
_INT_TAG = _TAG + "int"
_FLOAT_TAG = _TAG + "float"
_MERGE_TAG = _TAG + "merge"


class ComposeLoader(_Loader):  # type: ignore[valid-type,misc]
    """The safe loader, with YAML 1.2 booleans and the tag resolution of scalars cached.

    YAML 1.1 reads ``yes``, ``no``, ``on``, ``off`` as booleans and ``22:22`` as the
    base-60 number 1342: a label ``country: NO`` would silently become ``"false"``. Here,
    as in YAML 1.2 (and compose), only ``true``/``false`` are booleans and base-60 numbers
    are text; boolean fields still take ``yes`` and ``on`` (pydantic reads them).

    Resolving a scalar's implicit tag is pure Python even in the C parser, and the same
    keys and values recur in every manifest. The safe loader has no path resolvers, so the
    tag depends only on the text (cached); both path hooks are no-ops.
    """

    _cache: typing.ClassVar[dict[tuple[str, tuple[bool, bool]], str]] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._cache.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            yaml11_bool = tag == _BOOL_TAG and value.lower() not in ("true", "false")
            base60 = tag in (_INT_TAG, _FLOAT_TAG) and ":" in value
            if yaml11_bool or base60:
                tag = _STR_TAG
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[key] = tag
        return tag

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


MAX_ALIAS_EXPANSION = 50_000
"""At most this many nodes may be reached through aliases in one file (alias bombs)."""


_constructor = yaml.SafeLoader("")  # only its scalar constructors are used


# --------------------------------------------------------------------------- YAML nodes


class Pos:
    """Where a value (and, inside a mapping, its key) is: 1-based line and column."""

    __slots__ = ("children", "column", "key_column", "key_line", "line")

    def __init__(self, node: yaml.Node) -> None:
        self.line = node.start_mark.line + 1
        self.column = node.start_mark.column + 1
        self.key_line = 0
        self.key_column = 0
        self.children: dict[Any, Pos] | list[Pos] | None = None


class BuildError(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.line = node.start_mark.line + 1
        self.column = node.start_mark.column + 1
        self.message = message


class Builder:
    """Turns a composed node tree into Python values and a parallel tree of positions."""

    def __init__(self) -> None:
        self.visited: set[int] = set()
        self.expanded = 0
        self.active: set[int] = set()

    def build(self, node: yaml.Node) -> tuple[Any, Pos]:
        ident = id(node)
        if ident in self.visited:
            self.expanded += 1
            if self.expanded > MAX_ALIAS_EXPANSION:
                raise BuildError(
                    node,
                    f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION} nodes "
                    "(an alias bomb?): refused",
                )
        else:
            self.visited.add(ident)
        pos = Pos(node)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node), pos
        if ident in self.active:
            raise BuildError(node, "recursive YAML alias: a node contains itself")
        self.active.add(ident)
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag not in (_TAG + "seq",):
                    raise BuildError(node, f"unsupported YAML tag {node.tag!r}")
                values: list[Any] = []
                positions: list[Pos] = []
                for item in node.value:
                    value, item_pos = self.build(item)
                    values.append(value)
                    positions.append(item_pos)
                pos.children = positions
                return values, pos
            if node.tag not in (_TAG + "map",):
                raise BuildError(node, f"unsupported YAML tag {node.tag!r}")
            return self._mapping(node, pos)
        finally:
            self.active.discard(ident)

    def _mapping(self, node: yaml.Node, pos: Pos) -> tuple[dict[Any, Any], Pos]:
        result: dict[Any, Any] = {}
        children: dict[Any, Pos] = {}
        merges: list[tuple[dict[Any, Any], dict[Any, Pos]]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged, merged_pos = self.build(value_node)
                sources = [(merged, merged_pos)]
                if isinstance(merged, list):
                    sources = list(zip(merged, merged_pos.children or [], strict=True))
                for source, source_pos in sources:
                    if not isinstance(source, dict):
                        raise BuildError(value_node, "a merge (<<) needs a mapping")
                    assert isinstance(source_pos.children, dict)
                    merges.append((source, source_pos.children))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise BuildError(key_node, "a mapping key must be a plain value")
            key = self._scalar(key_node)
            try:
                hash(key)
            except TypeError:
                raise BuildError(key_node, "a mapping key must be a plain value") from None
            if key in children:
                first = children[key]
                raise BuildError(
                    key_node,
                    f"duplicate key {key!r} (first at line {first.key_line}): "
                    "YAML would silently keep only the last one",
                )
            value, value_pos = self.build(value_node)
            value_pos.key_line = key_node.start_mark.line + 1
            value_pos.key_column = key_node.start_mark.column + 1
            result[key] = value
            children[key] = value_pos
        for source, source_children in merges:  # explicit keys win, then earlier merges
            for key, value in source.items():
                if key not in result:
                    result[key] = value
                    children[key] = source_children[key]
        pos.children = children
        return result, pos

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR_TAG:
            return node.value
        constructor = _constructor.yaml_constructors.get(node.tag)
        if constructor is None or not node.tag.startswith(_TAG):
            raise BuildError(node, f"unsupported YAML tag {node.tag!r}")
        try:
            return constructor(_constructor, node)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            raise BuildError(node, f"invalid {node.tag[len(_TAG) :]} value: {exc}") from None
