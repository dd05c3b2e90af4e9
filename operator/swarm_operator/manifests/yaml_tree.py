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

import bisect
import re
import typing
from typing import Any

import yaml

try:  # the C parser is ~10x faster; both are safe loaders
    _Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader
C_PARSER = _Loader is not yaml.SafeLoader
"""The C parser is in use (its reader reports byte offsets, not character indexes)."""


_TAG = "tag:yaml.org,2002:"
_STR_TAG = _TAG + "str"
_BOOL_TAG = _TAG + "bool"
_INT_TAG = _TAG + "int"
_FLOAT_TAG = _TAG + "float"
_MERGE_TAG = _TAG + "merge"


class TooManyNodes(yaml.MarkedYAMLError):
    """A document too large to compose (`MAX_NODES_PER_DOCUMENT`); not a syntax error."""


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
            # YAML 1.1's "value key" (a plain `=`) has no meaning here: it is the text "="
            if yaml11_bool or base60 or tag == _TAG + "value":
                tag = _STR_TAG
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[key] = tag
        return tag

    nodes = 0
    """Nodes composed in the current document (both parsers call `descend_resolver` once
    per node, with the collection it is in): a cap here bounds the memory of one document
    before its tree exists, which no later check can."""

    def get_node(self) -> Any:
        self.nodes = 0
        return super().get_node()

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES_PER_DOCUMENT:
            mark = current_node.start_mark if current_node is not None else None
            raise TooManyNodes(
                problem=f"a document with more than {MAX_NODES_PER_DOCUMENT} YAML nodes "
                "(in the collection here): refused, and the rest of this file is not read",
                problem_mark=mark,
            )

    def ascend_resolver(self) -> None:
        pass


MAX_NODES_PER_DOCUMENT = 10_000
"""At most this many YAML nodes in one document (a manifest has tens; 1 MiB of YAML can
hold half a million, and each costs about 2 KB on the way to an error)."""
MAX_ALIAS_EXPANSION = 50_000
"""At most this many nodes may be reached through aliases in one file (alias bombs)."""
MAX_DEPTH = 100
"""Deeper nesting is refused (per document; no manifest nests more than ~10 levels)."""


_constructor = yaml.SafeLoader("")  # only its scalar constructors are used


# --------------------------------------------------------------------------- YAML nodes


class Pos:
    """Where a value (and, inside a mapping, its key) is: 1-based line and column."""

    __slots__ = ("children", "column", "key_column", "key_line", "line")

    def __init__(self, where: tuple[int, int]) -> None:
        self.line, self.column = where
        self.key_line = 0
        self.key_column = 0
        self.children: dict[Any, Pos] | list[Pos] | None = None


class Lines:
    """Line and column of a character index, as an editor counts them: only ``\\n``
    ends a line (not a lone CR, NEL or U+2028, which YAML also calls line breaks);
    columns count characters. One table per file, a binary search per look-up."""

    def __init__(self, text: str) -> None:
        self.breaks = [m.start() for m in re.finditer("\n", text)]

    def position(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_left(self.breaks, index)
        start = self.breaks[line - 1] + 1 if line else 0
        return line + 1, index - start + 1

    def at(self, mark: Any) -> tuple[int, int]:
        return self.position(int(mark.index))


class BuildError(Exception):
    def __init__(self, where: tuple[int, int], message: str) -> None:
        super().__init__(message)
        self.line, self.column = where
        self.message = message


class Budget:
    """What one file may still cost: nodes reached through aliases, over all documents."""

    def __init__(self) -> None:
        self.expanded = 0


class Builder:
    """Turns a composed node tree into Python values and a parallel tree of positions."""

    def __init__(self, lines: Lines, budget: Budget) -> None:
        self.visited: set[int] = set()
        self.active: set[int] = set()
        self.lines = lines
        self.budget = budget
        self.depth = 0

    def where(self, node: yaml.Node) -> tuple[int, int]:
        return self.lines.at(node.start_mark)

    def build(self, node: yaml.Node) -> tuple[Any, Pos]:
        ident = id(node)
        if ident in self.visited:
            self.budget.expanded += 1
            if self.budget.expanded > MAX_ALIAS_EXPANSION:
                raise BuildError(
                    self.where(node),
                    f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION} nodes in this "
                    "file (an alias bomb?): refused",
                )
        else:
            self.visited.add(ident)
        pos = Pos(self.where(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node), pos
        if ident in self.active:
            raise BuildError(pos_of(pos), "recursive YAML alias: a node contains itself")
        if self.depth >= MAX_DEPTH:
            raise BuildError(
                pos_of(pos), f"YAML nesting is deeper than {MAX_DEPTH} levels: refused"
            )
        self.active.add(ident)
        self.depth += 1
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag not in (_TAG + "seq",):
                    raise BuildError(pos_of(pos), f"unsupported YAML tag {node.tag!r}")
                values: list[Any] = []
                positions: list[Pos] = []
                for item in node.value:
                    value, item_pos = self.build(item)
                    values.append(value)
                    positions.append(item_pos)
                pos.children = positions
                return values, pos
            if node.tag not in (_TAG + "map",):
                raise BuildError(pos_of(pos), f"unsupported YAML tag {node.tag!r}")
            return self._mapping(node, pos)
        finally:
            self.depth -= 1
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
                        raise BuildError(self.where(value_node), "a merge (<<) needs a mapping")
                    assert isinstance(source_pos.children, dict)
                    merges.append((source, source_pos.children))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise BuildError(self.where(key_node), "a mapping key must be a plain value")
            key = self._scalar(key_node)
            try:
                hash(key)
            except TypeError:
                raise BuildError(
                    self.where(key_node), "a mapping key must be a plain value"
                ) from None
            if key in children:
                first = children[key]
                first_key = next(k for k in result if k == key)
                if type(first_key) is not type(key):  # 1 and true: one key in Python
                    raise BuildError(
                        self.where(key_node),
                        f"keys {show(first_key)} (line {first.key_line}) and {show(key)} "
                        "are different in YAML but one key here: quote them ('1', 'true')",
                    )
                raise BuildError(
                    self.where(key_node),
                    f"duplicate key {show(key)} (first at line {first.key_line}): "
                    "YAML would silently keep only the last one",
                )
            value, value_pos = self.build(value_node)
            value_pos.key_line, value_pos.key_column = self.where(key_node)
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
            raise BuildError(self.where(node), f"unsupported YAML tag {node.tag!r}")
        try:
            return constructor(_constructor, node)
        except (yaml.YAMLError, ArithmeticError, LookupError, AttributeError) as exc:
            # PyYAML's constructors fail in many ways on impossible values (!!bool maybe,
            # !!int "", !!timestamp x): all of them are this value's error
            raise BuildError(
                self.where(node), f"invalid {node.tag[len(_TAG) :]} value {show(node.value)}"
            ) from exc
        except (ValueError, TypeError) as exc:
            raise BuildError(
                self.where(node), f"invalid {node.tag[len(_TAG) :]} value: {exc}"
            ) from None


def pos_of(pos: Pos) -> tuple[int, int]:
    return pos.line, pos.column


def show(value: Any) -> str:
    """A value as an error message quotes it (short; null and booleans as YAML writes them)."""
    if value is None:
        return "null (empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
