"""A validation error of pydantic -> the line, column and words a person can act on. Pure.

Owns the translation of each pydantic error of a manifest into ``file:line:column``
terms: its ``loc`` is walked through the position tree of the document
(`manifests.yaml_tree.Pos`) to the exact key or value it is about, and its message is
rewritten (missing fields, unknown fields with "did you mean", literals with their
choices, names, types). Neighbours: `manifests.loader` calls `locate` per error.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any

from pydantic import BaseModel

from swarm_operator.manifests.yaml_tree import Pos, show


def locate(root: Pos, item: Any, model: type[BaseModel]) -> tuple[int, int, str]:
    """Line, column and message for one pydantic error."""
    loc: tuple[Any, ...] = tuple(item["loc"])
    kind: str = item["type"]
    # Walk the positions as far as the loc goes.
    pos, parent, depth = root, root, 0
    for part in loc:
        child = child_of(pos, part)
        if child is None:
            break
        parent, pos = pos, child
        depth += 1
    found = depth == len(loc)

    if kind == "missing":
        where = pos if not found else parent
        line, column = _key_or_value(where)
        field = loc[-1] if loc else "?"
        owner = _path(loc[:-1])
        inside = f" in {owner}" if owner else ""
        return line, column, f"missing required field {field!r}{inside}"
    if kind == "extra_forbidden" and found:
        field = loc[-1]
        owner = _path(loc[:-1])
        choices = _field_names(model, loc[:-1])
        hint = did_you_mean(str(field), choices)
        if not hint and choices:
            hint = f" (valid: {', '.join(choices)})"
        inside = f" in {owner}" if owner else ""
        return pos.key_line, pos.key_column, f"unknown field {field!r}{inside}{hint}"
    if pos.children is not None and pos.key_line:
        line, column = pos.key_line, pos.key_column  # a whole mapping/list: point at its key
    else:
        line, column = pos.line, pos.column
    path = _path(loc)
    message = _message(item)
    return line, column, f"{path}: {message}" if path else message


def child_of(pos: Pos, part: Any) -> Pos | None:
    children = pos.children
    if isinstance(children, dict):
        return children.get(part) if isinstance(part, str | int | float | bool) else None
    if isinstance(children, list) and isinstance(part, int) and 0 <= part < len(children):
        return children[part]
    return None


def _key_or_value(pos: Pos) -> tuple[int, int]:
    if pos.key_line:
        return pos.key_line, pos.key_column
    return pos.line, pos.column


def _message(item: Any) -> str:
    kind: str = item["type"]
    msg: str = item["msg"]
    value = item.get("input")
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "assertion_error":
        return msg.removeprefix("Assertion failed, ")
    if kind == "literal_error":
        expected = item.get("ctx", {}).get("expected", "")
        choices = re.findall(r"'([^']*)'", expected)
        hint = did_you_mean(str(value), choices) if choices else ""
        allowed = ", ".join(choices) or expected
        return f"{show(value)} is not allowed (use one of: {allowed}){hint}"
    if kind == "string_pattern_mismatch" and tuple(item["loc"])[-1:] == ("name",):
        return (
            f"{show(value)} is not a valid name: use letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, at most 63 characters)"
        )
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        msg = "must be a mapping (key: value)"
    else:
        msg = re.sub(r"^Input should be", "must be", msg)
    if isinstance(value, dict | list):
        return msg
    return f"{msg}, got {show(value)}"


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    choices = list(choices)
    squash = {re.sub(r"[-_]", "", c).lower(): c for c in choices}
    exact = squash.get(re.sub(r"[-_]", "", word).lower())
    if exact is not None and exact != word:
        return f"; did you mean {exact!r}?"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The manifest names (aliases) of the fields of the model that ``loc`` leads to."""
    target: Any = model
    for part in loc:
        target = _unwrap(target)
        if isinstance(target, type) and issubclass(target, BaseModel):
            field = None
            for name, info in target.model_fields.items():
                if part in (name, info.alias):
                    field = info
                    break
            if field is None:
                return []
            target = field.annotation
        else:
            args = typing.get_args(target)
            origin = typing.get_origin(target)
            if origin is list and args:
                target = args[0]
            elif origin is dict and len(args) == 2:
                target = args[1]
            else:
                return []
    target = _unwrap(target)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return [info.alias or name for name, info in target.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``; ``Annotated[X, ...]`` -> ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation
