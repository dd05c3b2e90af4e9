"""`swarm-operator doctor` and the continuous probe on the three-host lab, with real faults.

The paper's case: an overlay 10.10.K.0/24 with a gateway across host1..host3. Faults come
from the lab's own firewall controls (`lab.block`), so they are what a user would meet:
VXLAN (4789/udp) or gossip (7946) dropped on host2, a jumbo MTU on a 1500 underlay, an
overlay on the hosts' own subnet. Waits are bounded; nothing asserts on time.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from swarm_operator.cli import main
from swarm_operator.lab import Lab, block, start_host, stop_host, unblock
from swarm_operator.probing.probe import ProbeSettings
from swarm_operator.probing.runner import ProbeRunner
from swarm_operator.swarm.client import SwarmClient

pytestmark = pytest.mark.lab
DockerCli = Callable[..., subprocess.CompletedProcess[str]]


def doctor(lab: Lab, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(
        [
            "doctor",
            "--host",
            lab.manager.docker_host,
            "--probe-image",
            lab.image,
            *args,
        ]
    )
    out = capsys.readouterr().out
    print(out)  # shown when the test fails
    return rc, out


def doctor_json(lab: Lab, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    rc, out = doctor(lab, capsys, "--output", "json", *args)
    return rc, json.loads(out)


def paper_net(lab: Lab, docker_cli: DockerCli, name: str = "paper-net") -> str:
    k = lab.index
    docker_cli(
        "network",
        "create",
        "--driver",
        "overlay",
        "--attachable",
        "--subnet",
        f"10.10.{k}.0/24",
        "--gateway",
        f"10.10.{k}.1",
        name,
    )
    return name


def leftovers(docker_cli: DockerCli) -> tuple[list[str], list[str]]:
    services = docker_cli("service", "ls", "--format", "{{.Name}}").stdout.split()
    networks = docker_cli("network", "ls", "--format", "{{.Name}}").stdout.split()
    return (
        [s for s in services if s.startswith("so-")],
        [n for n in networks if n.startswith("so-")],
    )


def wait_no_leftovers(docker_cli: DockerCli) -> tuple[list[str], list[str]]:
    """The Swarm drops a removed network at once; a node's own list follows within seconds."""
    left = leftovers(docker_cli)
    for _ in range(40):
        if left == ([], []):
            break
        time.sleep(0.5)
        left = leftovers(docker_cli)
    return left


def pairs(report: Any, network: str) -> dict[tuple[str, str], bool]:
    (net,) = [n for n in report["networks"] if n["name"] == network]
    return {(p["source"], p["target"]): p["ok"] for p in net["pairs"]}


def test_healthy_paper_network_exit_0_and_user_service_untouched(
    lab: Lab, docker_cli: DockerCli, swarm_cleanup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    net = paper_net(lab, docker_cli)
    docker_cli(
        "service",
        "create",
        "--detach",
        "--name",
        "web",
        "--replicas",
        "3",
        "--endpoint-mode",
        "dnsrr",
        "--network",
        net,
        lab.image,
        "httpd",
        "-f",
        "-p",
        "80",
    )
    before = json.loads(docker_cli("service", "inspect", "web").stdout)[0]

    rc, out = doctor(lab, capsys, "--network", net)

    assert rc == 0, out
    assert f"overlay {net} [10.10.{lab.index}.0/24]" in out
    for host in ("host1", "host2", "host3"):
        assert host in out
    assert "FAIL" not in out and "healthy" in out
    after = json.loads(docker_cli("service", "inspect", "web").stdout)[0]
    assert after["Version"] == before["Version"]
    assert after["Spec"] == before["Spec"]
    assert wait_no_leftovers(docker_cli) == ([], [])


def test_vxlan_blocked_on_host2_is_named_and_recovery_is_seen(
    lab: Lab, docker_cli: DockerCli, swarm_cleanup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    net = paper_net(lab, docker_cli)
    block(lab, "host2", "4789/udp")
    try:
        rc, out = doctor(lab, capsys, "--network", net)
        assert rc == 1, out
        data_path = [line for line in out.splitlines() if "[data-path]" in line]
        assert len(data_path) == 1, out
        assert "host2" in data_path[0] and "4789/udp" in data_path[0]
        assert "open 4789/udp inbound on host2" in out

        rc, report = doctor_json(lab, capsys, "--network", net)
        assert rc == 1
        matrix = pairs(report, net)
        for (src, dst), ok in matrix.items():
            assert ok == (src == dst or "host2" not in (src, dst)), (src, dst, ok)
        culprits = [f for f in report["findings"] if f["check"] == "data-path"]
        assert [(f["nodes"], f["subject"]) for f in culprits] == [(["host2"], "4789/udp")]
    finally:
        unblock(lab, "host2", "4789/udp")

    rc, report = doctor_json(lab, capsys, "--network", net)
    assert rc == 0, report["findings"]
    assert all(pairs(report, net).values())
    assert wait_no_leftovers(docker_cli) == ([], [])


def test_too_large_mtu_is_named(
    lab: Lab, docker_cli: DockerCli, swarm_cleanup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    docker_cli(
        "network", "create", "--driver", "overlay", "-o", "com.docker.network.driver.mtu=9000",
        "jumbo",
    )  # fmt: skip
    rc, report = doctor_json(lab, capsys, "--network", "jumbo")
    assert rc == 1
    mtu = [f for f in report["findings"] if f["check"] == "mtu"]
    assert len(mtu) == 1, report["findings"]
    assert mtu[0]["subject"] == "jumbo"
    assert "1500" in mtu[0]["message"] and "8950" in mtu[0]["message"]
    assert sorted(mtu[0]["nodes"]) == ["host1", "host2", "host3"]
    # the measured interface MTU of the probe tasks is the one Docker gave the containers
    (net,) = report["networks"]
    assert set(net["mtu"].values()) == {8950}


def test_overlapping_subnet_is_named(
    lab: Lab, docker_cli: DockerCli, swarm_cleanup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    paper_net(lab, docker_cli)
    docker_cli("network", "create", "--driver", "overlay", "--subnet", lab.subnet, "clash")
    rc, out = doctor(lab, capsys, "--network", "clash")
    assert rc == 1, out
    subnet = [line for line in out.splitlines() if "[subnet]" in line]
    assert len(subnet) == 1, out
    assert "clash" in subnet[0] and lab.subnet in subnet[0]
    assert "paper-net" not in subnet[0]  # 10.10.K.0/24 overlaps nothing


def test_address_use_near_exhaustion_is_named(
    lab: Lab, docker_cli: DockerCli, swarm_cleanup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    docker_cli("network", "create", "--driver", "overlay", "--subnet", "10.30.0.0/28", "small")
    docker_cli(
        "service", "create", "--detach", "--name", "fill", "--replicas", "8",
        "--endpoint-mode", "dnsrr", "--network", "small", lab.image, "sleep", "3600",
    )  # fmt: skip
    running = ""
    for _ in range(120):
        running = docker_cli(
            "service", "ls", "--filter", "name=fill", "--format", "{{.Replicas}}"
        ).stdout
        if running.strip() == "8/8":
            break
        time.sleep(0.5)
    assert running.strip() == "8/8"
    # 8 tasks + 3 load balancers of 13 addresses; the probes cannot all get one either
    rc, report = doctor_json(lab, capsys, "--network", "small", "--timeout", "20s")
    assert rc == 1
    (use,) = [f for f in report["findings"] if f["check"] == "addresses"]
    assert use["subject"] == "small" and use["severity"] == "warning"
    assert "11 of 13" in use["message"]


def test_no_overlay_uses_a_throwaway_network_and_removes_it(
    lab: Lab, docker_cli: DockerCli, swarm_cleanup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    overlays = docker_cli("network", "ls", "--filter", "driver=overlay", "-q").stdout.split()
    if len(overlays) > 1:  # ingress, plus something another test left: doctor probes those
        pytest.fail(f"the lab has overlay networks besides ingress: {overlays}")
    rc, out = doctor(lab, capsys)
    assert rc == 0, out
    assert "(throwaway, removed)" in out
    assert wait_no_leftovers(docker_cli) == ([], [])


def test_unknown_network_is_a_usage_error(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["doctor", "--host", lab.manager.docker_host, "--network", "no-such-net"])
    assert rc == 2
    assert "no-such-net" in capsys.readouterr().err


def test_probe_runner_sees_vxlan_block_and_recovery(
    lab: Lab, docker_cli: DockerCli, swarm_cleanup: None
) -> None:
    """The daemon's path: one continuous probe, read repeatedly (bounded waits)."""
    net = paper_net(lab, docker_cli)
    client = SwarmClient(lab.manager.docker_host)
    runner = ProbeRunner(client, net, ProbeSettings(image=lab.image, interval_s=2))
    first = runner.ensure()
    assert runner.ensure() == first  # idempotent: the daemon calls it on every reconcile

    rtts: list[float] = []

    def wait_for(pred: Callable[[dict[tuple[str, str], bool]], bool], what: str) -> None:
        seen: dict[tuple[str, str], bool] = {}
        for _ in range(60):
            m, fresh = runner.poll()
            rtts.extend(p.rtt_ms for p in fresh if p.rtt_ms is not None)
            seen = {k: p.ok for k, p in m.pairs.items()}
            if len(seen) == 9 and pred(seen):
                return
            time.sleep(1)
        pytest.fail(f"{what}: last matrix {seen}")

    try:
        wait_for(lambda m: all(m.values()), "all pairs reachable")
        block(lab, "host2", "4789/udp")
        try:
            wait_for(
                lambda m: all(ok == (s == d or "host2" not in (s, d)) for (s, d), ok in m.items()),
                "host2 pairs down",
            )
        finally:
            unblock(lab, "host2", "4789/udp")
        wait_for(lambda m: all(m.values()), "recovered")
        assert rtts, "no round-trip time was measured"
        # the probe is not a user object: plan/prune never see it
        from swarm_operator.engine.live import read_live

        assert runner.service_name not in read_live(client).of("Service")
    finally:
        runner.remove()
    assert wait_no_leftovers(docker_cli) == ([], [])


def test_gossip_blocked_on_host2_is_named(
    lab: Lab, docker_cli: DockerCli, swarm_cleanup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    net = paper_net(lab, docker_cli)
    block(lab, "host2", "7946/tcp")
    block(lab, "host2", "7946/udp")
    try:
        rc, report = doctor_json(lab, capsys, "--network", net, "--timeout", "30s")
    finally:
        unblock(lab, "host2", "7946/tcp")
        unblock(lab, "host2", "7946/udp")
    assert rc == 1
    named = [f for f in report["findings"] if "host2" in f["nodes"] and "7946" in f["subject"]]
    assert named, report["findings"]
    assert any("7946/tcp" in f["message"] for f in named)


def test_node_down_is_named_and_the_others_are_still_checked(
    lab: Lab, docker_cli: DockerCli, swarm_cleanup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    net = paper_net(lab, docker_cli)
    stop_host(lab, "host3")
    try:
        state = ""
        for _ in range(120):  # the managers notice a silent node after a few heartbeats
            state = docker_cli("node", "inspect", "host3", "--format", "{{.Status.State}}").stdout
            if state.strip() == "down":
                break
            time.sleep(0.5)
        assert state.strip() == "down"
        rc, report = doctor_json(lab, capsys, "--network", net)
    finally:
        start_host(lab, "host3")
    assert rc == 1
    down = [f for f in report["findings"] if f["check"] == "nodes"]
    assert [f["nodes"] for f in down] == [["host3"]]
    assert "host3 is down" in down[0]["message"]
    # host1 <-> host2 was still measured, and is fine
    matrix = pairs(report, net)
    assert set(matrix) == {(s, d) for s in ("host1", "host2") for d in ("host1", "host2")}
    assert all(matrix.values())
