"""Networks and adoption on the lab: replace (guarded, detaches and reattaches), adopt."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from engine_lab import Engine, engine

pytestmark = pytest.mark.lab
__all__ = ["engine"]
DockerCli = Callable[..., subprocess.CompletedProcess[str]]

NET = """
apiVersion: swarm-operator/v1alpha1
kind: Network
metadata: {name: eng-rep-net}
spec: {subnet: SUBNET, attachable: true}
---
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: eng-rep-svc}
spec:
  image: {image}
  command: [sleep, "3600"]
  stopGracePeriod: 1s
  networks: [{name: eng-rep-net, aliases: [rep]}]
"""


def _subnet(engine: Engine) -> str:
    net = engine.client.inspect_network("eng-rep-net")
    return str(net["IPAM"]["Config"][0]["Subnet"])


def test_changed_subnet_is_a_guarded_replace(engine: Engine, docker_cli: DockerCli) -> None:
    engine.write("net.yaml", NET.replace("SUBNET", "10.42.0.0/24"))
    assert engine.apply("--wait").code == 0
    # An unmanaged service on the network is disrupted too, and must be named.
    docker_cli(
        "service",
        "create",
        "--detach",
        "--name",
        "eng-rep-hand",
        "--network",
        "eng-rep-net",
        engine.lab.image,
        "sleep",
        "3600",
    )
    old_id = engine.client.inspect_network("eng-rep-net")["Id"]

    engine.write("net.yaml", NET.replace("SUBNET", "10.43.0.0/24"))
    plan = engine.plan()
    assert plan.code == 2
    assert "-/+ replace Network eng-rep-net" in plan.out
    assert 'spec.subnet: "10.42.0.0/24" -> "10.43.0.0/24"' in plan.out
    assert "disrupts services: eng-rep-hand, eng-rep-svc" in plan.out
    assert "needs --allow-replace" in plan.out

    refused = engine.apply()
    assert refused.code == 1 and "needs --allow-replace" in refused.out
    assert _subnet(engine) == "10.42.0.0/24"

    done = engine.apply("--allow-replace", "--wait")
    assert done.code == 0, done.out
    assert "detached and reattached eng-rep-hand, eng-rep-svc" in done.out
    new = engine.client.inspect_network("eng-rep-net")
    assert new["Id"] != old_id and _subnet(engine) == "10.43.0.0/24"
    for name in ("eng-rep-svc", "eng-rep-hand"):
        attached = engine.service(name)["Spec"]["TaskTemplate"]["Networks"]
        assert [a["Target"] for a in attached] == [new["Id"]], name
    aliases = engine.service("eng-rep-svc")["Spec"]["TaskTemplate"]["Networks"][0]["Aliases"]
    assert aliases == ["rep"]
    assert engine.plan().code == 0


def test_replace_allowed_by_annotation(engine: Engine) -> None:
    engine.write("net.yaml", NET.replace("SUBNET", "10.44.0.0/24"))
    assert engine.apply().code == 0
    annotated = NET.replace("SUBNET", "10.45.0.0/24").replace(
        "metadata: {name: eng-rep-net}",
        'metadata: {name: eng-rep-net, annotations: {swarm-operator/allow-replace: "true"}}',
    )
    engine.write("net.yaml", annotated)
    assert engine.apply().code == 0
    assert _subnet(engine) == "10.45.0.0/24"


def test_unlabelled_service_is_adopted_only_when_asked(
    engine: Engine, docker_cli: DockerCli
) -> None:
    # The CLI pins the image digest it resolves from the registry: no false drift for it.
    docker_cli(
        "service",
        "create",
        "--detach",
        "--name",
        "eng-adopt",
        "--replicas",
        "2",
        "--env",
        "A=1",
        engine.lab.image,
        "sleep",
        "3600",
    )
    pinned = engine.service("eng-adopt")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert "@sha256:" in pinned
    engine.write(
        "adopt.yaml",
        """
        apiVersion: swarm-operator/v1alpha1
        kind: Service
        metadata: {name: eng-adopt}
        spec:
          image: {image}
          args: [sleep, "3600"]
          env: {A: "1"}
          replicas: 2
        """,
    )
    plan = engine.plan()
    assert plan.code == 2 and "<~ adopt Service eng-adopt" in plan.out
    assert "spec.image" not in plan.out  # the pinned digest is the requested image
    refused = engine.apply()
    assert refused.code == 1 and "pass --adopt" in refused.out
    assert "io.swarm-operator.managed-by" not in engine.service("eng-adopt")["Spec"]["Labels"]
    version = engine.service("eng-adopt")["Version"]["Index"]

    done = engine.apply("--adopt", "--wait")
    assert done.code == 0, done.out
    after = engine.service("eng-adopt")
    assert after["Spec"]["Labels"]["io.swarm-operator.managed-by"] == "swarm-operator"
    assert after["Version"]["Index"] > version
    # the pinned image was kept, so adopting did not restart the tasks
    assert after["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == pinned
    assert engine.plan().code == 0


def test_unlabelled_matching_network_is_used_as_is(engine: Engine, docker_cli: DockerCli) -> None:
    docker_cli(
        "network", "create", "--driver", "overlay", "--subnet", "10.46.0.0/24", "eng-hand-net"
    )
    engine.write(
        "n.yaml",
        """
        apiVersion: swarm-operator/v1alpha1
        kind: Network
        metadata: {name: eng-hand-net}
        spec: {subnet: 10.46.0.0/24}
        """,
    )
    plan = engine.plan("--verbose")
    assert plan.code == 0, plan.out
    assert "used as is and never pruned" in plan.out


def test_vxlanid_list_and_dns_option_order_replan_clean(engine: Engine) -> None:
    # issue 10: the engine accepts the VXLAN id option and never reports it back, and it
    # may store resolv.conf options in its own order: neither may plan a change forever
    engine.write(
        "net.yaml",
        """
apiVersion: swarm-operator/v1alpha1
kind: Network
metadata: {name: eng-vx-net}
spec:
  subnet: 10.43.0.0/24
  options: {com.docker.network.driver.overlay.vxlanid_list: "4242"}
---
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: eng-vx-svc}
spec:
  image: {image}
  command: [sleep, "3600"]
  stopGracePeriod: 1s
  networks: [eng-vx-net]
  dnsOptions: [timeout:2, ndots:1, rotate]
  mounts: [{type: tmpfs, source: "", target: /tmp/t}]
""",
    )
    applied = engine.apply("--wait", "--allow-replace")
    assert applied.code == 0, applied.out + applied.err
    for _ in range(2):  # a second apply must have nothing to do either
        again = engine.plan("--allow-replace")
        assert again.code == 0, again.out
        assert "No changes" in again.out, again.out
        assert engine.apply("--allow-replace").code == 0
    net_id = engine.client.inspect_network("eng-vx-net")["Id"]
    assert engine.apply("--allow-replace").code == 0
    assert engine.client.inspect_network("eng-vx-net")["Id"] == net_id  # never recreated
