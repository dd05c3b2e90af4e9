"""The paper's six deployment requirements, and its firewall fault, on the 3-host lab.

One attachable overlay network (10.10.0.0/24) carries busybox services that answer HTTP
with the name of the host they run on (``--hostname {{.Node.Hostname}}``), and a global
``probe`` service gives every host a container to send requests from. Endpoint mode is
``dnsrr`` (the lab kernel has no IPVS, see LAB.md). No port is published anywhere.
Every wait is bounded; a failure names the pair of hosts that could not talk.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from swarm_operator.cli import main
from swarm_operator.lab import Lab, LabHost, docker, unblock

pytestmark = pytest.mark.lab

NETWORK = "paper-net"
SUBNET = "10.10.0.0/24"
PREFIX = "paper-"
HTTPD = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
VXLAN = "4789/udp"


def _ok(host: LabHost, *args: str) -> str:
    proc = docker(host, *args, timeout=120)
    assert proc.returncode == 0, f"docker {' '.join(args)} on {host.name}: {proc.stderr}"
    return proc.stdout


@dataclass
class Paper:
    lab: Lab
    probes: dict[str, str]  # host name -> id of the probe container running there

    def fetch(self, src: str, target: str, tries: int = 1) -> str | None:
        """Body of http://TARGET/ fetched from the probe on host ``src`` (None: no answer).

        busybox wget's own -T flag crashes (Debian 12 busybox 1.35), so the time limit is
        busybox `timeout`.
        """
        host = self.lab.host(src)
        for attempt in range(tries):
            proc = docker(
                host, "exec", self.probes[src],
                "timeout", "2", "wget", "-q", "-O-", f"http://{target}/",
                timeout=30,
            )  # fmt: skip
            if proc.returncode == 0:
                return proc.stdout.strip()
            if attempt + 1 < tries:
                time.sleep(0.5)
        return None

    def resolve(self, src: str, name: str) -> list[str]:
        host = self.lab.host(src)
        proc = docker(host, "exec", self.probes[src], "nslookup", name, timeout=30)
        addrs = []
        for line in proc.stdout.splitlines():
            if line.startswith("Address") and ":53" not in line:
                addrs.append(line.split()[-1])
        return sorted(addrs)

    def task_addresses(self, service: str) -> dict[str, str]:
        """Node hostname -> overlay address of each running task of ``service``."""
        manager = self.lab.manager
        ids = _ok(manager, "service", "ps", "-q", "--filter", "desired-state=running", service)
        nodes = {
            n["ID"]: n["Description"]["Hostname"]
            for n in json.loads(
                _ok(manager, "node", "inspect", *_ok(manager, "node", "ls", "-q").split())
            )
        }
        result = {}
        for task in json.loads(_ok(manager, "inspect", "--type", "task", *ids.split())):
            for att in task.get("NetworksAttachments") or []:
                if att["Network"]["Spec"]["Name"] == NETWORK:
                    result[nodes[task["NodeID"]]] = att["Addresses"][0].split("/")[0]
        return result


def _service(lab: Lab, name: str, *options: str, command: str = HTTPD) -> None:
    _ok(
        lab.manager, "service", "create", "--detach", "--name", name,
        "--network", NETWORK, "--endpoint-mode", "dnsrr",
        "--hostname", "{{.Node.Hostname}}", "--stop-grace-period", "1s",
        *options, lab.image, "sh", "-c", command,
    )  # fmt: skip


def _wait_running(lab: Lab, expected: dict[str, int], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = {}
        for name in expected:
            out = _ok(
                lab.manager, "service", "ps", name, "--filter", "desired-state=running",
                "--format", "{{.CurrentState}}",
            )  # fmt: skip
            state[name] = sum(1 for line in out.splitlines() if line.startswith("Running"))
        if state == expected:
            return
        assert time.monotonic() < deadline, f"services not running in {timeout}s: {state}"
        time.sleep(0.5)


def _purge(lab: Lab) -> None:
    """Remove this module's services and network and any VXLAN block (bounded waits)."""
    manager = lab.manager
    services = _ok(manager, "service", "ls", "-q", "--filter", f"name={PREFIX}").split()
    if services:
        docker(manager, "service", "rm", *services)
    for host in lab.hosts:
        unblock(lab, host.name, VXLAN)
    for _ in range(60):  # removal is refused while tasks are attached, and is asynchronous
        if NETWORK not in _ok(manager, "network", "ls", "--format", "{{.Name}}").split():
            return
        docker(manager, "network", "rm", NETWORK)
        time.sleep(0.25)
    raise AssertionError(f"network {NETWORK} could not be removed")


@pytest.fixture(scope="module")
def paper(lab: Lab) -> Iterator[Paper]:
    assert len(lab.hosts) >= 3, "the paper's checks need a lab of at least 3 hosts"
    names = [h.name for h in lab.hosts[:3]]
    manager = lab.manager
    _purge(lab)  # what a crashed earlier run (with SWARM_OPERATOR_LAB_KEEP=1) left
    try:
        _ok(
            manager, "network", "create", "--driver", "overlay", "--attachable",
            "--subnet", SUBNET, "--gateway", "10.10.0.1", NETWORK,
        )  # fmt: skip
        _service(lab, f"{PREFIX}probe", "--mode", "global", command="exec sleep 86400")
        _service(lab, f"{PREFIX}web", "--replicas", "3", "--replicas-max-per-node", "1")
        for name in names:
            _service(lab, f"{PREFIX}on-{name}", "--constraint", f"node.hostname=={name}")
        _service(lab, f"{PREFIX}also-host1", "--constraint", "node.hostname==host1")
        expected = {f"{PREFIX}probe": len(lab.hosts), f"{PREFIX}web": 3}
        expected |= {f"{PREFIX}on-{n}": 1 for n in names}
        expected[f"{PREFIX}also-host1"] = 1
        _wait_running(lab, expected)
        probes = {}
        for host in lab.hosts:
            out = _ok(
                host, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={PREFIX}probe"
            )
            assert out.split(), f"no probe container on {host.name}"
            probes[host.name] = out.split()[0]
        paper = Paper(lab, probes)
        # Overlay peers learn each other's tasks by gossip: wait (bounded) until every
        # probe resolves all three web replicas before the checks start.
        deadline = time.monotonic() + 30
        for src in names:
            while len(paper.resolve(src, f"tasks.{PREFIX}web")) < 3:
                assert time.monotonic() < deadline, f"{src} does not see 3 web tasks"
                time.sleep(0.5)
        yield paper
    finally:
        _purge(lab)


def _hosts(paper: Paper) -> list[str]:
    return [h.name for h in paper.lab.hosts[:3]]


def test_1_a_service_runs_on_any_host(paper: Paper) -> None:
    for name in _hosts(paper):
        placed = paper.task_addresses(f"{PREFIX}on-{name}")
        assert list(placed) == [name]
        # ...and it really runs there: its own host answers its request.
        assert paper.fetch(name, f"{PREFIX}on-{name}", tries=10) == name


def test_2_several_services_on_one_host(paper: Paper) -> None:
    first = paper.task_addresses(f"{PREFIX}on-host1")
    placed = paper.task_addresses(f"{PREFIX}also-host1")
    assert list(first) == list(placed) == ["host1"]
    assert first["host1"] != placed["host1"]
    for service in (f"{PREFIX}on-host1", f"{PREFIX}also-host1"):
        assert paper.fetch("host1", service, tries=10) == "host1"


def test_3_same_host_communication(paper: Paper) -> None:
    # A service's task talks to another service's task on the same host, by name.
    manager = paper.lab.host("host1")
    cid = _ok(
        manager, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={PREFIX}also-host1"
    ).split()[0]
    proc = docker(
        manager, "exec", cid, "timeout", "2", "wget", "-q", "-O-", f"http://{PREFIX}on-host1/"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "host1"


def test_4_cross_host_communication_by_name_and_by_task_address(paper: Paper) -> None:
    hosts = _hosts(paper)
    web = paper.task_addresses(f"{PREFIX}web")
    assert sorted(web) == hosts, f"web replicas are not one per host: {web}"
    failures = []
    for src in hosts:
        # By service name: tasks.NAME lists every replica's address...
        resolved = paper.resolve(src, f"tasks.{PREFIX}web")
        if resolved != sorted(web.values()):
            failures.append(f"{src}: tasks.{PREFIX}web -> {resolved}, want {sorted(web.values())}")
        # ...and each replica, reached by its task address, says which host answered.
        for dst, address in web.items():
            answer = paper.fetch(src, address, tries=3)
            if answer != dst:
                failures.append(f"{src} -> {dst} ({address}): got {answer!r}")
            by_name = paper.fetch(src, f"{PREFIX}on-{dst}", tries=3)
            if by_name != dst:
                failures.append(f"{src} -> {PREFIX}on-{dst} (by name): got {by_name!r}")
    assert not failures, "\n".join(failures)


def test_5_task_addresses_come_from_the_overlay_subnet(paper: Paper) -> None:
    overlay = ipaddress.ip_network(SUBNET)
    hosts_net = ipaddress.ip_network(paper.lab.subnet)
    addresses = list(paper.task_addresses(f"{PREFIX}web").values())
    for name in _hosts(paper):
        addresses += paper.task_addresses(f"{PREFIX}on-{name}").values()
    assert len(addresses) == 6
    for address in addresses:
        ip = ipaddress.ip_address(address)
        assert ip in overlay, f"{address} is not in {SUBNET}"
        assert ip not in hosts_net


def test_6_services_talk_without_published_ports(paper: Paper) -> None:
    manager = paper.lab.manager
    services = _ok(manager, "service", "ls", "-q", "--filter", f"name={PREFIX}").split()
    for spec in json.loads(_ok(manager, "service", "inspect", *services)):
        assert not (spec["Spec"].get("EndpointSpec") or {}).get("Ports"), spec["Spec"]["Name"]
        assert not (spec.get("Endpoint") or {}).get("Ports"), spec["Spec"]["Name"]
    # Nothing published, yet host3 reaches host1's service over the overlay.
    assert paper.fetch("host3", f"{PREFIX}on-host1", tries=5) == "host1"


def test_blocked_vxlan_isolates_exactly_that_hosts_replicas(paper: Paper) -> None:
    lab = paper.lab
    target = paper.task_addresses(f"{PREFIX}on-host2")["host2"]
    control = paper.task_addresses(f"{PREFIX}on-host3")["host3"]
    for src in ("host1", "host3", "host2"):
        assert paper.fetch(src, target, tries=10) == "host2", f"{src} -> host2 before the block"
    assert main(["lab", "block", "host2", VXLAN, "--index", str(lab.index)]) == 0
    try:
        for src in ("host1", "host3"):
            assert paper.fetch(src, target) is None, f"{src} reached host2 with VXLAN blocked"
            assert paper.fetch(src, target) is None, f"{src} reached host2 with VXLAN blocked"
        # Same-host traffic on host2 does not cross VXLAN: still fine.
        assert paper.fetch("host2", target, tries=3) == "host2"
        assert paper.fetch("host2", f"{PREFIX}on-host2", tries=3) == "host2"
        # Pairs without host2 are unaffected.
        assert paper.fetch("host1", control, tries=3) == "host3"
    finally:
        assert main(["lab", "unblock", "host2", VXLAN, "--index", str(lab.index)]) == 0
    for src in ("host1", "host3"):
        assert paper.fetch(src, target, tries=10) == "host2", f"{src} -> host2 after unblock"
