"""`swarm-operator export` against the real lab Swarm: the round trip.

- The demo applied, then exported whole (`--all`): `plan` of the exported directory
  changes nothing (exit 0).
- A stack deployed with `docker stack deploy` (with a secret and a config, exported as
  external references, a log driver, capabilities, a sysctl, ulimits and a tmpfs mount),
  exported with `--stack`: `plan` shows only
  the services' adoptions (its network matches and is used as it is), none with a field
  to change; `apply` takes them over; `plan` is then clean and
  `docker service inspect` differs from before only in the operator's own labels.

CI runs this file on Docker 26.1 and 20.10.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_lab import Engine, engine

from swarm_operator.cli import main
from swarm_operator.kinds.normalize import ENGINE_RESTART_DEFAULTS, ENGINE_UPDATE_DEFAULTS

pytestmark = pytest.mark.lab
__all__ = ["engine"]
DockerCli = Callable[..., subprocess.CompletedProcess[str]]

DEMO = Path(__file__).resolve().parents[3] / "manifests" / "cross-host-demo"
EXAMPLE_REGISTRY = "10.77.0.1:5000"

STACK = """\
version: "3.8"
services:
  web:
    image: {image}
    command: ["sleep", "3600"]
    environment:
      MODE: production
    networks: [front]
    secrets: [db]
    configs:
      - source: conf
        target: /etc/web.conf
        mode: 0440
    ports:
      - "18080:8080"
    deploy:
      replicas: 2
      labels: {{tier: web}}
      update_config: {{parallelism: 1, delay: 5s, order: start-first}}
      restart_policy: {{condition: on-failure, max_attempts: 3}}
      resources:
        limits: {{cpus: "0.25", memory: 64M}}
  worker:
    image: {image}
    command: ["sleep", "3600"]
    networks: [front]
    logging:
      driver: json-file
      options: {{max-size: 1m, max-file: "2"}}
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    sysctls: {{net.core.somaxconn: "1024"}}
    ulimits:
      nofile: {{soft: 1024, hard: 2048}}
    volumes:
      - type: tmpfs
        target: /cache
        tmpfs: {{size: 1048576}}
    deploy:
      mode: global
networks:
  front:
    driver: overlay
    attachable: true
secrets:
  db:
    file: ./db.txt
configs:
  conf:
    file: ./web.conf
"""


def export(engine: Engine, target: Path, *args: str) -> tuple[int, str, str]:
    engine.capsys.readouterr()
    code = main(["export", "-o", str(target), "--host", engine.lab.manager.docker_host, *args])
    out = engine.capsys.readouterr()
    return code, out.out, out.err


def documents(directory: Path) -> list[dict[str, Any]]:
    return [
        d for f in sorted(directory.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d
    ]


def test_the_exported_demo_plans_clean(engine: Engine, tmp_path: Path) -> None:
    for source in sorted(DEMO.glob("*.yaml")):
        text = source.read_text().replace(EXAMPLE_REGISTRY, engine.lab.registry)
        (engine.dir / source.name).write_text(text)
    applied = engine.apply()
    assert applied.code == 0, applied.out + applied.err
    out = tmp_path / "exported"
    code, printed, err = export(engine, out, "--all")
    assert code == 0, printed + err
    assert sorted(p.name for p in out.glob("*.yaml")) == [
        "networks.yaml",
        "nodes.yaml",
        "services.yaml",
    ], printed
    docs = documents(out)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    declared = {
        (d["kind"], d["metadata"]["name"])
        for f in DEMO.glob("*.yaml")
        for d in yaml.safe_load_all(f.read_text())
        if d
    }
    assert declared <= names, declared - names
    # The operator owns what it applied: no adopt annotation on those.
    assert not [d for d in docs if (d["kind"], d["metadata"]["name"]) in declared and
                d["kind"] != "Node" and d["metadata"].get("annotations")]  # fmt: skip
    after = engine.plan("--output", "json", directory=out)
    plan = after.json()
    assert after.code == 0, (after.out, after.err)
    assert [a for a in plan["actions"] if a["differences"]] == []


def _inspect(engine: Engine, names: list[str]) -> dict[str, dict[str, Any]]:
    return {n: engine.service(n)["Spec"] for n in names}


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{path}.{k}" if path else str(k)))
        return out
    return {path: value}


DEFAULTED = {
    "TaskTemplate.RestartPolicy": ENGINE_RESTART_DEFAULTS,
    "UpdateConfig": ENGINE_UPDATE_DEFAULTS,
    "RollbackConfig": ENGINE_UPDATE_DEFAULTS,
}


def unexplained(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Paths where ``after`` differs from ``before``, but for the operator's own labels, the
    engine's defaults written out (the operator writes those blocks complete: see
    `kinds.service_spec`) and empty blocks written or left out (``{}`` is no setting)."""
    b, a = _leaves(before), _leaves(after)
    out = []
    for path in sorted(set(b) | set(a)):
        if b.get(path) == a.get(path) or path.startswith("Labels.io.swarm-operator."):
            continue
        block, _, key = path.rpartition(".")
        if path not in b and block in DEFAULTED and DEFAULTED[block].get(key) == a[path]:
            continue
        if all(p not in x or x[p] in ({}, []) for x in (a, b) for p in (path,)):
            continue  # an empty block ({} or []) on one side, absent on the other
        out.append(f"{path}: {b.get(path, '(absent)')!r} -> {a.get(path, '(absent)')!r}")
    return out


def test_an_exported_stack_is_adopted_without_a_field_changing(
    engine: Engine, docker_cli: DockerCli, tmp_path: Path
) -> None:
    compose = tmp_path / "stack.yml"
    compose.write_text(STACK.format(image=engine.lab.image))
    (tmp_path / "db.txt").write_text("export-test-secret-7f3a\n")
    (tmp_path / "web.conf").write_text("listen 8080\n")
    docker_cli("stack", "deploy", "--resolve-image", "never", "-c", str(compose), "ref")
    names = ["ref_web", "ref_worker"]
    before = _inspect(engine, names)

    out = tmp_path / "exported"
    code, printed, err = export(engine, out, "--stack", "ref")
    assert code == 0, printed + err
    docs = documents(out)
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == [
        ("Config", "ref_conf"),
        ("Network", "ref_front"),
        ("Secret", "ref_db"),
        ("Service", "ref_web"),
        ("Service", "ref_worker"),
    ]
    for d in docs:  # secrets and configs: references to what exists; the rest adopted
        if d["kind"] in ("Secret", "Config"):
            assert d["spec"] == {"external": True} and "annotations" not in d["metadata"], d
        else:
            assert d["metadata"]["annotations"] == {"swarm-operator/adopt": "true"}, d
    assert "export-test-secret" not in printed + err
    web = next(d for d in docs if d["metadata"]["name"] == "ref_web")["spec"]
    assert web["replicas"] == 2 and web["env"] == {"MODE": "production"}, web
    assert [r["source"] for r in web["secrets"]] == ["ref_db"], web
    assert [(r["source"], r["target"]) for r in web["configs"]] == [("ref_conf", "/etc/web.conf")]
    assert "@" not in web["image"], web["image"]
    worker = next(d for d in docs if d["metadata"]["name"] == "ref_worker")["spec"]
    assert worker["logging"]["driver"] == "json-file" and worker["capAdd"] == ["CAP_NET_ADMIN"]
    assert worker["sysctls"] == {"net.core.somaxconn": "1024"}, worker
    assert [m["type"] for m in worker["mounts"]] == ["tmpfs"], worker

    planned = engine.plan("--output", "json", directory=out).json()
    verbs = sorted((a["action"], a["name"]) for a in planned["actions"] if a["action"] != "noop")
    # A matching network is used as it is (Docker cannot relabel one in place).
    assert verbs == [("adopt", "ref_web"), ("adopt", "ref_worker")], planned
    assert [a for a in planned["actions"] if a["differences"]] == [], planned

    applied = engine.apply(directory=out)
    assert applied.code == 0, applied.out + applied.err
    clean = engine.plan(directory=out)
    assert clean.code == 0, clean.out
    after = _inspect(engine, names)
    for name in names:
        assert unexplained(before[name], after[name]) == [], name
    docker_cli("stack", "rm", "ref")


def test_nothing_selected_is_an_error(engine: Engine, tmp_path: Path) -> None:
    code, _out, err = export(engine, tmp_path / "x")
    assert code == 1 and "--stack NAME, --selector LABEL=VALUE or --all" in err
    code, _out, err = export(engine, tmp_path / "x", "--stack", "no-such-stack")
    assert code == 1 and "nothing to export" in err
    assert not (tmp_path / "x").exists()
