"""The lab itself: a Swarm of Ready nodes named host1..hostN, the registry image, the CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from swarm_operator.cli import main
from swarm_operator.lab import Lab, lab_up

pytestmark = pytest.mark.lab
DockerCli = Callable[..., subprocess.CompletedProcess[str]]


def test_nodes_are_ready_and_named_after_hosts(lab: Lab, docker_cli: DockerCli) -> None:
    out = docker_cli("node", "ls", "--format", "{{json .}}").stdout
    nodes = [json.loads(line) for line in out.splitlines()]
    assert sorted(n["Hostname"] for n in nodes) == [h.name for h in lab.hosts]
    assert {n["Status"] for n in nodes} == {"Ready"}
    leaders = [n["Hostname"] for n in nodes if n["ManagerStatus"] == "Leader"]
    assert leaders == [lab.manager.name]


def test_each_host_has_its_own_daemon_address_and_no_default_route(
    lab: Lab, docker_cli: DockerCli
) -> None:
    seen = set()
    for host in lab.hosts:
        info = json.loads(docker_cli("info", "--format", "{{json .}}", host=host.name).stdout)
        assert info["Name"] == host.name
        assert info["Swarm"]["NodeAddr"] == host.address
        assert lab.registry in json.dumps(info["RegistryConfig"])
        seen.add(info["ID"])
        routes = subprocess.run(
            ["ip", "-n", host.netns, "route", "show", "default"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert routes.strip() == "", f"{host.name} has a default route: {routes}"
    assert len(seen) == len(lab.hosts)


def test_image_runs_from_the_lab_registry_on_every_host(lab: Lab, docker_cli: DockerCli) -> None:
    for host in lab.hosts:
        proc = docker_cli("run", "--rm", "--pull", "always", lab.image, "hostname", host=host.name)
        assert proc.stdout.strip()  # the container ran: the image came from the registry
    tools = "httpd wget nc ping nslookup timeout sleep sh"
    script = (
        f"for t in {tools}; do command -v $t >/dev/null || {{ echo missing $t; exit 1; }}; done"
    )
    proc = docker_cli("run", "--rm", lab.image, "sh", "-c", script, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lab_up_again_is_a_no_op(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    messages: list[str] = []
    again = lab_up(lab.index, hosts=len(lab.hosts), managers=lab.managers, progress=messages.append)
    assert [h.pid for h in again.hosts] == [h.pid for h in lab.hosts]
    assert "already up and healthy" in messages[-1]


def test_cli_env_and_status(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "env", "--index", str(lab.index)]) == 0
    out = capsys.readouterr().out
    assert f"export DOCKER_HOST={lab.manager.docker_host}\n" in out
    for host in lab.hosts:
        assert host.docker_host in out
    assert main(["lab", "status", "--index", str(lab.index)]) == 0
    out = capsys.readouterr().out
    for host in lab.hosts:
        assert host.name in out
    assert "ready/active" in out
