"""Engine on the lab: the fields of stack files (issue 12) reach the engine as written and
read back without drift, on every engine the lab runs (20.10 = API 1.41, and 26.1).

One service sets a log driver, capabilities, sysctls, ulimits, a read-only root, a tmpfs
mount with size and mode, and a named volume whose driver options come from a Volume
manifest; it is attached to an external network made by hand. Every one of these fields
is accepted by API 1.41 (`swarm.api_versions`), so nothing is refused on either engine.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest
from engine_lab import Engine, engine

pytestmark = pytest.mark.lab
__all__ = ["engine"]
DockerCli = Callable[..., subprocess.CompletedProcess[str]]

MANIFESTS = """
apiVersion: swarm-operator/v1alpha1
kind: Network
metadata: {name: fld-edge}
spec: {external: true, probe: {enabled: false}}
---
apiVersion: swarm-operator/v1alpha1
kind: Volume
metadata: {name: fld-data}
spec:
  driver: local
  driverOptions: {type: tmpfs, device: tmpfs, o: size=16m}
  labels: {tier: cache}
---
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: fld-svc}
spec:
  image: {image}
  command: [sleep, "3600"]
  stopGracePeriod: 1s
  networks: [fld-edge]
  logging: {driver: json-file, options: {max-size: 1m, max-file: "2"}}
  capAdd: [NET_ADMIN]
  capDrop: [MKNOD]
  sysctls: {net.core.somaxconn: 1024}
  ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 4096}
  readOnly: true
  mounts:
    - {type: tmpfs, target: /scratch, tmpfs: {size: 8M, mode: "1770"}}
    - {type: volume, source: fld-data, target: /data, volumeOptions: {noCopy: true}}
"""


def test_stack_fields_apply_and_replan_clean(engine: Engine, docker_cli: DockerCli) -> None:
    engine.write("stack.yaml", MANIFESTS)
    missing = engine.plan()
    assert missing.code == 1, missing.out + missing.err
    assert "? missing Network fld-edge" in missing.out
    assert "swarm-operator never creates it" in missing.out
    assert "fld-edge" not in engine.network_names()

    docker_cli("network", "create", "--driver", "overlay", "fld-edge")  # made by hand
    applied = engine.apply("--wait", "--timeout", "120s")
    assert applied.code == 0, applied.out + applied.err
    again = engine.plan()
    assert again.code == 0, again.out + again.err
    assert "No changes" in again.out

    inspect = docker_cli("service", "inspect", "fld-svc").stdout
    spec = json.loads(inspect)[0]["Spec"]
    task = spec["TaskTemplate"]
    c = task["ContainerSpec"]
    assert task["LogDriver"] == {
        "Name": "json-file",
        "Options": {"max-file": "2", "max-size": "1m"},
    }
    assert c["CapabilityAdd"] == ["CAP_NET_ADMIN"]
    assert c["CapabilityDrop"] == ["CAP_MKNOD"]
    assert c["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert sorted(c["Ulimits"], key=lambda u: u["Name"]) == [
        {"Name": "nofile", "Soft": 1024, "Hard": 2048},
        {"Name": "nproc", "Soft": 4096, "Hard": 4096},
    ]
    assert c["ReadOnly"] is True
    mounts = {m["Target"]: m for m in c["Mounts"]}
    assert mounts["/scratch"]["TmpfsOptions"] == {"SizeBytes": 8 * 2**20, "Mode": 0o1770}
    assert mounts["/data"]["VolumeOptions"] == {
        "NoCopy": True,
        "Labels": {"tier": "cache"},
        "DriverConfig": {
            "Name": "local",
            "Options": {"device": "tmpfs", "o": "size=16m", "type": "tmpfs"},
        },
    }
    edge = engine.client.inspect_network("fld-edge")
    assert [n["Target"] for n in task["Networks"]] == [edge["Id"]]
    assert not edge.get("Labels"), "an external network is never labelled or changed"

    # The task really runs with them: the volume was made by the node with the options.
    (running,) = [
        t
        for t in engine.client.tasks(filters={"service": "fld-svc"})
        if t["Status"]["State"] == "running"
    ]
    node = next(n for n in engine.client.nodes() if n["ID"] == running["NodeID"])
    host = node["Description"]["Hostname"]
    volume = json.loads(docker_cli("volume", "inspect", "fld-data", host=host).stdout)[0]
    assert volume["Options"] == {"device": "tmpfs", "o": "size=16m", "type": "tmpfs"}
    assert volume["Labels"] == {"tier": "cache"}

    # Pruning never touches the external network, and the Volume plans nothing.
    engine.write("stack.yaml", MANIFESTS.split("---")[0])
    pruned = engine.apply("--prune", "--wait", "--timeout", "120s")
    assert pruned.code == 0, pruned.out + pruned.err
    assert "fld-svc" not in engine.service_names()
    assert "fld-edge" in engine.network_names()
    # volumes are the nodes' (swarm_cleanup removes services, containers and networks)
    docker_cli("volume", "rm", "fld-data", host=host, check=False)


ZEROS = """
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: fld-zeros}
spec:
  image: {image}
  command: [sleep, "3600"]
  stopGracePeriod: 0s
  healthcheck: {test: "true", interval: 0s, timeout: 0s, startPeriod: 0s, retries: 0}
  updateConfig: {parallelism: 0, delay: 0s, monitor: 0s, maxFailureRatio: 0}
  rollbackConfig: {parallelism: 0, delay: 0s, monitor: 0s, maxFailureRatio: 0}
  restartPolicy: {delay: 0s, window: 0s, maxAttempts: 0}
  resources:
    limits: {cpus: 0, memory: 0, pids: 0}
    reservations: {cpus: 0, memory: 0}
  placement: {maxReplicasPerNode: 0}
"""


def test_zero_values_the_engine_stores_as_absent_replan_clean(engine: Engine) -> None:
    """Zeros a user may write for "the default": the engine stores the healthcheck's as
    absent (20.10 and 26.1), and plan right after apply shows no change for any of them."""
    engine.write("zeros.yaml", ZEROS)
    applied = engine.apply("--wait", "--timeout", "120s")
    assert applied.code == 0, applied.out + applied.err
    spec = engine.service("fld-zeros")["Spec"]
    task = spec["TaskTemplate"]
    # what 20.10 and 26.1 store: the zeros of the healthcheck and of the update/rollback
    # durations are absent, restart and stop durations 0 (pointers in the engine's API),
    # resources of 0 empty blocks
    assert task["ContainerSpec"]["Healthcheck"] == {"Test": ["CMD-SHELL", "true"]}
    assert task["ContainerSpec"]["StopGracePeriod"] == 0
    for block in ("UpdateConfig", "RollbackConfig"):
        assert "Delay" not in spec[block] and "Monitor" not in spec[block], spec[block]
    assert task["RestartPolicy"]["Delay"] == 0 and task["RestartPolicy"]["Window"] == 0
    assert task["Resources"] == {"Limits": {}, "Reservations": {}}
    again = engine.plan()
    assert again.code == 0, again.out + again.err
    assert "No changes" in again.out, again.out
