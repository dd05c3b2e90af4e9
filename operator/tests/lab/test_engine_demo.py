"""The cross-host demo (manifests/cross-host-demo) on the lab: apply --wait creates it all,
plan right after is clean, and every replica answers from another host over the overlay."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_lab import Engine, engine

pytestmark = pytest.mark.lab
__all__ = ["engine"]
DockerCli = Callable[..., subprocess.CompletedProcess[str]]

DEMO = Path(__file__).resolve().parents[3] / "manifests" / "cross-host-demo"
DEMO_REGISTRY = "10.77.0.1:5000"  # lab index 0's; tests may run on another index


def test_cross_host_demo(engine: Engine, docker_cli: DockerCli) -> None:
    files = sorted(DEMO.glob("*.yaml"))
    assert files, DEMO
    for source in files:
        text = source.read_text().replace(DEMO_REGISTRY, engine.lab.registry)
        (engine.dir / source.name).write_text(text)

    applied = engine.apply("--wait", "--timeout", "3m")
    assert applied.code == 0, applied.out + applied.err
    for name in ("order", "billing", "console", "terminal", "api"):
        assert re.search(rf"ok .*Service {name}: wait: converged", applied.out), name

    clean = engine.plan()
    assert clean.code == 0, clean.out

    tasks = docker_cli(
        "service", "ps", "order", "--filter", "desired-state=running", "--format", "{{.Node}}"
    ).stdout.split()
    assert sorted(tasks) == ["host1", "host2", "host3"]

    # (busybox's wget -T crashes in this image: bound it with `timeout` instead)
    # From a container on host3: resolve every `order` task and fetch from each of them.
    script = (
        "for ip in $(nslookup tasks.order | awk '/^Address: / && $2 !~ /:/ {print $2}'); "
        "do timeout 5 wget -q -O - http://$ip:8080/ || echo FAIL $ip; done"
    )
    probe = docker_cli(
        "run",
        "--rm",
        "--network",
        "app-net",
        engine.lab.image,
        "sh",
        "-c",
        script,
        host="host3",
    )
    answers = probe.stdout.split()
    assert "FAIL" not in probe.stdout, probe.stdout
    assert len(answers) == 3 and len(set(answers)) == 3, answers
    assert all(a.startswith("order@") for a in answers), answers
    # and by service name through DNS round robin (endpoint mode dnsrr)
    by_name = docker_cli(
        "run",
        "--rm",
        "--network",
        "app-net",
        engine.lab.image,
        "timeout",
        "5",
        "wget",
        "-q",
        "-O",
        "-",
        "http://billing:8080/",
        host="host2",
    )
    assert by_name.stdout.startswith("billing@")
