"""What a lab is doing, host by host: `lab_status` (daemon, link, node, firewall blocks,
engine version, the crash report of a dead daemon).

Reads only: the state file (`state`), processes, links and firewall rules (`system`),
the engines' own answers (`engine`). Neighbours: `lifecycle` (up) reads the
firewall blocks through `blocked_rules`; `cli.lab` prints `HostStatus`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from swarm_operator.lab import engine, system
from swarm_operator.lab.state import LabHost, load
from swarm_operator.lab.system import LabError, ProcId


@dataclass(frozen=True)
class HostStatus:
    name: str
    address: str
    socket: str
    pid: int
    daemon: str  # "running", "stopped" (by `lab stop`), "exited" (died), "not answering"
    link: str  # "up", "cut", "missing"
    node: str  # e.g. "ready/active manager", "-" when unknown
    blocked: tuple[str, ...]
    engine: str = "-"  # e.g. "26.1.5 (API 1.45, containerd 1.7.24)" from /version; "-"
    crash: tuple[str, ...] = ()  # first lines of the Go crash report its log ends with


def blocked_rules(host: LabHost, comment: str) -> list[list[str]]:
    """The INPUT rules `block` added in this host's netns (recognised by their comment)."""
    if not system.netns_exists(host.netns):
        return []
    out = system.run(
        ["nsenter", f"--net={system.NETNS_DIR / host.netns}", "iptables", "-w", "5", "-S", "INPUT"],
        check=False,
    ).stdout
    rules = []
    for line in out.splitlines():
        if line.startswith("-A INPUT ") and comment in line:
            rules.append(line.split()[2:])
    return [[part.strip('"') for part in spec] for spec in rules]


def lab_status(index: int = 0) -> list[HostStatus] | None:
    """Per-host status of lab ``index`` (None when no lab is recorded)."""
    lab = load(index)
    if lab is None:
        return None
    nodes: dict[str, str] = {}
    with contextlib.suppress(OSError, LabError):
        for node in engine.engine_get(lab.manager.socket, "/nodes"):
            nodes[node["Description"]["Hostname"]] = (
                f"{node['Status']['State']}/{node['Spec']['Availability']} {node['Spec']['Role']}"
            )
    result = []
    for host in lab.hosts:
        alive = bool(host.pid) and ProcId(host.pid, host.start).alive()
        daemon = "running" if alive else ("exited" if host.pid else "stopped")
        crash: list[str] = []
        if daemon == "exited":
            crash = engine.log_crash(lab.layout.host_dir(host.number) / "dockerd.log")
        version = "-"
        if alive and not engine.engine_ping(host.socket):
            daemon = "not answering"
        elif alive:
            version = _engine_version(host)
        if not system.link_exists(host.veth):
            link = "missing"
        else:
            link = "up" if system.link_up(host.veth) else "cut"
        rules = blocked_rules(host, lab.layout.firewall_comment)
        result.append(
            HostStatus(
                name=host.name,
                address=host.address,
                socket=host.socket,
                pid=host.pid if alive else 0,
                daemon=daemon,
                link=link,
                node=nodes.get(host.name, "-"),
                blocked=tuple(_port_of(spec) for spec in rules),
                engine=version,
                crash=tuple(crash),
            )
        )
    return result


def _engine_version(host: LabHost) -> str:
    """What the daemon itself reports (GET /version): engine, API and containerd versions."""
    try:
        info = engine.engine_get(host.socket, "/version", timeout=2.0)
    except (OSError, LabError):
        return "-"
    components = {c.get("Name"): c.get("Version", "?") for c in info.get("Components") or []}
    containerd = components.get("containerd")
    extra = f", containerd {containerd}" if containerd else ""
    return f"{info.get('Version', '?')} (API {info.get('ApiVersion', '?')}{extra})"


def _port_of(spec: list[str]) -> str:
    proto = spec[spec.index("-p") + 1] if "-p" in spec else "?"
    port = spec[spec.index("--dport") + 1] if "--dport" in spec else "?"
    return f"{port}/{proto}"
