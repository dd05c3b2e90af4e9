"""The objects under test, written three ways: operator manifests, a compose file, raw specs.

Owns the equivalence of what the three contenders create for a given N: one overlay
network (subnet 10.96.0.0/20, room for 500 service VIPs and their tasks) and N services
of 1 replica each, image from the lab registry, ``sleep 86400``, stop signal SIGKILL
(busybox ``sleep`` as PID 1 ignores SIGTERM: without it every clean-up would wait out
the 10 s grace period). Pure: returns text and dicts; the caller writes the files.
"""

from __future__ import annotations

from typing import Any

import yaml

PREFIX = "bench"  # every object the bench creates starts with it; clean-up removes them all
OPERATOR_NET = "bench-net"
STACK = "bench"
SUBNET = "10.96.0.0/20"
COMMAND = ["sleep", "86400"]
STOP_SIGNAL = "SIGKILL"
API = "swarm-operator/v1alpha1"


def service_name(i: int) -> str:
    """Operator and floor service names: bench-s001 ..."""
    return f"{PREFIX}-s{i:03d}"


def stack_service_name(i: int) -> str:
    """What `docker stack deploy` names service ``s001`` of stack ``bench``."""
    return f"{STACK}_s{i:03d}"


def operator_manifests(
    n: int, image: str, replicas: int = 1, network: bool = True
) -> dict[str, str]:
    """File name -> YAML text of a manifest directory with ``n`` services."""
    files: dict[str, str] = {}
    if network:
        files["00-network.yaml"] = yaml.safe_dump(
            {
                "apiVersion": API,
                "kind": "Network",
                "metadata": {"name": OPERATOR_NET},
                "spec": {"driver": "overlay", "subnet": SUBNET},
            },
            sort_keys=False,
        )
    for i in range(1, n + 1):
        files[f"{i:03d}-service.yaml"] = service_manifest(i, image, replicas, network)
    return files


def service_manifest(
    i: int,
    image: str,
    replicas: int = 1,
    network: bool = True,
    env: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    spec: dict[str, Any] = {
        "image": image,
        "command": COMMAND,
        "replicas": replicas,
        "stopSignal": STOP_SIGNAL,
    }
    if env:
        spec["env"] = env
    if labels:
        spec["labels"] = labels
    if network:
        spec["networks"] = [OPERATOR_NET]
    return yaml.safe_dump(
        {"apiVersion": API, "kind": "Service", "metadata": {"name": service_name(i)}, "spec": spec},
        sort_keys=False,
    )


def compose_file(n: int, image: str) -> str:
    """The `docker stack deploy -c` equivalent of `operator_manifests(n, image)`."""
    services = {
        f"s{i:03d}": {
            "image": image,
            "command": COMMAND,
            "stop_signal": STOP_SIGNAL,
            "networks": ["net"],
            "deploy": {"replicas": 1},
        }
        for i in range(1, n + 1)
    }
    doc = {
        "version": "3.8",
        "services": services,
        "networks": {"net": {"driver": "overlay", "ipam": {"config": [{"subnet": SUBNET}]}}},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def floor_network() -> dict[str, Any]:
    """``POST /networks/create`` body of the floor's network."""
    return {
        "Name": OPERATOR_NET,
        "Driver": "overlay",
        "CheckDuplicate": True,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": SUBNET}]},
    }


def floor_service(i: int, image: str, network_id: str) -> dict[str, Any]:
    """``POST /services/create`` body: the same service, nothing more."""
    return {
        "Name": service_name(i),
        "TaskTemplate": {
            "ContainerSpec": {"Image": image, "Command": COMMAND, "StopSignal": STOP_SIGNAL},
            "Networks": [{"Target": network_id}],
        },
        "Mode": {"Replicated": {"Replicas": 1}},
    }
