"""What doctor's diagnosis says: a `Finding` (severity, check, message, fix), the overlay
facts the checks need (`OverlayInfo`), and the small helpers findings are written with.

Owns the vocabulary shared by `probing.diagnose` (data path, ports, MTU) and
`probing.checks` (subnets, address use, quorum); `cli.output` prints findings. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from swarm_operator.swarm import labels as swarm_labels

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}

VXLAN_OVERHEAD = 50
"""Outer Ethernet 14 + IP 20 + UDP 8 + VXLAN 8 bytes."""
ESP_OVERHEAD = 26
"""What Docker reserves for IPsec ESP on encrypted overlays (SPI, sequence, IV, pad, ICV)."""
DEFAULT_MTU = 1500
MTU_OPTION = swarm_labels.OPTION_MTU
ADDRESS_WARN_RATIO = 0.8


@dataclass(frozen=True)
class Finding:
    """One problem (or note): what is wrong, where, and what to do."""

    severity: Severity
    check: Literal["data-path", "ports", "mtu", "subnet", "addresses", "quorum", "nodes", "probe"]
    message: str
    fix: str = ""
    nodes: tuple[str, ...] = ()
    subject: str = ""
    """The port (``4789/udp``) or network the finding is about."""

    @property
    def problem(self) -> bool:
        """Errors and warnings make ``doctor`` exit 1; notes do not."""
        return self.severity != "info"


@dataclass(frozen=True)
class OverlayInfo:
    """An overlay network as the configuration checks need it."""

    name: str
    id: str = ""
    subnets: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    encrypted: bool = False
    addresses_used: Mapping[str, int] = field(default_factory=dict)
    """Per subnet, addresses taken (tasks, virtual IPs, per-node load balancers)."""

    @property
    def mtu_option(self) -> int | None:
        raw = self.options.get(MTU_OPTION)
        try:
            return int(raw) if raw else None
        except ValueError:
            return None


def join_names(items: Iterable[str]) -> str:
    items = sorted(set(items))
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def fw(node: str, *ports: str) -> str:
    spec = " ".join(f"--add-port={p}" for p in ports)
    rules = "; ".join(
        f"iptables -I INPUT -p {p.split('/')[1]} --dport {p.split('/')[0]} -j ACCEPT" for p in ports
    )
    return (
        f"open {join_names(ports)} inbound on {node}: "
        f"firewall-cmd --permanent {spec} && firewall-cmd --reload (or {rules}); "
        "check also any firewall or security group between the hosts"
    )


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.check, f.message))
