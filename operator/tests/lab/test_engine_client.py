"""SwarmClient on the lab: errors mapped to our tree, the call counter and hook, events."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from swarm_operator.kinds.service_spec import service_spec
from swarm_operator.lab import Lab
from swarm_operator.manifests.models import Service
from swarm_operator.swarm.client import SwarmClient
from swarm_operator.swarm.errors import DockerUnavailable, NotAManager, NotFound, VersionConflict

pytestmark = pytest.mark.lab


def _spec(lab: Lab, name: str, replicas: int = 1) -> dict[str, Any]:
    service = Service.model_validate(
        {
            "metadata": {"name": name},
            "spec": {"image": lab.image, "command": ["sleep", "3600"], "replicas": replicas},
        }
    )
    return service_spec(service)


def test_errors_are_ours(lab: Lab, swarm_cleanup: None, tmp_path: Any) -> None:
    with pytest.raises(DockerUnavailable):
        SwarmClient(f"unix://{tmp_path}/no.sock").services()  # building it makes no call
    with pytest.raises(NotAManager, match="not a swarm manager"):
        SwarmClient(lab.hosts[1].docker_host).services()  # the first read, unversioned
    with pytest.raises(NotAManager, match="worker"):
        SwarmClient(lab.hosts[1].docker_host).require_manager()
    client = SwarmClient(lab.manager.docker_host)
    assert client.require_manager()["ControlAvailable"] is True
    with pytest.raises(NotFound):
        client.inspect_service("eng-no-such-service")
    service_id = client.create_service(_spec(lab, "eng-client"))
    stale = client.inspect_service(service_id)["Version"]["Index"]
    client.update_service(service_id, stale, _spec(lab, "eng-client", 2))
    with pytest.raises(VersionConflict) as caught:
        client.update_service(service_id, stale, _spec(lab, "eng-client", 3))
    assert "out of sequence" in caught.value.explanation
    assert client.inspect_service(service_id)["Spec"]["Mode"]["Replicated"]["Replicas"] == 2


def test_a_no_op_plan_lists_what_it_needs_the_first_read_negotiates(lab: Lab) -> None:
    from swarm_operator.engine.converge import apply_plan
    from swarm_operator.engine.live import read_for
    from swarm_operator.engine.plan import PlanOptions, plan

    client = SwarmClient(lab.manager.docker_host)
    the_plan = plan([], read_for(client, [], PlanOptions()), PlanOptions())
    report = apply_plan(client, [], PlanOptions(), the_plan)
    assert report.ok
    # services and networks (their leftovers are reported); nothing declares a node, a
    # secret or a config, and no live service mounts one
    assert client.calls == {"services": 1, "networks": 1}
    # the version came with the first answer: asking for it (and writing) costs no probe
    probe = SwarmClient(lab.manager.docker_host)
    assert client.api_version == probe.api_version  # the other learnt it from GET /version
    assert probe.calls == {"version": 1}
    assert "version" not in client.calls
    # --prune lists every kind whose leftovers it may delete (nodes are never pruned)
    pruning = SwarmClient(lab.manager.docker_host)
    plan([], read_for(pruning, [], PlanOptions(prune=True)), PlanOptions(prune=True))
    assert pruning.calls == {"services": 1, "networks": 1, "secrets": 1, "configs": 1}


def test_a_create_following_its_tag_asks_the_registry_once(lab: Lab, swarm_cleanup: None) -> None:
    from swarm_operator.engine.converge import apply_plan
    from swarm_operator.engine.live import read_for
    from swarm_operator.engine.plan import PlanOptions, plan

    m = Service.model_validate(
        {
            "metadata": {"name": "eng-follow"},
            "spec": {
                "image": lab.image,
                "command": ["sleep", "3600"],
                "replicas": 0,
                "imageUpdate": {"policy": "digest", "interval": "1m"},
            },
        }
    )
    client = SwarmClient(lab.manager.docker_host)
    the_plan = plan([m], read_for(client, [m], PlanOptions()), PlanOptions())
    client.calls.clear()
    report = apply_plan(client, [m], PlanOptions(), the_plan)
    assert report.ok, report.to_dict()
    # the digest it pins and the platforms it places by come from one GET /distribution
    assert client.calls["image_distribution"] == 1 and client.calls["create_service"] == 1
    assert "image_digest" not in client.calls
    task = client.inspect_service("eng-follow")["Spec"]["TaskTemplate"]
    image, _, digest = task["ContainerSpec"]["Image"].partition("@")
    assert image == lab.image and digest == client.image_digest(lab.image)
    assert task["Placement"]["Platforms"]


def test_counter_and_observer(lab: Lab) -> None:
    seen: list[tuple[str, float, bool]] = []
    client = SwarmClient(lab.manager.docker_host, observer=lambda *a: seen.append(a))
    client.services()
    client.nodes()
    with pytest.raises(NotFound):
        client.inspect_network("eng-no-such-network")
    assert client.calls["services"] == 1 and client.calls["inspect_network"] == 1
    assert [(name, ok) for name, _, ok in seen] == [
        ("services", True),
        ("nodes", True),
        ("inspect_network", False),
    ]
    assert all(seconds >= 0 for _, seconds, _ in seen)


def test_events_stream_service_changes(lab: Lab, swarm_cleanup: None) -> None:
    client = SwarmClient(lab.manager.docker_host)
    since = time.time() - 1
    created: list[str] = []

    def make() -> None:
        created.append(client.create_service(_spec(lab, "eng-events")))

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    events = list(client.events(since=since, until=time.time() + 2))
    kinds = {(e.get("Type"), e.get("Action"), (e.get("Actor") or {}).get("ID")) for e in events}
    assert ("service", "create", created[0]) in kinds


def test_an_unchanged_spec_written_back_restarts_nothing(lab: Lab, swarm_cleanup: None) -> None:
    """The daemon's nudge of an engine left running extra slots (`Kind.nudge`) is only a
    change event: the same spec at the next version, no task replaced, no update."""
    from swarm_operator.engine.live import read_live
    from swarm_operator.kinds import registry

    client = SwarmClient(lab.manager.docker_host)
    service_id = client.create_service(_spec(lab, "eng-nudge", 2))

    def running() -> set[str]:
        tasks = client.tasks(filters={"service": service_id, "desired-state": "running"})
        return {t["ID"] for t in tasks if t["Status"]["State"] == "running"}

    deadline = time.monotonic() + 60
    while len(running()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    before, tasks_before = client.inspect_service(service_id), running()
    assert len(tasks_before) == 2
    live = read_live(client, keys=[("Service", "eng-nudge")]).get(("Service", "eng-nudge"))
    assert live is not None
    registry.of("Service").nudge(client, live)
    after = client.inspect_service(service_id)
    assert after["Version"]["Index"] > before["Version"]["Index"]
    assert after["Spec"] == before["Spec"]
    assert not after.get("UpdateStatus")
    time.sleep(3)  # what a replacement would have started by now
    assert running() == tasks_before
    all_tasks = client.tasks(filters={"service": service_id})
    assert {t["ID"] for t in all_tasks} == tasks_before
