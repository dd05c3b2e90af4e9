"""Doctor's configuration checks: overlay subnets, address use, manager quorum. Pure.

Owns three of the diagnosis's rules, each tested as a table (``tests/test_diagnose.py``):
overlay subnets overlapping each other, a node's address or a host network (with a free
subnet to move to); addresses in use per overlay subnet against its size (warn above
80 %); reachable managers must be more than half, nodes down are named.
Neighbours: `probing.findings` (the types), `probing.diagnose` (runs every check).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence

from swarm_operator.probing.findings import (
    ADDRESS_WARN_RATIO,
    Finding,
    OverlayInfo,
    fw,
    join_names,
)
from swarm_operator.probing.matrix import IfaceRecord
from swarm_operator.probing.probe import NodeInfo

# --------------------------------------------------------------------------- subnets

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(cidrs: Iterable[str]) -> list[IPNet]:
    out: list[IPNet] = []
    for cidr in cidrs:
        try:
            out.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    return out


def suggest_subnet(used: Iterable[IPNet], prefixlen: int = 24) -> str | None:
    """The first free private IPv4 subnet of ``prefixlen`` (from 10.10.0.0) overlapping
    nothing; None for a prefix no IPv4 subnet has (an IPv6 pool's /64)."""
    if prefixlen > 32:
        return None
    taken = [t for t in used if t.version == 4]
    for pool in ("10.10.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"):
        supernet = ipaddress.ip_network(pool)
        if prefixlen < supernet.prefixlen:
            continue
        for cand in supernet.subnets(new_prefix=prefixlen):
            if not any(cand.overlaps(t) for t in taken):
                return str(cand)
    return None


def diagnose_subnets(
    networks: Sequence[OverlayInfo],
    nodes: Sequence[NodeInfo],
    host_ifaces: Mapping[str, Sequence[IfaceRecord]],
) -> list[Finding]:
    """Overlay subnets overlapping each other, a node's address, or a host network."""
    findings: list[Finding] = []
    all_used: list[IPNet] = []
    for net in networks:
        all_used.extend(_nets(net.subnets))
    host_nets: dict[str, dict[str, list[str]]] = {}  # cidr -> node -> ifaces
    for host, ifaces in host_ifaces.items():
        for iface in ifaces:
            for cidr in iface.addrs:
                try:
                    hnet = ipaddress.ip_interface(cidr).network
                except ValueError:
                    continue
                host_nets.setdefault(str(hnet), {}).setdefault(host, []).append(iface.name)
    all_used.extend(_nets(host_nets))
    all_used.extend(_nets(f"{n.addr}/32" for n in nodes if n.addr))

    def fix_for(net: OverlayInfo, sub: IPNet) -> str:
        free = suggest_subnet(all_used, max(sub.prefixlen, 16))
        hint = f", e.g. {free}" if free else ""
        return (
            f"recreate {net.name} on a subnet that overlaps nothing{hint} "
            "(swarm-operator apply --allow-replace after changing the manifest)"
        )

    ordered = sorted(networks, key=lambda n: n.name)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            for sa in _nets(a.subnets):
                for sb in _nets(b.subnets):
                    if sa.version == sb.version and sa.overlaps(sb):
                        findings.append(
                            Finding(
                                "error",
                                "subnet",
                                f"overlay subnets overlap: {a.name} {sa} and {b.name} {sb}: "
                                "addresses can be given twice and traffic goes to the "
                                "wrong container",
                                fix=fix_for(b, sb),
                                subject=f"{a.name},{b.name}",
                            )
                        )
    for net in ordered:
        for sub in _nets(net.subnets):
            hits: dict[str, list[str]] = {}
            overlapping = []
            for cidr, per_node in host_nets.items():
                hnet = ipaddress.ip_network(cidr)
                if hnet.version != sub.version or not hnet.overlaps(sub):
                    continue
                overlapping.append(hnet)
                where = sorted({f"{h} {i}" for h, names in per_node.items() for i in names})
                hits.setdefault(f"host network {cidr} ({', '.join(where)})", []).extend(per_node)
            for node in nodes:
                try:
                    addr = ipaddress.ip_address(node.addr) if node.addr else None
                except ValueError:
                    continue
                if addr is None or addr not in sub or any(addr in h for h in overlapping):
                    continue
                hits.setdefault(f"{node.addr} (address of {node.hostname})", []).append(
                    node.hostname
                )
            if hits:
                what = "; ".join(sorted(hits))
                findings.append(
                    Finding(
                        "error",
                        "subnet",
                        f"overlay {net.name} subnet {sub} overlaps the hosts' networks: {what}: "
                        "containers on it cannot reach those host addresses, and traffic "
                        "meant for them stays in the overlay",
                        fix=fix_for(net, sub),
                        nodes=tuple(sorted({h for hs in hits.values() for h in hs})),
                        subject=net.name,
                    )
                )
    return findings


# --------------------------------------------------------------------------- addresses


def subnet_capacity(cidr: str) -> int:
    """Addresses Docker can hand out: all but network, broadcast and gateway."""
    net = ipaddress.ip_network(cidr, strict=False)
    if net.version == 6:
        return max(net.num_addresses - 2, 0)
    return max(net.num_addresses - 3, 1)


def diagnose_addresses(networks: Sequence[OverlayInfo]) -> list[Finding]:
    findings: list[Finding] = []
    for net in sorted(networks, key=lambda n: n.name):
        for cidr, used in sorted(net.addresses_used.items()):
            cap = subnet_capacity(cidr)
            ratio = used / cap
            if ratio <= ADDRESS_WARN_RATIO:
                continue
            full = used >= cap
            findings.append(
                Finding(
                    "error" if full else "warning",
                    "addresses",
                    f"overlay {net.name} subnet {cidr}: {used} of {cap} addresses in use "
                    f"({ratio:.0%}): "
                    + (
                        "exhausted, new tasks fail with 'could not allocate IP'"
                        if full
                        else "near exhaustion (each task, each service VIP and each node's "
                        "load balancer takes one)"
                    ),
                    fix=(
                        f"a subnet cannot grow: recreate {net.name} with a larger subnet "
                        f"(e.g. /{max(ipaddress.ip_network(cidr).prefixlen - 1, 8)}) or "
                        "spread services over more networks"
                    ),
                    subject=net.name,
                )
            )
    return findings


# --------------------------------------------------------------------------- quorum


def diagnose_quorum(nodes: Sequence[NodeInfo]) -> list[Finding]:
    findings: list[Finding] = []
    managers = [n for n in nodes if n.role == "manager"]
    reachable = [n for n in managers if n.reachability == "reachable"]
    lost = [n.hostname for n in managers if n.reachability != "reachable"]
    if managers and len(reachable) * 2 <= len(managers):
        findings.append(
            Finding(
                "error",
                "quorum",
                f"manager quorum lost: {len(reachable)} of {len(managers)} managers "
                f"reachable (unreachable: {join_names(lost)}): the Swarm cannot change",
                fix=(
                    "bring the unreachable managers back; if they are gone for good, run "
                    "docker swarm init --force-new-cluster on a surviving manager"
                ),
                nodes=tuple(sorted(lost)),
                subject="2377/tcp",
            )
        )
    elif lost:
        findings.append(
            Finding(
                "warning",
                "quorum",
                f"{join_names(lost)} unreachable as manager: {len(reachable)} of {len(managers)} "
                "reachable, quorum kept with less fault tolerance",
                fix=fw(join_names(lost), "2377/tcp") + "; or demote/remove the manager",
                nodes=tuple(sorted(lost)),
                subject="2377/tcp",
            )
        )
    if len(managers) == 1:
        findings.append(
            Finding(
                "info",
                "quorum",
                f"a single manager ({managers[0].hostname}): no fault tolerance; "
                "3 or 5 managers keep the Swarm up when one fails",
                nodes=(managers[0].hostname,),
            )
        )
    elif managers and len(managers) % 2 == 0:
        findings.append(
            Finding(
                "info",
                "quorum",
                f"{len(managers)} managers: an even number tolerates no more failures than "
                f"{len(managers) - 1}",
            )
        )
    for node in nodes:
        if node.state != "ready":
            findings.append(
                Finding(
                    "warning",
                    "nodes",
                    f"{node.hostname} is {node.state}: its tasks run elsewhere or not at all",
                    fix=f"check the Docker engine on {node.hostname} and its link to the managers",
                    nodes=(node.hostname,),
                )
            )
    return findings
