"""`lab down` leaves nothing behind (no process, namespace, link, mount, rule or data), and
`lab up` recreates a lab it cannot repair.

Runs a small lab of its own on a scratch index (default 9, env
SWARM_OPERATOR_LAB_SCRATCH_INDEX), twice (up, down, up, down), with containers running.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from swarm_operator.lab import (
    Lab,
    LabError,
    Layout,
    docker,
    lab_down,
    lab_status,
    lab_up,
    lifecycle,
    load_lab,
    stop_host,
)
from swarm_operator.lab.system import ProcId, list_netns

pytestmark = pytest.mark.lab


def _scratch_index(lab: Lab) -> int:
    index = int(os.environ.get("SWARM_OPERATOR_LAB_SCRATCH_INDEX", "9"))
    assert index != lab.index, "the scratch index must differ from the session lab's"
    return index


def _processes(small: Lab) -> list[ProcId]:
    """Every dockerd, the registry, and each host's containerd and container processes."""
    procs = [ProcId(h.pid, h.start) for h in small.hosts]
    procs.append(ProcId(small.registry_pid, small.registry_start))
    for host in small.hosts:
        out = docker(host, "ps", "-q").stdout.split()
        for cid in out:
            pid = docker(host, "inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
            proc = ProcId.of(int(pid))
            assert proc is not None
            procs.append(proc)
        children = Path(f"/proc/{host.pid}/task/{host.pid}/children").read_text().split()
        procs += [p for p in (ProcId.of(int(c)) for c in children) if p is not None]
    assert all(p.alive() for p in procs)
    return procs


def _assert_nothing_left(layout: Layout, procs: list[ProcId]) -> None:
    assert [p.pid for p in procs if p.alive()] == []
    assert list_netns(layout.netns_prefix) == []
    links = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=True
    ).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
    assert layout.bridge not in names
    assert [n for n in names if n.startswith(layout.netns_prefix)] == []
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(layout.data_dir) not in mounts
    assert f"netns/{layout.netns_prefix}" not in mounts
    assert not layout.data_dir.exists()
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True).stdout
    assert layout.firewall_comment not in rules
    assert load_lab(layout.index) is None


def test_down_leaves_nothing_behind_after_an_up_down_up_cycle(lab: Lab) -> None:
    index = _scratch_index(lab)
    layout = Layout(index)
    messages: list[str] = []
    if load_lab(index) is not None:
        lab_down(index, progress=messages.append)
    for cycle in range(2):
        small = lab_up(index, hosts=2, managers=1, progress=messages.append)
        # First round with a container on every host (shims, container processes, mounts).
        for host in small.hosts if cycle == 0 else []:
            proc = docker(host, "run", "-d", small.image, "sleep", "600")
            assert proc.returncode == 0, proc.stderr
        procs = _processes(small)
        lab_down(index, progress=messages.append)
        _assert_nothing_left(layout, procs)


def test_a_lab_beyond_repair_is_recreated(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    index = _scratch_index(lab)
    messages: list[str] = []
    try:
        small = lab_up(index, hosts=2, managers=1, progress=messages.append)
        stop_host(small, "host2")
        real_wait = lifecycle.wait_nodes_ready
        failures = ["simulated: the Swarm lost its quorum"]

        def wait_once_failing(the_lab: Lab, timeout: float = 60) -> None:
            if failures:
                raise LabError(failures.pop())
            real_wait(the_lab, timeout)

        monkeypatch.setattr(lifecycle, "wait_nodes_ready", wait_once_failing)
        messages.clear()
        again = lab_up(index, hosts=2, managers=1, progress=messages.append)
        assert any("could not be repaired" in m for m in messages), messages
        assert f"lab {index} is up in" in messages[-1]
        assert again.hosts[0].pid != small.hosts[0].pid  # recreated, not repaired
        status = lab_status(index)
        assert status is not None
        assert [h.node.split()[0] for h in status] == ["ready/active", "ready/active"]
    finally:
        lab_down(index, progress=messages.append)
