"""Breaking a lab host on purpose, and mending it: stop and start its dockerd, block and
unblock a port in its own firewall, cut and restore its link.

Owns the fault controls; each changes one host and records it in the state file, under
the lab's lock. Neighbours: `lifecycle` (starting a dockerd), `steps` (the lock), `system`
(signals, firewall rules, links), `state` (the file). The lab tests and `cli.lab` use it.
"""

from __future__ import annotations

import signal

from swarm_operator.lab import system
from swarm_operator.lab.lifecycle import STOP_TIMEOUT, start_dockerd, wait_daemon
from swarm_operator.lab.state import Lab, LabHost, load, save
from swarm_operator.lab.steps import locked
from swarm_operator.lab.system import LabError, ProcId


def stop_host(lab: Lab, name: str) -> None:
    """Stop one host's dockerd (SIGTERM, like `systemctl stop docker`), and what it leaves."""
    host = lab.host(name)
    with locked(lab.index):
        proc = ProcId(host.pid, host.start)
        if host.pid and proc.alive():
            system.signal_pids([host.pid], signal.SIGTERM)
            if not system.wait_gone([proc], STOP_TIMEOUT):
                system.kill_all([host.pid])
            system.reap(host.pid)
        # Containers and shims the daemon left (it stops them; a crash would not).
        net_ns = system.ns_inode(system.NETNS_DIR / host.netns)
        system.kill_all(system.processes_in(net_ns, host.mnt_ns or None))
        host.pid = host.start = host.mnt_ns = 0
        _save_host(lab, host)


def start_host(lab: Lab, name: str) -> None:
    """Start a stopped host's dockerd again and wait until it answers (Swarm rejoins itself)."""
    host = lab.host(name)
    with locked(lab.index):
        if host.pid and ProcId(host.pid, host.start).alive():
            return
        start_dockerd(lab, host)
        wait_daemon(lab, host)
        _save_host(lab, host)


def _save_host(lab: Lab, host: LabHost) -> None:
    """Record one host's change in the state file, keeping what others recorded meanwhile."""
    current = load(lab.index) or lab
    current.hosts = [host if h.name == host.name else h for h in current.hosts]
    save(current)


def _block_spec(lab: Lab, port: str) -> list[str]:
    try:
        number, proto = port.split("/")
        if proto not in ("tcp", "udp") or not 0 < int(number) < 65536:
            raise ValueError
    except ValueError:
        raise LabError(f"{port!r} is not PORT/PROTO (e.g. 4789/udp, 7946/tcp)") from None
    return [
        "-p", proto, "-m", proto, "--dport", number,
        "-m", "comment", "--comment", lab.layout.firewall_comment,
        "-j", "DROP",
    ]  # fmt: skip


def block(lab: Lab, name: str, port: str) -> bool:
    """Drop inbound ``PORT/PROTO`` in that host's own firewall; False if already blocked."""
    host = lab.host(name)
    return system.insert_rule(host.netns, "INPUT", _block_spec(lab, port))


def unblock(lab: Lab, name: str, port: str) -> bool:
    """Undo `block`; False if it was not blocked."""
    host = lab.host(name)
    return system.delete_rule(host.netns, "INPUT", _block_spec(lab, port)) > 0


def cut(lab: Lab, name: str) -> None:
    """Take the host's link down (its cable pulled out of the lab bridge)."""
    system.set_link(lab.host(name).veth, False)


def restore(lab: Lab, name: str) -> None:
    system.set_link(lab.host(name).veth, True)
