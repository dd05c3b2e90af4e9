"""Diagnosis: from reachability matrices and Swarm facts to named findings. Pure.

Owns the reasoning of ``swarm-operator doctor``: which node, port or network is to blame
and what to do about it. Inputs are plain data (`matrix.Matrix`, `matrix.PortRecord`,
`probe.NodeInfo`, `OverlayInfo`, host interfaces); nothing here talks to Docker, so every
rule is tested as a table (``tests/test_diagnose.py``). `probing.runner` gathers the
inputs, `cli.output` prints the findings. The types are `probing.findings`'; subnets,
address use and quorum are `probing.checks`'; `diagnose` runs them all.

The checks:

- data path: all pairs of one node broken while the others are fine names that node;
  the cause is read from the port checks: a Swarm TCP port that does not answer there
  (7946 gossip, 2377 managers) is named; if they answer, VXLAN 4789/udp is the cause
  (UDP cannot be tested by a connect: it is *inferred*, and the finding says so); peers
  missing from a node's DNS point at gossip (7946) too.
- ports: each Swarm TCP port that does not answer from the other nodes.
- MTU: a full-size packet of an overlay (its interface MTU + 50 bytes of VXLAN, + 26 of
  ESP when encrypted, as Docker counts it) must fit the underlay MTU of every node.
- subnets: overlay subnets overlapping each other, a node's address or a host network.
- address use: addresses in use per overlay subnet against its size (warn above 80%).
- quorum and nodes: reachable managers must be more than half; nodes down are named.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import replace

from swarm_operator.probing.checks import (
    diagnose_addresses,
    diagnose_quorum,
    diagnose_subnets,
    subnet_capacity,
    suggest_subnet,
)
from swarm_operator.probing.findings import (
    DEFAULT_MTU,
    ESP_OVERHEAD,
    MTU_OPTION,
    SEVERITY_ORDER,
    VXLAN_OVERHEAD,
    Finding,
    OverlayInfo,
    Severity,
    fw,
    join_names,
    sort_findings,
)
from swarm_operator.probing.matrix import IfaceRecord, Matrix, Pair, PortRecord
from swarm_operator.probing.probe import NodeInfo

__all__ = [
    "DEFAULT_MTU",
    "ESP_OVERHEAD",
    "SEVERITY_ORDER",
    "VXLAN_OVERHEAD",
    "Finding",
    "OverlayInfo",
    "Severity",
    "diagnose",
    "diagnose_addresses",
    "diagnose_matrix",
    "diagnose_mtu",
    "diagnose_ports",
    "diagnose_quorum",
    "diagnose_subnets",
    "sort_findings",
    "subnet_capacity",
    "suggest_subnet",
    "underlay_mtu",
]


# --------------------------------------------------------------------------- data path


def _culprits(m: Matrix, running: Sequence[str]) -> list[str]:
    """Running nodes every one of whose pairs with the other running nodes is broken."""
    out: list[str] = []
    for node in running:
        others = [o for o in running if o != node]
        if not others:
            continue
        pairs = [m.get(node, o) for o in others] + [m.get(o, node) for o in others]
        if all(not p.ok for p in pairs):
            out.append(node)
    # with only two nodes (or when every node is "guilty") the matrix alone cannot tell
    if len(out) == len(running) and len(running) > 1:
        return []
    return out


def _failed_ports(ports: Sequence[PortRecord], node: str) -> dict[str, list[str]]:
    """Port -> sources that could not connect to ``node``."""
    out: dict[str, list[str]] = {}
    for rec in ports:
        if rec.dst == node and not rec.ok:
            out.setdefault(rec.port, []).append(rec.src)
    return out


def _answered_ports(ports: Sequence[PortRecord], node: str) -> list[str]:
    return sorted({rec.port for rec in ports if rec.dst == node and rec.ok})


def diagnose_matrix(
    m: Matrix,
    nodes: Sequence[NodeInfo],
    ports: Sequence[PortRecord] = (),
    *,
    ports_checked: bool = False,
    probe_errors: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Findings for one overlay network's matrix.

    ``ports_checked`` says the host probe ran (so an empty ``ports`` for a node means
    nothing was measured rather than all fine); ``probe_errors`` gives, per node, why its
    probe task is not running (the task's error from the manager).
    """
    findings: list[Finding] = []
    info = {n.hostname: n for n in nodes}
    errors = dict(probe_errors or {})
    net = m.network
    running = [n for n in m.nodes if n in m.running]

    for node in m.nodes:
        if node in m.running:
            continue
        state = info[node].state if node in info else "unknown"
        why = errors.get(node) or (f"node is {state}" if state != "ready" else "no running task")
        failed = _failed_ports(ports, node)
        hint = (
            f" ({join_names(failed)} {'does' if len(failed) == 1 else 'do'} not answer there: "
            "a task on an overlay "
            "cannot start on a node that Swarm's gossip does not reach)"
            if failed
            else ""
        )
        findings.append(
            Finding(
                "error",
                "probe",
                f"no probe task runs on {node} over {net}: {why}{hint}; "
                f"its pairs over {net} cannot be checked",
                fix=(
                    "check the node (docker node ps " + node + ") and that it can pull "
                    "the probe image (--probe-image, a registry every node reaches)"
                ),
                nodes=(node,),
                subject=net,
            )
        )

    for node in running:
        pair = m.get(node, node)
        if pair.state == "unreachable":
            findings.append(
                Finding(
                    "error",
                    "data-path",
                    f"the probe on {node} cannot reach its own address over {net}: "
                    "container networking on that node is broken",
                    fix=f"restart the Docker engine on {node}; check its kernel log for veth/"
                    "vxlan errors",
                    nodes=(node,),
                    subject=net,
                )
            )

    broken = [m.get(s, d) for s in running for d in running if s != d and not m.get(s, d).ok]
    if not broken:
        return findings

    culprits = _culprits(m, running)
    explained: set[tuple[str, str]] = set()
    for node in culprits:
        involved = [p for p in broken if node in (p.src, p.dst)]
        explained.update((p.src, p.dst) for p in involved)
        others = sorted({p.dst if p.src == node else p.src for p in involved})
        findings.append(_culprit_finding(m, node, others, involved, info, ports, ports_checked))

    rest = [p for p in broken if (p.src, p.dst) not in explained]
    done: set[frozenset[str]] = set()
    for p in rest:
        key = frozenset((p.src, p.dst))
        if key in done:
            continue
        done.add(key)
        back = m.get(p.dst, p.src)
        both = not back.ok
        what = (
            f"{p.src} and {p.dst} cannot reach each other over {net}"
            if both
            else f"{p.src} cannot reach {p.dst} over {net} ({p.dst} reaches {p.src})"
        )
        detail = _state_words(p) if not both else _state_words(p, back)
        suspects = sorted(
            n for n in (p.src, p.dst) if _failed_ports(ports, n) or (not both and n == p.dst)
        )
        fix = (
            fw(join_names(suspects), "4789/udp", "7946/tcp", "7946/udp")
            if suspects
            else "check the firewalls and the route between "
            f"{p.src} and {p.dst} for 4789/udp (VXLAN) and 7946/tcp+udp (gossip)"
        )
        findings.append(
            Finding(
                "error",
                "data-path",
                f"{what}: {detail}",
                fix=fix,
                nodes=tuple(sorted((p.src, p.dst))),
                subject=net,
            )
        )
    return findings


def _state_words(*pairs: Pair) -> str:
    words = {
        "unreachable": "no answer to ping or TCP",
        "not-in-dns": "the peer's task is missing from DNS (tasks.<probe>)",
        "stale": "no recent probe round",
        "no-probe": "no probe task",
        "ok": "ok",
    }
    return "; ".join(sorted({words[p.state] for p in pairs}))


def _culprit_finding(
    m: Matrix,
    node: str,
    others: list[str],
    involved: list[Pair],
    info: Mapping[str, NodeInfo],
    ports: Sequence[PortRecord],
    ports_checked: bool,
) -> Finding:
    net = m.network
    lead = (
        f"overlay {net}: every pair between {node} and the other nodes ({', '.join(others)}) fails"
    )
    nodes = (node,)
    state = info[node].state if node in info else "unknown"
    if state != "ready":
        return Finding(
            "error",
            "data-path",
            f"{lead}: {node} is {state}",
            fix=f"bring {node} back (start its Docker engine, check its network link)",
            nodes=nodes,
            subject=net,
        )
    failed = _failed_ports(ports, node)
    if failed:
        port_text = "; ".join(
            f"{port} does not answer from {join_names(srcs)}"
            for port, srcs in sorted(failed.items())
        )
        names = sorted(failed)
        gossip = any(p.startswith("7946") for p in names)
        wanted = ["7946/tcp", "7946/udp"] if gossip else []
        wanted += [p for p in names if not p.startswith("7946")]
        return Finding(
            "error",
            "data-path",
            f"{lead}: on {node} {port_text}"
            + (
                " (Swarm's gossip: without it the overlay's peers and addresses are not exchanged)"
                if gossip
                else ""
            ),
            fix=fw(node, *wanted) + "; 4789/udp (VXLAN) must be open as well",
            nodes=nodes,
            subject="7946/tcp" if gossip else names[0],
        )
    if all(p.state == "not-in-dns" for p in involved):
        return Finding(
            "error",
            "data-path",
            f"{lead}: the probe tasks of {node} and the others are missing from each "
            "other's DNS: Swarm's gossip (7946/udp, inferred: UDP cannot be tested by a "
            f"connect) does not reach {node}",
            fix=fw(node, "7946/tcp", "7946/udp"),
            nodes=nodes,
            subject="7946/udp",
        )
    answered = _answered_ports(ports, node)
    if ports_checked and answered:
        evidence = f"the Swarm ports answer there ({join_names(answered)})"
    elif ports_checked:
        evidence = "no Swarm port was measured there"
    else:
        evidence = "the Swarm ports were not checked (no host probe)"
    return Finding(
        "error",
        "data-path",
        f"{lead} ({_state_words(*involved)}) while {evidence}: VXLAN 4789/udp is blocked "
        f"to or from {node} (inferred: UDP cannot be tested by a connect; the overlay's "
        "traffic is exactly what fails)",
        fix=fw(node, "4789/udp"),
        nodes=nodes,
        subject="4789/udp",
    )


# --------------------------------------------------------------------------- ports


def diagnose_ports(ports: Sequence[PortRecord], nodes: Sequence[NodeInfo]) -> list[Finding]:
    """Each Swarm TCP port that does not answer on a node, with who tried."""
    failed: dict[tuple[str, str], list[PortRecord]] = {}
    for rec in ports:
        if not rec.ok:
            failed.setdefault((rec.dst, rec.port), []).append(rec)
    findings: list[Finding] = []
    for (dst, port), recs in sorted(failed.items()):
        srcs = sorted({r.src for r in recs})
        what = (
            "manager traffic (joins, Raft, the API of workers)"
            if port.startswith("2377")
            else ("gossip (node membership and the overlay's peer addresses)")
        )
        wanted = ("7946/tcp", "7946/udp") if port.startswith("7946") else (port,)
        findings.append(
            Finding(
                "error",
                "ports",
                f"{port} on {dst} ({recs[0].dst_ip}) does not answer from {join_names(srcs)}: "
                f"Swarm {what} to {dst} fails",
                fix=fw(dst, *wanted),
                nodes=(dst,),
                subject=port,
            )
        )
    return findings


# --------------------------------------------------------------------------- MTU


def underlay_mtu(node: NodeInfo, ifaces: Sequence[IfaceRecord]) -> tuple[str, int] | None:
    """(interface, MTU) of the interface holding the node's Swarm address, if seen."""
    for iface in ifaces:
        for cidr in iface.addrs:
            try:
                if str(ipaddress.ip_interface(cidr).ip) == node.addr:
                    return iface.name, iface.mtu
            except ValueError:
                continue
    return None


def diagnose_mtu(
    networks: Sequence[OverlayInfo],
    nodes: Sequence[NodeInfo],
    host_ifaces: Mapping[str, Sequence[IfaceRecord]],
    measured: Mapping[str, Mapping[str, int]] | None = None,
) -> list[Finding]:
    """Overlay packets that do not fit the underlay.

    ``measured`` is, per network, per node, the probe task's interface MTU on it; without
    it the interface MTU is computed as Docker does: the option (default 1500) minus the
    VXLAN overhead, minus the ESP overhead when encrypted.
    """
    findings: list[Finding] = []
    seen = measured or {}
    for net in networks:
        option = net.mtu_option
        extra = VXLAN_OVERHEAD + (ESP_OVERHEAD if net.encrypted else 0)
        computed = (option or DEFAULT_MTU) - extra
        too_big: list[tuple[str, int, int, str]] = []
        unknown: list[str] = []
        for node in nodes:
            under = underlay_mtu(node, host_ifaces.get(node.hostname, ()))
            inner = seen.get(net.name, {}).get(node.hostname, computed)
            if under is None:
                unknown.append(node.hostname)
                continue
            if inner + extra > under[1]:
                too_big.append((node.hostname, inner, under[1], under[0]))
        if too_big:
            inner = max(t[1] for t in too_big)
            limit = min(t[2] for t in too_big)
            where = ", ".join(f"{h} {i} ({mtu})" for h, _, mtu, i in too_big)
            enc = " + 26 of IPsec ESP" if net.encrypted else ""
            findings.append(
                Finding(
                    "error",
                    "mtu",
                    f"overlay {net.name}: MTU too large: containers get {inner}, a full packet "
                    f"is {inner + extra} bytes on the wire ({inner} + 50 of VXLAN{enc}), more "
                    f"than the underlay interface MTU of {where}: large packets are "
                    "fragmented or silently dropped (small pings still work)",
                    fix=(
                        f"recreate {net.name} with -o {MTU_OPTION}={limit} (the underlay MTU; "
                        "Docker subtracts the VXLAN overhead itself), or raise the underlay "
                        "MTU on every host"
                    ),
                    nodes=tuple(sorted(t[0] for t in too_big)),
                    subject=net.name,
                )
            )
        elif unknown and option and option > DEFAULT_MTU and len(unknown) == len(nodes):
            findings.append(
                Finding(
                    "warning",
                    "mtu",
                    f"overlay {net.name}: {MTU_OPTION}={option} but the underlay MTU of "
                    f"{join_names(unknown)} is unknown (no host probe): check that it is at "
                    f"least {option}",
                    fix=f"ip link show on each host; recreate {net.name} with a smaller MTU",
                    nodes=tuple(sorted(unknown)),
                    subject=net.name,
                )
            )
    return findings


def diagnose(
    *,
    nodes: Sequence[NodeInfo],
    matrices: Sequence[Matrix] = (),
    ports: Sequence[PortRecord] = (),
    ports_checked: bool = False,
    networks: Sequence[OverlayInfo] = (),
    host_ifaces: Mapping[str, Sequence[IfaceRecord]] | None = None,
    probe_errors: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Finding]:
    """All findings, most severe first."""
    ifaces = host_ifaces or {}
    errors = probe_errors or {}
    findings: list[Finding] = []
    findings += diagnose_quorum(nodes)
    findings += diagnose_ports(ports, nodes)
    for m in matrices:
        findings += diagnose_matrix(
            m, nodes, ports, ports_checked=ports_checked, probe_errors=errors.get(m.network)
        )
    findings += diagnose_mtu(networks, nodes, ifaces, {m.network: m.mtu for m in matrices})
    findings += diagnose_subnets(networks, nodes, ifaces)
    addresses = diagnose_addresses(networks)
    crowded = {f.subject for f in addresses}
    findings = [
        replace(
            f,
            message=f.message + f" ({f.subject}'s subnet is short of addresses: see addresses)",
        )
        if f.check == "probe" and f.subject in crowded
        else f
        for f in findings
    ]
    findings += addresses
    return sort_findings(findings)
