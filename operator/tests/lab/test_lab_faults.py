"""Fault controls on the real lab: stop/start a daemon, cut/restore a link, block a port,
and `lab up` repairing whatever was left broken."""

from __future__ import annotations

import subprocess
import time

import pytest

from swarm_operator.cli import main
from swarm_operator.lab import (
    Lab,
    block,
    cut,
    lab_status,
    lab_up,
    restore,
    start_host,
    stop_host,
    unblock,
    wait_nodes_ready,
)
from swarm_operator.lab.engine import engine_ping

pytestmark = pytest.mark.lab


def _ping(lab: Lab, src: str, address: str) -> bool:
    netns = lab.host(src).netns
    proc = subprocess.run(
        [
            "nsenter",
            f"--net=/var/run/netns/{netns}",
            "/bin/busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            address,
        ],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def _status(lab: Lab, name: str):  # type: ignore[no-untyped-def]
    hosts = lab_status(lab.index)
    assert hosts is not None
    return next(h for h in hosts if h.name == name)


def _node_state(lab: Lab, name: str) -> str:
    return _status(lab, name).node.split("/")[0]


def test_stop_and_start_a_host(lab: Lab, swarm_cleanup: None) -> None:
    victim = lab.hosts[-1]
    stop_host(lab, victim.name)
    assert not engine_ping(victim.socket)
    assert _status(lab, victim.name).daemon == "stopped"
    # The manager notices: the node goes down (heartbeat), within a bounded wait.
    deadline = time.monotonic() + 60
    while _node_state(lab, victim.name) != "down":
        assert time.monotonic() < deadline, "the manager never saw the stopped node go down"
        time.sleep(0.5)
    start_host(lab, victim.name)
    assert engine_ping(victim.socket)
    wait_nodes_ready(lab, timeout=60)
    assert _status(lab, victim.name).daemon == "running"


def test_cut_and_restore_a_link(lab: Lab, swarm_cleanup: None) -> None:
    a, b = lab.hosts[0], lab.hosts[1]
    assert _ping(lab, a.name, b.address)
    assert main(["lab", "cut", b.name, "--index", str(lab.index)]) == 0
    assert _status(lab, b.name).link == "cut"
    assert not _ping(lab, a.name, b.address)
    assert not _ping(lab, b.name, a.address)
    restore(lab, b.name)
    assert _status(lab, b.name).link == "up"
    deadline = time.monotonic() + 10
    while not _ping(lab, a.name, b.address):
        assert time.monotonic() < deadline, "no ping after restore"


def test_block_and_unblock_are_idempotent(lab: Lab, swarm_cleanup: None) -> None:
    name = lab.hosts[1].name
    assert block(lab, name, "7946/tcp") is True
    assert block(lab, name, "7946/tcp") is False
    assert _status(lab, name).blocked == ("7946/tcp",)
    assert unblock(lab, name, "7946/tcp") is True
    assert unblock(lab, name, "7946/tcp") is False
    assert _status(lab, name).blocked == ()


def test_block_rejects_a_bad_port(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "block", lab.hosts[1].name, "4789", "--index", str(lab.index)]) == 1
    assert "PORT/PROTO" in capsys.readouterr().err
    assert main(["lab", "stop", "host99", "--index", str(lab.index)]) == 1
    assert "no host 'host99'" in capsys.readouterr().err


def test_lab_up_repairs_a_half_broken_lab(lab: Lab, swarm_cleanup: None) -> None:
    before = {h.name: h.pid for h in lab.hosts}
    victim = lab.hosts[1].name
    stop_host(lab, victim)
    cut(lab, lab.hosts[-1].name)
    block(lab, lab.hosts[0].name, "4789/udp")
    messages: list[str] = []
    repaired = lab_up(
        lab.index, hosts=len(lab.hosts), managers=lab.managers, progress=messages.append
    )
    assert "repaired" in messages[-1], messages
    statuses = lab_status(lab.index)
    assert statuses is not None
    for h in statuses:
        assert (h.daemon, h.link, h.blocked) == ("running", "up", ()), h
        assert h.node.startswith("ready"), h
    # Only the stopped daemon was restarted; the others kept running.
    after = {h.name: h.pid for h in repaired.hosts}
    assert after[victim] != before[victim]
    assert {k: v for k, v in after.items() if k != victim} == {
        k: v for k, v in before.items() if k != victim
    }
