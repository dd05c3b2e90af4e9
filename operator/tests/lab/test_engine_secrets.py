"""Engine on the lab: a stack with a Secret (from a file) and a Config applies with --wait
and re-plans clean; a changed secret file rotates it (a new version, the service rolls and
its task reads the new content), the version before stays, older unused ones go; the
daemon rotates it as well when the file changes; the secret's content appears in no
output: plan, apply (text and JSON, logs on stderr), and the daemon's log, /status and
/metrics, nor does any hash of it (its sha256, its salted fingerprint): a version is
named at random and labelled with a salt and a scrypt fingerprint. A version made before
fingerprints (named and labelled by the content's sha256, made here by hand with the old
labels) is kept on upgrade with no rotation, until its content changes.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from pathlib import Path

import pytest
from engine_lab import Engine, engine
from test_daemon import Daemon, wait_for

from swarm_operator.lab import docker
from swarm_operator.swarm import labels

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


def _labels(engine: Engine, version: str) -> dict[str, str]:
    (found,) = [s for s in engine.client.secrets() if s["Spec"]["Name"] == version]
    return dict(found["Spec"].get("Labels") or {})


def _hashes(content: str) -> list[str]:
    """What a plan must not show of a content: its sha256 and the short form of it."""
    sha = hashlib.sha256(content.encode()).hexdigest()
    return [sha, sha[:10]]


def _new_format(engine: Engine, version: str, content: str) -> str:
    """Check that a version is in the new format; return its fingerprint label."""
    made = _labels(engine, version)
    assert re.fullmatch(r"[0-9a-z-]+-[0-9a-f]{10}", version), version
    assert version[-10:] not in hashlib.sha256(content.encode()).hexdigest()
    assert labels.CONTENT_HASH not in made, made
    assert re.fullmatch(r"[0-9a-f]{32}", made[labels.CONTENT_SALT]), made
    fingerprint = made[labels.CONTENT_FINGERPRINT]
    salt = bytes.fromhex(made[labels.CONTENT_SALT])
    expected = hashlib.scrypt(content.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32).hex()
    assert fingerprint == f"scrypt:n=16384,r=8,p=1:{expected}", made
    return expected


def _mounted(engine: Engine, service: str = "sec-web") -> str:
    container = engine.service(service)["Spec"]["TaskTemplate"]["ContainerSpec"]
    (ref,) = container["Secrets"]
    return str(ref["SecretName"])


def _read_in_task(engine: Engine, path: str, service: str = "sec-web") -> str:
    """``cat path`` in the running task of a service, on whichever host runs it (ValueError
    while there is not exactly one, as during a rolling update)."""
    tasks = engine.client.tasks(filters={"service": service, "desired-state": "running"})
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
    fingerprints = [_new_format(engine, first, contents[0])]
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
    fingerprints.append(_new_format(engine, second, contents[1]))
    assert _read_in_task(engine, "/run/secrets/sec-db") == contents[1]

    secret_file.write_text(contents[2])
    code, out = run("apply", "--wait", "--output", "json")
    assert code == 0, out
    third = _mounted(engine)
    assert _versions(engine) == sorted([second, third])  # the first, unused, is gone
    fingerprints.append(_new_format(engine, third, contents[2]))
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
    fingerprints.append(_new_format(engine, _mounted(engine), contents[3]))
    for content in contents:
        for told in [content, *_hashes(content)]:
            leaks = [i for i, text in enumerate(shown) if told in text]
            assert not leaks, f"secret content or its hash shown in outputs {leaks}"
    for fingerprint in fingerprints:
        assert not [text for text in shown if fingerprint in text]


OLD_STACK = """
apiVersion: swarm-operator/v1alpha1
kind: Secret
metadata: {name: old-db}
spec:
  file: old-db.txt
  labels: {team: shop}
---
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: old-web}
spec:
  image: {image}
  command: [sleep, "3600"]
  stopGracePeriod: 1s
  updateConfig: {order: stop-first}
  secrets: [old-db]
"""


def _old_versions(engine: Engine) -> list[str]:
    return sorted(
        s["Spec"]["Name"]
        for s in engine.client.secrets()
        if s["Spec"].get("Labels", {}).get(labels.OBJECT) == "old-db"
    )


def test_a_secret_made_before_fingerprints_is_kept_until_its_content_changes(
    engine: Engine,
) -> None:
    contents = [f"old-{secrets.token_hex(8)}", f"new-{secrets.token_hex(8)}"]
    old_sha = hashlib.sha256(contents[0].encode()).hexdigest()[:10]
    old = f"old-db-{old_sha}"
    # As the operator made it before: named and labelled by the content's sha256.
    made = docker(
        engine.lab.manager,
        "secret",
        "create",
        *("--label", f"{labels.MANAGED_BY}={labels.MANAGER}"),
        *("--label", f"{labels.SPEC_HASH}=0123456789abcdef"),
        *("--label", f"{labels.OBJECT}=old-db"),
        *("--label", f"{labels.CONTENT_HASH}={old_sha}"),
        *("--label", "team=shop"),
        old,
        "-",
        input=contents[0],
    )
    assert made.returncode == 0, made.stderr
    shown: list[str] = []

    def run(command: str, *args: str) -> tuple[int, str]:
        result = engine.apply(*args) if command == "apply" else engine.plan(*args)
        shown.extend([result.out, result.err])
        return result.code, result.out

    secret_file = engine.dir / "old-db.txt"
    secret_file.write_text(contents[0])
    engine.write("stack.yaml", OLD_STACK)
    code, out = run("plan")
    assert code == 2 and "create Service old-web" in out, out
    for verb in ("rotate", "create", "update"):  # nothing to do for the secret
        assert f"{verb} Secret old-db" not in out, out
    code, out = run("apply", "--wait")
    assert code == 0, out
    assert _old_versions(engine) == [old] and _mounted(engine, "old-web") == old
    assert _read_in_task(engine, "/run/secrets/old-db", "old-web") == contents[0]
    assert run("plan")[0] == 0
    assert run("plan", "--output", "json")[0] == 0

    # A label change relabels it in place, in its own format.
    engine.write("stack.yaml", OLD_STACK.replace("{team: shop}", "{team: web}"))
    code, out = run("apply")
    assert code == 0 and "update Secret old-db  (labels differ)" in out, out
    kept = _labels(engine, old)
    assert kept["team"] == "web" and kept[labels.CONTENT_HASH] == old_sha, kept
    assert labels.CONTENT_SALT not in kept and _old_versions(engine) == [old]
    assert run("plan")[0] == 0

    # The content changes: a rotation onto a version in the new format.
    secret_file.write_text(contents[1])
    code, out = run("plan")
    assert code == 2 and "rotate Secret old-db  (content changed)" in out, out
    assert "old-db-(old format: name hidden)" in out, out
    run("plan", "--output", "json")
    code, out = run("apply", "--wait", "--output", "json")
    assert code == 0, out
    new = _mounted(engine, "old-web")
    fingerprint = _new_format(engine, new, contents[1])
    assert _old_versions(engine) == sorted([old, new])  # the one before is kept
    assert _read_in_task(engine, "/run/secrets/old-db", "old-web") == contents[1]
    assert run("plan")[0] == 0
    assert any(new in text for text in shown)  # the outputs searched are the real ones
    for content in contents:
        for told in [content, *_hashes(content), fingerprint]:
            leaks = [i for i, text in enumerate(shown) if told in text]
            assert not leaks, f"secret content or a hash of it shown in outputs {leaks}"
