"""How many Engine API calls the executor and the daemon's resync pass make, against a
counting in-memory stand-in for `SwarmClient` (pure logic: no Docker here; the same paths
run against real engines in tests/lab/test_engine_apply.py and tests/lab/test_daemon.py).

- a cold apply lists the networks once per plan run, not once per service created;
- a network that vanished under a create is listed again once and the create retried;
- a no-op plan and apply list each kind a plan of the manifests needs once, whatever N:
  services and networks always (2 calls), nodes for a declared Node, secrets and configs
  when declared, mounted by a live service, referenced by a declared one, or --prune
  (`engine.live.read_for`; the real client's first read also negotiates the API
  version: tests/lab/test_engine_client.py);
- a resync pass over N objects in sync reads the Swarm once (3 calls for networks and
  services: services, networks, tasks), whatever N;
- a key enqueued by an event after the pass's read began, and a key the snapshot shows
  drifted, are read afresh before anything is decided.
"""

from __future__ import annotations

import gc
import weakref
from collections import Counter
from pathlib import Path
from typing import Any

from engine_helpers import net, node, svc
from fake_swarm import DIGEST, CountingSwarm
from prometheus_client import CollectorRegistry

from swarm_operator.cli.output import plan_text
from swarm_operator.daemon.controller import Daemon, DaemonOptions
from swarm_operator.engine.converge import apply_plan
from swarm_operator.engine.executor import Executor
from swarm_operator.engine.live import build_state, read_for
from swarm_operator.engine.plan import Plan, PlanOptions, plan
from swarm_operator.manifests.models import Config, Manifest, Secret
from swarm_operator.swarm import labels


def state_of(swarm: CountingSwarm) -> dict[str, list[dict[str, object]]]:
    return {"Network": swarm.networks(), "Node": swarm.nodes()}


def _blob(model: type[Manifest], name: str, content: bytes) -> Any:
    spec = {"data": "x"} if model is Config else {"env": "SO_TEST_SECRET"}
    m = model.model_validate({"metadata": {"name": name}, "spec": spec})
    m.with_content(content)  # type: ignore[attr-defined]
    return m


def workload(n: int) -> list[Manifest]:
    return [net("app"), *(svc(f"s{i:03d}", replicas=1, networks=["app"]) for i in range(n))]


# ------------------------------------------------------------------ executor


def test_a_cold_apply_lists_networks_once_not_once_per_service() -> None:
    swarm = CountingSwarm()
    manifests = workload(30)
    the_plan = plan(manifests, build_state({"Node": swarm.nodes()}), PlanOptions())
    swarm.calls.clear()
    report = apply_plan(swarm, manifests, PlanOptions(), the_plan)  # type: ignore[arg-type]
    assert report.ok, report.to_dict()
    assert swarm.calls["create_network"] == 1
    assert swarm.calls["create_service"] == 30
    assert swarm.calls["networks"] == 1
    # and every service was attached by ID, to the network created in this run
    (net_id,) = swarm._networks
    targets = {
        a["Target"] for s in swarm._services.values() for a in s["Spec"]["TaskTemplate"]["Networks"]
    }
    assert targets == {net_id}


def _no_op_calls(swarm: CountingSwarm, manifests: list[Manifest], options: PlanOptions) -> Plan:
    """Plan and apply ``manifests`` on a Swarm already equal to them; the plan."""
    swarm.calls.clear()
    the_plan = plan(manifests, read_for(swarm, manifests, options), options)  # type: ignore[arg-type]
    assert not the_plan.pending, the_plan.to_dict()
    report = apply_plan(swarm, manifests, options, the_plan)  # type: ignore[arg-type]
    assert report.ok and not report.results
    return the_plan


def test_a_no_op_of_networks_and_services_is_two_list_calls_whatever_n() -> None:
    for n in (5, 200):
        swarm = CountingSwarm()
        manifests = workload(n)
        swarm.adopt(manifests)
        the_plan = _no_op_calls(swarm, manifests, PlanOptions())
        # nodes are never pruned and nothing but a Node looks at them; no secret or config
        # is declared, referenced or mounted: neither is listed
        assert swarm.calls == Counter({"services": 1, "networks": 1})
        assert the_plan.unread == ("Secret", "Config")


def test_each_kind_in_play_adds_its_one_list_call() -> None:
    secret = _blob(Secret, "db", b"pw")
    config = _blob(Config, "conf", b"listen 80")
    with_secret = svc("s000", replicas=1, networks=["app"], secrets=["db"])
    cases: list[tuple[list[Manifest], PlanOptions, set[str]]] = [
        # a declared Node: the nodes too (3 calls)
        ([*workload(3), node("host1")], PlanOptions(), {"nodes"}),
        # a secret declared and mounted: the secrets, not the configs (3 calls)
        ([net("app"), secret, with_secret], PlanOptions(), {"secrets"}),
        # a config declared, mounted by nothing
        ([*workload(2), config], PlanOptions(), {"configs"}),
        # --prune: every prunable kind, leftovers of any kind may go (4 calls)
        (workload(3), PlanOptions(prune=True), {"secrets", "configs"}),
    ]
    for manifests, options, extra in cases:
        swarm = CountingSwarm()
        swarm.adopt(manifests)
        the_plan = _no_op_calls(swarm, manifests, options)
        assert swarm.calls == Counter(dict.fromkeys({"services", "networks", *extra}, 1))
        assert not {f"{k.lower()}s" for k in the_plan.unread} & extra


def test_a_live_service_mounting_a_secret_gets_the_secrets_listed() -> None:
    # The directory no longer says anything of secrets, the live service still mounts one:
    # its spec names the version by ID, so the secrets are read to name it (and the plan
    # shows the mount going, not a misread spec).
    swarm = CountingSwarm()
    swarm.adopt([net("app"), _blob(Secret, "db", b"pw"), svc("s000", secrets=["db"])])
    swarm.calls.clear()
    manifests: list[Manifest] = [net("app"), svc("s000")]
    the_plan = plan(manifests, read_for(swarm, manifests, PlanOptions()), PlanOptions())  # type: ignore[arg-type]
    assert swarm.calls == Counter({"services": 1, "networks": 1, "secrets": 1})
    (update,) = the_plan.pending
    assert update.verb == "update" and [d.path for d in update.differences] == ["spec.secrets"]
    assert any("Secret db" in note for note in the_plan.notes)  # left over, and said so
    assert the_plan.unread == ("Config",)


def test_a_left_over_secret_is_noted_when_secrets_are_listed_and_pruned_with_prune() -> None:
    swarm = CountingSwarm()
    swarm.adopt([*workload(2), _blob(Secret, "old", b"pw")])  # then its manifest went
    manifests = workload(2)
    # nothing declares or mounts a secret: not listed, and the plan says it did not look
    the_plan = _no_op_calls(swarm, manifests, PlanOptions())
    assert swarm.calls["secrets"] == 0 and "Secret" in the_plan.unread
    assert not the_plan.notes
    assert "not listed (nothing declared or mounts one; --prune lists them): Secret, Config" in (
        plan_text(the_plan, verbose=True)
    )
    # another secret declared: the secrets are listed and the leftover is in the note
    also = [*manifests, _blob(Secret, "new", b"pw2")]
    swarm.adopt(also)
    the_plan = _no_op_calls(swarm, also, PlanOptions())
    assert swarm.calls["secrets"] == 1
    assert the_plan.notes == (
        "managed but no longer declared (apply --prune deletes them): Secret old",
    )
    # --prune lists every prunable kind and deletes it
    pruning = PlanOptions(prune=True)
    the_plan = plan(manifests, read_for(swarm, manifests, pruning), pruning)  # type: ignore[arg-type]
    assert [(a.verb, a.kind, a.name) for a in the_plan.pending] == [
        ("delete", "Secret", "new"),
        ("delete", "Secret", "old"),
    ]


def test_a_network_replaced_under_the_run_is_listed_again_once() -> None:
    swarm = CountingSwarm()
    swarm.adopt([net("app")])
    manifests = workload(3)
    the_plan = plan(manifests, build_state(state_of(swarm)), PlanOptions())
    executor = Executor(swarm)  # type: ignore[arg-type]
    executor.ctx.ids("Network")  # listed before someone replaces it
    swarm.replace_network("app")
    swarm.calls.clear()
    report = apply_plan(swarm, manifests, PlanOptions(), the_plan, executor=executor)  # type: ignore[arg-type]
    assert report.ok, report.to_dict()
    assert swarm.calls["networks"] == 1  # the refresh after "network ... not found"
    assert swarm.calls["create_service"] == 4  # one failed try, then three creates


def test_a_network_being_removed_under_the_plan_is_reread_not_a_failure() -> None:
    swarm = CountingSwarm()
    swarm.adopt([net("app")])
    manifests = workload(1)
    the_plan = plan(manifests, build_state(state_of(swarm)), PlanOptions())
    # The network the plan saw is still listed while the engine removes it: the create
    # fails, so does the one after listing the networks again; the loop re-reads the
    # object, plans it again and carries the new plan out.
    gone = "network 3v0tcbq1p8bd2 not found"
    swarm.fail_creates = [gone, gone]
    swarm.calls.clear()
    naps: list[float] = []
    report = apply_plan(swarm, manifests, PlanOptions(), the_plan, sleep=naps.append)  # type: ignore[arg-type]
    assert report.ok, report.to_dict()
    assert swarm.calls["create_service"] == 3 and naps == [1.0]


def test_other_create_errors_are_not_retried() -> None:
    swarm = CountingSwarm()
    swarm.adopt([net("app")])
    manifests = workload(1)
    the_plan = plan(manifests, build_state(state_of(swarm)), PlanOptions())
    swarm.fail_next_create = "name conflicts with an existing object"
    swarm.calls.clear()
    report = apply_plan(swarm, manifests, PlanOptions(), the_plan)  # type: ignore[arg-type]
    assert not report.ok
    assert swarm.calls["create_service"] == 1
    assert swarm.calls["networks"] == 1


# ------------------------------------------------------------------ daemon resync


def manifest_dir(tmp_path: Path, n: int) -> Path:
    directory = tmp_path / "m"
    directory.mkdir(parents=True)
    docs = ["apiVersion: swarm-operator/v1alpha1\nkind: Network\nmetadata: {name: app}\n"]
    docs += [
        "apiVersion: swarm-operator/v1alpha1\nkind: Service\n"
        f"metadata: {{name: s{i:03d}}}\n"
        "spec: {image: 'fix/busybox:1', replicas: 1, networks: [app]}\n"
        for i in range(n)
    ]
    (directory / "all.yaml").write_text("---\n".join(docs))
    return directory


def daemon_on(swarm: CountingSwarm, directory: Path) -> Daemon:
    d = Daemon(DaemonOptions(directory=directory), CollectorRegistry())
    d.attach(swarm)  # type: ignore[arg-type]
    d.reload()
    swarm.adopt(list(d.desired.manifests()))
    return d


def work_off(d: Daemon) -> list[tuple[str, str]]:
    done = []
    while (key := d.queue.get(timeout=0)) is not None:
        d.reconcile(key)
        d.queue.done(key)
        done.append(key)
    return done


def test_a_resync_pass_reads_the_swarm_once_whatever_n(tmp_path: Path) -> None:
    for n in (5, 60):
        swarm = CountingSwarm()
        d = daemon_on(swarm, manifest_dir(tmp_path / str(n), n))
        work_off(d)  # the first reload's keys, read one by one (file-triggered)
        swarm.calls.clear()
        d.resync(swarm)  # type: ignore[arg-type]
        assert len(work_off(d)) == n + 1
        # nothing declares a node, a secret or a config, nothing mounts one, no --prune
        assert swarm.calls == Counter({"services": 1, "networks": 1, "tasks": 1})
        statuses = [d.board.get(*key) for key in d.desired.declared()]
        assert len(statuses) == n + 1
        assert all(s is not None and s.sync_status == "synced" for s in statuses), statuses
        assert all(s is not None and s.health_status == "healthy" for s in statuses), statuses


def test_an_event_after_the_snapshot_gets_a_fresh_read(tmp_path: Path) -> None:
    swarm = CountingSwarm()
    d = daemon_on(swarm, manifest_dir(tmp_path, 3))
    work_off(d)
    d.resync(swarm)  # type: ignore[arg-type]
    d.events.on_event({"Type": "service", "Actor": {"Attributes": {"name": "s001"}}})
    swarm.calls.clear()
    work_off(d)
    assert swarm.calls["services"] == 1  # s001 alone, by name
    assert swarm.calls["inspect_service"] == 1 and swarm.calls["tasks"] == 1


def test_a_finished_pass_lets_its_snapshot_go(tmp_path: Path) -> None:
    # The pass's read (every live object with its raw spec, and the tasks) is held only
    # until every key of the pass has been reconciled, not until the next resync.
    swarm = CountingSwarm()
    d = daemon_on(swarm, manifest_dir(tmp_path, 3))
    work_off(d)
    d.resync(swarm)  # type: ignore[arg-type]
    snapshot = d._snapshot
    assert snapshot is not None
    held = weakref.ref(snapshot)
    del snapshot
    first = d.queue.get(timeout=0)
    assert first is not None
    d.reconcile(first)
    d.queue.done(first)
    assert d._snapshot is held()  # keys of the pass are left: still offered
    work_off(d)
    gc.collect()
    assert held() is None
    # A key enqueued afterwards reads fresh, as it did once the snapshot was used up.
    swarm.calls.clear()
    d.queue.add(("Service", "s001"))
    work_off(d)
    assert swarm.calls["services"] == 1 and swarm.calls["inspect_service"] == 1


def test_drift_seen_in_the_snapshot_is_read_again_before_acting(tmp_path: Path) -> None:
    swarm = CountingSwarm()
    d = daemon_on(swarm, manifest_dir(tmp_path, 3))
    work_off(d)
    drifted = next(s for s in swarm._services.values() if s["Spec"]["Name"] == "s002")
    drifted["Spec"]["Mode"]["Replicated"]["Replicas"] = 4
    swarm.calls.clear()
    d.resync(swarm)  # type: ignore[arg-type]
    calls_of_the_read = sum(swarm.calls.values())
    work_off(d)
    # One fresh read of s002 (services by name, and the networks, secrets and configs its
    # spec names by ID) before deciding, and its health read fresh too (inspect, tasks);
    # this instance holds no lease, so it only reports the drift. The other keys use the
    # pass's snapshot.
    assert swarm.calls["services"] == 2
    assert sum(swarm.calls.values()) - calls_of_the_read == 6
    status = d.board.get("Service", "s002")
    assert status is not None and status.sync_status == "out_of_sync"
    assert labels.MANAGED_BY in drifted["Spec"]["Labels"]


# ------------------------------------------------------------------ registry questions


def test_a_run_asks_the_registry_once_per_image_for_digest_and_platforms() -> None:
    follow = {"policy": "digest", "interval": "1m"}
    manifests: list[Manifest] = [
        net("app"),
        svc("s000", image="fix/busybox:1", imageUpdate=follow),  # digest and platforms
        svc("s001", image="fix/busybox:1"),  # platforms only
        svc(
            "s002",
            image="fix/busybox:1",
            imageUpdate=follow,
            placement={"platforms": [{"architecture": "arm64", "os": "linux"}]},
        ),  # digest only
        svc(
            "s003",
            image="fix/busybox:1",
            placement={"platforms": [{"architecture": "amd64", "os": "linux"}]},
        ),  # none
    ]
    swarm = CountingSwarm()
    the_plan = plan(manifests, build_state({"Node": swarm.nodes()}), PlanOptions())
    swarm.calls.clear()
    report = apply_plan(swarm, manifests, PlanOptions(), the_plan)  # type: ignore[arg-type]
    assert report.ok, report.to_dict()
    assert swarm.calls["create_service"] == 4
    # one question for the image the three writes that need an answer share
    assert swarm.calls["image_distribution"] == 1
    specs = {s["Spec"]["Name"]: s["Spec"]["TaskTemplate"] for s in swarm._services.values()}
    lab_platform = [{"Architecture": "amd64", "OS": "linux"}]
    assert specs["s000"]["ContainerSpec"]["Image"] == f"fix/busybox:1@{DIGEST}"
    assert specs["s000"]["Placement"]["Platforms"] == lab_platform
    assert specs["s001"]["ContainerSpec"]["Image"] == "fix/busybox:1"
    assert specs["s001"]["Placement"]["Platforms"] == lab_platform
    assert specs["s002"]["ContainerSpec"]["Image"] == f"fix/busybox:1@{DIGEST}"
    assert specs["s002"]["Placement"]["Platforms"] != lab_platform

    # an update onto another image of a followed tag: one question again
    moved = [
        manifests[0],
        svc("s000", image="fix/busybox:2", imageUpdate=follow),
        *manifests[2:],
    ]
    the_plan = plan(moved, read_for(swarm, moved, PlanOptions()), PlanOptions())  # type: ignore[arg-type]
    swarm.calls.clear()
    report = apply_plan(swarm, moved, PlanOptions(), the_plan)  # type: ignore[arg-type]
    assert report.ok, report.to_dict()
    assert swarm.calls["update_service"] == 1 and swarm.calls["image_distribution"] == 1
    updated = next(s for s in swarm._services.values() if s["Spec"]["Name"] == "s000")
    task = updated["Spec"]["TaskTemplate"]
    assert task["ContainerSpec"]["Image"] == f"fix/busybox:2@{DIGEST}"
    assert task["Placement"]["Platforms"] == lab_platform
