"""Engine on the lab: every optional block of a service, applied and then removed, leaves
every manager's dockerd alive and the plan clean.

dockerd 20.10's swarmkit dies (nil pointer in ``orchestrator.nodeMatches``) when a service
update sends a task template without ``Placement`` while the service had one; the docker
CLI always sends every block, empty where unset, and so must the operator (render.py).
Written for any engine the lab runs: it asserts only what every engine must do.
"""

from __future__ import annotations

import time

import pytest
from engine_lab import Engine, engine

from swarm_operator.lab.engine import engine_ping
from swarm_operator.lab.system import ProcId

pytestmark = pytest.mark.lab
__all__ = ["engine"]

BASE = """
apiVersion: swarm-operator/v1alpha1
kind: Network
metadata: {{name: blk-net}}
spec: {{probe: {{enabled: false}}}}
---
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {{name: blk-svc}}
spec:
  image: {{image}}
  command: [sleep, "3600"]
  replicas: 1
  stopGracePeriod: 1s
{block}
"""

BLOCKS = {
    "placement-constraints": "  placement: {constraints: [node.hostname!=nope]}",
    "placement-preferences": "  placement: {preferences: [{spread: node.labels.zone}]}",
    "placement-max-replicas": "  placement: {maxReplicasPerNode: 2}",
    "resources": (
        "  resources: {limits: {cpus: 0.5, memory: 64M}, reservations: {cpus: 0.1, memory: 8M}}"
    ),
    "healthcheck": "  healthcheck: {test: [CMD, 'true'], interval: 1s, retries: 2}",
    "update-config": "  updateConfig: {parallelism: 2, delay: 1s, order: start-first}",
    "rollback-config": "  rollbackConfig: {parallelism: 2, monitor: 1s}",
    "restart-policy": "  restartPolicy: {condition: on-failure, maxAttempts: 3}",
    "mounts": "  mounts: [{type: tmpfs, target: /tmp/t}, {type: volume, target: /data}]",
    "ports": "  ports: [{target: 8080, published: 18082, mode: host}]",
    "networks": "  networks: [{name: blk-net, aliases: [blk]}]",
}


def _dead_managers(engine: Engine) -> list[str]:
    dead = []
    for host in engine.lab.hosts:
        if host.role != "manager":
            continue
        alive = bool(host.pid) and ProcId(host.pid, host.start).alive()
        if not alive or not engine_ping(host.socket):
            dead.append(f"{host.name} (dockerd pid {host.pid}, alive={alive})")
    return dead


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_removing_a_block_keeps_the_managers_alive(engine: Engine, block: str) -> None:
    engine.write("svc.yaml", BASE.format(block=BLOCKS[block]))
    first = engine.apply("--wait", "--timeout", "90s")
    assert first.code == 0, first.out + first.err
    assert engine.plan().code == 0

    engine.write("svc.yaml", BASE.format(block=""))
    second = engine.apply("--wait", "--timeout", "90s")
    time.sleep(1.0)  # the manager's orchestrator acts on the update just after it is stored
    dead = _dead_managers(engine)
    assert not dead, f"removing {block} killed the manager: {dead}\n{second.out}{second.err}"
    assert second.code == 0, second.out + second.err

    again = engine.plan()
    assert again.code == 0, again.out
    assert "No changes" in again.out
    # What is stored has every block the docker CLI always writes.
    task = engine.service("blk-svc")["Spec"]["TaskTemplate"]
    for key in ("Placement", "Resources", "RestartPolicy", "ContainerSpec"):
        assert key in task, (key, task)


def test_mode_change_is_planned_as_a_gated_replace(engine: Engine) -> None:
    engine.write("svc.yaml", BASE.format(block=""))
    assert engine.apply("--wait", "--timeout", "90s").code == 0
    engine.write("svc.yaml", BASE.format(block="").replace("  replicas: 1\n", "  mode: global\n"))
    blocked = engine.apply()
    assert blocked.code != 0, blocked.out
    assert "--allow-replace" in blocked.out + blocked.err
    assert "Replicated" in engine.service("blk-svc")["Spec"]["Mode"]

    replaced = engine.apply("--allow-replace", "--wait", "--timeout", "90s")
    assert replaced.code == 0, replaced.out + replaced.err
    assert "Global" in engine.service("blk-svc")["Spec"]["Mode"]
    again = engine.plan()
    assert again.code == 0, again.out
