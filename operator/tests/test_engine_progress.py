"""kinds.service_progress and output: convergence and failure read from task lists."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import captured_state, svc

from swarm_operator.cli.output import plan_text, report_text
from swarm_operator.engine.executor import Report, Result
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.kinds.service_progress import parse_time, service_progress

NOW = "2026-11-27T14:00:10.123456789Z"
OLD = "2026-11-27T13:00:00Z"
SINCE = parse_time("2026-11-27T14:00:00Z")


def service(replicas: int = 2, update: str | None = None, message: str = "") -> dict[str, Any]:
    raw: dict[str, Any] = {
        "ID": "s1",
        "Spec": {"Name": "web", "Mode": {"Replicated": {"Replicas": replicas}}},
    }
    if update:
        raw["UpdateStatus"] = {"State": update, "Message": message}
    return raw


def task(state: str, desired: str = "running", err: str = "", created: str = NOW) -> Any:
    return {
        "ID": f"t-{state}-{err[:5]}",
        "DesiredState": desired,
        "CreatedAt": created,
        "Status": {"State": state, "Err": err},
    }


def test_parse_time_keeps_nanoseconds() -> None:
    assert parse_time(NOW) - SINCE == pytest.approx(10.123456789)


def test_converged() -> None:
    p = service_progress(service(), [task("running"), task("running")], SINCE, True)
    assert p.converged and p.failed is None and (p.running, p.desired) == (2, 2)


def test_old_tasks_do_not_count_right_after_an_update() -> None:
    # Just after an update the old task still runs and UpdateStatus is not set yet: only
    # tasks of the current spec version (the engine's _up-to-date filter) count.
    old = task("running", created=OLD)
    p = service_progress(service(1), [old], SINCE, True, current=[])
    assert not p.converged and (p.running, p.desired) == (0, 1)
    new = task("running")
    p = service_progress(service(1), [old, new], SINCE, True, current=[new])
    assert p.converged and (p.running, p.desired) == (1, 1)


def test_not_yet() -> None:
    p = service_progress(service(), [task("running"), task("preparing")], SINCE, True)
    assert not p.converged and p.failed is None


@pytest.mark.parametrize("state", ["rollback_started", "rollback_completed", "paused"])
def test_rollback_and_pause_fail(state: str) -> None:
    p = service_progress(
        service(update=state, message="update paused due to failure"),
        [task("running"), task("running")],
        SINCE,
        True,
    )
    assert p.failed and state in p.failed and "update paused due to failure" in p.failed


def test_repeated_rejections_fail_with_task_errors() -> None:
    err = "No such image: 10.77.1.1:5000/nope:1"
    tasks = [
        task("rejected", "shutdown", err),
        task("rejected", "shutdown", err + " "),
        task("pending"),
    ]
    p = service_progress(service(1), tasks, SINCE, True)
    assert p.failed == "tasks keep failing"
    assert any("No such image" in e for e in p.errors)


def test_old_failures_are_history() -> None:
    err = "No such image: x"
    tasks = [
        task("rejected", "shutdown", err, OLD),
        task("rejected", "shutdown", err + "!", OLD),
        task("running"),
    ]
    p = service_progress(service(1), tasks, SINCE, True)
    assert p.converged and not p.errors


def test_tasks_of_slots_taken_away_are_not_failures() -> None:
    # A hand-made scale 3 -> 5 put back at once: the two new tasks are stopped while they
    # start, and may end "failed"; their slots are gone (DesiredState "remove").
    tasks = [
        task("failed", "remove", "task: non-zero exit (137)"),
        task("rejected", "remove", "cannot start: container is marked for removal"),
        *[task("running") for _ in range(3)],
    ]
    p = service_progress(service(3), tasks, SINCE, True)
    assert p.converged and p.failed is None and not p.errors
    # The same failures on slots still wanted are a crash loop.
    crashing = [{**t, "DesiredState": "shutdown"} for t in tasks[:2]] + tasks[2:]
    assert service_progress(service(3), crashing, SINCE, True).failed == "tasks keep failing"


def test_no_suitable_node_fails_after_grace() -> None:
    tasks = [task("pending", err="no suitable node (scheduling constraints not satisfied)")]
    assert service_progress(service(1), tasks, SINCE, True).failed is None
    late = service_progress(service(1), tasks, SINCE, False)
    assert late.failed == "tasks cannot be scheduled"
    assert "no suitable node" in late.errors[0]


def test_global_service_counts_its_tasks() -> None:
    raw = {"ID": "g", "Spec": {"Name": "api", "Mode": {"Global": {}}}}
    p = service_progress(raw, [task("running")] * 3, SINCE, True)
    assert p.converged and p.desired == 3


def test_plan_text_names_fields_and_blocks() -> None:
    p = plan(
        [svc("minimal", command=["sleep", "1"]), svc("clisvc")], captured_state(), PlanOptions()
    )
    text = plan_text(p)
    assert "~ update Service minimal" in text
    assert 'spec.command: ["sleep", "3600"] -> ["sleep", "1"]' in text
    assert "<~ adopt Service clisvc" in text and "BLOCKED: not taken over" in text
    assert text.endswith(
        "Plan: 0 to create, 1 to update, 0 to replace, 1 to adopt, "
        "0 to delete (0 unchanged, 1 blocked)."
    )
    assert "\033[" not in text and "\033[" in plan_text(p, colour=True)


def test_report_text_names_object_and_docker_error() -> None:
    p = plan([svc("new")], captured_state(), PlanOptions())
    report = Report([Result(p.actions[0], False, "network app-net not found")])
    text = report_text(report)
    assert "FAILED  create Service new: network app-net not found" in text
    assert not report.ok and report.to_dict()["results"][0]["message"].endswith("not found")


def test_blocked_actions_fail_but_disabled_reconcile_is_left_alone() -> None:
    from typing import cast

    from swarm_operator.engine.converge import apply_plan
    from swarm_operator.swarm.client import SwarmClient

    desired = [
        svc(
            "minimal", command=["sleep", "1"], annotations={"swarm-operator/reconcile": "disabled"}
        ),
        svc("clisvc"),
    ]
    p = plan(desired, captured_state(), PlanOptions())
    # Nothing runnable: the executor must not touch the (absent) client at all.
    report = apply_plan(cast(SwarmClient, None), desired, PlanOptions(), p)
    outcome = {r.action.name: (r.ok, r.message) for r in report.results}
    assert outcome["minimal"][0] is True and "left alone" in outcome["minimal"][1]
    assert outcome["clisvc"][0] is False and "pass --adopt" in outcome["clisvc"][1]
    assert not report.ok


def test_plan_text_with_load_errors_never_claims_the_swarm_matches() -> None:
    p = plan([], captured_state(), PlanOptions())
    clean = plan_text(p)
    assert "No changes: the Swarm matches the manifests." in clean
    text = plan_text(p, errors=("a.yaml:7:3: unknown field 'replcas'",))
    assert "error: a.yaml:7:3: unknown field 'replcas'" in text
    assert "No changes" not in text
    assert "Incomplete: 1 manifest error(s)" in text


def slotted(slot: int, desired: str = "running", state: str = "running") -> Any:
    return {**task(state, desired), "ID": f"t{slot}-{desired}", "Slot": slot}


def test_slots_beyond_the_replicas_with_no_update_are_excess() -> None:
    # the engine's orchestrator missed a scale-down: 4 slots run for 3 replicas
    tasks = [slotted(1), slotted(2), slotted(3), slotted(5)]
    assert service_progress(service(3), tasks, SINCE, True).excess_slots == 1
    # the slots it took away (desired "remove") and history do not count
    removed = [slotted(1), slotted(2), slotted(3), slotted(4, "remove"), slotted(5, "shutdown")]
    assert service_progress(service(3), removed, SINCE, True).excess_slots == 0
    # a start-first update runs two tasks in one slot: one slot, not two
    both = [slotted(1), slotted(2), slotted(3), {**slotted(3), "ID": "t3-new"}]
    assert service_progress(service(3), both, SINCE, True).excess_slots == 0


@pytest.mark.parametrize("state", ["updating", "rollback_started", "paused"])
def test_extra_slots_during_an_update_are_not_excess(state: str) -> None:
    tasks = [slotted(1), slotted(2), slotted(3)]
    assert service_progress(service(2, update=state), tasks, SINCE, True).excess_slots == 0
    assert service_progress(service(2, update="completed"), tasks, SINCE, True).excess_slots == 1


def test_a_global_service_has_no_excess() -> None:
    raw = {"ID": "g", "Spec": {"Name": "g", "Mode": {"Global": {}}}}
    assert service_progress(raw, [slotted(1), slotted(2)], SINCE, True).excess_slots == 0
