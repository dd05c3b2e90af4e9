"""The daemon's reconciler, one key at a time, against a fake of our own Swarm client.

The reconciler gets everything it uses passed in (the client getter, the desired state,
the reporter, whether it may write, the clock), so its write path is driven here with
`fake_swarm.CountingSwarm` (a stand-in for `SwarmClient`, not for docker) and read back
through the public status board and metrics only. The same paths run against real
engines in tests/lab/test_daemon.py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fake_swarm import CountingSwarm
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from swarm_operator.daemon.reconciler import Clock, ReconcileOptions, Reconciler
from swarm_operator.daemon.watch import DesiredState
from swarm_operator.daemon.workqueue import STALLED, SUCCESS, WorkerPool, WorkQueue
from swarm_operator.manifests.loader import load_directory
from swarm_operator.observe.metrics import Metrics
from swarm_operator.observe.reporter import Reporter
from swarm_operator.observe.status import StatusBoard

WEB = """\
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: web}
spec:
  image: fix/busybox:1
  replicas: 2
  env: {DB_PASSWORD: manifest-secret-1}
"""
KEY = ("Service", "web")


class Rig:
    def __init__(self, directory: Path, *, writable: bool = True, prune: bool = False) -> None:
        self.swarm = CountingSwarm()
        self.connected = True
        self.desired = DesiredState()
        self.directory = directory
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.board = StatusBoard()
        self.now = 1_800_000_000.0
        clock = Clock(wall=lambda: self.now, monotonic=lambda: self.now)
        self.reconciler = Reconciler(
            client=lambda: self.swarm if self.connected else None,  # type: ignore[arg-type,return-value]
            desired=self.desired,
            reporter=Reporter(self.board, self.metrics, wall=clock.wall),
            options=ReconcileOptions(prune=prune),
            writable=lambda: writable,
            clock=clock,
        )
        self.load()

    def load(self) -> None:
        self.desired.apply(load_directory(self.directory), self.directory)

    def status(self, key: tuple[str, str] = KEY) -> dict[str, Any]:
        doc = self.board.snapshot()
        return next(o for o in doc["objects"] if (o["kind"], o["name"]) == key)

    def reconciles(self, result: str) -> float:
        value = self.registry.get_sample_value(
            "swarm_operator_reconciles_total", {"kind": "Service", "result": result}
        )
        return value or 0.0


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    (tmp_path / "web.yaml").write_text(WEB)
    r = Rig(tmp_path)
    r.swarm.adopt(list(r.desired.manifests()))
    return r


def test_drift_is_corrected_and_reported_once(rig: Rig) -> None:
    rig.swarm.edit("web", lambda spec: spec["Mode"]["Replicated"].update(Replicas=5))
    assert rig.reconciler.reconcile(KEY) == SUCCESS
    assert rig.swarm.calls["update_service"] == 1
    assert rig.swarm.service("web")["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
    status = rig.status()
    assert status["syncStatus"] == "synced" and status["healthStatus"] == "healthy"
    assert status["lastApplied"] is not None and status["lastApplied"].endswith("Z")
    assert rig.reconciles("success") == 1  # one reconcile, one report
    assert (
        rig.registry.get_sample_value(
            "swarm_operator_object_info",
            {"kind": "Service", "name": "web", "sync_status": "synced", "health_status": "healthy"},
        )
        == 1
    )


def test_on_standby_drift_is_reported_never_written(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(WEB)
    rig = Rig(tmp_path, writable=False)
    rig.swarm.adopt(list(rig.desired.manifests()))
    rig.swarm.edit("web", lambda spec: spec["Mode"]["Replicated"].update(Replicas=5))
    assert rig.reconciler.reconcile(KEY) == SUCCESS
    assert rig.swarm.calls["update_service"] == 0
    status = rig.status()
    assert status["syncStatus"] == "out_of_sync"
    assert status["drift"] == ["spec.replicas: 5 -> 2"]


def test_a_version_conflict_is_reread_and_replanned(rig: Rig) -> None:
    rig.swarm.edit("web", lambda spec: spec["Mode"]["Replicated"].update(Replicas=5))
    rig.swarm.fail_updates = [("rpc error: update out of sequence", 500)]
    assert rig.reconciler.reconcile(KEY) == SUCCESS
    assert rig.swarm.calls["update_service"] == 2  # the conflict, then the re-planned write
    assert rig.status()["syncStatus"] == "synced"


def test_a_spec_the_engine_rejects_is_stalled_not_retried(rig: Rig) -> None:
    rig.swarm.edit("web", lambda spec: spec["Mode"]["Replicated"].update(Replicas=5))
    rig.swarm.fail_updates = [("invalid mount target, must be an absolute path: x", 400)]
    queue: WorkQueue[tuple[str, str]] = WorkQueue(clock=lambda: rig.now)
    pool = WorkerPool(queue, rig.reconciler.reconcile)
    queue.add(KEY)
    key = queue.get(timeout=0)
    assert key == KEY
    assert pool.process_one(key) == STALLED
    status = rig.status()
    assert status["stalled"] and status["syncStatus"] == "out_of_sync"
    assert "invalid mount target" in status["lastError"]
    assert rig.reconciles("stalled") == 1
    # Terminal: nothing queued again, now or later (no hot loop); the backoff is forgotten.
    rig.now += 3600
    assert queue.get(timeout=0) is None and queue.num_requeues(KEY) == 0
    # The next trigger (a manifest change, a resync) brings it back.
    (rig.directory / "web.yaml").write_text(WEB.replace("replicas: 2", "replicas: 3"))
    rig.load()
    assert rig.reconciler.reconcile(KEY) == SUCCESS
    assert not rig.status()["stalled"] and rig.status()["syncStatus"] == "synced"


def test_not_connected_is_skipped_and_says_why(rig: Rig) -> None:
    rig.connected = False
    assert rig.reconciler.reconcile(KEY) == SUCCESS
    status = rig.status()
    assert status["syncStatus"] == "unknown" and "not connected" in status["lastError"]
    assert rig.reconciles("skipped") == 1


def test_a_held_object_is_left_alone(rig: Rig) -> None:
    rig.swarm.edit("web", lambda spec: spec["Mode"]["Replicated"].update(Replicas=5))
    (rig.directory / "web.yaml").write_text("kind: Service\nmetadata: {name: web}\nspec: [\n")
    rig.load()
    assert rig.reconciler.reconcile(KEY) == SUCCESS
    assert rig.swarm.calls["update_service"] == 0
    assert rig.status()["held"] and rig.status()["syncStatus"] == "unknown"


def test_an_undeclared_managed_object_is_kept_without_prune(rig: Rig) -> None:
    (rig.directory / "web.yaml").unlink()
    rig.load()
    assert rig.reconciler.reconcile(KEY) == SUCCESS
    assert rig.swarm.calls["remove_service"] == 0
    status = rig.status()
    assert status["syncStatus"] == "out_of_sync" and "--prune" in status["lastError"]


def test_with_prune_an_undeclared_managed_object_is_deleted_and_forgotten(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(WEB)
    (tmp_path / "db.yaml").write_text(WEB.replace("name: web", "name: db"))
    rig = Rig(tmp_path, prune=True)
    rig.swarm.adopt(list(rig.desired.manifests()))
    (tmp_path / "web.yaml").unlink()
    rig.load()
    assert rig.reconciler.reconcile(KEY) == SUCCESS
    assert rig.swarm.calls["remove_service"] == 1
    assert all(o["name"] != "web" for o in rig.board.snapshot()["objects"])


def test_an_env_value_never_leaves_the_process(rig: Rig) -> None:
    def by_hand(spec: dict[str, Any]) -> None:
        spec["TaskTemplate"]["ContainerSpec"]["Env"] = ["DB_PASSWORD=typed-by-hand-2"]

    rig.swarm.edit("web", by_hand)
    standby = Reconciler(
        client=lambda: rig.swarm,  # type: ignore[arg-type,return-value]
        desired=rig.desired,
        reporter=Reporter(rig.board, rig.metrics),
        writable=lambda: False,
    )
    with capture_logs() as logs:
        standby.reconcile(KEY)
        rig.reconciler.reconcile(KEY)  # and corrected by the writer
    shown = json.dumps(logs) + json.dumps(rig.board.snapshot())
    for value in ("manifest-secret-1", "typed-by-hand-2"):
        assert value not in shown
        # nor a hash of it (the JSON form once carried the sha256 of each side)
        digest = hashlib.sha256(json.dumps(value).encode()).hexdigest()
        assert digest[:16] not in shown and hashlib.sha256(value.encode()).hexdigest() not in shown
    assert "spec.env.DB_PASSWORD: (changed)" in shown
    assert '"before": "(hidden)"' in shown or '"after": "(hidden)"' in shown  # the real log
    env = rig.swarm.service("web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert env == ["DB_PASSWORD=manifest-secret-1"]


def test_a_missing_external_network_is_reported_never_created(tmp_path: Path) -> None:
    (tmp_path / "edge.yaml").write_text(
        "apiVersion: swarm-operator/v1alpha1\nkind: Network\nmetadata: {name: edge}\n"
        "spec: {external: true}\n"
    )
    rig = Rig(tmp_path)
    key = ("Network", "edge")
    assert rig.reconciler.reconcile(key) == SUCCESS
    assert rig.swarm.calls["create_network"] == 0
    status = rig.status(key)
    assert status["syncStatus"] == "out_of_sync"
    assert "swarm-operator never creates it" in status["lastError"]


def test_a_field_the_engines_api_lacks_is_reported_never_written(tmp_path: Path) -> None:
    """On an engine of API 1.45 (Docker 26), a service with oomScoreAdj (API 1.46) is
    blocked by the plan: nothing is written, and its status says why."""
    (tmp_path / "web.yaml").write_text(WEB + "  oomScoreAdj: 100\n")
    rig = Rig(tmp_path)
    rig.swarm.negotiated_api_version = "1.45"
    assert rig.reconciler.reconcile(KEY) == SUCCESS
    assert rig.swarm.calls["create_service"] == 0
    status = rig.status()
    assert status["syncStatus"] == "out_of_sync"
    assert status["lastError"] == (
        "spec.oomScoreAdj needs Docker Engine API 1.46; this engine speaks 1.45"
    )
    rig.swarm.negotiated_api_version = "1.46"  # the engine upgraded: written
    assert rig.reconciler.reconcile(KEY) == SUCCESS
    assert rig.swarm.calls["create_service"] == 1


def nudges(rig: Rig) -> float:
    value = rig.registry.get_sample_value("swarm_operator_engine_nudges_total", {"kind": "Service"})
    return value or 0.0


def test_an_engine_left_running_extra_slots_gets_the_unchanged_spec_written_back(
    rig: Rig,
) -> None:
    # The engine's orchestrator missed a scale-down: 3 slots run, the spec says 2.
    rig.swarm.extra_slots["web"] = 1
    before = json.dumps(rig.swarm.service("web")["Spec"], sort_keys=True)
    version = rig.swarm.service("web")["Version"]["Index"]
    assert rig.reconciler.reconcile(KEY) != SUCCESS  # progressing: looked at again
    assert rig.status()["healthStatus"] == "progressing"
    rig.now += 4.0  # within the grace: the engine may still be acting
    rig.reconciler.reconcile(KEY)
    assert rig.swarm.calls["update_service"] == 0
    rig.now += 2.0
    with capture_logs() as logs:
        rig.reconciler.reconcile(KEY)
    assert rig.swarm.calls["update_service"] == 1
    assert json.dumps(rig.swarm.service("web")["Spec"], sort_keys=True) == before
    assert rig.swarm.service("web")["Version"]["Index"] == version + 1
    stuck = [e for e in logs if e["event"] == "engine stuck: re-writing the unchanged spec"]
    assert stuck and stuck[0]["stuck"] == "the engine runs 3 slots for 2 replicas"
    assert nudges(rig) == 1
    rig.now += 2.0
    assert rig.reconciler.reconcile(KEY) == SUCCESS
    assert rig.status()["healthStatus"] == "healthy"
    assert rig.swarm.calls["update_service"] == 1


def test_extra_slots_that_go_within_the_grace_are_left_to_the_engine(rig: Rig) -> None:
    rig.swarm.extra_slots["web"] = 1
    rig.reconciler.reconcile(KEY)
    rig.now += 3.0
    del rig.swarm.extra_slots["web"]  # the orchestrator got there
    rig.reconciler.reconcile(KEY)
    rig.swarm.extra_slots["web"] = 1  # stuck again later: the grace starts again
    rig.now += 3.0
    rig.reconciler.reconcile(KEY)
    assert rig.swarm.calls["update_service"] == 0
    assert nudges(rig) == 0


def test_on_standby_an_engine_stuck_is_never_written_to(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(WEB)
    rig = Rig(tmp_path, writable=False)
    rig.swarm.adopt(list(rig.desired.manifests()))
    rig.swarm.extra_slots["web"] = 1
    for _ in range(5):
        rig.reconciler.reconcile(KEY)
        rig.now += 10.0
    assert rig.swarm.calls["update_service"] == 0
    assert rig.status()["healthStatus"] == "progressing"
