"""Helpers shared by the engine's pure tests: fixtures captured from a real engine."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from swarm_operator.engine.live import LiveState, build_state
from swarm_operator.manifests.models import Network, Node, Service

FIXTURES = Path(__file__).parent / "fixtures" / "engine"


def fixture(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text())
    return copy.deepcopy(data)


def raw_service(name: str) -> dict[str, Any]:
    return next(s for s in fixture("services") if s["Spec"]["Name"] == name)


def captured_state(**changes: Any) -> LiveState:
    return build_state(
        raws(
            changes.get("services", fixture("services")),
            changes.get("networks", fixture("networks")),
            changes.get("nodes", fixture("nodes")),
        )
    )


def raws(
    services: list[dict[str, Any]], networks: list[dict[str, Any]], nodes: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Raw engine lists by kind, as `engine.live.build_state` takes them."""
    return {"Service": services, "Network": networks, "Node": nodes}


def svc(name: str, **spec: Any) -> Service:
    spec.setdefault("image", "fix/busybox:1")
    annotations = spec.pop("annotations", {})
    return Service.model_validate(
        {"metadata": {"name": name, "annotations": annotations}, "spec": spec}
    )


def net(name: str, **spec: Any) -> Network:
    annotations = spec.pop("annotations", {})
    return Network.model_validate(
        {"metadata": {"name": name, "annotations": annotations}, "spec": spec}
    )


def node(name: str, **spec: Any) -> Node:
    return Node.model_validate({"metadata": {"name": name}, "spec": spec})


# The manifest that sets every Service field, as applied to the engine the fixtures
# were captured from (services.json "every").
EVERY_SERVICE: dict[str, Any] = {
    "image": "fix/busybox:1",
    "command": ["sh", "-c"],
    "args": ["httpd -f -p 8080"],
    "env": {"B": "2", "A": "1"},
    "mode": "replicated",
    "replicas": 2,
    "networks": [{"name": "plain-net"}, {"name": "every-net", "aliases": ["z", "a"]}],
    "ports": [
        {"target": 8080, "published": 18080, "mode": "host"},
        {"target": 53, "protocol": "udp", "published": 1053, "mode": "host"},
    ],
    "endpointMode": "dnsrr",
    "placement": {
        "constraints": ["node.role==manager", "node.hostname!=nope"],
        "preferences": [{"spread": "node.labels.zone"}],
        "maxReplicasPerNode": 3,
    },
    "resources": {
        "limits": {"cpus": 0.5, "memory": "64M"},
        "reservations": {"cpus": "0.1", "memory": "8M"},
    },
    "updateConfig": {
        "parallelism": 2,
        "delay": "1s",
        "failureAction": "rollback",
        "monitor": "2s",
        "maxFailureRatio": 0.5,
        "order": "start-first",
    },
    "rollbackConfig": {"parallelism": 0, "failureAction": "continue"},
    "restartPolicy": {"condition": "on-failure", "delay": "2s", "maxAttempts": 5, "window": "1m"},
    "healthcheck": {
        "test": "wget -q -O- http://127.0.0.1:8080/ || exit 1",
        "interval": "5s",
        "timeout": "2s",
        "retries": 3,
        "startPeriod": "1s",
    },
    "labels": {"com.example.svc": "x"},
    "containerLabels": {"c": "d"},
    "mounts": [
        {"type": "tmpfs", "target": "/tmp/t"},
        {"type": "volume", "source": "v1", "target": "/data", "readOnly": True},
    ],
    "user": "0",
    "workdir": "/",
    "hostname": "h-{{.Task.Slot}}",
    "stopGracePeriod": "3s",
    "stopSignal": "SIGTERM",
    "init": True,
    "dns": ["10.0.0.2"],
    "dnsSearch": ["example.test"],
    "dnsOptions": ["ndots:1"],
    "hosts": {"db.test": "10.1.2.3"},
}
EVERY_NETWORK: dict[str, Any] = {
    "subnet": "10.31.0.0/24",
    "gateway": "10.31.0.254",
    "ipRange": "10.31.0.0/25",
    "attachable": True,
    "encrypted": True,
    "mtu": 1400,
    "options": {"com.example.x": "1"},
    "labels": {"team": "a"},
}
