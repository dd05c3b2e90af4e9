"""Manifests that set every field of every kind (to a value other than its default).

`test_models.py` checks that they really cover every field of the models, so a field
added to `models.py` without a sample here fails the tests.
"""

from __future__ import annotations

from typing import Any

FULL_NETWORK: dict[str, Any] = {
    "apiVersion": "swarm-operator/v1alpha1",
    "kind": "Network",
    "metadata": {
        "name": "app-net",
        "labels": {"team": "core"},
        "annotations": {"swarm-operator/allow-replace": "true"},
    },
    "spec": {
        "driver": "overlay",
        "subnet": "10.10.0.0/24",
        "gateway": "10.10.0.254",
        "ipRange": "10.10.0.0/25",
        "pools": [],
        "attachable": True,
        "internal": True,
        "encrypted": True,
        "mtu": 1400,
        "ipv6": True,
        "options": {"com.docker.network.driver.overlay.vxlanid_list": "4097"},
        "labels": {"tier": "backend"},
        "probe": {"enabled": False, "interval": "10s", "image": "10.77.0.1:5000/probe:1"},
        "external": False,  # true allows nothing else (see test_engine_fields_pure)
    },
}

FULL_SERVICE: dict[str, Any] = {
    "apiVersion": "swarm-operator/v1alpha1",
    "kind": "Service",
    "metadata": {
        "name": "order",
        "labels": {"app": "shop"},
        "annotations": {"swarm-operator/reconcile": "disabled"},
    },
    "spec": {
        "image": "10.77.0.1:5000/swarm-operator/busybox:1",
        "command": ["sh", "-c"],
        "args": ["exec httpd -f -p 8080"],
        "env": {"SERVICE": "order", "DEBUG": "1"},
        "mode": "replicated",  # a job mode may not have an updateConfig (the engine refuses)
        "replicas": 3,
        "networks": [
            {"name": "app-net", "aliases": ["orders"], "driverOpts": {"com.example.opt": "1"}},
            {"name": "other", "aliases": [], "driverOpts": {}},
        ],
        "ports": [
            {"target": 8080, "published": 8081, "protocol": "udp", "mode": "host"},
            {"target": 9090, "published": None, "protocol": "sctp", "mode": "host"},
        ],
        "endpointMode": "dnsrr",
        "placement": {
            "constraints": ["node.role==worker", "node.labels.zone!=c"],
            "preferences": [{"spread": "node.labels.zone"}],
            "maxReplicasPerNode": 1,
            "platforms": [{"architecture": "amd64", "os": "linux"}],
        },
        "resources": {
            "limits": {"cpus": "1.5", "memory": "512M", "pids": 100},
            "reservations": {
                "cpus": "0.25",
                "memory": "64M",
                "genericResources": [
                    {
                        "discreteResourceSpec": {"kind": "gpu", "value": 1},
                        "namedResourceSpec": None,
                    },
                    {
                        "discreteResourceSpec": None,
                        "namedResourceSpec": {"kind": "ssd", "value": "a"},
                    },
                ],
            },
        },
        "updateConfig": {
            "parallelism": 2,
            "delay": "10s",
            "failureAction": "rollback",
            "monitor": "1m30s",
            "maxFailureRatio": 0.25,
            "order": "start-first",
        },
        "rollbackConfig": {
            "parallelism": 1,
            "delay": "5s",
            "failureAction": "continue",
            "monitor": "20s",
            "maxFailureRatio": 0.5,
            "order": "stop-first",
        },
        "restartPolicy": {
            "condition": "on-failure",
            "delay": "2s",
            "maxAttempts": 5,
            "window": "2m",
        },
        "healthcheck": {
            "test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"],
            "interval": "5s",
            "timeout": "2s",
            "retries": 3,
            "startPeriod": "1s",
            "startInterval": "500ms",
        },
        "labels": {"com.example.owner": "shop"},
        "containerLabels": {"com.example.role": "order"},
        "mounts": [
            {
                "type": "volume",
                "source": "orders",
                "target": "/data",
                "readOnly": False,
                "volumeOptions": {
                    "noCopy": True,
                    "labels": {"backup": "daily"},
                    "driver": "local",
                    "driverOptions": {"type": "tmpfs", "device": "tmpfs"},
                    "subpath": "orders/current",
                },
                "bind": None,
                "tmpfs": None,
            },
            {
                "type": "bind",
                "source": "/etc/hosts",
                "target": "/x/hosts",
                "readOnly": True,
                "volumeOptions": None,
                "bind": {"propagation": "rslave"},
                "tmpfs": None,
            },
            {
                "type": "tmpfs",
                "source": None,
                "target": "/tmp",
                "readOnly": False,
                "volumeOptions": None,
                "bind": None,
                "tmpfs": {"size": "64M", "mode": "01777"},
            },
        ],
        "user": "1000:1000",
        "workdir": "/www",
        "hostname": "order-{{.Task.Slot}}",
        "stopGracePeriod": "30s",
        "stopSignal": "SIGTERM",
        "init": True,
        "dns": ["10.77.0.1"],
        "dnsSearch": ["lab.internal"],
        "dnsOptions": ["ndots:1"],
        "hosts": {"registry": "10.77.0.1"},
        "secrets": [
            {
                "source": "db-password",
                "target": "/run/secrets/db-password",
                "uid": "0",
                "gid": "0",
                "mode": "0440",
            }
        ],
        "configs": [
            {
                "source": "caddyfile",
                "target": "/etc/caddy/Caddyfile",
                "uid": "1000",
                "gid": "1000",
                "mode": "0444",
            }
        ],
        "maxConcurrent": None,  # replicated-job only (see test_engine_fields_pure)
        "logging": {"driver": "json-file", "options": {"max-size": "10m"}},
        "capAdd": ["CAP_NET_ADMIN"],
        "capDrop": ["CAP_MKNOD", "CAP_NET_RAW"],
        "sysctls": {"net.core.somaxconn": "1024"},
        "ulimits": {"nofile": {"soft": 1024, "hard": 2048}},
        "readOnly": True,
        "groups": ["audio"],
        "tty": True,
        "stdinOpen": True,
        "isolation": "default",
        "privileges": {
            "credentialSpec": {"file": "spec.json", "registry": None, "config": None},
            "seLinuxContext": {
                "disable": False,
                "user": "system_u",
                "role": "system_r",
                "type": "container_t",
                "level": "s0",
            },
        },
        "oomScoreAdj": -500,
        "imageUpdate": {"policy": "digest", "interval": "5m"},
    },
}

FULL_NODE: dict[str, Any] = {
    "apiVersion": "swarm-operator/v1alpha1",
    "kind": "Node",
    "metadata": {"name": "host1", "labels": {"rack": "r1"}, "annotations": {"note": "x"}},
    "spec": {
        "role": "manager",
        "availability": "drain",
        "labels": {"zone": "a"},
        "exclusiveLabels": True,
    },
}

FULL_SECRET: dict[str, Any] = {
    "apiVersion": "swarm-operator/v1alpha1",
    "kind": "Secret",
    "metadata": {"name": "db-password", "labels": {"app": "shop"}, "annotations": {"n": "x"}},
    "spec": {
        "file": "secrets/db-password.txt",  # one of file, env, external (SAMPLE_FILES)
        "env": None,
        "external": False,
        "labels": {"team": "shop"},
    },
}

FULL_CONFIG: dict[str, Any] = {
    "apiVersion": "swarm-operator/v1alpha1",
    "kind": "Config",
    "metadata": {"name": "caddyfile", "labels": {"app": "shop"}, "annotations": {"n": "x"}},
    "spec": {
        "file": None,
        "data": ":8080 {\n  respond ok\n}\n",  # one of file, data, external
        "external": False,
        "labels": {"team": "shop"},
    },
}

FULL_VOLUME: dict[str, Any] = {
    "apiVersion": "swarm-operator/v1alpha1",
    "kind": "Volume",
    "metadata": {"name": "uploads", "labels": {"app": "shop"}, "annotations": {"note": "x"}},
    "spec": {
        "driver": "local",
        "driverOptions": {"type": "nfs", "o": "addr=10.77.0.1,rw", "device": ":/srv/uploads"},
        "labels": {"backup": "weekly"},
    },
}

FULL_NETWORK_POOLS: dict[str, Any] = {
    "apiVersion": "swarm-operator/v1alpha1",
    "kind": "Network",
    "metadata": {"name": "dual-net", "labels": {}, "annotations": {}},
    "spec": {
        **FULL_NETWORK["spec"],
        "subnet": None,
        "gateway": None,
        "ipRange": None,
        "pools": [
            {"subnet": "10.11.0.0/24", "gateway": "10.11.0.1", "ipRange": "10.11.0.128/25"},
            {"subnet": "fd00:11::/64", "gateway": "fd00:11::1", "ipRange": None},
        ],
    },
}
"""The several-pools form of a network (``pools`` excludes the ``subnet`` shorthand)."""

FULL: dict[str, dict[str, Any]] = {
    "Network": FULL_NETWORK,
    "Service": FULL_SERVICE,
    "Node": FULL_NODE,
    "Secret": FULL_SECRET,
    "Config": FULL_CONFIG,
    "Volume": FULL_VOLUME,
}

SAMPLE_FILES: dict[str, str] = {"secrets/db-password.txt": "sample-secret-content\n"}
"""Files the samples read, relative to the manifest file (FULL_SECRET's content)."""
ALTERNATIVES: dict[str, list[dict[str, Any]]] = {"Network": [FULL_NETWORK_POOLS]}
"""Samples of a kind's fields that exclude those of its FULL sample."""
REFERENCED: dict[str, list[str]] = {"Service": ["Secret", "Config"]}
"""Kinds a sample names, to be declared beside it (a service's secrets and configs)."""


def write_samples(directory: Any) -> None:
    """The files the samples read, under ``directory``."""
    for relative, text in SAMPLE_FILES.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
