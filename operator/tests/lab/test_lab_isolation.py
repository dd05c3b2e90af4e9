"""`swarm_cleanup` really restores the Swarm: the first test leaves a mess on purpose,
the second (pytest runs a file's tests in order) checks the mess is gone."""

from __future__ import annotations

import json

import pytest

from swarm_operator.lab import Lab, docker

pytestmark = pytest.mark.lab

MESS = "isolation-mess"


def test_leave_a_mess(lab: Lab, swarm_cleanup: None) -> None:
    m, worker = lab.manager, lab.hosts[1]
    assert docker(m, "network", "create", "-d", "overlay", "--attachable", MESS).returncode == 0
    proc = docker(
        m, "service", "create", "--detach", "--name", MESS, "--network", MESS,
        "--endpoint-mode", "dnsrr", lab.image, "sleep", "600",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert docker(worker, "run", "-d", "--name", MESS, lab.image, "sleep", "600").returncode == 0
    assert docker(worker, "network", "create", f"{MESS}-local").returncode == 0
    node = worker.name
    args = ["node", "update", "--label-add", f"{MESS}=1", "--availability", "drain", node]
    assert docker(m, *args).returncode == 0
    assert docker(m, "node", "promote", lab.hosts[2].name).returncode == 0


def test_the_mess_is_gone(lab: Lab) -> None:
    m, worker = lab.manager, lab.hosts[1]
    assert MESS not in docker(m, "service", "ls", "--format", "{{.Name}}").stdout
    assert MESS not in docker(m, "network", "ls", "--format", "{{.Name}}").stdout
    assert MESS not in docker(worker, "network", "ls", "--format", "{{.Name}}").stdout
    assert MESS not in docker(worker, "ps", "-a", "--format", "{{.Names}}").stdout
    spec = json.loads(docker(m, "node", "inspect", worker.name).stdout)[0]["Spec"]
    assert spec["Availability"] == "active"
    assert MESS not in (spec.get("Labels") or {})
    third = json.loads(docker(m, "node", "inspect", lab.hosts[2].name).stdout)[0]["Spec"]
    assert third["Role"] == "worker"
