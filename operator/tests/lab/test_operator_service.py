"""The operator as a Swarm service, for real: its own image (deploy/build-image.sh: a
Debian root file system, the project's wheels installed offline, pushed to the lab
registry), deployed by deploy/stack.yml with the git source, on a lab of three managers.
Two replicas: one leads, one stands by; the demo manifests are kept from git (no manager
has them on its disk); the leader's host is cut and the standby takes over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_daemon import DockerCli, demote, note, wait_for

from swarm_operator.lab import Lab, cut, docker, restore, wait_nodes_ready
from swarm_operator.lab.gitserver import GitDaemon, Upstream

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "manifests" / "cross-host-demo"
EXAMPLE_REGISTRY = "10.77.0.1:5000"  # lab index 0's, as in test_engine_examples.py
SERVICE = "swarm-operator_operator"


def role(lab: Lab, host: str) -> str | None:
    """The /status role of the operator task on ``host`` (metrics port 9786, host mode)."""
    try:
        with urllib.request.urlopen(f"http://{lab.host(host).address}:9786/status", timeout=2) as r:
            return str(json.loads(r.read())["role"])
    except OSError:
        return None


def roles(lab: Lab, ask: str) -> dict[str, str | None]:
    """host -> role of each running operator task, as the manager ``ask`` lists them."""
    proc = docker(lab.host(ask), "service", "ps", SERVICE, "--filter", "desired-state=running",
                  "--format", "{{.Node}} {{.CurrentState}}")  # fmt: skip
    return {
        line.split()[0]: role(lab, line.split()[0])
        for line in proc.stdout.splitlines()
        if line.split()[1:2] == ["Running"]
    }


def all_ready(docker_cli: DockerCli) -> bool:
    states = docker_cli("node", "ls", "--format", "{{.Status}}", check=False).stdout.split()
    return states == ["Ready"] * 3


def plan_is_clean(lab: Lab, ask: str, manifests: Path) -> bool:
    env = dict(os.environ, DOCKER_HOST=f"unix://{lab.host(ask).socket}")
    proc = subprocess.run([sys.executable, "-m", "swarm_operator", "plan", str(manifests)],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    return proc.returncode == 0 and "No changes" in proc.stdout


def test_the_operator_service_keeps_git_and_survives_the_loss_of_its_leaders_host(
    lab: Lab, swarm_cleanup: None, docker_cli: DockerCli, tmp_path: Path
) -> None:
    env = dict(os.environ, DOCKER_HOST=f"unix://{lab.manager.socket}")
    t0 = time.monotonic()
    build = subprocess.run([str(REPO / "deploy/build-image.sh"), lab.registry], env=env,
                           capture_output=True, text=True, timeout=1800)  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    note(f"image built and pushed in {time.monotonic() - t0:.1f}s:\n{build.stderr.strip()}")

    # The demo on three managers (its nodes say so), committed to a git server on the
    # lab's bridge address, where the tasks' containers reach it (as the registry).
    upstream = Upstream(tmp_path / "srv")
    files = {}
    for path in sorted(DEMO.glob("*.yaml")):
        text = path.read_text().replace(EXAMPLE_REGISTRY, lab.registry)
        files[f"demo/{path.name}"] = text.replace("role: worker", "role: manager")
    upstream.commit(files)
    server = GitDaemon(upstream.root, host=lab.layout.gateway)
    cut_host = None
    try:
        docker_cli("node", "promote", "host2", "host3")
        for host in lab.hosts:
            wait_for(
                f"{host.name} to run the Raft as one of three managers",
                lambda host=host: docker(host, "info", "--format",
                                         "{{.Swarm.ControlAvailable}} {{.Swarm.Managers}}"
                                         ).stdout.strip() == "true 3",
            )  # fmt: skip
        stack_env = dict(env, REGISTRY=lab.registry, GIT_URL=server.url("repo.git"),
                         GIT_PATH="demo", GIT_INTERVAL="5s")  # fmt: skip
        deploy = subprocess.run(
            ["docker", "stack", "deploy", "--detach=true", "-c", str(REPO / "deploy/stack.yml"),
             "swarm-operator"],
            env=stack_env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert deploy.returncode == 0, deploy.stderr
        found = wait_for(
            "one replica to lead and one to stand by",
            lambda: r if sorted(map(str, (r := roles(lab, "host1")).values()))
            == ["leader", "standby"] else None,
            timeout=300,
        )  # fmt: skip
        wait_for("the demo from git to be applied", lambda: plan_is_clean(lab, "host1",
                 upstream.work / "demo"), timeout=300)  # fmt: skip

        leader = next(h for h, r in found.items() if r == "leader")
        standby = next(h for h, r in found.items() if r == "standby")
        ask = next(h.name for h in lab.hosts if h.name != leader)
        cut(lab, leader)
        cut_host = leader
        t_cut = time.monotonic()
        wait_for("the standby to take over", lambda: role(lab, standby) == "leader",
                 timeout=180)  # fmt: skip
        note(f"the standby on {standby} led {time.monotonic() - t_cut:.1f}s after {leader} "
             "was cut")  # fmt: skip
        # The new leader keeps the demo: a hand-made scale is reverted.
        docker(lab.host(ask), "service", "scale", "--detach", "order=1", check=True)
        wait_for("the new leader to revert it", lambda: plan_is_clean(lab, ask,
                 upstream.work / "demo"), timeout=120)  # fmt: skip
    finally:
        if cut_host is not None:
            restore(lab, cut_host)
            wait_for(f"{cut_host} to be back in the Swarm", lambda: all_ready(docker_cli),
                     timeout=180)  # fmt: skip
        docker_cli("stack", "rm", "swarm-operator", check=False)
        wait_for("the operator's tasks to be gone", lambda: all(
            not docker(h, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={SERVICE}"
                       ).stdout.strip() for h in lab.hosts), timeout=180)  # fmt: skip
        server.stop()
        for host, managers_left in (("host3", 2), ("host2", 1)):
            wait_for(f"{host} to be demoted again", lambda host=host: demote(docker_cli, host),
                     timeout=120)  # fmt: skip
            wait_for(f"{managers_left} manager(s) in the Raft", lambda n=managers_left: (
                docker_cli("info", "--format", "{{.Swarm.Managers}}", check=False).stdout.strip()
                == str(n)), timeout=120)  # fmt: skip
        wait_nodes_ready(lab)
