"""Engine on the lab: create, update, no-op after apply (every field), drift by hand,
version conflict, and --wait failures (rollback, image not found, no suitable node)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from engine_lab import Engine, engine

from swarm_operator.engine.converge import apply_plan
from swarm_operator.engine.live import read_live
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.manifests.loader import load_directory

pytestmark = pytest.mark.lab
__all__ = ["engine"]
DockerCli = Callable[..., subprocess.CompletedProcess[str]]

EVERY = """
apiVersion: swarm-operator/v1alpha1
kind: Network
metadata: {name: eng-every-net}
spec:
  driver: overlay
  subnet: 10.41.0.0/24
  gateway: 10.41.0.254
  ipRange: 10.41.0.0/25
  attachable: true
  internal: true
  encrypted: true
  mtu: 1400
  options: {com.example.opt: "1"}
  labels: {team: a}
  probe: {enabled: false}
---
apiVersion: swarm-operator/v1alpha1
kind: Network
metadata: {name: eng-plain-net}
---
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata:
  name: eng-every
  labels: {app: every}
  annotations: {note: "manifest annotations are not Docker's"}
spec:
  image: {image}
  command: [sh, -c]
  args: ['mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www']
  env: {B: "2", A: 1}
  mode: replicated
  replicas: 2
  networks:
    - name: eng-plain-net
      aliases: [zeta, alpha]
  ports:
    - {target: 8080, published: 18080, mode: host}
    - {target: 53, published: 10053, protocol: udp, mode: host}
  endpointMode: dnsrr
  placement:
    constraints: [node.role==worker, node.hostname!=nope]
    preferences: [{spread: node.labels.zone}]
    maxReplicasPerNode: 1
  resources:
    limits: {cpus: 0.5, memory: 64M}
    reservations: {cpus: "0.1", memory: 8M}
  updateConfig: {parallelism: 2, delay: 1s, failureAction: rollback, monitor: 2s,
                 maxFailureRatio: 0.5, order: stop-first}
  rollbackConfig: {parallelism: 0, delay: 0s, failureAction: continue, monitor: 1s,
                   maxFailureRatio: 0.2, order: stop-first}
  restartPolicy: {condition: on-failure, delay: 2s, maxAttempts: 5, window: 1m}
  healthcheck:
    test: wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1
    interval: 2s
    timeout: 2s
    retries: 3
    startPeriod: 1s
  labels: {com.example.svc: x}
  containerLabels: {c: d}
  mounts:
    - {type: tmpfs, target: /tmp/t}
    - {type: volume, source: eng-v1, target: /data, readOnly: true}
  user: "0"
  workdir: /
  hostname: "h-{{.Task.Slot}}"
  stopGracePeriod: 3s
  stopSignal: SIGTERM
  init: true
  dns: [10.0.0.2]
  dnsSearch: [example.test]
  dnsOptions: ["ndots:1"]
  hosts: {db.test: 10.1.2.3}
"""


def test_every_field_create_then_noop_then_update(engine: Engine) -> None:
    engine.write("every.yaml", EVERY)
    first = engine.plan()
    assert first.code == 2, first.out
    assert "+ create Service eng-every" in first.out

    applied = engine.apply("--wait", "--timeout", "2m")
    assert applied.code == 0, applied.out + applied.err
    assert "converged: 2/2 running" in applied.out

    again = engine.plan()
    assert again.code == 0, again.out  # no false drift for any field
    assert "No changes" in again.out

    labels = engine.service("eng-every")["Spec"]["Labels"]
    assert labels["io.swarm-operator.managed-by"] == "swarm-operator"
    assert labels["io.swarm-operator.image"] == engine.lab.image
    assert len(labels["io.swarm-operator.spec-hash"]) == 16

    engine.write(
        "every.yaml", EVERY.replace("replicas: 2", "replicas: 1").replace('B: "2"', "B: 3")
    )
    changed = engine.plan("--output", "json")
    assert changed.code == 2
    (action,) = [a for a in changed.json()["actions"] if a["action"] != "noop"]
    assert (action["action"], action["name"]) == ("update", "eng-every")
    assert [d["path"] for d in action["differences"]] == ["spec.env.B", "spec.replicas"]
    assert engine.apply("--wait", "--timeout", "2m").code == 0
    assert engine.plan().code == 0
    spec = engine.service("eng-every")["Spec"]
    assert spec["Mode"]["Replicated"]["Replicas"] == 1
    assert "B=3" in spec["TaskTemplate"]["ContainerSpec"]["Env"]


SIMPLE = """
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: eng-web}
spec:
  image: {image}
  command: [sleep, "3600"]
  replicas: 2
  stopGracePeriod: 1s
"""


def test_hand_scale_is_drift_naming_replicas_and_apply_restores_it(
    engine: Engine, docker_cli: DockerCli
) -> None:
    engine.write("web.yaml", SIMPLE)
    assert engine.apply("--wait").code == 0
    docker_cli("service", "scale", "--detach", "eng-web=4")
    drift = engine.plan()
    assert drift.code == 2
    assert "spec.replicas: 4 -> 2" in drift.out
    assert engine.apply("--wait").code == 0
    assert engine.service("eng-web")["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
    assert engine.plan().code == 0


def test_version_conflict_rereads_and_replans(engine: Engine, docker_cli: DockerCli) -> None:
    engine.write("web.yaml", SIMPLE)
    assert engine.apply().code == 0
    engine.write("web.yaml", SIMPLE.replace("replicas: 2", "replicas: 3"))
    desired = [o.manifest for o in load_directory(engine.dir).objects]
    options = PlanOptions()
    stale = plan(desired, read_live(engine.client), options)
    (update,) = stale.pending
    read_version = update.live.version if update.live else -1
    # Someone changes the service between our read and our write.
    docker_cli("service", "update", "--detach", "--env-add", "BY_HAND=1", "eng-web")
    assert engine.service("eng-web")["Version"]["Index"] > read_version
    lines: list[str] = []
    report = apply_plan(engine.client, desired, options, stale, lines.append)
    assert report.ok, report.to_dict()
    assert any("re-reading and re-planning" in line for line in lines), lines
    spec = engine.service("eng-web")["Spec"]
    assert spec["Mode"]["Replicated"]["Replicas"] == 3
    # The re-plan saw the hand-made env and removed it (the manifest wins, knowingly).
    assert "BY_HAND=1" not in (spec["TaskTemplate"]["ContainerSpec"].get("Env") or [])
    assert engine.plan().code == 0


ROLLING = """
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: eng-roll}
spec:
  image: {image}
  command: [sh, -c, "COMMAND"]
  replicas: 1
  stopGracePeriod: 1s
  updateConfig: {failureAction: rollback, monitor: 4s}
  restartPolicy: {condition: any, delay: 1s}
"""


def test_rollback_is_a_failure_reported_by_wait(engine: Engine) -> None:
    engine.write("roll.yaml", ROLLING.replace("COMMAND", "sleep 3600"))
    assert engine.apply("--wait").code == 0
    engine.write("roll.yaml", ROLLING.replace("COMMAND", "exit 3"))
    failed = engine.apply("--wait", "--timeout", "2m")
    assert failed.code == 1, failed.out
    assert "FAILED" in failed.out and "eng-roll" in failed.out
    assert "rollback" in failed.out
    # The engine rolled back, so the Swarm differs from the manifest again: plan says so.
    assert engine.plan().code == 2


def test_image_not_found_is_a_failure_with_the_task_error(engine: Engine) -> None:
    engine.write(
        "bad.yaml",
        """
        apiVersion: swarm-operator/v1alpha1
        kind: Service
        metadata: {name: eng-noimage}
        spec:
          image: {registry}/swarm-operator/does-not-exist:1
          replicas: 1
        """,
    )
    failed = engine.apply("--wait", "--timeout", "2m")
    assert failed.code == 1, failed.out
    line = next(x for x in failed.out.splitlines() if x.startswith("FAILED") and "wait" in x)
    assert "eng-noimage" in line and "does-not-exist" in line


def test_no_suitable_node_is_a_failure(engine: Engine) -> None:
    engine.write(
        "pinned.yaml",
        """
        apiVersion: swarm-operator/v1alpha1
        kind: Service
        metadata: {name: eng-nowhere}
        spec:
          image: {image}
          command: [sleep, "3600"]
          placement: {constraints: [node.labels.eng-nowhere==yes]}
        """,
    )
    failed = engine.apply("--wait", "--timeout", "2m")
    assert failed.code == 1, failed.out
    assert "no suitable node" in failed.out


def test_apply_reports_docker_errors_naming_the_object(engine: Engine) -> None:
    engine.write(
        "clash.yaml",
        """
        apiVersion: swarm-operator/v1alpha1
        kind: Service
        metadata: {name: eng-clash}
        spec:
          image: {image}
          command: [sleep, "3600"]
          mounts: [{type: bind, source: /does/not/exist, target: /x}]
          networks: [eng-not-declared-net]
        """,
    )
    failed = engine.apply()
    assert failed.code == 1
    line = next(x for x in failed.out.splitlines() if x.startswith("FAILED"))
    assert "create Service eng-clash" in line and "eng-not-declared-net" in line


GOOD = """
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: eng-good}
spec:
  image: {image}
  command: [sleep, "3600"]
  replicas: 1
"""


def test_apply_is_all_or_nothing_unless_partial(engine: Engine) -> None:
    engine.write("good.yaml", GOOD)
    engine.write("held.yaml", GOOD.replace("eng-good", "eng-held"))
    assert engine.apply().code == 0
    held_before = engine.service("eng-held")["Version"]["Index"]
    # A second service in good.yaml; held.yaml breaks (and would change eng-held).
    engine.write("good.yaml", GOOD + "---" + GOOD.replace("eng-good", "eng-new"))
    engine.write("held.yaml", GOOD.replace("eng-good", "eng-held").replace("1\n", "[\n"))
    refused = engine.apply()
    assert refused.code == 1
    assert "held.yaml:" in refused.out and "Nothing applied" in refused.out
    assert "eng-new" not in engine.service_names()
    # --partial: the files that loaded are applied; the broken file's objects are held.
    engine.write(
        "held.yaml",
        GOOD.replace("eng-good", "eng-held").replace("replicas: 1", "replicas: 3")
        + "---\nkind: Service\nmetadata: {name: eng-held-2}\nspec: [\n",
    )
    partial = engine.apply("--partial")
    assert partial.code == 1  # a manifest failed to load: never a clean exit
    assert "eng-new" in engine.service_names()
    assert "held: its manifest file failed to load" in partial.out
    held = engine.service("eng-held")
    assert held["Version"]["Index"] == held_before
    assert held["Spec"]["Mode"]["Replicated"]["Replicas"] == 1
