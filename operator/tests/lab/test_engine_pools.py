"""Networks with several IPAM pools on the lab: a dual-stack overlay and a two-pool one
applied, re-planned clean, a service on both starts; a hand-made two-pool network is
used as is, a manifest leaving a pool out plans a guarded replace that lists it, and one
declaring no pool recreates it with both."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest
from engine_lab import Engine, engine

pytestmark = pytest.mark.lab
__all__ = ["engine"]
DockerCli = Callable[..., subprocess.CompletedProcess[str]]

POOLS = """
apiVersion: swarm-operator/v1alpha1
kind: Network
metadata: {name: pool-dual}
spec:
  ipv6: true
  attachable: true
  pools: [{subnet: 10.61.0.0/24}, {subnet: "fd00:61::/64"}]
---
apiVersion: swarm-operator/v1alpha1
kind: Network
metadata: {name: pool-two}
spec:
  pools:
    - {subnet: 10.63.0.0/24, gateway: 10.63.0.1}
    - {subnet: 10.62.0.0/24, ipRange: 10.62.0.128/25}
---
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: pool-svc}
spec:
  image: {image}
  command: [sleep, "3600"]
  stopGracePeriod: 1s
  networks: [{name: pool-dual}, {name: pool-two}]
"""


def _subnets(engine: Engine, name: str) -> list[str]:
    return sorted(p["Subnet"] for p in engine.client.inspect_network(name)["IPAM"]["Config"])


def test_dual_stack_and_two_pools_apply_and_replan_clean(engine: Engine) -> None:
    engine.write("pools.yaml", POOLS)
    done = engine.apply("--wait")
    assert done.code == 0, done.out
    dual = engine.client.inspect_network("pool-dual")
    assert dual["EnableIPv6"] is True
    assert _subnets(engine, "pool-dual") == ["10.61.0.0/24", "fd00:61::/64"]
    assert _subnets(engine, "pool-two") == ["10.62.0.0/24", "10.63.0.0/24"]
    plan = engine.plan()
    assert plan.code == 0, plan.out
    deadline = time.monotonic() + 120
    states: list[str] = []
    while time.monotonic() < deadline:
        tasks = engine.client.tasks({"service": ["pool-svc"]})
        states = [str(t["Status"]["State"]) for t in tasks]
        if "running" in states:
            break
        time.sleep(1)
    assert "running" in states, states


def test_hand_made_two_pool_network_is_adopted_without_losing_a_pool(
    engine: Engine, docker_cli: DockerCli
) -> None:
    docker_cli(
        "network",
        "create",
        "--driver",
        "overlay",
        "--subnet",
        "10.64.0.0/24",
        "--subnet",
        "10.65.0.0/24",
        "pool-hand",
    )
    both = """
    apiVersion: swarm-operator/v1alpha1
    kind: Network
    metadata: {name: pool-hand}
    spec:
      pools: [{subnet: 10.65.0.0/24}, {subnet: 10.64.0.0/24}]
    """
    engine.write("hand.yaml", both)
    plan = engine.plan("--verbose")
    assert plan.code == 0, plan.out
    assert "used as is and never pruned" in plan.out
    # the shorthand naming one of the two pools: a guarded adopt that names the other
    engine.write(
        "hand.yaml",
        both.replace(
            "pools: [{subnet: 10.65.0.0/24}, {subnet: 10.64.0.0/24}]", "subnet: 10.64.0.0/24"
        ),
    )
    plan = engine.plan()
    assert plan.code == 2 and "adopt Network pool-hand" in plan.out, plan.out
    assert "dropped: IPAM.Config[1] (subnet 10.65.0.0/24: not in the manifest)" in plan.out
    refused = engine.apply()
    assert refused.code == 1
    assert _subnets(engine, "pool-hand") == ["10.64.0.0/24", "10.65.0.0/24"]
    # no pool declared and another field changed: the recreate keeps both live pools
    old_id = engine.client.inspect_network("pool-hand")["Id"]
    engine.write(
        "hand.yaml",
        both.replace("pools: [{subnet: 10.65.0.0/24}, {subnet: 10.64.0.0/24}]", "attachable: true"),
    )
    plan = engine.plan()
    assert plan.code == 2 and "kept: IPAM.Config[1] (subnet 10.65.0.0/24" in plan.out, plan.out
    assert "dropped" not in plan.out
    done = engine.apply("--adopt", "--allow-replace")
    assert done.code == 0, done.out
    after = engine.client.inspect_network("pool-hand")
    assert after["Id"] != old_id and after["Attachable"] is True
    assert _subnets(engine, "pool-hand") == ["10.64.0.0/24", "10.65.0.0/24"]
    assert engine.plan().code == 0
