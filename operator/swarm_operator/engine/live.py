"""The live Swarm as the planner sees it: Docker spec dicts -> manifest models + metadata.

Owns `LiveObject`, `LiveState` and the pure conversions `service_from_docker`,
`network_from_docker`, `node_from_docker` (inverse of `render.py`). Also `read_live`,
the one function here that does I/O, through a `SwarmClient` handed in (it does not
import docker).

A live object carries the same typed manifest as a file would (so the planner compares
like with like), plus what only the live side knows: ID, version, all labels, whether
the operator manages it (ownership label), the spec hash it was applied with, for
networks the services attached to them, for nodes hostname/role/availability/state.
An object whose spec cannot be expressed in the manifest language keeps ``manifest=None``
and says why in ``read_error``; the planner then reports it instead of guessing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from swarm_operator.kinds.render import (
    LABEL_IMAGE,
    LABEL_MANAGED_BY,
    LABEL_PREFIX,
    LABEL_PROTECT,
    LABEL_SPEC_HASH,
    MANAGER,
    OPTION_ENCRYPTED,
    OPTION_MTU,
)
from swarm_operator.manifests import units
from swarm_operator.manifests.models import Manifest, Network, Node, Service
from swarm_operator.probing import probe

if TYPE_CHECKING:
    from swarm_operator.swarm.client import SwarmClient

# Options the overlay driver adds by itself; never part of a manifest.
ENGINE_NETWORK_OPTIONS = frozenset({"com.docker.network.driver.overlay.vxlanid_list"})


@dataclass(frozen=True)
class NodeStatus:
    hostname: str
    role: str
    availability: str
    state: str  # ready, down, unknown, disconnected
    reachability: str | None  # managers only: reachable, unreachable
    leader: bool


@dataclass(frozen=True)
class LiveObject:
    kind: str
    name: str
    id: str
    version: int
    labels: Mapping[str, str]
    spec: Mapping[str, Any]
    """The raw Docker spec (service/node Spec, or the network inspect body)."""
    manifest: Manifest | None
    read_error: str | None = None
    used_by: tuple[str, ...] = ()
    """Networks: names of the services attached to it."""
    node: NodeStatus | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    @property
    def managed(self) -> bool:
        return self.labels.get(LABEL_MANAGED_BY) == MANAGER

    @property
    def protected(self) -> bool:
        return str(self.labels.get(LABEL_PROTECT, "")).lower() == "true"

    @property
    def spec_hash(self) -> str | None:
        return self.labels.get(LABEL_SPEC_HASH)


@dataclass(frozen=True)
class LiveState:
    services: Mapping[str, LiveObject] = field(default_factory=dict)
    networks: Mapping[str, LiveObject] = field(default_factory=dict)
    nodes: Mapping[str, LiveObject] = field(default_factory=dict)
    network_ids: Mapping[str, str] = field(default_factory=dict)
    """Network ID -> name, for every network the manager knows."""

    def get(self, key: tuple[str, str]) -> LiveObject | None:
        kind, name = key
        table = {"Service": self.services, "Network": self.networks, "Node": self.nodes}.get(kind)
        return None if table is None else table.get(name)

    def objects(self) -> list[LiveObject]:
        return [*self.networks.values(), *self.services.values(), *self.nodes.values()]


def _user_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (labels or {}).items() if not k.startswith(LABEL_PREFIX)}


def _dur(value: Any) -> str | None:
    return None if value is None else units.format_duration(int(value))


def _some(value: Any) -> Any:
    return value if value not in (None, "", [], {}) else None


def _config(block: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not block:
        return None
    return {
        "parallelism": block.get("Parallelism", 0),
        "delay": _dur(block.get("Delay", 0)),
        "failure_action": block.get("FailureAction") or None,
        "monitor": _dur(block.get("Monitor", 0)),
        "max_failure_ratio": block.get("MaxFailureRatio", 0.0),
        "order": block.get("Order") or None,
    }


def _image(container: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """The image as requested: the label's, if the live image is that reference (pinned)."""
    live = str(container.get("Image", ""))
    requested = labels.get(LABEL_IMAGE)
    if requested and (live == requested or live.startswith(requested + "@")):
        return requested
    return live


def service_from_docker(
    spec: Mapping[str, Any], network_ids: Mapping[str, str] | None = None
) -> Service:
    """A Docker ``ServiceSpec`` as a `Service` manifest. Raises ValidationError/ValueError."""
    ids = network_ids or {}
    labels: dict[str, str] = dict(spec.get("Labels") or {})
    task = spec.get("TaskTemplate") or {}
    c = task.get("ContainerSpec") or {}
    mode_block = spec.get("Mode") or {"Replicated": {"Replicas": 1}}
    replicas: int | None = None
    if "Replicated" in mode_block:
        mode = "replicated"
        replicas = int((mode_block["Replicated"] or {}).get("Replicas", 0))
    elif "Global" in mode_block:
        mode = "global"
    elif "ReplicatedJob" in mode_block:
        mode = "replicated-job"
        replicas = int((mode_block["ReplicatedJob"] or {}).get("TotalCompletions", 1))
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
            "interval": _dur(health.get("Interval")),
            "timeout": _dur(health.get("Timeout")),
            "retries": health.get("Retries"),
            "start_period": _dur(health.get("StartPeriod")),
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
        }
    res = task.get("Resources") or {}
    resources = None
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
    restart = task.get("RestartPolicy")
    restart_policy = None
    if restart:
        restart_policy = {
            "condition": restart.get("Condition") or None,
            "delay": _dur(restart.get("Delay")),
            "max_attempts": restart.get("MaxAttempts"),
            "window": _dur(restart.get("Window")),
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
        {"name": ids.get(n["Target"], n["Target"]), "aliases": list(n.get("Aliases") or [])}
        for n in task.get("Networks") or spec.get("Networks") or []
    ]
    mounts = [
        {
            "type": m.get("Type", "volume"),
            "source": m.get("Source") or None,
            "target": m["Target"],
            "read_only": bool(m.get("ReadOnly")),
        }
        for m in c.get("Mounts") or []
    ]
    body: dict[str, Any] = {
        "image": _image(c, labels),
        "command": _some(c.get("Command")),
        "args": _some(c.get("Args")),
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
        "labels": _user_labels(labels),
        "container_labels": dict(c.get("Labels") or {}),
        "mounts": mounts,
        "user": _some(c.get("User")),
        "workdir": _some(c.get("Dir")),
        "hostname": _some(c.get("Hostname")),
        "stop_grace_period": _dur(c.get("StopGracePeriod")),
        "stop_signal": _some(c.get("StopSignal")),
        "init": c.get("Init"),
        "dns": list(dns.get("Nameservers") or []),
        "dns_search": list(dns.get("Search") or []),
        "dns_options": list(dns.get("Options") or []),
        "hosts": hosts,
    }
    return Service.model_validate({"metadata": {"name": spec.get("Name", "")}, "spec": body})


def network_from_docker(inspect: Mapping[str, Any]) -> Network:
    """A network inspect body as a `Network` manifest."""
    options = dict(inspect.get("Options") or {})
    encrypted = OPTION_ENCRYPTED in options
    options.pop(OPTION_ENCRYPTED, None)
    mtu = options.pop(OPTION_MTU, None)
    for key in ENGINE_NETWORK_OPTIONS:
        options.pop(key, None)
    pools = ((inspect.get("IPAM") or {}).get("Config")) or []
    pool = pools[0] if pools else {}
    body = {
        "driver": inspect.get("Driver") or "overlay",
        "subnet": pool.get("Subnet") or None,
        "gateway": pool.get("Gateway") or None,
        "ip_range": pool.get("IPRange") or None,
        "attachable": bool(inspect.get("Attachable")),
        "internal": bool(inspect.get("Internal")),
        "encrypted": encrypted,
        "mtu": int(mtu) if mtu else None,
        "ipv6": bool(inspect.get("EnableIPv6")),
        "options": options,
        "labels": _user_labels(inspect.get("Labels")),
    }
    return Network.model_validate({"metadata": {"name": inspect.get("Name", "")}, "spec": body})


def node_from_docker(node: Mapping[str, Any]) -> tuple[Node, NodeStatus]:
    """A node inspect body as a `Node` manifest (role, availability, all labels) + status."""
    spec = node.get("Spec") or {}
    desc = node.get("Description") or {}
    status = node.get("Status") or {}
    manager = node.get("ManagerStatus") or {}
    hostname = str(desc.get("Hostname", ""))
    model = Node.model_validate(
        {
            "metadata": {"name": hostname},
            "spec": {
                "role": spec.get("Role"),
                "availability": spec.get("Availability"),
                "labels": dict(spec.get("Labels") or {}),
            },
        }
    )
    return model, NodeStatus(
        hostname=hostname,
        role=str(spec.get("Role", "")),
        availability=str(spec.get("Availability", "")),
        state=str(status.get("State", "unknown")),
        reachability=manager.get("Reachability"),
        leader=bool(manager.get("Leader")),
    )


def _convert(kind: str, name: str, fn: Any, *args: Any) -> tuple[Manifest | None, str | None]:
    try:
        return fn(*args), None
    except (ValidationError, ValueError, KeyError, TypeError) as exc:
        return None, f"live {kind} {name!r} cannot be expressed as a manifest: {exc}"


def live_service(raw: Mapping[str, Any], network_ids: Mapping[str, str]) -> LiveObject:
    spec = raw.get("Spec") or {}
    name = str(spec.get("Name", ""))
    manifest, error = _convert("Service", name, service_from_docker, spec, network_ids)
    return LiveObject(
        kind="Service",
        name=name,
        id=str(raw.get("ID", "")),
        version=int((raw.get("Version") or {}).get("Index", 0)),
        labels=dict(spec.get("Labels") or {}),
        spec=spec,
        manifest=manifest,
        read_error=error,
    )


def live_network(raw: Mapping[str, Any], used_by: tuple[str, ...] = ()) -> LiveObject:
    name = str(raw.get("Name", ""))
    manifest, error = _convert("Network", name, network_from_docker, raw)
    return LiveObject(
        kind="Network",
        name=name,
        id=str(raw.get("Id", "")),
        version=0,
        labels=dict(raw.get("Labels") or {}),
        spec=raw,
        manifest=manifest,
        read_error=error,
        used_by=used_by,
    )


def live_node(raw: Mapping[str, Any]) -> LiveObject:
    model, status = node_from_docker(raw)
    spec = raw.get("Spec") or {}
    return LiveObject(
        kind="Node",
        name=status.hostname,
        id=str(raw.get("ID", "")),
        version=int((raw.get("Version") or {}).get("Index", 0)),
        labels=dict(spec.get("Labels") or {}),
        spec=spec,
        manifest=model,
        node=status,
    )


def is_swarm_network(raw: Mapping[str, Any]) -> bool:
    """User networks of the Swarm: swarm scope, not the routing mesh (``ingress``)."""
    return raw.get("Scope") == "swarm" and not raw.get("Ingress")


def _is_probe(raw: Mapping[str, Any]) -> bool:
    return probe.is_probe((raw.get("Spec") or {}).get("Labels"))


def build_state(
    services: Sequence[Mapping[str, Any]],
    networks: Sequence[Mapping[str, Any]],
    nodes: Sequence[Mapping[str, Any]],
) -> LiveState:
    """Assemble a LiveState from raw lists (as returned by the Engine API). Pure."""
    ids = {str(n.get("Id")): str(n.get("Name")) for n in networks}
    # Probe services (doctor's, the daemon's) are the operator's own plumbing: never user
    # drift, never pruned; probe_runner.py creates and removes them.
    live_services = {
        s.name: s for s in (live_service(raw, ids) for raw in services if not _is_probe(raw))
    }
    # A probe does not hold its network either: the daemon removes its probe before it
    # deletes or replaces the network (probe_loop.OverlayProbes.remove_now), and doctor's
    # are gone within its run; a replace must not detach and reattach a probe.
    users: dict[str, list[str]] = {}
    for raw in services:
        if _is_probe(raw):
            continue
        spec = raw.get("Spec") or {}
        attached = (spec.get("TaskTemplate") or {}).get("Networks") or spec.get("Networks") or []
        for att in attached:
            target = str(att.get("Target", ""))
            users.setdefault(ids.get(target, target), []).append(str(spec.get("Name", "")))
    live_networks = {
        str(raw.get("Name")): live_network(raw, tuple(sorted(users.get(str(raw.get("Name")), []))))
        for raw in networks
        if is_swarm_network(raw) and not probe.is_probe(raw.get("Labels"))
    }
    by_host: dict[str, LiveObject] = {}
    for raw in nodes:
        node = live_node(raw)
        current = by_host.get(node.name)
        # Two nodes with one hostname (a node that left and came back): prefer the ready one.
        if current is None or (current.node and current.node.state != "ready"):
            by_host[node.name] = node
    return LiveState(services=live_services, networks=live_networks, nodes=by_host, network_ids=ids)


def read_live(client: SwarmClient, keys: Collection[tuple[str, str]] | None = None) -> LiveState:
    """Read the live Swarm (all of it, or what ``keys`` need) into a `LiveState`.

    Networks and nodes are always listed whole (service specs name networks by ID, and
    the last-manager guard needs every node). Services are inspected one by one when
    only service keys are asked for; otherwise listed whole (a network's users).
    """
    networks = client.networks()
    nodes = client.nodes()
    wanted = list(keys) if keys is not None else None
    if wanted is not None and wanted and all(kind == "Service" for kind, _ in wanted):
        services: list[dict[str, Any]] = []
        for _, name in wanted:
            found = client.services(filters={"name": name})
            services.extend(s for s in found if (s.get("Spec") or {}).get("Name") == name)
    elif wanted is not None and not any(kind in ("Service", "Network") for kind, _ in wanted):
        services = []
    else:
        services = client.services()
    return build_state(services, networks, nodes)
