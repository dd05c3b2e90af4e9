"""The Service kind read back from the engine: a live ``ServiceSpec`` dict as a `Service`
manifest (`service_from_docker`), and the secret and config versions it mounts
(`references_from_docker`, `engine_references`).

Owns the inverse of `kinds.service_spec`, which writes a manifest in the engine's form:
each field is read from where that module puts it, the requested image from its label
when the live image is the same reference pinned to a digest, the operator's own labels
dropped. Pure: no I/O. The property test in ``tests/test_engine_roundtrip.py`` checks
that render -> engine -> read is the identity after normalisation (`kinds.normalize`).
Neighbours: `kinds.service` (the kind: plan, apply, health) reads live services with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from swarm_operator.kinds.common import dur, some
from swarm_operator.kinds.normalize import image_pins
from swarm_operator.manifests import units
from swarm_operator.manifests.blob_blocks import SECRETS_DIR, full_target
from swarm_operator.manifests.models import Service
from swarm_operator.swarm import labels as swarm_labels


def _config(block: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not block:
        return None
    return {
        "parallelism": block.get("Parallelism", 0),
        "delay": dur(block.get("Delay", 0)),
        "failure_action": block.get("FailureAction") or None,
        "monitor": dur(block.get("Monitor", 0)),
        "max_failure_ratio": block.get("MaxFailureRatio", 0.0),
        "order": block.get("Order") or None,
    }


def _image(container: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """The image as requested: the label's, if the live image is that reference (pinned)."""
    live = str(container.get("Image", ""))
    requested = labels.get(swarm_labels.IMAGE)
    if requested and image_pins(live, requested):
        return requested
    return live


def references_from_docker(
    container: Mapping[str, Any], names: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """``secrets`` and ``configs`` of a manifest from a live ``ContainerSpec``: each engine
    object named by the manifest it is a version of (``names``: kind -> engine ID or
    name -> manifest name, from the objects' labels)."""
    known = names or {}
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in ("Secret", "Config"):
        by = known.get(kind) or {}
        refs = []
        for ref in container.get(f"{kind}s") or []:
            engine_name = str(ref.get(f"{kind}Name", ""))
            source = by.get(str(ref.get(f"{kind}ID", ""))) or by.get(engine_name) or engine_name
            file = ref.get("File") or {}
            refs.append(
                {
                    "source": source,
                    "target": file.get("Name") or None,
                    "uid": str(file.get("UID") or "0"),
                    "gid": str(file.get("GID") or "0"),
                    "mode": int(file.get("Mode", 0o444)),
                }
            )
        out[f"{kind.lower()}s"] = refs
    return out


def engine_references(
    container: Mapping[str, Any], names: Mapping[str, Mapping[str, str]] | None = None
) -> dict[tuple[str, str, str], str]:
    """(kind, manifest name, target) -> the engine object a live service mounts there."""
    read = references_from_docker(container, names)
    out: dict[tuple[str, str, str], str] = {}
    for kind, directory in (("Secret", SECRETS_DIR), ("Config", "/")):
        raws = container.get(f"{kind}s") or []
        for ref, raw in zip(read[f"{kind.lower()}s"], raws, strict=True):
            target = full_target(directory, ref["source"], ref["target"])
            out[(kind, ref["source"], target)] = str(raw.get(f"{kind}Name", ""))
    return out


def _mount_from_docker(m: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": m.get("Type", "volume"),
        "source": m.get("Source") or None,
        "target": m["Target"],
        "read_only": bool(m.get("ReadOnly")),
    }
    vo = m.get("VolumeOptions")
    if vo:
        driver = vo.get("DriverConfig") or {}
        out["volume_options"] = {
            "no_copy": bool(vo.get("NoCopy")),
            "labels": dict(vo.get("Labels") or {}),
            "driver": driver.get("Name") or None,
            "driver_options": dict(driver.get("Options") or {}),
        }
    bind = m.get("BindOptions")
    if bind:
        out["bind"] = {"propagation": bind.get("Propagation") or "rprivate"}
    tmpfs = m.get("TmpfsOptions")
    if tmpfs:
        out["tmpfs"] = {"size": tmpfs.get("SizeBytes") or None, "mode": tmpfs.get("Mode")}
    return out


def _container_extras(c: Mapping[str, Any]) -> dict[str, Any]:
    """The ContainerSpec fields of issue 12 in manifest form."""
    privileges = None
    p = c.get("Privileges") or {}
    if p.get("CredentialSpec") or p.get("SELinuxContext"):
        cred = p.get("CredentialSpec") or None
        selinux = p.get("SELinuxContext") or None
        privileges = {
            "credential_spec": cred
            and {
                "file": cred.get("File"),
                "registry": cred.get("Registry"),
                "config": cred.get("Config"),
            },
            "se_linux_context": selinux
            and {
                "disable": bool(selinux.get("Disable")),
                "user": some(selinux.get("User")),
                "role": some(selinux.get("Role")),
                "type": some(selinux.get("Type")),
                "level": some(selinux.get("Level")),
            },
        }
    return {
        "cap_add": list(c.get("CapabilityAdd") or []),
        "cap_drop": list(c.get("CapabilityDrop") or []),
        "sysctls": dict(c.get("Sysctls") or {}),
        "ulimits": {
            str(u["Name"]): {"soft": int(u.get("Soft", 0)), "hard": int(u.get("Hard", 0))}
            for u in c.get("Ulimits") or []
        },
        "read_only": bool(c.get("ReadOnly")),
        "groups": list(c.get("Groups") or []),
        "tty": bool(c.get("TTY")),
        "stdin_open": bool(c.get("OpenStdin")),
        "isolation": some(c.get("Isolation")),
        "privileges": privileges,
    }


def _generic_from_docker(item: Mapping[str, Any]) -> dict[str, Any]:
    if "DiscreteResourceSpec" in item:
        d = item["DiscreteResourceSpec"] or {}
        return {"discrete_resource_spec": {"kind": d.get("Kind"), "value": d.get("Value", 0)}}
    n = item.get("NamedResourceSpec") or {}
    return {"named_resource_spec": {"kind": n.get("Kind"), "value": n.get("Value")}}


def service_from_docker(
    spec: Mapping[str, Any],
    network_ids: Mapping[str, str] | None = None,
    reference_names: Mapping[str, Mapping[str, str]] | None = None,
) -> Service:
    """A Docker ``ServiceSpec`` as a `Service` manifest. Raises ValidationError/ValueError.

    ``reference_names``: kind -> engine ID or name -> manifest name, for the secrets and
    configs (`references_from_docker`)."""
    ids = network_ids or {}
    labels: dict[str, str] = dict(spec.get("Labels") or {})
    task = spec.get("TaskTemplate") or {}
    c = task.get("ContainerSpec") or {}
    mode_block = spec.get("Mode") or {"Replicated": {"Replicas": 1}}
    replicas: int | None = None
    max_concurrent: int | None = None
    if "Replicated" in mode_block:
        mode = "replicated"
        replicas = int((mode_block["Replicated"] or {}).get("Replicas", 0))
    elif "Global" in mode_block:
        mode = "global"
    elif "ReplicatedJob" in mode_block:
        mode = "replicated-job"
        job = mode_block["ReplicatedJob"] or {}
        replicas = int(job.get("TotalCompletions", 1))
        if "MaxConcurrent" in job:
            max_concurrent = int(job["MaxConcurrent"])
    elif "GlobalJob" in mode_block:
        mode = "global-job"
    else:
        raise ValueError(f"unknown service mode {sorted(mode_block)}")
    env: dict[str, str] = {}
    for item in c.get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    hosts: dict[str, str] = {}
    for line in c.get("Hosts") or []:
        parts = str(line).split()
        if len(parts) >= 2:
            for name in parts[1:]:
                hosts[name] = parts[0]
    health = c.get("Healthcheck")
    healthcheck = None
    if health:
        healthcheck = {
            "test": health.get("Test"),
            "interval": dur(health.get("Interval")),
            "timeout": dur(health.get("Timeout")),
            "retries": health.get("Retries"),
            "start_period": dur(health.get("StartPeriod")),
        }
    dns = c.get("DNSConfig") or {}
    place = task.get("Placement") or {}
    placement = None
    if place:
        placement = {
            "constraints": list(place.get("Constraints") or []),
            "preferences": [
                {"spread": (p.get("Spread") or {}).get("SpreadDescriptor", "")}
                for p in place.get("Preferences") or []
                if p.get("Spread")
            ],
            "max_replicas_per_node": place.get("MaxReplicas") or None,
            "platforms": [
                {"architecture": x.get("Architecture", ""), "os": x.get("OS", "")}
                for x in place.get("Platforms") or []
            ],
        }
    res = task.get("Resources") or {}
    resources: dict[str, Any] | None = None
    if res:
        resources = {
            key: (
                {
                    "cpus": units.format_cpus(block["NanoCPUs"]) if block.get("NanoCPUs") else None,
                    "memory": block.get("MemoryBytes") or None,
                }
                if block
                else None
            )
            for key, block in (
                ("limits", res.get("Limits")),
                ("reservations", res.get("Reservations")),
            )
        }
        limits, reservations = res.get("Limits") or {}, res.get("Reservations") or {}
        if limits.get("Pids"):
            resources["limits"]["pids"] = int(limits["Pids"])
        if reservations.get("GenericResources"):
            resources["reservations"]["generic_resources"] = [
                _generic_from_docker(g) for g in reservations["GenericResources"]
            ]
    restart = task.get("RestartPolicy")
    restart_policy = None
    if restart:
        restart_policy = {
            "condition": restart.get("Condition") or None,
            "delay": dur(restart.get("Delay")),
            "max_attempts": restart.get("MaxAttempts"),
            "window": dur(restart.get("Window")),
        }
    endpoint = spec.get("EndpointSpec") or {}
    ports = [
        {
            "target": p["TargetPort"],
            "published": p.get("PublishedPort") or None,
            "protocol": p.get("Protocol") or "tcp",
            "mode": p.get("PublishMode") or "ingress",
        }
        for p in endpoint.get("Ports") or []
    ]
    networks = [
        {
            "name": ids.get(n["Target"], n["Target"]),
            "aliases": list(n.get("Aliases") or []),
            "driver_opts": dict(n.get("DriverOpts") or {}),
        }
        for n in task.get("Networks") or spec.get("Networks") or []
    ]
    mounts = [_mount_from_docker(m) for m in c.get("Mounts") or []]
    log = task.get("LogDriver") or {}
    logging = None
    if log.get("Name"):
        logging = {"driver": log["Name"], "options": dict(log.get("Options") or {})}
    body: dict[str, Any] = {
        "image": _image(c, labels),
        "command": some(c.get("Command")),
        "args": some(c.get("Args")),
        "env": env,
        "mode": mode,
        "replicas": replicas,
        "networks": networks,
        "ports": ports,
        "endpoint_mode": endpoint.get("Mode") or "vip",
        "placement": placement,
        "resources": resources,
        "update_config": _config(spec.get("UpdateConfig")),
        "rollback_config": _config(spec.get("RollbackConfig")),
        "restart_policy": restart_policy,
        "healthcheck": healthcheck,
        "labels": swarm_labels.user_labels(labels),
        "container_labels": dict(c.get("Labels") or {}),
        "mounts": mounts,
        "user": some(c.get("User")),
        "workdir": some(c.get("Dir")),
        "hostname": some(c.get("Hostname")),
        "stop_grace_period": dur(c.get("StopGracePeriod")),
        "stop_signal": some(c.get("StopSignal")),
        "init": c.get("Init"),
        "dns": list(dns.get("Nameservers") or []),
        "dns_search": list(dns.get("Search") or []),
        "dns_options": list(dns.get("Options") or []),
        "hosts": hosts,
        **references_from_docker(c, reference_names),
        "max_concurrent": max_concurrent,
        "logging": logging,
        **_container_extras(c),
    }
    return Service.model_validate({"metadata": {"name": spec.get("Name", "")}, "spec": body})
