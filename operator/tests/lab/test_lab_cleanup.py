"""`lab down` leaves nothing behind (no process, namespace, link, mount, rule or data), and
`lab up` recreates a lab it cannot repair.

Runs a small lab of its own on a scratch index (the lab index + 50, env
SWARM_OPERATOR_LAB_SCRATCH_INDEX), twice (up, down, up, down), with containers running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
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
    """Lab index + 50 (env SWARM_OPERATOR_LAB_SCRATCH_INDEX overrides): engineers and CI
    running the suite at the same time on their own lab indexes never share a scratch lab."""
    index = int(os.environ.get("SWARM_OPERATOR_LAB_SCRATCH_INDEX", str(lab.index + 50)))
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
    # dockerd, the registry and the containers must be running now ...
    assert all(p.alive() for p in procs)
    # ... while dockerd's children (containerd, shims, short-lived helpers) are taken as they
    # are: one that exits on its own between the listing and the check is not a leak.
    for host in small.hosts:
        children = Path(f"/proc/{host.pid}/task/{host.pid}/children").read_text().split()
        procs += [p for p in (ProcId.of(int(c)) for c in children) if p is not None]
    return procs


def _run_overlay_service(small: Lab) -> None:
    m = small.manager
    assert docker(m, "network", "create", "-d", "overlay", "cleanup-net").returncode == 0
    proc = docker(
        m, "service", "create", "--detach", "--name", "cleanup-svc", "--mode", "global",
        "--network", "cleanup-net", "--endpoint-mode", "dnsrr", small.image, "sleep", "600",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 60
    while True:
        states = docker(m, "service", "ps", "cleanup-svc", "--format", "{{.CurrentState}}")
        running = [s for s in states.stdout.splitlines() if s.startswith("Running")]
        if len(running) == len(small.hosts):
            return
        assert time.monotonic() < deadline, states.stdout
        time.sleep(0.5)


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


def _machine_docker_files() -> set[str]:
    files = Path("/var/lib/docker/network/files")
    return {p.name for p in files.iterdir()} if files.is_dir() else set()


def test_down_leaves_nothing_behind_after_an_up_down_up_cycle(lab: Lab) -> None:
    index = _scratch_index(lab)
    layout = Layout(index)
    messages: list[str] = []
    if load_lab(index) is not None:
        lab_down(index, progress=messages.append)
    try:
        for cycle in range(2):
            small = lab_up(index, hosts=2, managers=1, progress=messages.append)
            # First round with a container on every host (shims, container processes, mounts)
            # and a service on an overlay network (its load-balancer sandbox files).
            if cycle == 0:
                for host in small.hosts:
                    proc = docker(host, "run", "-d", small.image, "sleep", "600")
                    assert proc.returncode == 0, proc.stderr
                _run_overlay_service(small)
            procs = _processes(small)
            # dockerd's hard-coded /var/lib/docker/network/files stays per host: the machine's
            # copy gets no file named after this lab's networks.
            ids = docker(small.manager, "network", "ls", "-q", "--no-trunc").stdout.split()
            assert ids
            leaked = {f for f in _machine_docker_files() if any(i[:12] in f for i in ids)}
            assert leaked == set()
            lab_down(index, progress=messages.append)
            _assert_nothing_left(layout, procs)
    finally:
        if load_lab(index) is not None:  # a failed check: still leave nothing behind
            lab_down(index, progress=messages.append)


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


FORWARD_DROP_SCRIPT = """
set -eu
# A machine whose FORWARD policy is DROP (as a running dockerd leaves it), in a private
# network and mount namespace so the real machine's firewall is never touched.
mkdir -p /tmp/so-fwtest-cg
mount --rbind /sys/fs/cgroup /tmp/so-fwtest-cg
mount -t sysfs sysfs /sys
mount --move /tmp/so-fwtest-cg /sys/fs/cgroup
ip link set lo up
iptables -P FORWARD DROP
lab() { "$PY" -m swarm_operator lab "$@" --index "$INDEX"; }
ping2() { nsenter --net=/var/run/netns/so$INDEX-h1 /bin/busybox ping -c1 -W2 10.77.$INDEX.12; }
trap 'lab down >/dev/null 2>&1 || true' EXIT
lab up --hosts 2 >/dev/null 2>&1
echo "rule-after-up: $(iptables -S FORWARD | grep -c "swarm-operator-lab-$INDEX")"
ping2 >/dev/null && echo "ping-with-rule: ok"
iptables -D FORWARD -i br-lab$INDEX -o br-lab$INDEX \
    -m comment --comment swarm-operator-lab-$INDEX -j ACCEPT
ping2 >/dev/null || echo "ping-without-rule: dropped"
lab up --hosts 2 >/dev/null 2>&1
ping2 >/dev/null && echo "ping-after-repair: ok"
lab down >/dev/null 2>&1
echo "rule-after-down: $(iptables -S FORWARD | grep -c "swarm-operator-lab-$INDEX" || true)"
"""


def test_a_forward_drop_policy_gets_a_bridge_rule_that_down_removes(lab: Lab) -> None:
    index = _scratch_index(lab)
    env = {**os.environ, "PY": sys.executable, "INDEX": str(index)}
    proc = subprocess.run(
        ["unshare", "-n", "-m", "--propagation", "private", "bash", "-c", FORWARD_DROP_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    lines = proc.stdout.splitlines()
    assert lines == [
        "rule-after-up: 1",
        "ping-with-rule: ok",
        "ping-without-rule: dropped",
        "ping-after-repair: ok",
        "rule-after-down: 0",
    ], proc.stdout + proc.stderr
    assert load_lab(index) is None
    assert list_netns(Layout(index).netns_prefix) == []
