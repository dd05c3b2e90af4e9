"""Where a service stands, read from its inspect body and its tasks (`service_progress`).

Owns the reading of a service's tasks: how many run against how many are desired,
which task errors count (only tasks of this run, not history, nor tasks the engine took
away), when an update or scheduling has failed, and when the service has converged.
Pure: no I/O. Neighbours: `kinds.service` (its health for the daemon, its progress for
`apply --wait`) reads the tasks through the Swarm client and calls this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def parse_time(text: str) -> float:
    """Docker's RFC 3339 timestamps (nanoseconds) as POSIX seconds."""
    text = text.rstrip("Z")
    main, _, frac = text.partition(".")
    stamp = datetime.fromisoformat(main + "+00:00").timestamp()
    return stamp + (float("0." + frac[:9]) if frac else 0.0)


FAILED_TASK_STATES = frozenset({"rejected", "failed"})
BAD_UPDATE_STATES = frozenset(
    {"paused", "rollback_started", "rollback_paused", "rollback_completed"}
)


@dataclass(frozen=True)
class ServiceProgress:
    name: str
    running: int
    desired: int
    update_state: str | None
    errors: tuple[str, ...]
    converged: bool
    failed: str | None
    excess_slots: int = 0
    """Slots the engine keeps running beyond the replicas of a replicated service while
    no update is under way. The engine's orchestrator sets a removed slot's tasks to
    desired state "remove" as it handles the service's change, so this lasts only
    milliseconds, unless the orchestrator missed the change: seen on Docker 20.10 and
    26.1 when a scale up is put back within a few milliseconds (the daemon reverting a
    hand-made `docker service scale`), and then it stays until the service changes
    again (`daemon.reconciler`, which re-writes the unchanged spec)."""


def service_progress(
    raw_service: Mapping[str, Any],
    tasks: Sequence[Mapping[str, Any]],
    since: float,
    pending_grace: bool,
    current: Sequence[Mapping[str, Any]] | None = None,
) -> ServiceProgress:
    """Where a service stands, from its inspect body and its tasks. Pure.

    ``since``: tasks created before this POSIX time are history and ignored for errors.
    ``pending_grace``: False once a "no suitable node" task has been seen long enough to
    count as a failure.
    ``current``: the tasks of the service's current spec version (the engine's
    ``_up-to-date`` filter, as `docker service update` uses). Only these count as running:
    right after an update the old tasks still run, and the engine may not have set the
    UpdateStatus yet, so counting them declares convergence before the update began.
    """
    spec = raw_service.get("Spec") or {}
    name = str(spec.get("Name", ""))
    mode = spec.get("Mode") or {}
    status = raw_service.get("UpdateStatus") or {}
    state = status.get("State")
    counted = tasks if current is None else current
    live_tasks = [t for t in counted if t.get("DesiredState") == "running"]
    running = sum(1 for t in live_tasks if (t.get("Status") or {}).get("State") == "running")
    if "Replicated" in mode:
        desired = int((mode["Replicated"] or {}).get("Replicas", 0))
    else:
        desired = len(live_tasks)
    errors: list[str] = []
    no_node = False
    for t in tasks:
        st = t.get("Status") or {}
        created = parse_time(str(t.get("CreatedAt", "1970-01-01T00:00:00Z")))
        if created < since or t.get("DesiredState") == "remove":
            # "remove": the engine took the task's slot away (a scale-down, e.g. a hand-made
            # scale being put back); how it ended then says nothing of the service.
            continue
        err = str(st.get("Err") or "")
        if st.get("State") in FAILED_TASK_STATES and err:
            errors.append(f"task {str(t.get('ID', ''))[:12]} {st.get('State')}: {err}")
        if st.get("State") == "pending" and "no suitable node" in err:
            no_node = True
            errors.append(f"task {str(t.get('ID', ''))[:12]} pending: {err}")
    errors = sorted(set(errors))
    failed = None
    if state in BAD_UPDATE_STATES:
        failed = f"update {state}: {status.get('Message', '')}".rstrip(": ")
    elif no_node and not pending_grace:
        failed = "tasks cannot be scheduled"
    elif sum(1 for e in errors if " rejected: " in e or " failed: " in e) >= 2:
        failed = "tasks keep failing"
    converged = (
        failed is None
        and running == desired
        and all((t.get("Status") or {}).get("State") == "running" for t in live_tasks)
        and state in (None, "completed")
    )
    excess = 0
    if "Replicated" in mode and state in (None, "completed"):
        # a slot, not a task: a start-first update runs two tasks in one slot
        slots = {
            t.get("Slot") if t.get("Slot") is not None else t.get("ID")
            for t in tasks
            if t.get("DesiredState") == "running"
        }
        excess = max(len(slots) - desired, 0)
    return ServiceProgress(
        name, running, desired, state, tuple(errors), converged, failed, excess_slots=excess
    )
