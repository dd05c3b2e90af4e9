"""Take a lab down: every daemon stopped by pid, everything it made removed.

Owns `lab_down`, which works from the state file and the lab's deterministic names
(`layout`), so it also cleans up after a crash or a lab whose state file is gone
(`leftovers`), and the end of one host's processes (`kill_host`), which `lifecycle` also
uses to restart a host. Neighbours: `lifecycle` brings a lab up and takes a broken one
down first (`down`); `system` ends processes and removes links, namespaces and the
firewall rule; `private_registry` ends the private registry if one was left running.
"""

from __future__ import annotations

import shutil

from swarm_operator.lab import system
from swarm_operator.lab.layout import Layout, forward_rule
from swarm_operator.lab.private_registry import stop_running
from swarm_operator.lab.state import LabHost, load, new_host
from swarm_operator.lab.steps import Progress, StepClock, locked, stderr_progress
from swarm_operator.lab.system import LabError, ProcId


def lab_down(index: int = 0, progress: Progress | None = None) -> None:
    """Stop every daemon of lab ``index`` by pid and remove all it made. Safe to repeat."""
    clock = StepClock(progress or stderr_progress)
    with locked(index):
        down(index, clock)


def leftovers(layout: Layout) -> bool:
    return bool(
        layout.data_dir.exists()
        or system.link_exists(layout.bridge)
        or system.list_netns(layout.netns_prefix)
    )


def kill_host(host: LabHost) -> None:
    net_ns = system.ns_inode(system.NETNS_DIR / host.netns)
    pids = system.processes_in(net_ns, host.mnt_ns or None)
    if host.pid and ProcId(host.pid, host.start).alive():
        pids.add(host.pid)
    system.kill_all(pids)
    system.reap(host.pid)


def down(index: int, clock: StepClock) -> None:
    layout = Layout(index)
    lab = load(index)
    if lab is None and not leftovers(layout):
        clock.say(f"lab {index} is not up: nothing to do")
        return
    hosts = list(lab.hosts) if lab else []
    known = {h.netns for h in hosts}
    for netns in system.list_netns(layout.netns_prefix):
        if netns not in known:
            n = int(netns.removeprefix(layout.netns_prefix))
            hosts.append(new_host(layout, n, 1))
    for host in hosts:
        kill_host(host)
    if lab and lab.registry_pid and ProcId(lab.registry_pid, lab.registry_start).alive():
        system.kill_all([lab.registry_pid])
        system.reap(lab.registry_pid)
    stop_running(layout)
    clock.say(f"stopped {len(hosts)} dockerd(s) and the registry of lab {index}")
    for host in hosts:
        system.delete_netns(host.netns)
        system.delete_link(host.veth)
    system.delete_link(layout.bridge)
    system.delete_rule(None, "FORWARD", forward_rule(layout))
    for point in sorted(system.mounts_under([str(layout.data_dir)]), reverse=True):
        system.run(["umount", "-l", point], check=False)
    shutil.rmtree(layout.data_dir, ignore_errors=True)
    if layout.data_dir.exists():
        raise LabError(f"could not remove {layout.data_dir}")
    clock.say(f"lab {index} is down: namespaces, links, bridge, firewall rule and data removed")
