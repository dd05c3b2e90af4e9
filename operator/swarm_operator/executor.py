"""The executor: carries a `Plan` out through a `SwarmClient`, in the plan's order.

Owns the side effects of `apply`: creating, updating, replacing and deleting objects,
optimistic concurrency (every update passes the version that was read; on a
`VersionConflict` the object is re-read and re-planned, a bounded number of times,
never overwritten blindly), and waiting for services to converge (`wait_for_services`).
Decisions live in `plan.py`; this module only follows them and reports per-action
results with Docker's own error text.

Network replace: detach every service listed in ``disrupts`` (update without the
network), remove the network (retrying while the engine still has endpoints on it),
create it anew, reattach the services (their previous attachment, to the new ID).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from swarm_operator import render
from swarm_operator.docker_api import SwarmClient
from swarm_operator.errors import ApiError, NotFound, SwarmOperatorError, VersionConflict
from swarm_operator.live import LiveState, read_live
from swarm_operator.models import Manifest, Network, Node, Service
from swarm_operator.plan import BLOCK_RECONCILE_DISABLED, Action, Plan, PlanOptions, plan

MAX_CONFLICT_RETRIES = 3
TRANSIENT_TIMEOUT = 60.0
TRANSIENT_MARKERS: tuple[str, ...] = (
    # a node promoted a moment ago has not joined the Raft group yet
    "can't find manager in raft memberlist",
    # Raft did not commit in time (e.g. while the manager set changes); the change may
    # or may not have happened, which the re-read before the next try finds out
    "context deadline exceeded",
)
NETWORK_REMOVE_TIMEOUT = 60.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Result:
    action: Action
    ok: bool
    message: str
    """What was done, or Docker's error text."""

    def to_dict(self) -> dict[str, Any]:
        return {**self.action.to_dict(), "ok": self.ok, "message": self.message}


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    waited: list[Result] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in [*self.results, *self.waited])

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "results": [r.to_dict() for r in self.results],
            "wait": [r.to_dict() for r in self.waited],
        }


def _noop(_: str) -> None:
    return None


class Executor:
    """Carries plans out. ``desired`` and ``options`` are needed to re-plan on conflicts."""

    def __init__(
        self,
        client: SwarmClient,
        desired: Sequence[Manifest],
        options: PlanOptions,
        progress: Progress = _noop,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.desired = desired
        self.options = options
        self.progress = progress
        self.sleep = sleep
        self._network_targets: dict[str, str] | None = None
        """Network name -> ID, listed once per executor (one plan) and dropped when this
        executor creates, replaces or deletes a network or a create fails on a network."""

    # ------------------------------------------------------------------ entry

    def run(self, the_plan: Plan) -> Report:
        report = Report()
        for action in the_plan.actions:
            if not action.changes:
                continue
            if action.blocked == BLOCK_RECONCILE_DISABLED:
                report.results.append(Result(action, True, f"left alone: {action.blocked}"))
                continue
            if action.blocked:
                report.results.append(Result(action, False, f"not done: {action.blocked}"))
                continue
            report.results.append(self._run_with_retries(action))
        return report

    def _run_with_retries(self, action: Action) -> Result:
        current = action
        conflicts = 0
        deadline = time.monotonic() + TRANSIENT_TIMEOUT
        while True:
            try:
                return Result(current, True, self._do(current))
            except VersionConflict as exc:
                conflicts += 1
                if conflicts > MAX_CONFLICT_RETRIES:
                    return Result(
                        current, False, f"gave up after {conflicts} version conflicts: {exc}"
                    )
                self.progress(
                    f"{current.kind} {current.name}: changed while we worked "
                    f"({exc.explanation}); re-reading and re-planning"
                )
            except ApiError as exc:
                transient = any(m in exc.explanation for m in TRANSIENT_MARKERS)
                if not transient or time.monotonic() > deadline:
                    return Result(current, False, exc.explanation)
                self.progress(f"{current.kind} {current.name}: not yet ({exc.explanation})")
                self.sleep(1.0)
            except SwarmOperatorError as exc:
                return Result(current, False, str(exc))
            replanned = plan(
                self.desired,
                read_live(self.client, keys=[current.key]),
                self.options,
                keys=[current.key],
            )
            found = [a for a in replanned.actions if a.key == current.key]
            if not found or not found[0].changes:
                return Result(current, True, "already up to date after re-reading")
            if found[0].blocked:
                return Result(found[0], False, f"not done: {found[0].blocked}")
            current = found[0]

    # ------------------------------------------------------------------ actions

    def _do(self, action: Action) -> str:
        m = action.desired
        if action.verb == "delete":
            assert action.live is not None
            if action.kind == "Service":
                self.client.remove_service(action.live.id)
            else:
                self._network_targets = None
                self._remove_network(action.live.id, action.name)
            return "deleted"
        if isinstance(m, Service):
            return self._apply_service(action, m)
        if isinstance(m, Network):
            self._network_targets = None
            if action.verb == "create":
                self.client.create_network(render.network_spec(m))
                return "created"
            return self._replace_network(action, m)
        if isinstance(m, Node):
            assert action.live is not None
            spec = render.node_spec(m, action.live.spec)
            self.client.update_node(action.live.id, action.live.version, spec)
            return "updated"
        raise AssertionError(f"no executor for {action.verb} {action.kind}")

    def _network_ids(self) -> dict[str, str]:
        """Network name -> ID, read once per plan run (see ``_network_targets``)."""
        if self._network_targets is None:
            self._network_targets = {str(n["Name"]): str(n["Id"]) for n in self.client.networks()}
        return self._network_targets

    def _apply_service(self, action: Action, m: Service) -> str:
        try:
            return self._write_service(action, m, self._network_ids())
        except ApiError as exc:
            if not _network_gone(exc):
                raise
        # A network was replaced behind our back since we listed them: list again, once.
        self._network_targets = None
        return self._write_service(action, m, self._network_ids())

    def _write_service(self, action: Action, m: Service, targets: Mapping[str, str]) -> str:
        if action.verb == "create":
            self.client.create_service(render.service_spec(m, network_targets=targets))
            return "created"
        if action.verb == "replace":  # a mode change: the engine has no update for it
            assert action.live is not None
            self.client.remove_service(action.live.id)
            self.client.create_service(render.service_spec(m, network_targets=targets))
            return "replaced (mode changed)"
        live = action.live
        assert live is not None
        task = live.spec.get("TaskTemplate") or {}
        live_image = str((task.get("ContainerSpec") or {}).get("Image", ""))
        keep_pinned = live_image.startswith(m.spec.image + "@") and "@" not in m.spec.image
        spec = render.service_spec(
            m,
            network_targets=targets,
            image=live_image if keep_pinned else None,
            force_update=int(task.get("ForceUpdate") or 0),
        )
        self.client.update_service(live.id, live.version, spec)
        return "adopted and updated" if action.verb == "adopt" else "updated"

    # ------------------------------------------------------------------ networks

    def _remove_network(self, network_id: str, name: str) -> None:
        """Remove, retrying while tasks that just left still hold endpoints on it, then
        wait until the manager has let go of it (removal is asynchronous: the name stays
        taken for a moment, and a create with that name would fail)."""
        deadline = time.monotonic() + NETWORK_REMOVE_TIMEOUT
        while True:
            try:
                self.client.remove_network(network_id)
                break
            except NotFound:
                break
            except ApiError as exc:
                text = exc.explanation.lower()
                busy = "in use" in text or "active endpoints" in text
                if not busy or time.monotonic() > deadline:
                    raise
                self.progress(f"Network {name}: waiting for endpoints to go ({exc.explanation})")
                self.sleep(1.0)
        while time.monotonic() < deadline:
            try:
                self.client.inspect_network(network_id)
            except NotFound:
                return
            self.sleep(0.2)
        raise ApiError(f"network {name} ({network_id[:12]}) was removed but is still listed")

    def _set_service_networks(
        self, service_id: str, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    ) -> None:
        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            raw = self.client.inspect_service(service_id)
            spec: dict[str, Any] = dict(raw.get("Spec") or {})
            task = dict(spec.get("TaskTemplate") or {})
            task["Networks"] = change(list(task.get("Networks") or []))
            # never a shape the docker CLI would not send (render.py: a missing Placement
            # crashes dockerd 20.10's manager)
            task.setdefault("Placement", {})
            spec["TaskTemplate"] = task
            try:
                self.client.update_service(
                    service_id, int((raw.get("Version") or {}).get("Index", 0)), spec
                )
                return
            except VersionConflict:
                if attempt == MAX_CONFLICT_RETRIES:
                    raise

    def _replace_network(self, action: Action, m: Network) -> str:
        live = action.live
        assert live is not None
        old_id = live.id
        services = {
            s["Spec"]["Name"]: s
            for s in sorted(self.client.services(), key=lambda s: str(s["Spec"]["Name"]))
            if s["Spec"]["Name"] in action.disrupts
        }
        saved: dict[str, list[dict[str, Any]]] = {}
        for name, raw in services.items():
            attached = (raw["Spec"].get("TaskTemplate") or {}).get("Networks") or []
            saved[name] = [a for a in attached if a.get("Target") in (old_id, live.name)]
            self.progress(f"Network {m.name}: detaching service {name}")
            self._set_service_networks(raw["ID"], _without(old_id, live.name))
        self.progress(f"Network {m.name}: removing {old_id[:12]}")
        self._remove_network(old_id, m.name)
        new_id = self.client.create_network(render.network_spec(m))
        self.progress(f"Network {m.name}: recreated as {new_id[:12]}")
        for name, raw in services.items():
            again = [{**a, "Target": new_id} for a in saved[name]]
            self.progress(f"Network {m.name}: reattaching service {name}")
            self._set_service_networks(raw["ID"], _adding(again))
        detail = f" (detached and reattached {', '.join(services)})" if services else ""
        return f"replaced{detail}"


def _network_gone(exc: ApiError) -> bool:
    """Docker's answer to a service spec naming a network ID that no longer exists."""
    text = exc.explanation.lower()
    return "network" in text and "not found" in text


def _without(
    *targets: str,
) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    def change(nets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [n for n in nets if n.get("Target") not in targets]

    return change


def _adding(
    extra: list[dict[str, Any]],
) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    def change(nets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [*nets, *extra]

    return change


# --------------------------------------------------------------------------- wait


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
        if created < since:
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
    return ServiceProgress(name, running, desired, state, tuple(errors), converged, failed)


def wait_for_services(
    client: SwarmClient,
    names: Sequence[str],
    since: float,
    timeout: float,
    progress: Progress = _noop,
    poll: float = 1.0,
    pending_grace: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[tuple[str, bool, str]]:
    """Wait until every named service converged; return (name, ok, message) for each."""
    start = clock()
    todo = list(names)
    done: dict[str, tuple[bool, str]] = {}
    last_line: dict[str, str] = {}
    while todo:
        for name in list(todo):
            try:
                raw = client.inspect_service(name)
                tasks = client.tasks(filters={"service": raw["ID"]})
                current = client.tasks(filters={"service": raw["ID"], "_up-to-date": "true"})
            except SwarmOperatorError as exc:
                done[name] = (False, f"cannot read: {exc}")
                todo.remove(name)
                continue
            state = service_progress(
                raw, tasks, since, clock() - start < pending_grace, current=current
            )
            line = f"Service {name}: {state.running}/{state.desired} running" + (
                f", update {state.update_state}" if state.update_state else ""
            )
            if line != last_line.get(name):
                progress(line)
                last_line[name] = line
            if state.failed:
                detail = "; ".join(state.errors)
                done[name] = (False, state.failed + (f" ({detail})" if detail else ""))
                todo.remove(name)
            elif state.converged:
                done[name] = (True, f"converged: {state.running}/{state.desired} running")
                todo.remove(name)
        if not todo:
            break
        if clock() - start > timeout:
            for name in todo:
                done[name] = (False, f"timed out after {timeout:g}s: {last_line.get(name, '')}")
            break
        sleep(poll)
    return [(name, *done[name]) for name in names]


def converge(
    client: SwarmClient,
    desired: Sequence[Manifest],
    live: LiveState,
    options: PlanOptions,
    progress: Progress = _noop,
) -> tuple[Plan, Report]:
    """Plan and carry out in one call (the daemon's per-reconcile entry point)."""
    the_plan = plan(desired, live, options)
    return the_plan, Executor(client, desired, options, progress).run(the_plan)
