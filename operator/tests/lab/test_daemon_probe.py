"""The daemon's continuous overlay probe on the three-host lab (issue 6, second "done when").

`swarm-operator run` as a subprocess keeps the paper's network (overlay 10.10.K.0/24 with a
gateway); the probe's node x node matrix is read from ``/metrics``. VXLAN (4789/udp) is
dropped on host2 with the lab's own firewall control: the pairs involving host2 must turn
to 0 (bounded wait of 30 s plus a margin) while host1 <-> host3 stay 1, and come back
after unblocking. Turning the probe off in the spec removes the probe service.

Waits are bounded polls; nothing asserts on time. The figures printed (``-s``) are the
time from block to 0 and from unblock to 1, for the closing note.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import test_daemon
from test_daemon import Daemon, note, start, wait_for

from swarm_operator.lab import Lab, block, unblock
from swarm_operator.probing.probe import overlay_probe_name

pytestmark = pytest.mark.lab
# The daemon subprocess fixtures of test_daemon.py, shared.
workdir = test_daemon.workdir
daemons = test_daemon.daemons
DockerCli = Callable[..., subprocess.CompletedProcess[str]]

NETWORK = "paper-net"
HOSTS = ("host1", "host2", "host3")
SERIES = re.compile(
    r'^swarm_operator_overlay_reachable\{network="(?P<net>[^"]*)",source_node="(?P<src>[^"]*)",'
    r'target_node="(?P<dst>[^"]*)"\} (?P<value>[0-9.e+-]+)$',
    re.MULTILINE,
)


def write_network(directory: Path, lab: Lab, probe: str = "  probe:\n    interval: 2s\n") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    k = lab.index
    text = (
        "apiVersion: swarm-operator/v1alpha1\nkind: Network\n"
        f"metadata:\n  name: {NETWORK}\nspec:\n  driver: overlay\n  attachable: true\n"
        f"  subnet: 10.10.{k}.0/24\n  gateway: 10.10.{k}.1\n{probe}"
    )
    tmp = directory / ".network.yaml.tmp"
    tmp.write_text(text)
    tmp.replace(directory / "network.yaml")


def matrix(d: Daemon) -> dict[tuple[str, str], float]:
    return {
        (m["src"], m["dst"]): float(m["value"])
        for m in SERIES.finditer(d.metrics())
        if m["net"] == NETWORK
    }


def off_diagonal(m: dict[tuple[str, str], float]) -> dict[tuple[str, str], float] | None:
    """The six ordered pairs of distinct hosts, or None while not all are exported."""
    pairs = {(s, t): m[(s, t)] for s in HOSTS for t in HOSTS if s != t and (s, t) in m}
    return pairs if len(pairs) == 6 else None


def probe_service_exists(docker_cli: DockerCli) -> bool:
    names = docker_cli("service", "ls", "--format", "{{.Name}}").stdout.split()
    return overlay_probe_name(NETWORK) in names


def test_matrix_follows_a_vxlan_block_on_host2_and_probe_off_removes_it(
    lab: Lab, swarm_cleanup: None, docker_cli: DockerCli, workdir: Path, daemons: list[Daemon]
) -> None:
    manifests = workdir / "m"
    write_network(manifests, lab)
    d = start(daemons, lab, manifests, workdir / "d.log")  # --probe-image: the lab's
    d.wait_ready()

    def all_up() -> bool:
        pairs = off_diagonal(matrix(d))
        return pairs is not None and all(v == 1.0 for v in pairs.values())

    wait_for("all six ordered pairs reachable", all_up, timeout=120)
    assert probe_service_exists(docker_cli)
    # The probe is the operator's plumbing: never shown as drift, never an object.
    assert all(o["name"] != overlay_probe_name(NETWORK) for o in d.status()["objects"])
    (health,) = [p for p in d.status()["probes"] if p["network"] == NETWORK]
    assert health["pairsTotal"] == 6 and health["lastRound"] is not None

    def host2_cut() -> dict[tuple[str, str], float] | None:
        pairs = off_diagonal(matrix(d))
        if pairs is None:
            return None
        want = {k: 0.0 if "host2" in k else 1.0 for k in pairs}
        return pairs if pairs == want else None

    block(lab, "host2", "4789/udp")
    t0 = time.monotonic()
    try:
        cut = wait_for("the host2 pairs to turn 0, host1<->host3 staying 1", host2_cut, 45)
        note(f"block 4789/udp on host2 -> host2 pairs at 0 after {time.monotonic() - t0:.2f}s")
        assert cut[("host1", "host3")] == 1.0 and cut[("host3", "host1")] == 1.0
        for other in ("host1", "host3"):
            assert cut[("host2", other)] == 0.0 and cut[(other, "host2")] == 0.0
        wait_for(
            "/status to name the broken pairs",
            lambda: any(
                p["network"] == NETWORK and p["pairsOk"] == 2 and len(p["broken"]) == 4
                for p in d.status()["probes"]
            ),
        )
    finally:
        unblock(lab, "host2", "4789/udp")
    t1 = time.monotonic()
    wait_for("every pair back to 1", all_up, 45)
    note(f"unblock -> all pairs back at 1 after {time.monotonic() - t1:.2f}s")

    # Probe turned off in the spec: the service goes, and so do its series.
    write_network(manifests, lab, probe="  probe:\n    enabled: false\n")
    wait_for("the probe service to be removed", lambda: not probe_service_exists(docker_cli))
    wait_for("the matrix series to go", lambda: matrix(d) == {})
    assert d.status()["probes"] == []
    assert docker_cli("network", "inspect", NETWORK, check=False).returncode == 0
    assert d.stop() == 0


def test_a_drained_node_leaves_the_matrix_and_prune_removes_probe_then_network(
    lab: Lab, swarm_cleanup: None, docker_cli: DockerCli, workdir: Path, daemons: list[Daemon]
) -> None:
    manifests = workdir / "m"
    write_network(manifests, lab)
    # A second network, never probed (and something left declared: prune refuses to act
    # on a directory that declares nothing).
    (manifests / "quiet.yaml").write_text(
        "apiVersion: swarm-operator/v1alpha1\nkind: Network\n"
        f"metadata:\n  name: quiet-net\nspec:\n  subnet: 10.11.{lab.index}.0/24\n"
        "  probe:\n    enabled: false\n"
    )
    d = start(daemons, lab, manifests, workdir / "d.log", "--prune")
    d.wait_ready()
    wait_for(
        "all six ordered pairs reachable",
        lambda: (p := off_diagonal(matrix(d))) is not None and set(p.values()) == {1.0},
        timeout=120,
    )

    # A drained node runs no global task: its pairs leave the matrix (no stale series).
    docker_cli("node", "update", "--availability", "drain", "host3")
    try:
        wait_for(
            "host3's series to go",
            lambda: (m := matrix(d)) and all("host3" not in k for k in m) and len(m) == 4,
        )
        assert set(matrix(d).values()) == {1.0}
    finally:
        docker_cli("node", "update", "--availability", "active", "host3")
    wait_for("host3 back in the matrix", lambda: off_diagonal(matrix(d)) is not None, 60)

    # No longer declared, with --prune: the probe goes first, so the network can go too.
    (manifests / "network.yaml").unlink()
    wait_for(
        "the network to be pruned",
        lambda: docker_cli("network", "inspect", NETWORK, check=False).returncode != 0,
        timeout=90,
    )
    assert not probe_service_exists(docker_cli)
    wait_for("the matrix series to go", lambda: matrix(d) == {})
    assert d.status()["probes"] == []
    assert docker_cli("network", "inspect", "quiet-net", check=False).returncode == 0
    assert "quiet-net" not in docker_cli("service", "ls", "--format", "{{.Name}}").stdout
    assert d.stop() == 0
