"""Cross-host probing, the Docker half: run probe services and read their results.

Owns the probe services' life (create, find, remove) and reading their measurements back
through the manager (service logs and the task list). Used twice:

- by the daemon, continuously: one `ProbeRunner` per managed overlay network, driven by
  `probing.loop.OverlayProbes` on the daemon's probe thread: ``runner.ensure()`` after each
  reconcile of the network (lease holder), ``runner.attach()`` on a standby,
  ``runner.poll()`` every probe interval gives the latest `matrix.Matrix` and the fresh
  RTTs, which the daemon exports as metrics;
- by ``swarm-operator doctor`` (`probing.doctor`), once: short-lived probes with a run id,
  removed at the end.

All Docker calls go through `ProbeClient`, a Protocol that `swarm.client.SwarmClient`
satisfies (only that module imports ``docker``). The meaning of specs and log lines is
`probing.probe` and `probing.matrix`'s; this module only moves data.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from swarm_operator.probing import matrix, probe
from swarm_operator.probing.diagnose import OverlayInfo
from swarm_operator.probing.matrix import IfaceRecord, Matrix, Pair, PortRecord, Record, Round
from swarm_operator.probing.probe import NodeInfo, ProbeSettings
from swarm_operator.swarm.errors import NotFound

JSON = dict[str, Any]


class ProbeClient(Protocol):
    """The Docker calls probes need; `swarm.client.SwarmClient` implements them."""

    def nodes(self, filters: Mapping[str, Any] | None = None) -> list[JSON]: ...

    def networks(self, filters: Mapping[str, Any] | None = None) -> list[JSON]: ...

    def inspect_network(self, network: str) -> JSON: ...

    def services(self, filters: Mapping[str, Any] | None = None) -> list[JSON]: ...

    def create_service(self, spec: JSON) -> str: ...

    def remove_service(self, service_id: str) -> None: ...

    def tasks(self, filters: Mapping[str, Any] | None = None) -> list[JSON]: ...

    def service_logs(
        self, service_id: str, *, since: float = 0, tail: int | None = None
    ) -> list[str]: ...


# --------------------------------------------------------------------------- networks


def overlay_networks(client: ProbeClient) -> list[JSON]:
    """Swarm-scope overlay networks (the routing mesh ``ingress`` included), inspected."""
    out: list[JSON] = []
    for raw in client.networks(filters={"driver": "overlay"}):
        if raw.get("Scope") != "swarm":
            continue
        try:
            out.append(client.inspect_network(str(raw["Id"])))
        except NotFound:
            continue
    return sorted(out, key=lambda n: str(n.get("Name")))


def host_network_id(client: ProbeClient) -> str:
    """ID of the manager's ``host`` network: what a service names to run in host mode."""
    for raw in client.networks(filters={"name": "host"}):
        if raw.get("Name") == "host":
            return str(raw["Id"])
    raise NotFound("the engine has no 'host' network")


def _subnets(raw: JSON) -> tuple[str, ...]:
    configs = (raw.get("IPAM") or {}).get("Config") or []
    return tuple(str(c["Subnet"]) for c in configs if c.get("Subnet"))


def address_use(raw: JSON, services: Iterable[JSON], tasks: Iterable[JSON]) -> dict[str, int]:
    """Addresses taken in each subnet of network ``raw``: task addresses, service virtual
    IPs and one load-balancer address per node with tasks on it. Probe services count
    (they hold addresses while they run)."""
    net_id = str(raw.get("Id"))
    nets = {s: ipaddress.ip_network(s, strict=False) for s in _subnets(raw)}
    used: dict[str, set[str]] = {s: set() for s in nets}
    lb_nodes: set[str] = set()

    def take(addr: str) -> None:
        try:
            ip = ipaddress.ip_interface(addr).ip
        except ValueError:
            return
        for cidr, net in nets.items():
            if ip in net:
                used[cidr].add(str(ip))

    for svc in services:
        for vip in (svc.get("Endpoint") or {}).get("VirtualIPs") or []:
            if vip.get("NetworkID") == net_id and vip.get("Addr"):
                take(str(vip["Addr"]))
    for task in tasks:
        if task.get("DesiredState") not in ("running", "ready", "accepted", "pending"):
            continue
        for att in task.get("NetworksAttachments") or []:
            if (att.get("Network") or {}).get("ID") != net_id:
                continue
            for addr in att.get("Addresses") or []:
                take(str(addr))
            if task.get("NodeID"):
                lb_nodes.add(str(task["NodeID"]))
    out = {cidr: len(ips) for cidr, ips in used.items()}
    if out and raw.get("Name") != "ingress":
        first = next(iter(out))
        out[first] += len(lb_nodes)
    return out


def overlay_info(raw: JSON, used: Mapping[str, int] | None = None) -> OverlayInfo:
    options = {str(k): str(v) for k, v in (raw.get("Options") or {}).items()}
    return OverlayInfo(
        name=str(raw.get("Name")),
        id=str(raw.get("Id")),
        subnets=_subnets(raw),
        options=options,
        encrypted="encrypted" in options,
        addresses_used=dict(used or {}),
    )


# --------------------------------------------------------------------------- services


@dataclass
class ProbeService:
    """One global probe service: created from ``spec``, read back from its logs.

    Keeps the records of the last ``window_s`` seconds, so each `read` asks the manager
    only for lines since the previous read (with an overlap), and works out each node's
    latest complete round from what it has.
    """

    client: ProbeClient
    spec: JSON
    window_s: float = 60.0
    service_id: str | None = None
    created_at: float = 0.0
    _cursor: float = 0.0
    _records: set[Record] = field(default_factory=set)

    @property
    def name(self) -> str:
        return str(self.spec["Name"])

    def find(self) -> JSON | None:
        for svc in self.client.services(filters={"name": self.name}):
            if (svc.get("Spec") or {}).get("Name") == self.name:
                return svc
        return None

    def ensure(self) -> str:
        """Create the service unless one of that name exists; recreate it when its image
        or script changed. Returns its ID."""
        live = self.find()
        if live is not None:
            spec = live.get("Spec") or {}
            want = self.spec["TaskTemplate"]["ContainerSpec"]
            have = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
            same = (
                str(have.get("Image", "")).split("@")[0] == want["Image"]
                and have.get("Command") == want["Command"]
                and sorted(have.get("Env") or []) == sorted(want["Env"])
            )
            if same:
                self.service_id = str(live["ID"])
                if not self.created_at:
                    self.created_at = _created(live)
                return self.service_id
            self.client.remove_service(str(live["ID"]))
        self.created_at = time.time()
        self.service_id = self.client.create_service(self.spec)
        self._records.clear()
        self._cursor = 0.0
        return self.service_id

    def remove(self) -> None:
        if self.service_id is None:
            live = self.find()
            if live is None:
                return
            self.service_id = str(live["ID"])
        with contextlib.suppress(NotFound):
            self.client.remove_service(self.service_id)
        self.service_id = None

    def tasks(self) -> list[JSON]:
        if self.service_id is None:
            return []
        return self.client.tasks(filters={"service": self.service_id})

    def read(self, now: float | None = None) -> dict[str, Round]:
        """Fetch new log lines and return each node's latest complete round."""
        if self.service_id is None:
            return {}
        now = time.time() if now is None else now
        since = max(self._cursor - 5.0, self.created_at - 1.0, now - self.window_s, 0.0)
        lines = self.client.service_logs(self.service_id, since=since)
        self._cursor = now
        self._records.update(matrix.parse_logs(lines))
        oldest = now - self.window_s
        self._records = {r for r in self._records if r.t >= oldest}
        return matrix.latest_rounds(self._records)


def _created(svc: JSON) -> float:
    stamp = str(svc.get("CreatedAt") or "")
    try:
        from datetime import datetime

        return datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()
    except ValueError:
        return 0.0


def running_nodes(tasks: Iterable[JSON], nodes: Iterable[NodeInfo]) -> dict[str, str]:
    """Hostname -> state of each node's newest task (``running``, ``preparing``, ...)."""
    host_by_id = {n.id: n.hostname for n in nodes}
    newest: dict[str, JSON] = {}
    for task in tasks:
        host = host_by_id.get(str(task.get("NodeID", "")))
        if host is None:
            continue
        cur = newest.get(host)
        if cur is None or str(task.get("UpdatedAt", "")) > str(cur.get("UpdatedAt", "")):
            newest[host] = task
    return {h: str((t.get("Status") or {}).get("State", "")) for h, t in newest.items()}


def _newest_messages(tasks: list[JSON], host_by_id: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for task in sorted(tasks, key=lambda t: str(t.get("UpdatedAt", ""))):
        host = host_by_id.get(str(task.get("NodeID", "")))
        if host:
            out[host] = str((task.get("Status") or {}).get("Message") or "")
    return out


def task_errors(tasks: Iterable[JSON], nodes: Iterable[NodeInfo]) -> dict[str, str]:
    """Hostname -> why its probe task is not running: the newest task's error, else its
    state (``preparing``, ``starting``, ...), for nodes whose newest task is not running."""
    node_list = list(nodes)
    task_list = list(tasks)
    host_by_id = {n.id: n.hostname for n in node_list}
    states = running_nodes(task_list, node_list)
    messages = _newest_messages(task_list, host_by_id)
    out: dict[str, str] = {}
    for node, state in states.items():
        if state == "running":
            continue
        message = messages.get(node, "")
        out[node] = f"its task is still {state or 'unknown'}" + (
            f" ({message})" if message and message != state else ""
        )
    for task in sorted(task_list, key=lambda t: str(t.get("UpdatedAt", ""))):
        where = host_by_id.get(str(task.get("NodeID", "")))
        status = task.get("Status") or {}
        if where and status.get("Err") and states.get(where) != "running":
            out[where] = f"{status.get('State')}: {status['Err']}"
    return out


# --------------------------------------------------------------------------- runners


@dataclass
class ProbeRunner:
    """Continuous reachability probing of one overlay network.

    The daemon keeps one per managed overlay network (``spec.probe.enabled``)::

        runner = ProbeRunner(client, "paper-net", ProbeSettings(image=..., interval_s=5))
        runner.ensure()             # on each reconcile: creates the probe service if missing
        matrix = runner.read()      # each interval: latest round of every node
        for (src, dst), pair in matrix.pairs.items(): ...   # pair.ok, pair.rtt_ms
        runner.remove()             # when the network is no longer managed or probing is off

    ``read`` costs three API calls (nodes, tasks of the probe, its logs since the last read).
    """

    client: ProbeClient
    network: str
    settings: ProbeSettings = field(default_factory=ProbeSettings)
    network_id: str = ""
    service: ProbeService | None = None
    _seen_rounds: dict[str, tuple[str, int]] = field(default_factory=dict)

    def _service(self) -> ProbeService:
        if self.service is None:
            if not self.network_id:
                self.network_id = self._resolve_network()
            spec = probe.overlay_probe_spec(self.network, self.settings, self.network_id)
            self.service = ProbeService(
                self.client, spec, window_s=max(60.0, 6 * self.settings.interval_s)
            )
        return self.service

    def _resolve_network(self) -> str:
        for raw in self.client.networks(filters={"name": self.network}):
            if raw.get("Name") == self.network and raw.get("Scope") == "swarm":
                return str(raw["Id"])
        raise NotFound(f"no swarm-scope network named {self.network!r}")

    @property
    def service_name(self) -> str:
        return probe.overlay_probe_name(self.network, self.settings.run_id)

    def ensure(self) -> str:
        return self._service().ensure()

    def attach(self) -> bool:
        """Find the probe service another instance created, without creating one (what a
        standby does before `poll`); False when there is none."""
        svc = self._service()
        if svc.service_id is None:
            live = svc.find()
            if live is None:
                return False
            svc.service_id = str(live["ID"])
            svc.created_at = svc.created_at or _created(live)
        return True

    def remove(self) -> None:
        if self.service is None:
            self.service = ProbeService(
                self.client,
                {"Name": self.service_name},
            )
        self.service.remove()

    def poll(self, now: float | None = None) -> tuple[Matrix, list[Pair]]:
        """`read`, plus the pairs measured in rounds not seen by the previous `poll` (feed
        their ``rtt_ms`` to the RTT histogram once)."""
        matrix = self.read(now)
        fresh: list[Pair] = []
        for src, seen in matrix.rounds.items():
            if self._seen_rounds.get(src) == seen:
                continue
            self._seen_rounds[src] = seen
            fresh.extend(p for p in matrix.pairs.values() if p.src == src and p.ok)
        return matrix, fresh

    def read(self, now: float | None = None, nodes: list[NodeInfo] | None = None) -> Matrix:
        """The latest matrix: rows and columns are the nodes a global task should run on;
        pairs whose source's last round is older than three intervals (+10 s) are stale."""
        svc = self._service()
        if svc.service_id is None:
            svc.ensure()
        now = time.time() if now is None else now
        nodes = nodes if nodes is not None else probe.nodes_from_api(self.client.nodes())
        rounds = svc.read(now)
        addresses = matrix.task_addresses(svc.tasks(), nodes, self.network_id)
        return matrix.build_matrix(
            self.network,
            [n.hostname for n in nodes if n.eligible],
            addresses,
            rounds,
            now=now,
            max_age_s=3 * self.settings.interval_s + 10,
        )


@dataclass
class HostProbe:
    """The host-network probe: Swarm ports between nodes, interfaces and MTUs of hosts."""

    client: ProbeClient
    nodes: list[NodeInfo]
    settings: ProbeSettings = field(default_factory=ProbeSettings)
    service: ProbeService | None = None

    def ensure(self) -> str:
        if self.service is None:
            spec = probe.host_probe_spec(self.nodes, self.settings, host_network_id(self.client))
            self.service = ProbeService(self.client, spec)
        return self.service.ensure()

    def remove(self) -> None:
        if self.service is not None:
            self.service.remove()

    def read(
        self, now: float | None = None
    ) -> tuple[dict[str, Round], list[PortRecord], dict[str, tuple[IfaceRecord, ...]]]:
        if self.service is None:
            return {}, [], {}
        rounds = self.service.read(now)
        return rounds, matrix.port_results(rounds), matrix.host_interfaces(rounds)


Progress = Callable[[str], None]
