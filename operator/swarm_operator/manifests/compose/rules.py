"""The table: each compose key, what it becomes in a manifest, or why it cannot.

Owns the mapping from the compose vocabulary to the manifest language, as rows of
tables (`SERVICE`, `DEPLOY`, `NETWORK`, ...): a key maps to a path in the manifest's
spec with a value converter (`to`), to a table one level down (`nested`), to a function
of its own (ports, volumes, networks, ``restart``), or it says why it cannot be
converted: Swarm ignores it (`ignored`: a warning at the key, as ``docker stack deploy``
ignores it), the manifest language has no field for it yet (`not_yet`: an error
naming the manifest field that is coming), or it has no equivalent at all (`refused`:
an error). A key no table lists is an error with "did you mean". Nothing is dropped
without a word. ``x-`` extension keys are skipped everywhere.

Adding a manifest field is one row: replace its `not_yet` by a `to`.
Neighbours: `convert` walks a merged, long-form tree (`merge`) through these tables into
a `Ctx` per object.
"""

from __future__ import annotations

import os
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


# --------------------------------------------------------------------------- service rows


def _environment(ctx: Ctx, key: str, node: Node) -> None:
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


def _env_file(ctx: Ctx, key: str, node: Node) -> None:
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


def _restart(ctx: Ctx, key: str, node: Node) -> None:
    # docker stack deploy reads the legacy `restart` when deploy.restart_policy is unset
    if "restartPolicy" in ctx.target:
        ctx.warn(node, f"{key} is ignored: deploy.restart_policy is set and wins")
        return
    try:
        value = text(node)
    except Bad as exc:
        ctx.error(node, f"{key}: {exc}")
        return
    policy, _, count = value.partition(":")
    if policy in ("no", ""):
        ctx.warn(node, f"{key}: {value!r} leaves Swarm's default policy (restart on any exit)")
        return
    conditions = {"always": "any", "unless-stopped": "any", "on-failure": "on-failure"}
    if policy not in conditions or (count and not count.isdigit()):
        ctx.error(node, f"{key}: {value!r} is not no, always, unless-stopped or on-failure[:N]")
        return
    converted: dict[str, Any] = {"condition": conditions[policy]}
    if count and int(count) > 0:
        converted["maxAttempts"] = int(count)
    ctx.target["restartPolicy"] = converted
    ctx.warn(
        node,
        f"{key} is not a Swarm key; used as deploy.restart_policy (condition "
        f"{converted['condition']}), as docker stack deploy does",
    )


def _update_config(path: str) -> Rule:
    table: Table = {
        "parallelism": to((path, "parallelism"), integer),
        "delay": to((path, "delay"), quantity),
        "failure_action": to((path, "failureAction")),
        "monitor": to((path, "monitor"), quantity),
        "max_failure_ratio": to((path, "maxFailureRatio"), number),
        "order": to((path, "order")),
    }

    def rule(ctx: Ctx, key: str, node: Node) -> None:
        walk(ctx, table, node, key + ".")
        # docker stack deploy writes what the file gives and zero for the rest, but a
        # parallelism of 1 when the file gives none; the manifest's unset fields mean
        # `docker service create`'s defaults (a 5s monitor), so the zero is written out
        block = ctx.target.setdefault(path, {})
        block.setdefault("parallelism", 1)
        block.setdefault("monitor", "0s")

    return rule


def _healthcheck(ctx: Ctx, key: str, node: Node) -> None:
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

PORT: Table = {
    "target": to(("target",), integer),
    "published": to(("published",), integer),
    "protocol": to(("protocol",), lower),
    "mode": to(("mode",), lower),
    "host_ip": ignored("a published port listens on every address of every node"),
    "name": ignored("ports have no names in Swarm"),
    "app_protocol": ignored("ports have no application protocol in Swarm"),
}


def _ports(ctx: Ctx, key: str, node: Node) -> None:
    ports = ctx.target.setdefault("ports", [])
    for item in node.value if node.is_list else []:
        port = Ctx(ctx.project, ctx.problems, ctx.name)
        walk(port, PORT, item, key + "[].")
        if "target" not in port.target:
            ctx.error(item, f"{key}: a port needs a target")
            continue
        if port.target.get("published") == 0:
            del port.target["published"]
        for default, value in (("protocol", "tcp"), ("mode", "ingress")):
            if port.target.get(default) == value:
                del port.target[default]
        ports.append(port.target)


def file_mode(node: Node) -> int | str:
    """A mode as compose gives it: a number (YAML ``0440`` is octal), or octal text."""
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:04o}"  # the manifest's octal text: 0400, not 256
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise Bad(f"{value!r} is not a file mode")


MOUNT: Table = {
    "type": to(("type",), lower),
    "source": to(("source",)),
    "target": to(("target",)),
    "read_only": to(("readOnly",), boolean),
    "volume": nested(
        {"nocopy": to(("volumeOptions", "noCopy"), boolean), "subpath": refused("no subpath")}
    ),
    "bind": nested(
        {
            "propagation": to(("bind", "propagation"), lower),
            "create_host_path": ignored("Swarm never creates a bind mount's host path"),
            "selinux": refused("SELinux relabelling (z, Z) of a bind mount"),
        }
    ),
    "tmpfs": nested(
        {"size": to(("tmpfs", "size"), quantity), "mode": to(("tmpfs", "mode"), file_mode)}
    ),
    "consistency": refused("mount consistency (only Docker Desktop for Mac reads it)"),
}


def _volumes(ctx: Ctx, key: str, node: Node) -> None:
    mounts = ctx.target.setdefault("mounts", [])
    for item in node.value if node.is_list else []:
        mount = Ctx(ctx.project, ctx.problems, ctx.name)
        walk(mount, MOUNT, item, key + "[].")
        spec = mount.target
        if "target" not in spec:
            ctx.error(item, f"{key}: a mount needs a target (the path inside the container)")
            continue
        kind = spec.setdefault("type", "volume")
        if kind not in ("volume", "bind", "tmpfs"):
            ctx.error(item, f"{key}: mount type {kind!r} has no manifest equivalent")
            continue
        source = spec.get("source")
        if kind == "bind" and source:
            path = source
            if path.startswith("~"):
                home = ctx.project.env.get("HOME")
                path = path.replace("~", home, 1) if home else path
            if not path.startswith("/"):
                path = os.path.normpath(ctx.project.directory / path)
            spec["source"] = str(path)
        if kind == "volume" and source:
            decl = ctx.project.volumes.get(source)
            if decl is None:
                ctx.error(item, f"{key}: undefined volume {source!r} (declare it under volumes:)")
                continue
            spec["source"] = ctx.project.object_name(decl, source)
            _volume_declaration(ctx, source, decl)
            if not _external(decl):
                _volume_labels(ctx, decl, spec)
        options = spec.get("volumeOptions")
        if options is not None:
            if options.get("noCopy") is False:
                del options["noCopy"]
            if not options:
                del spec["volumeOptions"]
        if spec.get("readOnly") is False:
            del spec["readOnly"]
        if spec["type"] == "volume":
            del spec["type"]
        mounts.append(spec)


VOLUME: Table = {
    "driver": to(("driver",)),
    "driver_opts": to(("driverOptions",), text_map),
    "labels": to(("labels",), text_map),
    "external": skip,
    "name": skip,
}


def volume_spec(ctx: Ctx, key: str, decl: Node) -> dict[str, Any]:
    """A declared volume's driver, driver options and labels (in manifest terms)."""
    volume = Ctx(ctx.project, ctx.problems, key)
    walk(volume, VOLUME, decl, f"volumes.{key}.")
    return volume.target


def has_driver(spec: Mapping[str, Any]) -> bool:
    """docker stack deploy writes a mount's DriverConfig only for a volume declared with
    a driver or driver options: only such a volume becomes a Volume manifest (whose
    driver every mount of it then carries)."""
    return bool(spec.get("driver") or spec.get("driverOptions"))


def _volume_declaration(ctx: Ctx, key: str, decl: Node) -> None:
    if ("volume", key) in ctx.project.reported:
        return
    ctx.project.reported.add(("volume", key))
    ctx.project.used_volumes[key] = decl
    if _external(decl):
        for name in ("driver", "driver_opts", "labels"):
            if (node := decl.get(name)) is not None and node.value:
                ctx.warn(
                    node,
                    f"volumes.{key}.{name} is ignored: the volume is external (docker stack "
                    "deploy passes only its name)",
                )
        return
    volume_spec(ctx, key, decl)  # its messages, once


def _volume_labels(ctx: Ctx, decl: Node, mount: dict[str, Any]) -> None:
    """The labels docker stack deploy writes on each mount of a stack volume: the
    volume's own (here only when no Volume manifest carries them) and the stack's."""
    quiet = Ctx(ctx.project, [], ctx.name)
    spec = volume_spec(quiet, "", decl)
    labels: dict[str, str] = {} if has_driver(spec) else dict(spec.get("labels", {}))
    if ctx.project.namespace:
        labels[STACK_NAMESPACE_LABEL] = ctx.project.namespace
    if labels:
        options = mount.setdefault("volumeOptions", {})
        options["labels"] = {**labels, **options.get("labels", {})}


ATTACHMENT: Table = {
    "aliases": to(("aliases",), text_list),
    "ipv4_address": ignored("Swarm assigns the addresses of a service's tasks"),
    "ipv6_address": ignored("Swarm assigns the addresses of a service's tasks"),
    "link_local_ips": ignored("Swarm assigns the addresses of a service's tasks"),
    "priority": ignored("Swarm does not order a service's networks"),
    "driver_opts": to(("driverOpts",), text_map),
}


def _networks(ctx: Ctx, key: str, node: Node) -> None:
    if not node.is_map:
        ctx.error(node, f"{key} must be a list or a mapping of network names")
        return
    attachments = []
    for name, value in node.value.items():
        if name not in ctx.project.networks and name != DEFAULT_NETWORK:
            ctx.error(
                value, f"{key}: undefined network {name!r} (declare it under networks:)", key=True
            )
            continue
        ctx.project.used_networks.setdefault(name, value)
        attach = Ctx(ctx.project, ctx.problems, ctx.name)
        walk(attach, ATTACHMENT, value, f"{key}.{name}.")
        aliases = list(attach.target.get("aliases", []))
        if ctx.project.namespace and ctx.name not in aliases:
            aliases.append(ctx.name)  # docker stack deploy: the short name, on every network
        entry: dict[str, Any] = {"name": ctx.project.network_name(name)}
        if aliases:
            entry["aliases"] = aliases
        if attach.target.get("driverOpts"):
            entry["driverOpts"] = attach.target["driverOpts"]
        attachments.append(entry)
    attachments.sort(key=lambda a: str(a["name"]))
    ctx.target["networks"] = [a if len(a) > 1 else a["name"] for a in attachments]


def generic_resources(node: Node) -> list[dict[str, Any]]:
    """``[{discrete_resource_spec: {kind, value}}]`` (the only form compose has)."""
    out: list[dict[str, Any]] = []
    for item in node.value if node.is_list else []:
        spec = item.get("discrete_resource_spec") if item.is_map else None
        if spec is None or len(item.value) != 1 or not spec.is_map:
            raise Bad("each entry is {discrete_resource_spec: {kind: KIND, value: N}}")
        kind, value = spec.get("kind"), spec.get("value")
        if kind is None or value is None or len(spec.value) != 2:
            raise Bad("discrete_resource_spec is {kind: KIND, value: N}")
        out.append({"discreteResourceSpec": {"kind": text(kind), "value": integer(value)}})
    return out


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


def _logging(ctx: Ctx, key: str, node: Node) -> None:
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


def _credential_spec(ctx: Ctx, key: str, node: Node) -> None:
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


def _references(section: str) -> Rule:
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


_IGNORED_BY_SWARM = {
    "depends_on": "services start in no order; make them wait for each other",
    "container_name": "Swarm names the containers of a service's tasks",
    "build": "Swarm does not build images; build and push it, and set image",
    "links": "services on one network reach each other by name",
    "external_links": "services on one network reach each other by name",
    "privileged": "services cannot run privileged",
    "devices": "services cannot map devices",
    "security_opt": "services take no security options",
    "cgroup_parent": "services take no cgroup parent",
    "cgroupns_mode": "services take no cgroup namespace mode",
    "network_mode": "a service's networks are its networks:",
    "profiles": "every service of the file is deployed",
    "expose": "services on one network reach each other on any port",
    "domainname": "not a service setting",
    "ipc": "not a service setting",
    "pid": "not a service setting",
    "shm_size": "not a service setting",
    "userns_mode": "not a service setting",
    "mac_address": "Swarm assigns the addresses of a service's tasks",
    "tmpfs": "docker stack deploy ignores it; write a volumes entry of type tmpfs",
    "scale": "use deploy.replicas",
    "pull_policy": "nodes pull the image when they start a task",
    "platform": "use deploy.placement.constraints on node.platform.os/arch",
}

_FORBIDDEN = {
    "volume_driver": "declare a volume under the top-level volumes: with its driver",
    "volumes_from": "declare the volume under the top-level volumes: and mount it in each service",
    "cpu_quota": "set deploy.resources.limits.cpus",
    "cpu_shares": "set deploy.resources.limits.cpus",
    "cpuset": "set deploy.resources.limits.cpus",
    "mem_limit": "set deploy.resources.limits.memory",
    "memswap_limit": "set deploy.resources.limits.memory",
    "oom_score_adj": "services take no OOM score",
}

PLACEMENT: Table = {
    "constraints": to(("placement", "constraints"), text_list),
    "preferences": to(("placement", "preferences"), preferences),
    "max_replicas_per_node": to(("placement", "maxReplicasPerNode"), integer),
}

_AMOUNTS = ("cpus", "memory")


def _amounts(which: str, extra: Table) -> Table:
    table: Table = {k: to(("resources", which, k), quantity) for k in _AMOUNTS}
    table.update(extra)
    return table


RESOURCES: Table = {
    "limits": nested(_amounts("limits", {"pids": to(("resources", "limits", "pids"), integer)})),
    "reservations": nested(
        _amounts(
            "reservations",
            {
                "generic_resources": to(
                    ("resources", "reservations", "genericResources"), generic_resources
                ),
                "devices": ignored("docker stack deploy does not reserve devices"),
            },
        )
    ),
}

RESTART_POLICY: Table = {
    "condition": to(("restartPolicy", "condition")),
    "delay": to(("restartPolicy", "delay"), quantity),
    "max_attempts": to(("restartPolicy", "maxAttempts"), integer),
    "window": to(("restartPolicy", "window"), quantity),
}

DEPLOY: Table = {
    "mode": to(("mode",), choice("replicated", "global", "replicated-job", "global-job")),
    "replicas": to(("replicas",), integer),
    "labels": to(("labels",), text_map),
    "endpoint_mode": to(("endpointMode",), lower),
    "placement": nested(PLACEMENT),
    "resources": nested(RESOURCES),
    "restart_policy": nested(RESTART_POLICY),
    "update_config": _update_config("updateConfig"),
    "rollback_config": _update_config("rollbackConfig"),
}

SERVICE: Table = {
    "image": to(("image",)),
    "entrypoint": to(("command",), words),
    "command": to(("args",), words),
    "env_file": _env_file,  # before environment: environment wins (the table's order)
    "environment": _environment,
    "labels": to(("containerLabels",), text_map),
    "hostname": to(("hostname",)),
    "user": to(("user",)),
    "working_dir": to(("workdir",)),
    "stop_grace_period": to(("stopGracePeriod",), quantity),
    "stop_signal": to(("stopSignal",)),
    "init": to(("init",), boolean),
    "dns": to(("dns",), text_list),
    "dns_search": to(("dnsSearch",), text_list),
    "dns_opt": to(("dnsOptions",), text_list),
    "extra_hosts": to(("hosts",), text_map),
    "healthcheck": _healthcheck,
    "networks": _networks,
    "ports": _ports,
    "volumes": _volumes,
    "deploy": nested(DEPLOY),
    "restart": _restart,  # after deploy: deploy.restart_policy wins
    "secrets": _references("secrets"),
    "configs": _references("configs"),
    "logging": _logging,
    "cap_add": to(("capAdd",), text_list),
    "cap_drop": to(("capDrop",), text_list),
    "sysctls": to(("sysctls",), text_map),
    "ulimits": to(("ulimits",), ulimits),
    "read_only": to(("readOnly",), boolean),
    "tty": to(("tty",), boolean),
    "stdin_open": to(("stdinOpen",), boolean),
    "isolation": to(("isolation",), lower),
    "group_add": to(("groups",), text_list),
    "credential_spec": _credential_spec,
    **{k: ignored(v) for k, v in _IGNORED_BY_SWARM.items()},
    **{k: refused(v) for k, v in _FORBIDDEN.items()},
}
"""Service keys, in the order they are applied (a later row may read an earlier one's)."""


# --------------------------------------------------------------------------- networks


def _driver_opts(ctx: Ctx, key: str, node: Node) -> None:
    try:
        options = text_map(node)
    except Bad as exc:
        ctx.error(node, f"{key}: {exc}")
        return
    if "encrypted" in options:  # the manifest's own field (the engine's option "encrypted")
        del options["encrypted"]
        ctx.target["encrypted"] = True
    if options:
        ctx.target["options"] = options


def _ipam(ctx: Ctx, key: str, node: Node) -> None:
    if not node.is_map:
        ctx.error(node, f"{key} must be a mapping")
        return
    for name, value in node.value.items():
        if name.startswith("x-"):
            continue
        if name == "driver":
            if value.value not in (None, "default"):
                ctx.error(
                    value, f"{key}.driver: an IPAM driver has no manifest equivalent", key=True
                )
        elif name == "config":
            entries = value.value if value.is_list else []
            if len(entries) > 1:
                ctx.error(value, f"{key}.config: a manifest network has one subnet", key=True)
                continue
            for entry in entries:
                if not entry.is_map:
                    ctx.error(entry, f"{key}.config: an entry is a mapping {{subnet: CIDR}}")
                    continue
                for field_name, field_node in entry.value.items():
                    if field_name == "subnet":
                        ctx.target["subnet"] = text(field_node)
                    elif field_name in ("gateway", "ip_range", "aux_addresses"):
                        ctx.warn(
                            field_node,
                            f"{key}.config.{field_name} is ignored by docker stack deploy "
                            "(it passes the subnet only): not converted",
                        )
                    else:
                        ctx.error(
                            field_node, f"unknown compose key {key}.config.{field_name}", key=True
                        )
        elif name == "options":
            ctx.error(value, f"{key}.options: IPAM options have no manifest equivalent", key=True)
        else:
            ctx.error(value, f"unknown compose key {key}.{name}", key=True)


NETWORK: Table = {
    "driver": to(("driver",)),
    "driver_opts": _driver_opts,
    "attachable": to(("attachable",), boolean),
    "internal": to(("internal",), boolean),
    "labels": to(("labels",), text_map),
    "ipam": _ipam,
    "enable_ipv6": ignored("docker stack deploy does not pass it to the engine"),
    "name": skip,
    "external": skip,
}

TOP_LEVEL = ("version", "services", "networks", "volumes", "secrets", "configs", "name")
