"""Cross-host probing, the pure half: probe service specs, probe scripts, log parsing, matrix.

Owns what a probe *is* and what its output *means*, without talking to Docker:

- `overlay_probe_spec` / `host_probe_spec`: Engine API ``ServiceSpec`` dicts for the two
  short-lived or continuous global services. The overlay probe runs one task per node on
  an overlay network; each task resolves ``tasks.<service>`` (Swarm's DNS name for all
  task addresses), and for every peer address pings it and fetches a page from the
  peer's own little HTTP listener, printing one JSON line per peer and one per round.
  The host probe runs in the host's network namespace (network ``host``) and reports the
  node's interfaces (address, MTU) and whether the Swarm's TCP ports (2377 on managers,
  7946 everywhere) answer on every other node's underlay address.
- `parse_line` / `parse_logs`: those JSON lines, read back from the manager's service logs
  (``docker service logs``), into typed records.
- `build_matrix`: the latest complete round of every node into a node x node matrix, with
  peer addresses mapped to nodes through the manager's task list (`task_addresses`).

Docker calls live in `probe_runner.py` (through `docker_api.SwarmClient`); findings in
`diagnose.py`.

What a probe image needs (the default is the lab's busybox image; any image works that
has these): ``sh``, ``awk``, ``sed``, ``sort``, ``date``, ``sleep``, ``cat``, ``mkdir``,
``nslookup`` (to resolve ``tasks.<service>``), ``ping`` (round-trip time), ``httpd`` (a TCP
listener on the overlay), ``nc``, ``grep`` and ``timeout`` (TCP tests: the peers' listener and
the Swarm ports) and ``ip`` (interface addresses). ``wget`` is not used: Debian's static
busybox 1.35 segfaults in ``wget -T`` (its time-out option), and a probe needs a time-out.
The node name comes from the service's env template ``{{.Node.Hostname}}``, so the image
needs nothing for that.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from swarm_operator.models import ProbeSpec

JSON = dict[str, Any]

# --------------------------------------------------------------------------- settings

PROBE_IMAGE_ENV = "SWARM_OPERATOR_PROBE_IMAGE"
DEFAULT_PROBE_IMAGE = "busybox:1.36"
"""The official busybox image, which has every tool the probe scripts use. Override with
`--probe-image` or $SWARM_OPERATOR_PROBE_IMAGE (a mirror in a private registry; the lab's
`swarm-operator lab env` exports its own)."""

PROBE_PORT = 7979
"""TCP port of the listener inside each overlay probe task (on the overlay only)."""

# Labels on every object a probe creates. The managed-by label marks it as the operator's,
# the role label tells the planner it is not a user object (never drift, never pruned by
# `apply --prune`; the probe code removes it).
LABEL_MANAGED_BY = "io.swarm-operator.managed-by"
MANAGED_BY = "swarm-operator"
LABEL_ROLE = "io.swarm-operator.role"
ROLE_PROBE = "probe"
LABEL_PROBE_KIND = "io.swarm-operator.probe"  # "overlay" | "host"
LABEL_NETWORK = "io.swarm-operator.network"
LABEL_OWNER = "io.swarm-operator.probe-owner"  # "doctor" | "daemon"
LABEL_RUN = "io.swarm-operator.probe-run"  # a doctor run's id: what to clean up

SWARM_PORTS_TCP_MANAGER = (2377, 7946)
SWARM_PORTS_TCP_WORKER = (7946,)
UDP_PORTS = ("4789/udp", "7946/udp")
"""Cannot be tested by a connect; the diagnosis infers them from the overlay data path."""


def probe_image(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The probe image: the explicit setting, else $SWARM_OPERATOR_PROBE_IMAGE, else default."""
    if explicit:
        return explicit
    value = (os.environ if env is None else env).get(PROBE_IMAGE_ENV, "")
    return value or DEFAULT_PROBE_IMAGE


@dataclass(frozen=True)
class ProbeSettings:
    """How a probe service runs."""

    image: str = DEFAULT_PROBE_IMAGE
    """Image with the tools listed in this module's docstring."""
    interval_s: float = 5.0
    """Seconds between two rounds of one probe task."""
    owner: Literal["doctor", "daemon"] = "daemon"
    """Who created it: the doctor removes its own at exit, the daemon keeps its own."""
    run_id: str = ""
    """The doctor run that created it (empty for the daemon's)."""


# --------------------------------------------------------------------------- names

_NAME_MAX = 63


def _short(name: str, prefix: str) -> str:
    full = prefix + name
    if len(full) <= _NAME_MAX:
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return full[: _NAME_MAX - 9] + "-" + digest


def overlay_probe_name(network: str, run_id: str = "") -> str:
    """Service name of the overlay probe for ``network`` (per doctor run, or the daemon's)."""
    return _short(network, f"so-doctor-{run_id}-" if run_id else "so-probe-")


def host_probe_name(run_id: str = "") -> str:
    return f"so-doctor-{run_id}-host" if run_id else "so-probe-host"


# --------------------------------------------------------------------------- scripts

OVERLAY_SCRIPT = r"""
N="${SO_NODE:-$(hostname)}"
I=$(date +%s)-$RANDOM
tl() { printf '"inc":"%s","round":%s,"t":%s}' "$I" "$r" "$(date +%s)"; }
mkdir -p /tmp/so-www && echo so-probe-ok > /tmp/so-www/index.html
httpd -p "$SO_PORT" -h /tmp/so-www
r=0
while :; do
  r=$((r+1))
  ips=$(nslookup "tasks.$SO_SERVICE" 2>/dev/null | awk '/^Name:/{n=1;next}
    n && /^Address/ {for(i=2;i<=NF;i++) if ($i ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) print $i}' \
    | sort -u)
  for d in /sys/class/net/*; do
    i=${d##*/}; [ "$i" = lo ] && continue
    a=$(ip -4 addr show dev "$i" 2>/dev/null | awk '/inet /{printf "%s\"%s\"", s, $2; s=","}')
    [ -n "$a" ] || continue
    printf '{"so":"iface","src":"%s","if":"%s","mtu":%s,"addrs":[%s],%s\n' \
      "$N" "$i" "$(cat "$d/mtu")" "$a" "$(tl)"
  done
  n=0
  for ip in $ips; do
    n=$((n+1))
    (
      rtt=$(ping -c1 -W1 "$ip" 2>/dev/null | sed -n 's/.*time=\([0-9.]*\) *ms.*/\1/p')
      icmp=1; [ -n "$rtt" ] || { icmp=0; rtt=null; }
      tcp=0
      printf 'GET / HTTP/1.0\r\n\r\n' | timeout 4 nc -w 2 "$ip" "$SO_PORT" 2>/dev/null \
        | grep -q so-probe-ok && tcp=1
      printf '{"so":"peer","src":"%s","dst_ip":"%s","ok":%s,"icmp":%s,"tcp":%s,"rtt_ms":%s,%s\n' \
        "$N" "$ip" "$((icmp|tcp))" "$icmp" "$tcp" "$rtt" "$(tl)"
    ) &
  done
  wait
  printf '{"so":"round","src":"%s","peers":%s,%s\n' "$N" "$n" "$(tl)"
  sleep "$SO_INTERVAL"
done
"""
"""Overlay probe (busybox sh). Env: SO_NODE, SO_SERVICE, SO_PORT, SO_INTERVAL.

Every line is one ``printf`` (one write), so the parallel peer checks never interleave.
"""

HOST_SCRIPT = r"""
N="${SO_NODE:-$(hostname)}"
I=$(date +%s)-$RANDOM
tl() { printf '"inc":"%s","round":%s,"t":%s}' "$I" "$r" "$(date +%s)"; }
r=0
while :; do
  r=$((r+1))
  for d in /sys/class/net/*; do
    i=${d##*/}
    case "$i" in lo|veth*) continue;; esac
    a=$(ip -4 addr show dev "$i" 2>/dev/null | awk '/inet /{printf "%s\"%s\"", s, $2; s=","}')
    [ -n "$a" ] || continue
    printf '{"so":"iface","src":"%s","if":"%s","mtu":%s,"addrs":[%s],%s\n' \
      "$N" "$i" "$(cat "$d/mtu")" "$a" "$(tl)"
  done
  n=0
  for tgt in $SO_TARGETS; do
    name=${tgt%%,*}; rest=${tgt#*,}; ip=${rest%%,*}; role=${rest#*,}
    [ "$name" = "$N" ] && continue
    ports=7946; [ "$role" = manager ] && ports="2377 7946"
    for p in $ports; do
      n=$((n+1))
      (
        timeout 4 nc -w 2 "$ip" "$p" </dev/null >/dev/null 2>&1; rc=$?
        ok=1; [ "$rc" = 1 ] && ok=0
        printf '{"so":"port","src":"%s","dst":"%s","dst_ip":"%s","port":"%s/tcp","ok":%s,%s\n' \
          "$N" "$name" "$ip" "$p" "$ok" "$(tl)"
      ) &
    done
  done
  wait
  printf '{"so":"round","src":"%s","peers":%s,%s\n' "$N" "$n" "$(tl)"
  sleep "$SO_INTERVAL"
done
"""
"""Host probe (busybox sh, host network). Env: SO_NODE, SO_TARGETS, SO_INTERVAL.

SO_TARGETS is ``name,address,role`` per node, space separated. A connect that fails
(``nc`` exits 1: refused, unreachable or timed out) is a closed port; a connect that
succeeds and then waits for the other side (``timeout`` kills it) is an open one.
"""


# --------------------------------------------------------------------------- specs


def probe_labels(
    kind: Literal["overlay", "host"], settings: ProbeSettings, network: str = ""
) -> dict[str, str]:
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_ROLE: ROLE_PROBE,
        LABEL_PROBE_KIND: kind,
        LABEL_OWNER: settings.owner,
    }
    if network:
        labels[LABEL_NETWORK] = network
    if settings.run_id:
        labels[LABEL_RUN] = settings.run_id
    return labels


def is_probe(labels: Mapping[str, str] | None) -> bool:
    """True for a service or network a probe created: never user drift, never pruned."""
    return bool(labels) and (labels or {}).get(LABEL_ROLE) == ROLE_PROBE


def _interval(settings: ProbeSettings) -> str:
    return f"{max(settings.interval_s, 0.5):g}"


def _service_spec(
    name: str,
    labels: dict[str, str],
    image: str,
    script: str,
    env: list[str],
    networks: list[JSON],
) -> JSON:
    return {
        "Name": name,
        "Labels": labels,
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": image,
                "Command": ["sh", "-c", script],
                "Env": env,
                "Labels": labels,
                "StopGracePeriod": 1_000_000_000,
                "StopSignal": "SIGKILL",
            },
            "Networks": networks,
            "RestartPolicy": {"Condition": "any", "Delay": 1_000_000_000},
            # json-file: service logs work whatever the node's default driver; bounded so a
            # probe that runs for months keeps a few MB per node
            "LogDriver": {"Name": "json-file", "Options": {"max-size": "1m", "max-file": "2"}},
            "Resources": {"Limits": {"MemoryBytes": 32 * 1024 * 1024}, "Reservations": {}},
            "Placement": {},  # always written, as the docker CLI does (render.py)
        },
        "Mode": {"Global": {}},
        "EndpointSpec": {"Mode": "dnsrr"},
    }


def overlay_probe_spec(network: str, settings: ProbeSettings, network_id: str = "") -> JSON:
    """ServiceSpec of the global overlay probe on ``network`` (endpoint mode dnsrr)."""
    name = overlay_probe_name(network, settings.run_id)
    env = [
        "SO_NODE={{.Node.Hostname}}",
        f"SO_SERVICE={name}",
        f"SO_PORT={PROBE_PORT}",
        f"SO_INTERVAL={_interval(settings)}",
    ]
    target = network_id or network
    return _service_spec(
        name,
        probe_labels("overlay", settings, network),
        settings.image,
        OVERLAY_SCRIPT,
        env,
        [{"Target": target}],
    )


@dataclass(frozen=True)
class NodeInfo:
    """A Swarm node as the probes and the diagnosis need it."""

    id: str
    hostname: str
    addr: str
    """The node's underlay address (Status.Addr; a manager's advertise address)."""
    role: Literal["manager", "worker"] = "worker"
    state: str = "ready"
    availability: str = "active"
    reachability: str | None = None
    """Managers only: "reachable" or "unreachable"."""
    leader: bool = False

    @property
    def eligible(self) -> bool:
        """Whether a global service places a task here."""
        return self.state == "ready" and self.availability == "active"


def nodes_from_api(raw: Iterable[JSON]) -> list[NodeInfo]:
    """`docker_api.SwarmClient.nodes()` into `NodeInfo`, sorted by hostname."""
    out: list[NodeInfo] = []
    for node in raw:
        spec = node.get("Spec") or {}
        status = node.get("Status") or {}
        manager = node.get("ManagerStatus") or {}
        addr = str(status.get("Addr") or "")
        if manager.get("Addr") and addr in ("", "0.0.0.0"):
            addr = str(manager["Addr"]).rsplit(":", 1)[0]
        out.append(
            NodeInfo(
                id=str(node.get("ID", "")),
                hostname=str((node.get("Description") or {}).get("Hostname") or node.get("ID")),
                addr=addr,
                role="manager" if spec.get("Role") == "manager" else "worker",
                state=str(status.get("State") or "unknown"),
                availability=str(spec.get("Availability") or "active"),
                reachability=(str(manager["Reachability"]) if manager else None),
                leader=bool(manager.get("Leader")),
            )
        )
    return sorted(out, key=lambda n: n.hostname)


def host_probe_spec(nodes: Sequence[NodeInfo], settings: ProbeSettings, host_net: str) -> JSON:
    """ServiceSpec of the global host-network probe; ``host_net`` is the ID of ``host``."""
    targets = " ".join(f"{n.hostname},{n.addr},{n.role}" for n in nodes if n.addr)
    env = [
        "SO_NODE={{.Node.Hostname}}",
        f"SO_TARGETS={targets}",
        f"SO_INTERVAL={_interval(settings)}",
    ]
    return _service_spec(
        host_probe_name(settings.run_id),
        probe_labels("host", settings),
        settings.image,
        HOST_SCRIPT,
        env,
        [{"Target": host_net}],
    )


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class PeerRecord:
    """One measurement: ``src`` node reached (or not) the task address ``dst_ip``."""

    src: str
    dst_ip: str
    ok: bool
    icmp: bool
    tcp: bool
    rtt_ms: float | None
    round: int
    t: int
    inc: str = ""
    """Incarnation of the probe task's script (start time and pid)."""


@dataclass(frozen=True)
class RoundRecord:
    """End of one round of ``src``: it measured ``peers`` addresses."""

    src: str
    round: int
    peers: int
    t: int
    inc: str = ""


@dataclass(frozen=True)
class IfaceRecord:
    """An interface seen by a probe task: in its container (overlay) or the host (host)."""

    src: str
    name: str
    mtu: int
    addrs: tuple[str, ...]
    """CIDR form, 10.77.0.11/24."""
    round: int
    t: int
    inc: str = ""
    """Incarnation of the probe task's script (start time and pid)."""


@dataclass(frozen=True)
class PortRecord:
    """A TCP connect from node ``src`` to node ``dst``'s underlay address."""

    src: str
    dst: str
    dst_ip: str
    port: str
    ok: bool
    round: int
    t: int
    inc: str = ""
    """Incarnation of the probe task's script (start time and pid)."""


Record = PeerRecord | RoundRecord | IfaceRecord | PortRecord

_JSON_START = re.compile(r"\{\"so\":")


def parse_line(line: str) -> Record | None:
    """One line of a probe's service log into a record; None for anything else.

    The manager prefixes each line (timestamp, task name, ``@node``, details); the record
    is the JSON object starting at ``{"so":``.
    """
    match = _JSON_START.search(line)
    if match is None:
        return None
    try:
        obj = json.loads(line[match.start() :].strip())
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    try:
        kind = obj["so"]
        src = str(obj["src"])
        rnd = int(obj["round"])
        t = int(obj["t"])
        inc = str(obj.get("inc", ""))
        if kind == "peer":
            rtt = obj.get("rtt_ms")
            return PeerRecord(
                src=src,
                dst_ip=str(ipaddress.ip_address(obj["dst_ip"])),
                ok=bool(int(obj["ok"])),
                icmp=bool(int(obj["icmp"] if "icmp" in obj else obj["ok"])),
                tcp=bool(int(obj["tcp"] if "tcp" in obj else obj["ok"])),
                rtt_ms=None if rtt is None else float(rtt),
                round=rnd,
                t=t,
                inc=inc,
            )
        if kind == "round":
            return RoundRecord(src=src, round=rnd, peers=int(obj["peers"]), t=t, inc=inc)
        if kind == "iface":
            return IfaceRecord(
                src=src,
                name=str(obj["if"]),
                mtu=int(obj["mtu"]),
                addrs=tuple(str(a) for a in obj.get("addrs") or ()),
                round=rnd,
                t=t,
                inc=inc,
            )
        if kind == "port":
            return PortRecord(
                src=src,
                dst=str(obj["dst"]),
                dst_ip=str(obj["dst_ip"]),
                port=str(obj["port"]),
                ok=bool(int(obj["ok"])),
                round=rnd,
                t=t,
                inc=inc,
            )
    except (KeyError, TypeError, ValueError):
        return None
    return None


def parse_logs(lines: Iterable[str]) -> list[Record]:
    out: list[Record] = []
    for line in lines:
        record = parse_line(line)
        if record is not None:
            out.append(record)
    return out


@dataclass(frozen=True)
class Round:
    """The latest complete round of one source node: everything it printed in it."""

    src: str
    number: int
    t: int
    peers: tuple[PeerRecord, ...] = ()
    inc: str = ""
    ifaces: tuple[IfaceRecord, ...] = ()
    ports: tuple[PortRecord, ...] = ()


def latest_rounds(records: Iterable[Record]) -> dict[str, Round]:
    """Per source node, its newest round that has its end marker (a complete round).

    A probe task can restart and its round counter with it: rounds belong to an
    incarnation (``inc``) and the newest is the one whose end marker is latest.
    """
    all_records = list(records)
    ends: dict[str, RoundRecord] = {}
    for rec in all_records:
        if isinstance(rec, RoundRecord):
            best = ends.get(rec.src)
            if best is None or (rec.t, rec.inc, rec.round) >= (best.t, best.inc, best.round):
                ends[rec.src] = rec
    members: dict[str, list[Record]] = {src: [] for src in ends}
    for rec in all_records:
        if isinstance(rec, RoundRecord):
            continue
        end = ends.get(rec.src)
        if end is not None and rec.round == end.round and rec.inc == end.inc:
            members[rec.src].append(rec)
    out: dict[str, Round] = {}
    for src, end in ends.items():
        recs = members[src]
        out[src] = Round(
            src=src,
            number=end.round,
            t=end.t,
            inc=end.inc,
            peers=tuple(sorted((r for r in recs if isinstance(r, PeerRecord)), key=_ip_key)),
            ifaces=tuple(r for r in recs if isinstance(r, IfaceRecord)),
            ports=tuple(r for r in recs if isinstance(r, PortRecord)),
        )
    return out


def _ip_key(rec: PeerRecord) -> tuple[int, str]:
    return (int(ipaddress.ip_address(rec.dst_ip)), rec.src)


# --------------------------------------------------------------------------- matrix


def task_addresses(
    tasks: Iterable[JSON], nodes: Iterable[NodeInfo], network_id: str
) -> dict[str, str]:
    """Address -> hostname of the running tasks' attachments to ``network_id``."""
    host_by_id = {n.id: n.hostname for n in nodes}
    out: dict[str, str] = {}
    for task in tasks:
        if (task.get("Status") or {}).get("State") != "running":
            continue
        host = host_by_id.get(str(task.get("NodeID", "")))
        if host is None:
            continue
        for att in task.get("NetworksAttachments") or ():
            if (att.get("Network") or {}).get("ID") != network_id:
                continue
            for addr in att.get("Addresses") or ():
                out[str(ipaddress.ip_interface(addr).ip)] = host
    return out


PairState = Literal["ok", "unreachable", "not-in-dns", "no-probe", "stale"]


@dataclass(frozen=True)
class Pair:
    """Reachability from ``src`` to ``dst`` over one overlay network."""

    src: str
    dst: str
    state: PairState
    rtt_ms: float | None = None
    icmp: bool | None = None
    tcp: bool | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@dataclass(frozen=True)
class Matrix:
    """Node x node reachability of one overlay network, from the latest rounds."""

    network: str
    nodes: tuple[str, ...]
    """Rows and columns: the nodes expected to run a probe task, sorted."""
    pairs: Mapping[tuple[str, str], Pair] = field(default_factory=dict)
    running: frozenset[str] = frozenset()
    """Nodes that have a running probe task with an address on the network."""
    mtu: Mapping[str, int] = field(default_factory=dict)
    """Per node, the MTU of the probe task's interface on this overlay."""
    rounds: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    """Per source node, (incarnation, number) of the round its row comes from: a new value
    means new measurements (observe RTTs once per round, not once per scrape)."""

    def get(self, src: str, dst: str) -> Pair:
        return self.pairs.get((src, dst), Pair(src, dst, "no-probe"))

    @property
    def broken(self) -> list[Pair]:
        return [p for p in self.pairs.values() if not p.ok]

    @property
    def healthy(self) -> bool:
        return bool(self.pairs) and not self.broken and set(self.nodes) <= self.running


def build_matrix(
    network: str,
    nodes: Sequence[str],
    addresses: Mapping[str, str],
    rounds: Mapping[str, Round],
    *,
    now: float | None = None,
    max_age_s: float | None = None,
) -> Matrix:
    """The matrix of ``nodes`` from each node's latest round.

    ``addresses`` maps the current probe tasks' addresses to their nodes (`task_addresses`);
    measurements of addresses no longer in it (an old task's) are ignored. A pair is
    ``ok``/``unreachable`` as measured, ``not-in-dns`` when the source's DNS did not list
    the target's task (Swarm's gossip did not reach it), ``no-probe`` when either side has
    no running probe task or no complete round yet, and ``stale`` when the source's latest
    round is older than ``max_age_s``.
    """
    order = tuple(sorted(nodes))
    running = frozenset(addresses.values())
    ip_by_node: dict[str, str] = {}
    for ip, host in sorted(addresses.items()):
        ip_by_node.setdefault(host, ip)
    pairs: dict[tuple[str, str], Pair] = {}
    mtu: dict[str, int] = {}
    for src in order:
        rnd = rounds.get(src)
        own_ip = ip_by_node.get(src)
        if rnd is not None and own_ip is not None:
            for iface in rnd.ifaces:
                if any(str(ipaddress.ip_interface(a).ip) == own_ip for a in iface.addrs):
                    mtu[src] = iface.mtu
        stale = (
            rnd is not None
            and now is not None
            and max_age_s is not None
            and now - rnd.t > max_age_s
        )
        measured: dict[str, PeerRecord] = {}
        if rnd is not None:
            for peer in rnd.peers:
                peer_host = addresses.get(peer.dst_ip)
                if peer_host is not None:
                    measured[peer_host] = peer
        for dst in order:
            if rnd is None or src not in running or dst not in running:
                pairs[(src, dst)] = Pair(src, dst, "no-probe")
                continue
            if stale:
                pairs[(src, dst)] = Pair(src, dst, "stale")
                continue
            rec = measured.get(dst)
            if rec is None:
                pairs[(src, dst)] = Pair(src, dst, "not-in-dns")
            else:
                pairs[(src, dst)] = Pair(
                    src,
                    dst,
                    "ok" if rec.ok else "unreachable",
                    rtt_ms=rec.rtt_ms,
                    icmp=rec.icmp,
                    tcp=rec.tcp,
                )
    return Matrix(
        network=network,
        nodes=order,
        pairs=pairs,
        running=running,
        mtu=mtu,
        rounds={src: (rnd.inc, rnd.number) for src, rnd in rounds.items() if src in order},
    )


def samples(m: Matrix) -> list[tuple[str, str, int, float | None]]:
    """(source, target, reachable 0/1, RTT in seconds or None) for every pair, diagonal
    included: what the daemon exports as ``swarm_operator_overlay_reachable``. A pair that
    could not be measured (no probe task, stale round) counts as unreachable."""
    out: list[tuple[str, str, int, float | None]] = []
    for src in m.nodes:
        for dst in m.nodes:
            pair = m.get(src, dst)
            rtt = pair.rtt_ms / 1000.0 if pair.ok and pair.rtt_ms is not None else None
            out.append((src, dst, 1 if pair.ok else 0, rtt))
    return out


def metric_maps(
    m: Matrix, fresh: Iterable[Pair] = ()
) -> tuple[dict[tuple[str, str], bool], dict[tuple[str, str], float]]:
    """The arguments of the daemon's ``Metrics.set_overlay_matrix(network, reachable,
    rtts)``: every pair's reachability, and the RTTs (seconds) of ``fresh`` pairs (from
    `probe_runner.ProbeRunner.poll`), so the histogram observes each round once."""
    reachable = {(src, dst): bool(ok) for src, dst, ok, _ in samples(m)}
    rtts = {(p.src, p.dst): p.rtt_ms / 1000.0 for p in fresh if p.ok and p.rtt_ms is not None}
    return reachable, rtts


def settings_for_network(
    spec: ProbeSpec | None, *, driver: str = "overlay", default_image: str | None = None
) -> ProbeSettings | None:
    """The daemon's probe settings for a managed network, or None when it is not probed
    (``spec.probe.enabled: false``, or not an overlay). Probing is on by default."""
    if driver != "overlay" or (spec is not None and not spec.enabled):
        return None
    image = (spec.image if spec is not None else None) or probe_image(default_image)
    interval = (spec.interval if spec is not None else 5_000_000_000) / 1e9
    return ProbeSettings(image=image, interval_s=interval, owner="daemon")


def port_results(rounds: Mapping[str, Round]) -> list[PortRecord]:
    """Every port check of the host probes' latest rounds, sorted."""
    out = [p for rnd in rounds.values() for p in rnd.ports]
    return sorted(out, key=lambda p: (p.dst, p.port, p.src))


def host_interfaces(rounds: Mapping[str, Round]) -> dict[str, tuple[IfaceRecord, ...]]:
    """Per node, the host interfaces its host probe reported in its latest round."""
    return {src: rnd.ifaces for src, rnd in rounds.items()}
