"""`convert --namespace` takes over what `docker stack deploy` made: deployed with the
docker CLI, converted, the plan of the converted directory against that Swarm holds only
adoptions, with no field that differs (a field the converter got wrong would show up as
a difference here). One stack, many compose keys; a few seconds of lab time."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_lab import Engine, engine

from swarm_operator.cli import main

pytestmark = pytest.mark.lab
__all__ = ["engine"]

STACK = """\
version: "3.8"
x-image: &image "{image}"
services:
  api:
    image: *image
    entrypoint: ["sh", "-c"]
    command: ["httpd -f -p 8080"]
    hostname: "api-{{.Task.Slot}}"
    user: "1000:1000"
    working_dir: /tmp
    stop_signal: SIGINT
    stop_grace_period: 20s
    init: true
    dns_search: [example.internal]
    extra_hosts: ["db.local:10.0.0.5"]
    environment: [LEVEL=debug, EMPTY=]
    labels: {app: api}
    ports:
      - {target: 8080, published: 18181, mode: host}
      - "18182:8082/udp"
    networks:
      front: {aliases: [gateway]}
    healthcheck: {test: ["CMD", "true"], interval: 30s, timeout: 5s, retries: 2}
    deploy:
      replicas: 2
      labels: {tier: api}
      placement:
        constraints: [node.role == worker]
        preferences: [{spread: node.hostname}]
        max_replicas_per_node: 1
      resources:
        limits: {cpus: "0.25", memory: 32M}
        reservations: {cpus: "0.05", memory: 8M}
      restart_policy: {condition: on-failure, delay: 3s, max_attempts: 4, window: 30s}
      update_config: {delay: 2s, failure_action: rollback, order: start-first}
      rollback_config: {parallelism: 2, failure_action: continue}
  worker:
    image: *image
    command: sleep 100000
    networks: [front, back]
    volumes: ["/tmp:/host-tmp:ro"]
    restart: on-failure:2
  agent:
    image: *image
    command: sleep 100000
    deploy: {mode: global, endpoint_mode: dnsrr}
    healthcheck: {disable: true}
networks:
  front: {}
  back: {attachable: true, ipam: {config: [{subnet: 10.31.0.0/24}]}}
"""


def test_plan_of_a_converted_stack_against_docker_stack_deploy_is_only_adoptions(
    engine: Engine, docker_cli: object, tmp_path: Path
) -> None:
    compose = tmp_path / "stack.yml"
    compose.write_text(STACK.replace("{image}", engine.lab.image))
    docker_cli("stack", "deploy", "-c", str(compose), "tko")  # type: ignore[operator]
    out = tmp_path / "converted"
    assert main(["convert", "-f", str(compose), "--namespace", "tko", "-o", str(out)]) == 0
    detail = engine.plan("--output", "json", directory=out).json()
    actions = {(a["kind"], a["name"]): (a["action"], a["differences"]) for a in detail["actions"]}
    services = {k: v for k, v in actions.items() if k[0] == "Service"}
    assert sorted(services) == [("Service", f"tko_{s}") for s in ("agent", "api", "worker")]
    assert {k: v for k, v in services.items() if v != ("adopt", [])} == {}, services
    # the networks docker made match the declared ones: used as they are (Docker cannot
    # relabel a network), nothing to create or recreate
    networks = {k: v for k, v in actions.items() if k[0] == "Network"}
    assert networks == {("Network", f"tko_{n}"): ("noop", []) for n in ("back", "default", "front")}
