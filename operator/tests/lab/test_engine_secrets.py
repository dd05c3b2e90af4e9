"""Engine on the lab: a stack with a Secret (from a file) and a Config applies with --wait
and re-plans clean; a changed secret file rotates it (a new version, the service rolls and
its task reads the new content), the version before stays, older unused ones go; the
daemon rotates it as well when the file changes; the secret's content appears in no
output: plan, apply (text and JSON, logs on stderr), and the daemon's log, /status and
/metrics.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from engine_lab import Engine, engine
from test_daemon import Daemon, wait_for

from swarm_operator.lab import docker

pytestmark = pytest.mark.lab
__all__ = ["engine"]

STACK = """
apiVersion: swarm-operator/v1alpha1
kind: Secret
metadata: {name: sec-db}
spec:
  file: secrets/db.txt
  labels: {team: shop}
---
apiVersion: swarm-operator/v1alpha1
kind: Config
metadata: {name: sec-conf}
spec:
  data: "listen 8080\\n"
---
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: sec-web}
spec:
  image: {image}
  command: [sleep, "3600"]
  stopGracePeriod: 1s
  updateConfig: {order: stop-first}
  secrets:
    - sec-db
  configs:
    - {source: sec-conf, target: /etc/app.conf, mode: "0440"}
"""


def _versions(engine: Engine) -> list[str]:
    return sorted(
        s["Spec"]["Name"]
        for s in engine.client.secrets()
        if s["Spec"].get("Labels", {}).get("io.swarm-operator.object") == "sec-db"
    )


def _mounted(engine: Engine) -> str:
    container = engine.service("sec-web")["Spec"]["TaskTemplate"]["ContainerSpec"]
    (ref,) = container["Secrets"]
    return str(ref["SecretName"])


def _read_in_task(engine: Engine, path: str) -> str:
    """``cat path`` in the running task of sec-web, on whichever host runs it (ValueError
    while there is not exactly one, as during a rolling update)."""
    tasks = engine.client.tasks(filters={"service": "sec-web", "desired-state": "running"})
    running = [t for t in tasks if t["Status"]["State"] == "running"]
    if len(running) != 1:
        raise ValueError(f"{len(running)} running tasks")
    cid = running[0]["Status"]["ContainerStatus"]["ContainerID"]
    for host in engine.lab.hosts:
        proc = docker(host, "exec", cid, "cat", path, timeout=60)
        if proc.returncode == 0:
            return proc.stdout
    raise ValueError(f"no host runs container {cid[:12]}")


def test_secret_rotates_with_its_file_and_is_never_shown(engine: Engine, tmp_path: Path) -> None:
    contents = [f"s3cret-{secrets.token_hex(8)}" for _ in range(4)]
    shown: list[str] = []

    def run(command: str, *args: str) -> tuple[int, str]:
        result = engine.apply(*args) if command == "apply" else engine.plan(*args)
        shown.extend([result.out, result.err])
        return result.code, result.out

    (engine.dir / "secrets").mkdir()
    secret_file = engine.dir / "secrets" / "db.txt"
    secret_file.write_text(contents[0])
    engine.write("stack.yaml", STACK)

    code, out = run("apply", "--wait")
    assert code == 0, out
    assert run("plan")[0] == 0  # re-plans clean: no false drift from versioned names
    (first,) = _versions(engine)
    assert first.startswith("sec-db-") and _mounted(engine) == first
    assert _read_in_task(engine, "/run/secrets/sec-db") == contents[0]
    assert _read_in_task(engine, "/etc/app.conf") == "listen 8080\n"

    secret_file.write_text(contents[1])
    code, out = run("plan")
    assert code == 2, out
    assert "rotate Secret sec-db  (content changed)" in out, out
    assert "rolls services: sec-web" in out and "update Service sec-web" in out, out
    run("plan", "--output", "json")
    code, out = run("apply", "--wait")
    assert code == 0, out
    second = _mounted(engine)
    assert second != first and _versions(engine) == sorted([first, second])  # one before kept
    assert _read_in_task(engine, "/run/secrets/sec-db") == contents[1]

    secret_file.write_text(contents[2])
    code, out = run("apply", "--wait", "--output", "json")
    assert code == 0, out
    third = _mounted(engine)
    assert _versions(engine) == sorted([second, third])  # the first, unused, is gone
    assert _read_in_task(engine, "/run/secrets/sec-db") == contents[2]
    assert run("plan")[0] == 0

    # Labels are the one thing Swarm changes in place: no new version, no roll.
    engine.write("stack.yaml", STACK.replace("{team: shop}", "{team: web}"))
    code, out = run("apply")
    assert code == 0 and "update Secret sec-db  (labels differ)" in out, out
    (labelled,) = [s for s in engine.client.secrets() if s["Spec"]["Name"] == third]
    assert labelled["Spec"]["Labels"]["team"] == "web" and _mounted(engine) == third
    assert run("plan")[0] == 0

    # The daemon over the same directory: its log, /status and /metrics.
    daemon = Daemon(engine.lab, engine.dir, tmp_path / "daemon.log")
    try:
        daemon.wait_ready()
        wait_for(
            "the service synced",
            lambda: (daemon.obj("Service", "sec-web") or {}).get("syncStatus") == "synced",
        )
        assert daemon.obj("Secret", "sec-db") is not None
        # The daemon rotates too: the secret's file (not a manifest) changed.
        secret_file.write_text(contents[3])
        wait_for("the daemon to roll sec-web", lambda: _mounted(engine) not in (second, third))
        wait_for(
            "the task to read the new content",
            lambda: _read_in_task(engine, "/run/secrets/sec-db") == contents[3],
            timeout=120,
        )
        shown.extend([daemon.log.read_text(), json.dumps(daemon.status()), daemon.metrics()])
    finally:
        assert daemon.stop() == 0
    shown.append(daemon.log.read_text())
    # the outputs searched are the real ones: apply named the version, /status the secret
    assert any(third in text for text in shown) and '"sec-db"' in shown[-3]
    for content in contents:
        leaks = [i for i, text in enumerate(shown) if content in text]
        assert not leaks, f"secret content shown in outputs {leaks}"
