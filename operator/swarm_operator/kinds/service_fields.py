"""Which fields of a Docker ``ServiceSpec`` the manifest language manages, and the merge
of a rendered spec into a live one that keeps every other field.

Owns `MANAGED`, the one table of the ``ServiceSpec`` paths `kinds.service_spec.service_spec`
writes, whether or not a manifest sets them (``TaskTemplate.ContainerSpec.Env`` is managed
even when the manifest has no env, so an env removed from the manifest is removed live),
and `merge`: an update body is the live spec with every managed path replaced by the
rendered value (absent in the render: removed) and every other path kept exactly as it is
live (a log driver, secrets, capabilities, sysctls, ... whatever the language does not
express). `kept` names the unmanaged fields an update writes back, for the plan.

The table is a tree: a key maps to ``None`` (managed as a whole: the rendered value
replaces the live one), to a sub-table (only the keys it lists are managed; the others
are kept), or to a `Keyed` rule for a list whose elements are partly managed.
Rule for such lists (``ContainerSpec.Mounts``, ``TaskTemplate.Networks``,
``EndpointSpec.Ports``): the elements and their managed keys are the render's; an element
is matched to the live element with the same identity (a mount: its ``Target`` and
``Type``; a network attachment: its ``Target``, the network ID; a port: all four fields
the language has), and that live element's unmanaged keys (a mount's ``TmpfsOptions``, an
attachment's ``DriverOpts``, a port's ``Name``) are kept. A live element the render does
not have is removed with all its keys: its identity is managed, and the plan shows
it removed. Every other list is managed as a whole.

A field the language gains must be added here too: ``tests/test_service_fields.py``
renders a manifest that sets every field and fails on a rendered path this table does not
manage. Pure. Neighbours: `kinds.service_spec` (the render), `kinds.service` (plan and
write).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class Keyed:
    """A list of dicts whose elements are matched by ``identity`` and managed in ``fields``
    (whole) and ``nested`` (blocks managed in the keys of their sub-table only)."""

    identity: tuple[str, ...]
    fields: frozenset[str]
    nested: Mapping[str, Table] = field(default_factory=dict)

    def manages(self, key: str) -> bool:
        return key in self.fields or key in self.nested


@dataclass(frozen=True)
class EngineDefault:
    """Managed as a whole, but the engine writes ``value`` where a spec leaves it out: a
    render without it keeps the live field while it holds that value (nothing to write)."""

    value: Any


Table = Mapping[str, Union["Table", Keyed, EngineDefault, None]]

_AMOUNTS: Table = {"NanoCPUs": None, "MemoryBytes": None}
_PORT = ("TargetPort", "Protocol", "PublishedPort", "PublishMode")

MANAGED: Table = {
    "Name": None,
    "Labels": None,
    "Mode": None,
    "UpdateConfig": None,
    "RollbackConfig": None,
    "EndpointSpec": {
        "Mode": None,
        # A published port is all identity: an unmanaged key (the API's port Name) stays.
        "Ports": Keyed(_PORT, frozenset(_PORT)),
    },
    # The deprecated service-level attachments: expressed by TaskTemplate.Networks (the
    # reader takes either), never written, so an update moves them there.
    "Networks": None,
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": None,
            "Command": None,
            "Args": None,
            "Env": None,
            "Labels": None,
            "Mounts": Keyed(
                ("Target", "Type"),
                frozenset({"Type", "Source", "Target", "ReadOnly"}),
                {
                    # Subpath, NonRecursive, CreateMountpoint, tmpfs Options...: kept
                    "VolumeOptions": {"NoCopy": None, "Labels": None, "DriverConfig": None},
                    "BindOptions": {"Propagation": None},
                    "TmpfsOptions": {"SizeBytes": None, "Mode": None},
                },
            ),
            "User": None,
            "Dir": None,
            "Hostname": None,
            "StopGracePeriod": None,
            "StopSignal": None,
            "Init": None,
            "Healthcheck": {
                "Test": None,
                "Interval": None,
                "Timeout": None,
                "Retries": None,
                "StartPeriod": None,
            },
            "DNSConfig": {"Nameservers": None, "Search": None, "Options": None},
            "Hosts": None,
            "Secrets": None,
            "Configs": None,
            # issue 12's container fields
            "CapabilityAdd": None,
            "CapabilityDrop": None,
            "Sysctls": None,
            "Ulimits": None,
            "ReadOnly": None,
            "Groups": None,
            "TTY": None,
            "OpenStdin": None,
            "Isolation": EngineDefault("default"),  # dockerd's convert.isolationToGRPC
            # Seccomp, AppArmor, NoNewPrivileges: not expressed, kept
            "Privileges": {"CredentialSpec": None, "SELinuxContext": None},
        },
        "Resources": {
            "Limits": {**_AMOUNTS, "Pids": None},
            "Reservations": {**_AMOUNTS, "GenericResources": None},
        },
        "RestartPolicy": None,
        "Placement": {
            "Constraints": None,
            "Preferences": None,
            "MaxReplicas": None,
            "Platforms": None,
        },
        "Networks": Keyed(("Target",), frozenset({"Target", "Aliases", "DriverOpts"})),
        "LogDriver": None,
        "ForceUpdate": None,
    },
}

ENGINE_FILLED: Mapping[str, Any] = {
    "TaskTemplate.Runtime": "container",
}
"""Unmanaged fields the engine fills in on every service (`tests/fixtures/engine`): kept
like every unmanaged field, but not listed by `kept` while they hold the engine's value."""

_ABSENT = object()


def _identity(element: Mapping[str, Any], rule: Keyed) -> tuple[Any, ...]:
    return tuple(element.get(k) for k in rule.identity)


def _merge_list(live: Any, render: Any, rule: Keyed) -> list[Any]:
    spare = [e for e in live if isinstance(e, Mapping)] if isinstance(live, list) else []
    out: list[Any] = []
    for element in render:
        match = next((e for e in spare if _identity(e, rule) == _identity(element, rule)), None)
        kept: dict[str, Any] = {}
        if match is not None:
            spare.remove(match)
            kept = {k: v for k, v in match.items() if not rule.manages(k)}
        merged = {**kept, **element}
        for key, table in rule.nested.items():
            lv = match.get(key) if match is not None else None
            rv = element.get(key)
            if not isinstance(lv, Mapping) and not isinstance(rv, Mapping):
                if match is not None and key in match and key not in element:
                    merged[key] = match[key]  # no block to look into: kept as it is
                continue
            sub = _merge(
                lv if isinstance(lv, Mapping) else {}, rv if isinstance(rv, Mapping) else {}, table
            )
            if sub or isinstance(rv, Mapping):
                merged[key] = sub
            else:
                merged.pop(key, None)
        out.append(merged)
    return out


def _merge(live: Mapping[str, Any], render: Mapping[str, Any], table: Table) -> dict[str, Any]:
    out = dict(live)
    for key, rule in table.items():
        lv = live.get(key, _ABSENT)
        rv = render.get(key, _ABSENT)
        if rule is None or isinstance(rule, EngineDefault):
            if rv is not _ABSENT:
                out[key] = rv
            elif not (isinstance(rule, EngineDefault) and lv == rule.value):
                out.pop(key, None)
        elif isinstance(rule, Keyed):
            if rv is _ABSENT:
                out.pop(key, None)
            else:
                out[key] = _merge_list(lv, rv, rule)
        else:
            if rv is _ABSENT and (lv is _ABSENT or not isinstance(lv, Mapping)):
                continue  # nothing rendered; a live value that is no block is kept as it is
            sub = _merge(
                lv if isinstance(lv, Mapping) else {},
                rv if isinstance(rv, Mapping) else {},
                rule,
            )
            if sub or rv is not _ABSENT:
                out[key] = sub  # the render's (possibly empty) block, or what is kept of it
            else:
                out.pop(key, None)  # nothing rendered, nothing unmanaged left
    return out


def merge(live: Mapping[str, Any], render: Mapping[str, Any]) -> dict[str, Any]:
    """The update body: ``live`` with every managed path as in ``render``, the rest kept.

    Neither input is changed; every dict and list the merge changes is a new one, and the
    values it keeps are shared with ``live`` and ``render`` (not copied: a plan of 2,000
    updates merges 2,000 specs), so the body is for sending, not for changing in place."""
    return _merge(live, render, MANAGED)


def _show_identity(element: Mapping[str, Any], rule: Keyed) -> str:
    return ",".join(str(element.get(k)) for k in rule.identity)


def unmanaged_paths(spec: Mapping[str, Any], table: Table = MANAGED) -> Iterator[str]:
    """The outermost unmanaged paths present in ``spec`` (keyed elements by identity)."""
    for key, value in spec.items():
        rule = table.get(key, _ABSENT)
        if rule is _ABSENT:
            yield key
        elif isinstance(rule, Keyed):
            for element in value if isinstance(value, list) else []:
                if isinstance(element, Mapping):
                    where = f"{key}[{_show_identity(element, rule)}]"
                    yield from (f"{where}.{k}" for k in element if not rule.manages(k))
                    for k, sub in rule.nested.items():
                        block = element.get(k)
                        if isinstance(block, Mapping):
                            yield from (f"{where}.{k}.{p}" for p in unmanaged_paths(block, sub))
        elif isinstance(rule, Mapping) and isinstance(value, Mapping):
            yield from (f"{key}.{p}" for p in unmanaged_paths(value, rule))


def value_at(spec: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of plain keys (None when absent)."""
    node: Any = spec
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def kept(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The unmanaged fields an update body writes back as they are live, for the plan
    (the engine's own fills, `ENGINE_FILLED`, are not listed while they hold its value)."""
    return tuple(
        sorted(
            p
            for p in unmanaged_paths(body)
            if p not in ENGINE_FILLED or value_at(body, p) != ENGINE_FILLED[p]
        )
    )


def managed_part(spec: Mapping[str, Any], table: Table = MANAGED) -> dict[str, Any]:
    """``spec`` with only its managed paths (keyed list elements with their managed keys)."""
    out: dict[str, Any] = {}
    for key, rule in table.items():
        if key not in spec:
            continue
        value = spec[key]
        if rule is None or isinstance(rule, EngineDefault):
            out[key] = value
        elif isinstance(rule, Keyed):
            out[key] = [
                _managed_element(e, rule) if isinstance(e, Mapping) else e
                for e in (value if isinstance(value, list) else [value])
            ]
        elif isinstance(value, Mapping):
            out[key] = managed_part(value, rule)
    return out


def _managed_element(element: Mapping[str, Any], rule: Keyed) -> dict[str, Any]:
    out = {k: v for k, v in element.items() if k in rule.fields}
    for k, sub in rule.nested.items():
        block = element.get(k)
        if isinstance(block, Mapping):
            out[k] = managed_part(block, sub)
    return out


def is_managed(path: tuple[str, ...], table: Table = MANAGED) -> bool:
    """``path`` (keys; a keyed list's element keys follow the list's key directly) lies
    under a managed path of the table, or is a block of it (written when rendered)."""
    if not path:
        return False
    rule = table.get(path[0], _ABSENT)
    if rule is None or isinstance(rule, EngineDefault):
        return True
    if isinstance(rule, Keyed):
        if len(path) == 1 or path[1] in rule.fields:
            return True
        sub = rule.nested.get(path[1])
        return sub is not None and (len(path) == 2 or is_managed(path[2:], sub))
    if isinstance(rule, Mapping):
        return len(path) == 1 or is_managed(path[1:], rule)
    return False
