"""What a probe's output means: log lines -> records -> rounds -> the node x node matrix.

Owns, without talking to Docker:

- `parse_line` / `parse_logs`: the JSON lines the probe scripts (`probing.probe`) print,
  read back from the manager's service logs (``docker service logs``), as typed records;
- `latest_rounds`: the latest complete round of every node;
- `build_matrix`: those rounds as a node x node matrix, with peer addresses mapped to
  nodes through the manager's task list (`task_addresses`); `samples` and `metric_maps`
  give what the metrics export; `port_results` and `host_interfaces` what the host probe
  saw. Neighbours: `probing.runner` reads the logs, `probing.diagnose` reasons on the
  matrix, `probing.loop` exports it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from swarm_operator.probing.probe import NodeInfo

JSON = dict[str, Any]


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
    `probing.runner.ProbeRunner.poll`), so the histogram observes each round once."""
    reachable = {(src, dst): bool(ok) for src, dst, ok, _ in samples(m)}
    rtts = {(p.src, p.dst): p.rtt_ms / 1000.0 for p in fresh if p.ok and p.rtt_ms is not None}
    return reachable, rtts


def port_results(rounds: Mapping[str, Round]) -> list[PortRecord]:
    """Every port check of the host probes' latest rounds, sorted."""
    out = [p for rnd in rounds.values() for p in rnd.ports]
    return sorted(out, key=lambda p: (p.dst, p.port, p.src))


def host_interfaces(rounds: Mapping[str, Round]) -> dict[str, tuple[IfaceRecord, ...]]:
    """Per node, the host interfaces its host probe reported in its latest round."""
    return {src: rnd.ifaces for src, rnd in rounds.items()}
