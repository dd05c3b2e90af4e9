"""The vocabulary every compose table is written in: the project, the object being
converted, the value converters and the rule makers.

Owns `Project` (what every object's conversion may look up: names, declarations, the
environment) and `Ctx` (one object being converted: its spec and where messages go), the
walk of a mapping through a table (`walk`: unknown keys are errors with "did you mean"),
the value converters (`text`, `integer`, `quantity`, ... raising `Bad` at the value's
place) and the rule makers a row is written with (`to`, `nested`, `ignored`, `not_yet`,
`refused`, `skip`). Neighbours: the section modules of `rules` (`container`, `deploy`,
`volumes`, `networks`) write their rows with these; `rules` assembles the tables;
`convert` walks a merged tree through them.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarm_operator.manifests.compose.tree import Diagnostic, Node
from swarm_operator.manifests.locate import did_you_mean

STACK_NAMESPACE_LABEL = "com.docker.stack.namespace"
STACK_IMAGE_LABEL = "com.docker.stack.image"
DEFAULT_NETWORK = "default"
BARE_DEFAULT_NETWORK = "default-net"
"""The implicit network's name without --namespace (Docker reserves the name "default")."""


# --------------------------------------------------------------------------- context


@dataclass
class Project:
    """What every object's conversion may look up: names, declarations, environment."""

    namespace: str | None
    directory: Path
    env: Mapping[str, str]
    networks: dict[str, Node] = field(default_factory=dict)
    volumes: dict[str, Node] = field(default_factory=dict)
    secrets: dict[str, Node] = field(default_factory=dict)
    configs: dict[str, Node] = field(default_factory=dict)
    output: Path | None = None
    """The directory the manifests are written to (a ``file:`` is written relative to it)."""
    used_volumes: dict[str, Node] = field(default_factory=dict)
    """Declared volume keys some service mounts, with their declarations."""
    used_networks: dict[str, Node] = field(default_factory=dict)
    """Compose network keys some service attaches to, with the first place that does."""
    reported: set[tuple[str, str]] = field(default_factory=set)

    def scope(self, name: str) -> str:
        return f"{self.namespace}_{name}" if self.namespace else name

    def network_name(self, key: str) -> str:
        decl = self.networks.get(key)
        explicit = decl.get("name") if decl is not None else None
        if explicit is not None and explicit.value:
            return str(explicit.value)
        if decl is not None and _external(decl):
            return external_name(decl, key)
        if key == DEFAULT_NETWORK and not self.namespace:
            return BARE_DEFAULT_NETWORK
        return self.scope(key)

    def object_name(self, decl: Node | None, key: str) -> str:
        """A volume's, secret's or config's name as docker stack deploy gives it: the
        explicit ``name:``, the external name, or ``NAMESPACE_key``."""
        explicit = decl.get("name") if decl is not None else None
        if explicit is not None and explicit.value:
            return str(explicit.value)
        if decl is not None and _external(decl):
            return external_name(decl, key)
        return self.scope(key)


def external_name(decl: Node, key: str) -> str:
    """An external object's name: ``name:``, the deprecated ``external: {name: ...}``, or
    its key (never namespaced, as docker stack deploy does)."""
    explicit = decl.get("name")
    if explicit is not None and explicit.value:
        return str(explicit.value)
    ext = decl.get("external")
    inner = ext.get("name") if ext is not None else None
    return str(inner.value) if inner is not None and inner.value else key


def is_external(decl: Node) -> bool:
    """``external: true`` (or the deprecated ``external: {name: ...}``)."""
    return _external(decl)


def _external(decl: Node) -> bool:
    ext = decl.get("external")
    if ext is None:
        return False
    if ext.is_map:  # external: {name: x} (deprecated form)
        return True
    return ext.value is True or str(ext.value).lower() == "true"


@dataclass
class Ctx:
    """One object being converted: its spec, and where messages go."""

    project: Project
    problems: list[Diagnostic]
    name: str = ""
    """The compose name of the object (a service's short name)."""
    target: dict[str, Any] = field(default_factory=dict)
    """The dict `to` rules write into: the spec, or one list item (a port, a mount)."""

    def put(self, path: tuple[str, ...], value: Any) -> None:
        where = self.target
        for key in path[:-1]:
            where = where.setdefault(key, {})
        where[path[-1]] = value

    def error(self, at: Node, message: str, *, key: bool = False) -> None:
        self.problems.append(Diagnostic(at.key_place if key else at.at, message))

    def warn(self, at: Node, message: str) -> None:
        self.problems.append(Diagnostic(at.key_place, message, warning=True))


Rule = Callable[[Ctx, str, Node], None]
"""A row's action: (context, the compose key's dotted path, the value's node)."""
Table = dict[str, Rule]


def walk(ctx: Ctx, table: Table, node: Node, prefix: str) -> None:
    """Every key of the mapping ``node`` through ``table``; unknown keys are errors."""
    if node.value is None:
        return
    if not node.is_map:
        ctx.error(node, f"{prefix.rstrip('.') or 'this'} must be a mapping")
        return
    for key, child in node.value.items():
        if key.startswith("x-"):
            continue
        rule = table.get(key)
        if rule is None:
            known = [k for k in table if not k.startswith("_")]
            ctx.error(
                child,
                f"unknown compose key {prefix}{key}: no manifest equivalent"
                + did_you_mean(key, known),
                key=True,
            )
            continue
        rule(ctx, prefix + key, child)


# --------------------------------------------------------------------------- value converters


class Bad(ValueError):
    """A value the converter cannot take; reported at the value's place."""


def text(node: Node) -> str:
    value = node.value
    if isinstance(value, dict | list) or value is None:
        raise Bad("must be text")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lower(node: Node) -> str:
    return text(node).lower()


def integer(node: Node) -> int:
    value = node.value
    if isinstance(value, bool):
        raise Bad("must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise Bad(f"{value!r} is not a whole number")


def number(node: Node) -> float | int:
    value = node.value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        return float(str(value))
    except ValueError:
        raise Bad(f"{value!r} is not a number") from None


def boolean(node: Node) -> bool:
    value = node.value
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "false", "no", "off"):
        return value.lower() in ("true", "yes", "on")
    raise Bad(f"{value!r} is not true or false")


def quantity(node: Node) -> str | int | float:
    """Durations, sizes and CPUs: passed on as written (the manifest reads the same text)."""
    value = node.value
    if isinstance(value, bool | dict | list) or value is None:
        raise Bad("must be a duration, size or number as text")
    return value  # type: ignore[no-any-return]


def text_list(node: Node) -> list[str]:
    if node.value is None:
        return []
    if not node.is_list:
        return [text(node)]
    return [text(item) for item in node.value]


def text_map(node: Node) -> dict[str, str]:
    if node.value is None:
        return {}
    if not node.is_map:
        raise Bad("must be a mapping")
    return {k: "" if v.value is None else text(v) for k, v in node.value.items()}


def words(node: Node) -> list[str]:
    """A command: a list as written, or text split like a shell (as compose does)."""
    if isinstance(node.value, str):
        try:
            return shlex.split(node.value)
        except ValueError as exc:
            raise Bad(f"cannot split {node.value!r} into words: {exc}") from None
    return text_list(node)


def health_test(node: Node) -> list[str]:
    if isinstance(node.value, str):
        return ["CMD-SHELL", node.value]
    return text_list(node)


def preferences(node: Node) -> list[dict[str, str]]:
    result = []
    for item in node.value if node.is_list else []:
        spread = item.get("spread")
        if spread is None or len(item.value) != 1:
            raise Bad("each preference is {spread: node.labels.NAME}")
        result.append({"spread": text(spread)})
    return result


def choice(*allowed: str) -> Callable[[Node], str]:
    def convert(node: Node) -> str:
        value = text(node)
        if value not in allowed:
            raise Bad(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return convert


def file_mode(node: Node) -> int | str:
    """A mode as compose gives it: a number (YAML ``0440`` is octal), or octal text."""
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:04o}"  # the manifest's octal text: 0400, not 256
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise Bad(f"{value!r} is not a file mode")


# --------------------------------------------------------------------------- rule makers


def to(path: tuple[str, ...], convert: Callable[[Node], Any] = text) -> Rule:
    """The key's value, converted, goes to ``path`` in the spec (or the list item)."""

    def rule(ctx: Ctx, key: str, node: Node) -> None:
        try:
            value = convert(node)
        except Bad as exc:
            ctx.error(node, f"{key}: {exc}")
            return
        ctx.put(path, value)

    return rule


def nested(table: Table) -> Rule:
    """A mapping whose keys are rows of ``table`` (paths there are from the same spec)."""

    def rule(ctx: Ctx, key: str, node: Node) -> None:
        walk(ctx, table, node, key + ".")

    return rule


def ignored(reason: str) -> Rule:
    """Swarm ignores this key (``docker stack deploy`` does too): a warning, not converted."""

    def rule(ctx: Ctx, key: str, node: Node) -> None:
        if node.value in (None, False, [], {}):
            return
        ctx.warn(node, f"{key} is ignored by Swarm ({reason}): not converted")

    return rule


def not_yet(manifest_field: str) -> Rule:
    """The manifest language has no field for this yet: an error naming the coming one."""

    def rule(ctx: Ctx, key: str, node: Node) -> None:
        if node.value in (None, False, [], {}):
            return
        ctx.error(
            node,
            f"not expressible yet: {key} (the manifest field {manifest_field} is not in "
            "the manifest language yet); remove it or wait for it",
            key=True,
        )

    return rule


def refused(reason: str) -> Rule:
    """No manifest equivalent (``docker stack deploy`` refuses most of these too)."""

    def rule(ctx: Ctx, key: str, node: Node) -> None:
        if node.value in (None, False, [], {}):
            return
        ctx.error(node, f"{key} has no manifest equivalent: {reason}", key=True)

    return rule


def skip(ctx: Ctx, key: str, node: Node) -> None:
    """Handled elsewhere (by the object's converter before or after the table)."""
