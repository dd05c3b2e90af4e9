"""Engine on the lab: an update keeps every field the manifest language does not express.

A service made by hand with the docker CLI (log driver, capability, sysctl, ulimit, tmpfs
mount, a non-recursive bind mount, DNS server, extra host, a secret) is adopted by a
manifest that declares all of it but the bind mount's non-recursive flag, which the
language has no word for, then a replica count is changed: `docker service inspect` before and
after differs only in the managed fields that changed and the operator's labels, and the
plan lists the kept fields. Written for Docker 26.1 and 20.10 (API 1.41) alike.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from engine_lab import Engine, engine

from swarm_operator.kinds.service_fields import is_managed
from swarm_operator.swarm import labels

pytestmark = pytest.mark.lab
__all__ = ["engine"]
DockerCli = Callable[..., subprocess.CompletedProcess[str]]

NAME = "keep-svc"
SECRET = "keep-secret"
MANIFEST = """
apiVersion: swarm-operator/v1alpha1
kind: Secret
metadata: {{name: keep-secret}}
spec: {{external: true}}
---
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata:
  name: keep-svc
  annotations: {{swarm-operator/adopt: "true"}}
spec:
  image: {{image}}
  args: [sleep, "3600"]
  replicas: {replicas}
  init: false
  stopGracePeriod: 1s
  mounts:
    - {{type: tmpfs, target: /cache}}
    - {{type: bind, source: /tmp, target: /hosttmp}}
  dns: [10.0.0.2]
  hosts: {{a.example: 10.0.0.3}}
  secrets: [keep-secret]
  logging: {{driver: json-file, options: {{max-size: 1m}}}}
  capAdd: [NET_ADMIN]
  sysctls: {{net.core.somaxconn: "1024"}}
  ulimits: {{nofile: {{soft: 1024, hard: 2048}}}}
"""
KEPT = {
    # a bind mount's non-recursive flag: the manifest language has no word for it
    "TaskTemplate.ContainerSpec.Mounts[/hosttmp,bind].BindOptions.NonRecursive",
}


def leaves(value: Any, at: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) of every leaf; an empty block has none (it is only form)."""
    if isinstance(value, Mapping):
        for key, sub in value.items():
            yield from leaves(sub, (*at, key))
    else:
        yield at, value


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted path -> (before, after) of every leaf that differs (lists compared whole)."""
    b, a = dict(leaves(before)), dict(leaves(after))
    return {
        ".".join(p): (b.get(p), a.get(p)) for p in sorted(set(a) | set(b)) if b.get(p) != a.get(p)
    }


def operator_label(path: str) -> bool:
    return path.startswith("Labels." + labels.PREFIX)


def test_adopt_and_update_keep_the_fields_the_language_does_not_express(
    engine: Engine, docker_cli: DockerCli, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("s3cr3t-value")
    docker_cli("secret", "create", SECRET, str(secret_file))
    try:
        docker_cli(
            "service", "create", "-d", "--name", NAME, "--replicas", "1",
            "--log-driver", "json-file", "--log-opt", "max-size=1m",
            "--cap-add", "NET_ADMIN", "--sysctl", "net.core.somaxconn=1024",
            "--ulimit", "nofile=1024:2048", "--mount", "type=tmpfs,dst=/cache",
            "--mount", "type=bind,src=/tmp,dst=/hosttmp,bind-nonrecursive=true",
            "--dns", "10.0.0.2", "--host", "a.example:10.0.0.3",
            "--secret", SECRET, "--stop-grace-period", "1s",
            engine.lab.image, "sleep", "3600",
        )  # fmt: skip
        made = engine.service(NAME)["Spec"]
        mounts = made["TaskTemplate"]["ContainerSpec"]["Mounts"]
        binds = [m.get("BindOptions") or {} for m in mounts if m["Type"] == "bind"]
        assert [b.get("NonRecursive") for b in binds] == [True], mounts  # KEPT's field is set

        # Adopt: the plan changes no field the manifest language has, and lists the rest.
        engine.write("svc.yaml", MANIFEST.format(replicas=1))
        planned = engine.plan("-o", "json")
        (action,) = [a for a in planned.json()["actions"] if a["kind"] == "Service"]
        assert action["action"] == "adopt" and action["differences"] == [], planned.out
        assert set(action["kept"]) >= KEPT, action["kept"]
        text = engine.plan().out
        assert (
            "kept: TaskTemplate.ContainerSpec.Mounts[/hosttmp,bind].BindOptions.NonRecursive "
            "(not expressed by the manifest language)"
        ) in text
        assert "s3cr3t-value" not in text + planned.out

        adopted = engine.apply()
        assert adopted.code == 0, adopted.out + adopted.err
        after_adopt = engine.service(NAME)["Spec"]
        for path, (old, new) in changes(made, after_adopt).items():
            # Only the operator's labels, and managed fields now written with the engine's
            # default where the CLI had left them out (RestartPolicy.Window: 0; the whole
            # RollbackConfig from the 20.10 CLI): the plan, which compares meaning, found
            # no difference, and no field that had a value changed.
            assert operator_label(path) or (is_managed(tuple(path.split("."))) and old is None), (
                f"adoption changed {path}: {old!r} -> {new!r}"
            )
        assert engine.plan().code == 0

        # A manifest edit: exactly the managed field and the spec hash change.
        engine.write("svc.yaml", MANIFEST.format(replicas=2))
        planned = engine.plan("-o", "json")
        (action,) = [a for a in planned.json()["actions"] if a["kind"] == "Service"]
        assert action["action"] == "update", planned.out
        assert [d["path"] for d in action["differences"]] == ["spec.replicas"]
        assert set(action["kept"]) >= KEPT, action["kept"]
        updated = engine.apply()
        assert updated.code == 0, updated.out + updated.err
        after_update = engine.service(NAME)["Spec"]
        assert set(changes(after_adopt, after_update)) == {
            "Mode.Replicated.Replicas",
            f"Labels.{labels.SPEC_HASH}",
        }
        assert engine.plan().code == 0
    finally:
        docker_cli("service", "rm", NAME, check=False)
        for _ in range(30):  # the secret is in use until the service's tasks are gone
            if docker_cli("secret", "rm", SECRET, check=False).returncode == 0:
                break
            time.sleep(1.0)
