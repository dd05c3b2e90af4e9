"""Manifest models -> Docker Engine API spec dicts, with the operator's ownership labels.

Owns the way a desired object is written to Docker: `service_spec` (a ``ServiceSpec``
for ``/services/create`` and ``/services/{id}/update``), `network_spec` (a
``NetworkCreate``), `node_spec` (a ``NodeSpec`` merged into the live one) and the
ownership labels with the spec hash. Pure: no I/O. Its inverse is `live.py`; the
property test in ``tests/test_roundtrip.py`` checks that render -> engine -> live is
the identity after normalisation.

Every config block that the engine would otherwise half-fill (update, rollback and
restart policies) is written complete, with the engine's own defaults for the fields
the manifest leaves out, so the engine stores exactly what the planner compares against.

The spec has the shape the docker CLI sends (``cli/command/service/opts.go``,
``ToService``): ``TaskTemplate.Placement``, ``Resources`` (with ``Limits`` and
``Reservations``), ``RestartPolicy``, ``UpdateConfig``, ``RollbackConfig`` and
``EndpointSpec`` are always written, empty (or the engine's defaults) where the manifest
says nothing. The engine is not hardened against the other shapes: dockerd 20.10's
swarmkit dereferences a missing ``Placement`` when a service that had one is updated,
and the whole manager daemon dies (see LAB.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from swarm_operator.models import (
    Manifest,
    Network,
    NetworkSpec,
    Node,
    RestartPolicy,
    Service,
    ServiceSpec,
    UpdateConfig,
)

LABEL_PREFIX = "io.swarm-operator."
LABEL_MANAGED_BY = "io.swarm-operator.managed-by"
LABEL_SPEC_HASH = "io.swarm-operator.spec-hash"
LABEL_IMAGE = "io.swarm-operator.image"
"""The image as the manifest wrote it; the engine (or the CLI) may pin a digest into it."""
MANAGER = "swarm-operator"
LABEL_PROTECT = "swarm-operator/protect"
"""A live label ``swarm-operator/protect=true`` keeps the object from ever being pruned."""

JOB_MODES = ("replicated-job", "global-job")
OPTION_ENCRYPTED = "encrypted"
OPTION_MTU = "com.docker.network.driver.mtu"

# The engine's defaults (swarmkit api/defaults) for the blocks we always write complete.
UPDATE_DEFAULTS: dict[str, Any] = {
    "Parallelism": 1,
    "Delay": 0,
    "FailureAction": "pause",
    "Monitor": 5_000_000_000,
    "MaxFailureRatio": 0.0,
    "Order": "stop-first",
}
RESTART_DEFAULTS: dict[str, Any] = {
    "Condition": "any",
    "Delay": 5_000_000_000,
    "MaxAttempts": 0,
    "Window": 0,
}


def spec_hash(manifest: Manifest) -> str:
    """A short stable hash of what the manifest asks for (its spec in canonical form)."""
    body = json.dumps(
        manifest.spec.model_dump(mode="json", by_alias=True), sort_keys=True, default=str
    )
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def ownership_labels(manifest: Manifest) -> dict[str, str]:
    labels = {LABEL_MANAGED_BY: MANAGER, LABEL_SPEC_HASH: spec_hash(manifest)}
    if isinstance(manifest, Service):
        labels[LABEL_IMAGE] = manifest.spec.image
    return labels


def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and v != [] and v != {}}


def _update_config(cfg: UpdateConfig | None) -> dict[str, Any]:
    if cfg is None:
        return dict(UPDATE_DEFAULTS)
    given = {
        "Parallelism": cfg.parallelism,
        "Delay": cfg.delay,
        "FailureAction": cfg.failure_action,
        "Monitor": cfg.monitor,
        "MaxFailureRatio": cfg.max_failure_ratio,
        "Order": cfg.order,
    }
    return {k: (UPDATE_DEFAULTS[k] if v is None else v) for k, v in given.items()}


def _restart_policy(cfg: RestartPolicy | None) -> dict[str, Any]:
    if cfg is None:
        return dict(RESTART_DEFAULTS)
    given = {
        "Condition": cfg.condition,
        "Delay": cfg.delay,
        "MaxAttempts": cfg.max_attempts,
        "Window": cfg.window,
    }
    return {k: (RESTART_DEFAULTS[k] if v is None else v) for k, v in given.items()}


def _mode(spec: ServiceSpec) -> dict[str, Any]:
    if spec.mode == "replicated":
        return {"Replicated": {"Replicas": spec.replicas if spec.replicas is not None else 1}}
    if spec.mode == "global":
        return {"Global": {}}
    if spec.mode == "replicated-job":
        total = spec.replicas if spec.replicas is not None else 1
        return {"ReplicatedJob": {"MaxConcurrent": total, "TotalCompletions": total}}
    return {"GlobalJob": {}}


def container_spec(spec: ServiceSpec) -> dict[str, Any]:
    health = None
    if spec.healthcheck is not None:
        hc = spec.healthcheck
        health = _drop_empty(
            {
                "Test": hc.test,
                "Interval": hc.interval,
                "Timeout": hc.timeout,
                "Retries": hc.retries,
                "StartPeriod": hc.start_period,
            }
        )
    dns = _drop_empty(
        {"Nameservers": spec.dns, "Search": spec.dns_search, "Options": spec.dns_options}
    )
    mounts = [
        _drop_empty(
            {
                "Type": m.type,
                "Source": m.source,
                "Target": m.target,
                "ReadOnly": m.read_only or None,
            }
        )
        for m in sorted(spec.mounts, key=lambda m: m.target)
    ]
    return _drop_empty(
        {
            "Image": spec.image,
            "Command": spec.command,
            "Args": spec.args,
            "Env": [f"{k}={v}" for k, v in sorted(spec.env.items())],
            "Labels": dict(spec.container_labels),
            "Mounts": mounts,
            "User": spec.user,
            "Dir": spec.workdir,
            "Hostname": spec.hostname,
            "StopGracePeriod": spec.stop_grace_period,
            "StopSignal": spec.stop_signal,
            "Init": spec.init,
            "Healthcheck": health or None,
            "DNSConfig": dns or None,
            "Hosts": [f"{ip} {name}" for name, ip in sorted(spec.hosts.items())],
        }
    )


def service_spec(
    service: Service,
    *,
    network_targets: Mapping[str, str] | None = None,
    image: str | None = None,
    force_update: int = 0,
) -> dict[str, Any]:
    """The full Docker ``ServiceSpec`` for ``service``.

    ``network_targets`` maps network names to IDs (names are sent when unknown; the
    engine resolves them). ``image`` overrides the image written (the executor passes
    the live digest-pinned form of the same reference so tasks are not restarted).
    ``force_update`` keeps the live ``ForceUpdate`` counter.
    """
    spec = service.spec
    targets = network_targets or {}
    cspec = container_spec(spec)
    if image is not None:
        cspec["Image"] = image
    # Always present, empty where unset: the shape the docker CLI sends (see the module doc).
    placement: dict[str, Any] = {}
    if spec.placement is not None:
        p = spec.placement
        placement = _drop_empty(
            {
                "Constraints": sorted(p.constraints),
                "Preferences": [{"Spread": {"SpreadDescriptor": s.spread}} for s in p.preferences],
                "MaxReplicas": p.max_replicas_per_node or None,
            }
        )
    resources: dict[str, Any] = {"Limits": {}, "Reservations": {}}
    if spec.resources is not None:
        for key, amounts in (
            ("Limits", spec.resources.limits),
            ("Reservations", spec.resources.reservations),
        ):
            if amounts is not None:
                resources[key] = _drop_empty(
                    {"NanoCPUs": amounts.cpus, "MemoryBytes": amounts.memory}
                )
    networks = [
        _drop_empty({"Target": targets.get(n.name, n.name), "Aliases": sorted(n.aliases)})
        for n in sorted(spec.networks, key=lambda n: n.name)
    ]
    task: dict[str, Any] = {
        "ContainerSpec": cspec,
        "Resources": resources,
        "RestartPolicy": _restart_policy(spec.restart_policy),
        "Placement": placement,
    }
    if networks:
        task["Networks"] = networks
    task["ForceUpdate"] = force_update
    ports = [
        _drop_empty(
            {
                "Protocol": p.protocol,
                "TargetPort": p.target,
                "PublishedPort": p.published,
                "PublishMode": p.mode,
            }
        )
        for p in sorted(spec.ports, key=lambda p: (p.target, p.protocol, p.published or 0))
    ]
    endpoint = {"Mode": spec.endpoint_mode, **({"Ports": ports} if ports else {})}
    body = {
        "Name": service.name,
        "Labels": {**spec.labels, **ownership_labels(service)},
        "TaskTemplate": task,
        "Mode": _mode(spec),
        "UpdateConfig": _update_config(spec.update_config),
        "RollbackConfig": _update_config(spec.rollback_config),
        "EndpointSpec": endpoint,
    }
    if spec.mode in JOB_MODES:
        del body["UpdateConfig"]  # the engine: "Jobs may not have an update config"
    return body


def network_spec(network: Network) -> dict[str, Any]:
    """The ``NetworkCreate`` body for ``network`` (swarm scope)."""
    spec: NetworkSpec = network.spec
    options = dict(spec.options)
    if spec.encrypted:
        options[OPTION_ENCRYPTED] = ""
    if spec.mtu is not None:
        options[OPTION_MTU] = str(spec.mtu)
    ipam = None
    if spec.subnet is not None:
        pool = _drop_empty(
            {"Subnet": spec.subnet, "Gateway": spec.gateway, "IPRange": spec.ip_range}
        )
        ipam = {"Driver": "default", "Config": [pool]}
    return _drop_empty(
        {
            "Name": network.name,
            "Driver": spec.driver,
            "Scope": "swarm",
            "Options": options,
            "IPAM": ipam,
            "Internal": spec.internal or None,
            "Attachable": spec.attachable or None,
            "EnableIPv6": spec.ipv6 or None,
            "Labels": {**spec.labels, **ownership_labels(network)},
        }
    )


def node_spec(node: Node, live_spec: Mapping[str, Any]) -> dict[str, Any]:
    """The live node spec with the manifest's role, availability and labels merged in."""
    merged: dict[str, Any] = dict(live_spec)
    spec = node.spec
    if spec.role is not None:
        merged["Role"] = spec.role
    if spec.availability is not None:
        merged["Availability"] = spec.availability
    live_labels: dict[str, str] = dict(live_spec.get("Labels") or {})
    merged["Labels"] = (
        dict(spec.labels) if spec.exclusive_labels else {**live_labels, **spec.labels}
    )
    return merged
