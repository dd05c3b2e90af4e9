"""The Service kind to the engine: a `Service` manifest as a ``ServiceSpec`` dict.

Owns the way a desired service is written to Docker (`service_spec`: a ``ServiceSpec``
for ``/services/create`` and ``/services/{id}/update``, with the ownership labels and the
requested image in a label); its inverse, reading a live spec back as a manifest, is
`kinds.service_read`'s (`service_from_docker`). Pure: no I/O. The property test in
``tests/test_engine_roundtrip.py`` checks that render -> engine -> read is the identity
after normalisation (`kinds.normalize`).

Every config block that the engine would otherwise half-fill (update, rollback and
restart policies) is written complete, with the engine's own defaults
(`normalize.ENGINE_UPDATE_DEFAULTS`, `normalize.ENGINE_RESTART_DEFAULTS`) for the fields
the manifest leaves out, so the engine stores exactly what the planner compares against.

The spec has the shape the docker CLI sends (``cli/command/service/opts.go``,
``ToService``): ``TaskTemplate.Placement``, ``Resources`` (with ``Limits`` and
``Reservations``), ``RestartPolicy``, ``UpdateConfig``, ``RollbackConfig`` and
``EndpointSpec`` are always written, empty (or the engine's defaults) where the manifest
says nothing. The engine is not hardened against the other shapes: dockerd 20.10's
swarmkit dereferences a missing ``Placement`` when a service that had one is updated,
and the whole manager daemon dies (see LAB.md).
The fields of stack files (issue 12) go where the CLI puts them: ``TaskTemplate.LogDriver``;
``ContainerSpec`` ``CapabilityAdd``/``CapabilityDrop``, ``Sysctls``, ``Ulimits``,
``ReadOnly``, ``Groups``, ``TTY``, ``OpenStdin``, ``Isolation``, ``Privileges``; mount
``VolumeOptions``/``BindOptions``/``TmpfsOptions``; ``Resources.Limits.Pids``,
``Reservations.GenericResources``, ``Placement.Platforms``, attachment ``DriverOpts`` and
``ReplicatedJob.MaxConcurrent`` (README, "ServiceSpec fields").
Neighbours: `kinds.service` (the kind: plan, apply, health) uses both directions;
`kinds.service_fields` lists the paths written here that the language manages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from swarm_operator.kinds.common import drop_empty, ownership_labels
from swarm_operator.kinds.normalize import (
    ENGINE_RESTART_DEFAULTS,
    ENGINE_UPDATE_DEFAULTS,
)
from swarm_operator.manifests.blob_blocks import SECRETS_DIR
from swarm_operator.manifests.models import Service
from swarm_operator.manifests.service_blocks import (
    GenericResource,
    Mount,
    Privileges,
    RestartPolicy,
    Ulimit,
    UpdateConfig,
)
from swarm_operator.manifests.service_spec import ServiceSpec
from swarm_operator.swarm import labels as swarm_labels

JOB_MODES = ("replicated-job", "global-job")


def service_labels(service: Service) -> dict[str, str]:
    """The ownership labels of a service, with the image as the manifest wrote it."""
    return {**ownership_labels(service), swarm_labels.IMAGE: service.spec.image}


def _update_config(cfg: UpdateConfig | None) -> dict[str, Any]:
    if cfg is None:
        return dict(ENGINE_UPDATE_DEFAULTS)
    given = {
        "Parallelism": cfg.parallelism,
        "Delay": cfg.delay,
        "FailureAction": cfg.failure_action,
        "Monitor": cfg.monitor,
        "MaxFailureRatio": cfg.max_failure_ratio,
        "Order": cfg.order,
    }
    return {k: (ENGINE_UPDATE_DEFAULTS[k] if v is None else v) for k, v in given.items()}


def _restart_policy(cfg: RestartPolicy | None) -> dict[str, Any]:
    if cfg is None:
        return dict(ENGINE_RESTART_DEFAULTS)
    given = {
        "Condition": cfg.condition,
        "Delay": cfg.delay,
        "MaxAttempts": cfg.max_attempts,
        "Window": cfg.window,
    }
    return {k: (ENGINE_RESTART_DEFAULTS[k] if v is None else v) for k, v in given.items()}


def _mode(spec: ServiceSpec) -> dict[str, Any]:
    if spec.mode == "replicated":
        return {"Replicated": {"Replicas": spec.replicas if spec.replicas is not None else 1}}
    if spec.mode == "global":
        return {"Global": {}}
    if spec.mode == "replicated-job":
        total = spec.replicas if spec.replicas is not None else 1
        concurrent = total if spec.max_concurrent is None else spec.max_concurrent
        return {"ReplicatedJob": {"MaxConcurrent": concurrent, "TotalCompletions": total}}
    return {"GlobalJob": {}}


def _mount(m: Mount) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Type": m.type,
        "Source": m.source,
        "Target": m.target,
        "ReadOnly": m.read_only or None,
    }
    if m.volume_options is not None:
        vo = m.volume_options
        driver = None
        if vo.driver:
            driver = drop_empty({"Name": vo.driver, "Options": dict(vo.driver_options)})
        body["VolumeOptions"] = drop_empty(
            {"NoCopy": vo.no_copy or None, "Labels": dict(vo.labels), "DriverConfig": driver}
        )
    if m.bind is not None:
        body["BindOptions"] = {"Propagation": m.bind.propagation}
    if m.tmpfs is not None:
        body["TmpfsOptions"] = drop_empty({"SizeBytes": m.tmpfs.size, "Mode": m.tmpfs.mode})
    return drop_empty(body)


def _ulimits(ulimits: Mapping[str, Ulimit | int]) -> list[dict[str, Any]]:
    out = []
    for name, limit in sorted(ulimits.items()):
        soft, hard = (limit, limit) if isinstance(limit, int) else (limit.soft, limit.hard)
        out.append({"Name": name, "Soft": soft, "Hard": hard})
    return out


def _privileges(p: Privileges | None) -> dict[str, Any] | None:
    if p is None:
        return None
    cred = None
    if p.credential_spec is not None:
        c = p.credential_spec
        cred = drop_empty({"File": c.file, "Registry": c.registry, "Config": c.config})
    selinux = None
    if p.se_linux_context is not None:
        x = p.se_linux_context
        selinux = drop_empty(
            {
                "Disable": x.disable or None,
                "User": x.user,
                "Role": x.role,
                "Type": x.type,
                "Level": x.level,
            }
        )
    return drop_empty({"CredentialSpec": cred, "SELinuxContext": selinux}) or None


def _generic(resource: GenericResource) -> dict[str, Any]:
    if resource.discrete_resource_spec is not None:
        d = resource.discrete_resource_spec
        return {"DiscreteResourceSpec": {"Kind": d.kind, "Value": d.value}}
    n = resource.named_resource_spec
    assert n is not None
    return {"NamedResourceSpec": {"Kind": n.kind, "Value": n.value}}


def container_spec(spec: ServiceSpec) -> dict[str, Any]:
    health = None
    if spec.healthcheck is not None:
        hc = spec.healthcheck
        health = drop_empty(
            {
                "Test": hc.test,
                "Interval": hc.interval,
                "Timeout": hc.timeout,
                "Retries": hc.retries,
                "StartPeriod": hc.start_period,
            }
        )
    dns = drop_empty(
        {"Nameservers": spec.dns, "Search": spec.dns_search, "Options": spec.dns_options}
    )
    mounts = [_mount(m) for m in sorted(spec.mounts, key=lambda m: m.target)]
    return drop_empty(
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
            "CapabilityAdd": list(spec.cap_add),
            "CapabilityDrop": list(spec.cap_drop),
            "Sysctls": dict(spec.sysctls),
            "Ulimits": _ulimits(spec.ulimits),
            "ReadOnly": spec.read_only or None,
            "Groups": list(spec.groups),
            "TTY": spec.tty or None,
            "OpenStdin": spec.stdin_open or None,
            "Isolation": spec.isolation,
            "Privileges": _privileges(spec.privileges),
        }
    )


def references_spec(
    service: Service,
    references: Mapping[tuple[str, str], str] | None = None,
    ids: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """``ContainerSpec.Secrets`` and ``ContainerSpec.Configs`` for ``service``.

    ``references`` maps (kind, manifest name) to the engine object (the versioned name the
    plan resolved; the manifest name when not given); ``ids`` maps kind -> engine name ->
    ID. A secret under /run/secrets/ is written by its file name, as the docker CLI does.
    """
    resolved = references or {}
    known = ids or {}
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, refs in (("Secret", service.spec.secrets), ("Config", service.spec.configs)):
        items = []
        for ref in sorted(refs, key=lambda r: str(r.target)):
            engine = resolved.get((kind, ref.source), ref.source)
            target = str(ref.target)
            if kind == "Secret" and target.startswith(SECRETS_DIR):
                rest = target[len(SECRETS_DIR) :]
                target = rest if rest and "/" not in rest else target
            items.append(
                {
                    "File": {"Name": target, "UID": ref.uid, "GID": ref.gid, "Mode": ref.mode},
                    f"{kind}ID": (known.get(kind) or {}).get(engine, ""),
                    f"{kind}Name": engine,
                }
            )
        if items:
            out[f"{kind}s"] = items
    return out


def service_spec(
    service: Service,
    *,
    network_targets: Mapping[str, str] | None = None,
    image: str | None = None,
    force_update: int = 0,
    references: Mapping[tuple[str, str], str] | None = None,
    reference_ids: Mapping[str, Mapping[str, str]] | None = None,
    platforms: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The full Docker ``ServiceSpec`` for ``service``.

    ``network_targets`` maps network names to IDs (names are sent when unknown; the
    engine resolves them). ``image`` overrides the image written (the executor passes
    the live digest-pinned form of the same reference so tasks are not restarted).
    ``force_update`` keeps the live ``ForceUpdate`` counter. ``references`` and
    ``reference_ids``: the secret and config versions to mount (`references_spec`).
    ``platforms``: written as ``Placement.Platforms`` when the manifest sets none (the
    image's platforms, as ``docker service create`` resolves them, or the live ones).
    """
    spec = service.spec
    targets = network_targets or {}
    cspec = container_spec(spec)
    cspec.update(references_spec(service, references, reference_ids))
    if image is not None:
        cspec["Image"] = image
    # Always present, empty where unset: the shape the docker CLI sends (see the module doc).
    placement: dict[str, Any] = {}
    if spec.placement is not None:
        p = spec.placement
        placement = drop_empty(
            {
                "Constraints": sorted(p.constraints),
                "Preferences": [{"Spread": {"SpreadDescriptor": s.spread}} for s in p.preferences],
                "MaxReplicas": p.max_replicas_per_node or None,
                "Platforms": [{"Architecture": x.architecture, "OS": x.os} for x in p.platforms],
            }
        )
    if platforms and not placement.get("Platforms"):
        placement["Platforms"] = [dict(x) for x in platforms]
    resources: dict[str, Any] = {"Limits": {}, "Reservations": {}}
    if spec.resources is not None:
        for key, amounts in (
            ("Limits", spec.resources.limits),
            ("Reservations", spec.resources.reservations),
        ):
            if amounts is not None:
                resources[key] = drop_empty(
                    {"NanoCPUs": amounts.cpus, "MemoryBytes": amounts.memory}
                )
        limits, reservations = spec.resources.limits, spec.resources.reservations
        if limits is not None and limits.pids:
            resources["Limits"]["Pids"] = limits.pids
        if reservations is not None and reservations.generic_resources:
            resources["Reservations"]["GenericResources"] = [
                _generic(g) for g in reservations.generic_resources
            ]
    networks = [
        drop_empty(
            {
                "Target": targets.get(n.name, n.name),
                "Aliases": sorted(n.aliases),
                "DriverOpts": dict(n.driver_opts),
            }
        )
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
    if spec.logging is not None:
        task["LogDriver"] = drop_empty(
            {"Name": spec.logging.driver, "Options": dict(spec.logging.options)}
        )
    task["ForceUpdate"] = force_update
    ports = [
        drop_empty(
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
        "Labels": {**spec.labels, **service_labels(service)},
        "TaskTemplate": task,
        "Mode": _mode(spec),
        "UpdateConfig": _update_config(spec.update_config),
        "RollbackConfig": _update_config(spec.rollback_config),
        "EndpointSpec": endpoint,
    }
    if spec.mode in JOB_MODES:
        del body["UpdateConfig"]  # the engine: "Jobs may not have an update config"
    return body
