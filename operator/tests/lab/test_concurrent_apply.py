"""Concurrent apply on the lab: independent writes of one plan run at once, each worker on a
connection of its own, in dependency order, with the sequential run's per-action results.

- the networks are created before any service that uses them is, the services are created
  by several workers at once (calls overlapping in time, from several threads), and every
  result comes back in plan order;
- ``--wait``'s counter (services converged out of N) ends at N out of N;
- an action the engine refuses fails alone: every other action of its wave is done and
  reported.

(The cutting into waves is pure: tests/test_concurrent_waves.py.)
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections.abc import Callable

import pytest
from engine_lab import Engine, engine

from swarm_operator.engine.converge import apply_plan
from swarm_operator.engine.live import read_live
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.engine.wait import wait_for
from swarm_operator.manifests.loader import load_directory
from swarm_operator.swarm.client import SwarmClient

pytestmark = pytest.mark.lab
__all__ = ["engine"]
DockerCli = Callable[..., subprocess.CompletedProcess[str]]

N = 12


def _manifests(engine: Engine, n: int = N, port_of: str | None = None) -> None:
    docs = [
        "apiVersion: swarm-operator/v1alpha1\nkind: Network\n"
        f"metadata: {{name: par-net-{i}}}\nspec: {{probe: {{enabled: false}}}}\n"
        for i in (0, 1)
    ]
    for i in range(n):
        name = f"par-s{i:02d}"
        ports = "\n  ports: [{target: 80, published: 18555}]" if name == port_of else ""
        docs.append(
            "apiVersion: swarm-operator/v1alpha1\nkind: Service\n"
            f"metadata: {{name: {name}}}\n"
            f"spec:\n  image: {{image}}\n  command: [sleep, '3600']\n  replicas: 0\n"
            f"  networks: [par-net-{i % 2}]{ports}\n"
        )
    engine.write("all.yaml", "---\n".join(docs))


def test_networks_first_then_services_at_once_results_in_plan_order(engine: Engine) -> None:
    _manifests(engine)
    calls: list[tuple[str, float, float, int]] = []
    lock = threading.Lock()

    def observe(name: str, seconds: float, ok: bool) -> None:
        end = time.monotonic()
        with lock:
            calls.append((name, end - seconds, end, threading.get_ident()))

    client = SwarmClient(engine.lab.manager.docker_host, observer=observe)
    manifests = [o.manifest for o in load_directory(engine.dir).objects]
    the_plan = plan(manifests, read_live(client), PlanOptions())
    report = apply_plan(client, manifests, PlanOptions(), the_plan, parallelism=4)
    # --wait's counter line on a terminal: converged out of N after every poll round
    tallies: list[tuple[int, int, int]] = []
    services = [
        (r.action.kind, r.action.name) for r in report.results if r.action.kind == "Service"
    ]
    waited = wait_for(
        client, services, time.time() - 60, 60.0, poll=0.2, tally=lambda *t: tallies.append(t)
    )
    client.close()
    assert all(ok for _, ok, _ in waited), waited
    assert tallies[-1] == (N, 0, N)
    assert all(total == N and c + f <= N for c, f, total in tallies)

    assert report.ok, report.to_dict()
    planned = [(a.kind, a.name) for a in the_plan.actions if a.changes]
    assert [(r.action.kind, r.action.name) for r in report.results] == planned
    assert [r.message for r in report.results] == ["created"] * (N + 2)
    assert {"par-net-0", "par-net-1"} <= engine.network_names()
    assert {f"par-s{i:02d}" for i in range(N)} <= engine.service_names()

    networks_done = max(end for name, _, end, _ in calls if name == "create_network")
    creates = [
        (start, end, thread) for name, start, end, thread in calls if name == "create_service"
    ]
    assert len(creates) == N
    assert min(start for start, _, _ in creates) >= networks_done  # dependency order
    assert len({thread for _, _, thread in creates}) > 1  # several workers ...
    by_start = sorted(creates)
    overlapping = sum(b[0] < a[1] for a, b in itertools.pairwise(by_start))
    assert overlapping > 0  # ... writing at the same time
    # each service is attached to the network of its manifest (IDs listed after the creates)
    ids = {n["Name"]: n["Id"] for n in engine.client.networks()}
    for i in range(N):
        spec = engine.service(f"par-s{i:02d}")["Spec"]
        targets = [a["Target"] for a in spec["TaskTemplate"]["Networks"]]
        assert targets == [ids[f"par-net-{i % 2}"]]


def test_one_refused_action_does_not_lose_the_others(engine: Engine, docker_cli: DockerCli) -> None:
    # An unmanaged service holds published port 18555: the engine refuses the one
    # manifest service that asks for it, and only that one.
    docker_cli(
        "service", "create", "--detach", "--name", "par-holder", "--replicas", "0",
        "--publish", "published=18555,target=80", engine.lab.image, "sleep", "3600",
    )  # fmt: skip
    _manifests(engine, port_of="par-s05")
    run = engine.apply("--output", "json", "--parallelism", "4")
    assert run.code == 1, run.err
    results = {r["name"]: r for r in run.json()["results"]}
    assert len(results) == N + 2
    failed = [name for name, r in results.items() if not r["ok"]]
    assert failed == ["par-s05"], results
    assert "18555" in results["par-s05"]["message"]
    assert all(r["message"] == "created" for name, r in results.items() if name != "par-s05")
    names = engine.service_names()
    assert {f"par-s{i:02d}" for i in range(N) if i != 5} <= names
    assert "par-s05" not in names
    # and a second apply is left with that one action, refused again, nothing else
    again = engine.apply("--output", "json", "--parallelism", "4")
    assert [r["name"] for r in again.json()["results"]] == ["par-s05"]
