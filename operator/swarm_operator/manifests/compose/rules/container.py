"""The compose service keys that become the container's settings: environment (and
``env_file``), healthcheck, logging, credential spec, ulimits, and the secrets and
configs a service mounts.

Owns the rows of `rules.SERVICE` that need more than a `to`: an environment variable
without a value is taken from the environment or left out with a warning, env files are
read relative to the project, ``healthcheck.disable`` is ``test: [NONE]``, options of a
log driver need its name, a credential spec's ``config`` cannot be named before it
exists, and a ``secrets:``/``configs:`` entry is a reference to the Secret/Config under
its stack name. Neighbours: `rules.base` (the vocabulary); `rules` assembles the table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from swarm_operator.manifests.compose.rules.base import (
    Bad,
    Ctx,
    Rule,
    Table,
    boolean,
    file_mode,
    health_test,
    integer,
    not_yet,
    quantity,
    skip,
    text,
    text_map,
    to,
    walk,
)
from swarm_operator.manifests.compose.tree import Diagnostic, Node


def environment(ctx: Ctx, key: str, node: Node) -> None:
    env: dict[str, str] = ctx.target.setdefault("env", {})
    if not node.is_map:
        return  # reported by merge.normalize
    for name, value in node.value.items():
        if value.value is None:
            found = ctx.project.env.get(name)
            if found is None:
                ctx.warn(
                    value,
                    f"{key}.{name} has no value and is not set in the environment: left out "
                    "(docker passes the bare name, which sets nothing)",
                )
                env.pop(name, None)
                continue
            env[name] = found
        else:
            env[name] = value.value if isinstance(value.value, str) else text(value)


def env_file(ctx: Ctx, key: str, node: Node) -> None:
    from swarm_operator.manifests.compose.interpolate import read_env_file

    env: dict[str, str] = ctx.target.setdefault("env", {})
    for item in node.value if node.is_list else []:
        if item.is_map:  # compose-spec long form {path, required}
            path_node = item.get("path")
            required = item.get("required")
            optional = required is not None and required.value is False
        else:
            path_node, optional = item, False
        if path_node is None:
            ctx.error(item, f"{key}: an entry is a path or {{path: PATH}}")
            continue
        path = Path(os.path.expanduser(text(path_node)))
        if not path.is_absolute():
            path = ctx.project.directory / path
        if optional and not path.exists():
            continue
        for name, value, at in read_env_file(path, ctx.project.env, path_node.at, ctx.problems):
            if value is None:
                ctx.problems.append(
                    Diagnostic(at, f"{name} is not set in the environment: left out", warning=True)
                )
                continue
            env[name] = value


def healthcheck(ctx: Ctx, key: str, node: Node) -> None:
    walk(ctx, HEALTHCHECK, node, key + ".")
    ctx.target.setdefault("healthcheck", {})
    disable = node.get("disable")
    if disable is not None:
        try:
            off = boolean(disable)
        except Bad as exc:
            ctx.error(disable, f"{key}.disable: {exc}")
            return
        if off and node.get("test") is not None:
            ctx.error(disable, f"{key}: test and disable cannot both be set")
        elif off:
            ctx.target["healthcheck"] = {"test": ["NONE"]}


HEALTHCHECK: Table = {
    "test": to(("healthcheck", "test"), health_test),
    "interval": to(("healthcheck", "interval"), quantity),
    "timeout": to(("healthcheck", "timeout"), quantity),
    "retries": to(("healthcheck", "retries"), integer),
    "start_period": to(("healthcheck", "startPeriod"), quantity),
    "start_interval": not_yet("healthcheck.startInterval"),
    "disable": skip,
}


def ulimits(node: Node) -> dict[str, Any]:
    """``NAME: N`` or ``NAME: {soft: N, hard: N}``, as written."""
    if not node.is_map:
        raise Bad("must be a mapping NAME: N or NAME: {soft: N, hard: N}")
    out: dict[str, Any] = {}
    for name, value in node.value.items():
        if value.is_map:
            soft, hard = value.get("soft"), value.get("hard")
            if soft is None or hard is None or len(value.value) != 2:
                raise Bad(f"{name}: give both soft and hard")
            out[name] = {"soft": integer(soft), "hard": integer(hard)}
        else:
            out[name] = integer(value)
    return out


def logging(ctx: Ctx, key: str, node: Node) -> None:
    walk(ctx, LOGGING, node, key + ".")
    block = ctx.target.get("logging")
    if block is not None and "driver" not in block:
        # docker stack deploy sends a log driver with no name: the engine's default driver
        # with these options, which the manifest cannot say
        ctx.error(
            node, f"{key}: options need a driver (write driver: json-file, or the one in use)"
        )
        del ctx.target["logging"]


LOGGING: Table = {
    "driver": to(("logging", "driver")),
    "options": to(("logging", "options"), text_map),
}


def credential_spec(ctx: Ctx, key: str, node: Node) -> None:
    if not node.is_map:
        ctx.error(node, f"{key} must be a mapping {{file: ...}} or {{registry: ...}}")
        return
    for name, value in node.value.items():
        if name.startswith("x-"):
            continue
        if name in ("file", "registry"):
            try:
                ctx.put(("privileges", "credentialSpec", name), text(value))
            except Bad as exc:
                ctx.error(value, f"{key}.{name}: {exc}")
        elif name == "config":
            ctx.error(
                value,
                f"{key}.config: docker stack deploy writes the config's engine ID here, which "
                "a manifest cannot name before the config exists: use file or registry",
                key=True,
            )
        else:
            ctx.error(value, f"unknown compose key {key}.{name}", key=True)


REFERENCE: Table = {
    "source": skip,
    "target": to(("target",)),
    "uid": to(("uid",)),
    "gid": to(("gid",)),
    "mode": to(("mode",), file_mode),
}


def references(section: str) -> Rule:
    """A service's ``secrets:``/``configs:`` (long form, merged by target): references
    to the Secret/Config under its stack name. docker stack deploy's file is named after
    the compose key (``target`` default), with uid and gid "0" and mode 0444 (the
    manifest reference's own defaults)."""

    def rule(ctx: Ctx, key: str, node: Node) -> None:
        declared = getattr(ctx.project, section)
        refs = ctx.target.setdefault(section, [])
        for item in node.value if node.is_list else []:
            source = item.get("source") if item.is_map else None
            if source is None or not isinstance(source.value, str) or not source.value:
                ctx.error(item, f"{key}: an entry is a name or {{source: NAME, ...}}")
                continue
            decl = declared.get(source.value)
            if decl is None:
                ctx.error(
                    source,
                    f"{key}: undefined {section[:-1]} {source.value!r} (declare it under "
                    f"{section}:)",
                )
                continue
            ref = Ctx(ctx.project, ctx.problems, ctx.name)
            walk(ref, REFERENCE, item, key + "[].")
            name = ctx.project.object_name(decl, source.value)
            entry: dict[str, Any] = {"source": name}
            target = ref.target.pop("target", None) or source.value
            if target != name:
                entry["target"] = target
            entry.update(ref.target)
            refs.append(entry)
        refs.sort(key=lambda r: str(r["source"]))

    return rule
