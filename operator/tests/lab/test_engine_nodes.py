"""Declarative nodes on the lab: labels (merged or exclusive), availability, role, the
last-manager guard, a Node that is not in the Swarm, and a label removed by hand."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from engine_lab import Engine, engine

pytestmark = pytest.mark.lab
__all__ = ["engine"]
DockerCli = Callable[..., subprocess.CompletedProcess[str]]


def node_yaml(name: str, spec: str) -> str:
    return f"""
apiVersion: swarm-operator/v1alpha1
kind: Node
metadata: {{name: {name}}}
spec: {spec}
"""


def test_labels_are_merged_and_restored_after_hand_removal(
    engine: Engine, docker_cli: DockerCli
) -> None:
    docker_cli("node", "update", "--label-add", "eng-other=keep", "host3")
    engine.write("n.yaml", node_yaml("host3", "{labels: {eng-zone: c, eng-tier: x}}"))
    assert engine.apply().code == 0
    labels = engine.node("host3")["Spec"]["Labels"]
    assert labels == {**labels, "eng-zone": "c", "eng-tier": "x", "eng-other": "keep"}
    assert engine.plan().code == 0

    docker_cli("node", "update", "--label-rm", "eng-zone", "host3")
    drift = engine.plan()
    assert drift.code == 2 and 'spec.labels.eng-zone: (unset) -> "c"' in drift.out
    assert engine.apply().code == 0
    assert engine.node("host3")["Spec"]["Labels"]["eng-zone"] == "c"
    assert engine.plan().code == 0


def test_exclusive_labels_remove_the_others(engine: Engine, docker_cli: DockerCli) -> None:
    docker_cli("node", "update", "--label-add", "eng-other=drop", "host3")
    engine.write("n.yaml", node_yaml("host3", "{labels: {eng-zone: c}, exclusiveLabels: true}"))
    plan = engine.plan()
    assert plan.code == 2 and 'spec.labels.eng-other: "drop" -> (unset)' in plan.out
    assert engine.apply().code == 0
    assert engine.node("host3")["Spec"]["Labels"] == {"eng-zone": "c"}
    assert engine.plan().code == 0


def test_availability_and_role(engine: Engine, docker_cli: DockerCli) -> None:
    try:
        engine.write("n.yaml", node_yaml("host3", "{availability: drain, role: manager}"))
        assert engine.apply().code == 0
        spec = engine.node("host3")["Spec"]
        assert (spec["Availability"], spec["Role"]) == ("drain", "manager")
        assert engine.plan().code == 0
        # Demoting right after promoting: the engine says "can't find manager in raft
        # memberlist" until host3 has joined Raft; apply retries that, then succeeds.
        engine.write("n.yaml", node_yaml("host3", "{availability: active, role: worker}"))
        result = engine.apply()
        assert result.code == 0, result.out
        spec = engine.node("host3")["Spec"]
        assert (spec["Availability"], spec["Role"]) == ("active", "worker")
    finally:  # the lab's cleanup expects host3 to be a worker again
        docker_cli(
            "node", "update", "--availability", "active", "--role", "worker", "host3", check=False
        )


@pytest.mark.parametrize("spec", ["{availability: drain}", "{role: worker}"])
def test_last_active_manager_is_refused(engine: Engine, spec: str) -> None:
    engine.write("n.yaml", node_yaml("host1", spec))
    plan = engine.plan()
    assert "refused: would" in plan.out and "last active manager" in plan.out
    result = engine.apply()
    assert result.code == 1
    node = engine.node("host1")["Spec"]
    assert (node["Availability"], node["Role"]) == ("active", "manager")


def test_node_not_in_the_swarm_is_missing_not_an_error(engine: Engine) -> None:
    engine.write("n.yaml", node_yaml("host9", "{labels: {a: b}}"))
    plan = engine.plan()
    assert plan.code == 0, plan.out
    assert "? missing Node host9" in plan.out
    assert engine.apply().code == 0
