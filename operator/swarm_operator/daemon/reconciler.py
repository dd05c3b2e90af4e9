"""The reconciler: one level-triggered reconcile of one key, written as guard clauses.

Owns what happens to one ``(kind, name)`` each time a worker takes it: read the desired
object and the live one (the resync pass's snapshot if it may, else a fresh read), plan
that key, correct drift when allowed, find its health, and choose an outcome. Each guard
ends the reconcile with exactly one report (`observe.reporter.Reporter.report`: status and
metrics in one call) and one outcome:

- not connected to a manager           -> skipped, done (the resync after reconnecting
                                          brings it back)
- its manifest failed to load (held)   -> skipped, done: left alone
- managed, no longer declared, kept    -> out of sync, done
- neither declared nor managed         -> forgotten, done
- drift, allowed to write, write fails -> error, back off; the engine rejects the spec
                                          as invalid -> stalled (retried when the
                                          manifest changes or at the next resync)
- in sync or corrected                 -> done, or requeue after a while while the
                                          object is progressing or degraded

Everything it needs is passed in: the clock, a getter of the current Swarm client, the
desired state, the reporter, whether this instance may write (the lease), the snapshot,
the prune guard, the probes hook and what to do on a lost connection. It never reads
private state of the controller; tests drive it with a fake Swarm client.
Kind-specific steps (health, probing) are asked of `kinds.registry`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from swarm_operator.daemon.snapshot import Snapshot
from swarm_operator.daemon.watch import DesiredState
from swarm_operator.daemon.workqueue import RETRY, STALLED, SUCCESS, Outcome, requeue_after
from swarm_operator.engine.converge import apply_plan
from swarm_operator.engine.live import LiveState, read_live
from swarm_operator.engine.plan import DesiredIndex, Plan, PlanOptions, plan
from swarm_operator.kinds import registry
from swarm_operator.kinds.base import Action, Health, Key, LiveObject, reconcile_disabled
from swarm_operator.manifests.models import Manifest
from swarm_operator.observe import logs
from swarm_operator.observe.reporter import ObjectReport, Reporter
from swarm_operator.swarm.errors import DockerUnavailable, NotFound, QuorumLost, SwarmOperatorError

if TYPE_CHECKING:
    from swarm_operator.swarm.client import SwarmClient

log = logs.get_logger("swarm_operator.daemon")

RECENT_APPLY = 120.0
"""Seconds after the operator changed an object during which missing tasks count as
'progressing', not 'degraded'."""

STUCK_GRACE = 5.0
"""Seconds an engine must have stayed stuck (`kinds.base.Health.stuck`: a service running
more slots than its replicas with no update under way) before its spec is re-written
unchanged: the engine's own orchestrator takes milliseconds, so only a missed change
lasts this long."""


@dataclass(frozen=True)
class Clock:
    """The two clocks a reconcile reads: wall time (status) and monotonic (durations)."""

    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class ReconcileOptions:
    self_heal: bool = True
    prune: bool = False
    progress_requeue: float = 2.0
    """Seconds before looking again at an object that is converging."""
    degraded_requeue: float = 15.0


class Probes(Protocol):
    """What the reconciler tells the overlay probes (`probing.loop.OverlayProbes` adapted)."""

    def want(self, name: str, manifest: Manifest | None) -> None: ...
    def remove_now(self, name: str) -> None: ...


class Images(Protocol):
    """What the reconciler asks about followed images (`daemon.images.ImageWatch`)."""

    def digests(self, client: SwarmClient, manifest: Manifest | None) -> Mapping[str, str]: ...
    def observed(self, manifest: Manifest | None, live: LiveObject | None) -> object | None:
        """A report of a tag that moved (shown in the status as text), or None."""
        ...


class NoImages:
    def digests(self, client: SwarmClient, manifest: Manifest | None) -> Mapping[str, str]:
        return {}

    def observed(self, manifest: Manifest | None, live: LiveObject | None) -> object | None:
        return None


class NoProbes:
    def want(self, name: str, manifest: Manifest | None) -> None:
        return None

    def remove_now(self, name: str) -> None:
        return None


def _ignore(_: BaseException) -> None:
    return None


class Reconciler:
    def __init__(
        self,
        *,
        client: Callable[[], SwarmClient | None],
        desired: DesiredState,
        reporter: Reporter,
        options: ReconcileOptions | None = None,
        writable: Callable[[], bool] = lambda: True,
        clock: Clock | None = None,
        snapshot: Callable[[], Snapshot | None] = lambda: None,
        prune_blocker: Callable[[], str | None] = lambda: None,
        probes: Probes | None = None,
        connection_lost: Callable[[BaseException], None] = _ignore,
        images: Images | None = None,
    ) -> None:
        self.client = client
        self.desired = desired
        self.reporter = reporter
        self.options = options or ReconcileOptions()
        self.writable = writable
        self.clock = clock or Clock()
        self.snapshot = snapshot
        self.prune_blocker = prune_blocker
        self.probes: Probes = probes or NoProbes()
        self.connection_lost = connection_lost
        self.images: Images = images or NoImages()
        self._stuck_since: dict[Key, float] = {}
        """Keys whose engine was first seen stuck at this monotonic time (one worker
        holds a key at a time, so each entry has one writer)."""

    # ------------------------------------------------------------------ entry

    def reconcile(self, key: Key) -> Outcome:
        """One reconcile of ``key``; never raises."""
        kind, name = key
        started = self.clock.monotonic()
        with logs.reconcile_context(kind, name):
            try:
                return self._reconcile(key, started)
            except SwarmOperatorError as exc:
                log.warning("reconcile failed", error=str(exc))
                if isinstance(exc, DockerUnavailable | QuorumLost):
                    self.connection_lost(exc)
                error = str(exc)
            except Exception as exc:  # a bug: report, back off, keep the daemon alive
                log.exception("reconcile crashed")
                error = repr(exc)
            self._report(key, started, ObjectReport("error", 0, error=error, keep_details=True))
            return RETRY

    def _report(self, key: Key, started: float, r: ObjectReport) -> None:
        seconds = max(self.clock.monotonic() - started, 0.0)
        self.reporter.report(*key, replace(r, seconds=seconds))

    # ------------------------------------------------------------------ guards

    def _reconcile(self, key: Key, started: float) -> Outcome:
        kind, name = key
        client = self.client()
        if client is None:
            self._report(key, started, _skipped("not connected to a manager", sync="unknown"))
            return SUCCESS
        desired = self.desired.get(key)
        if desired is not None and desired.held:
            log.info("held: its manifest failed to load, left alone")
            self.report_held(key, started)
            return SUCCESS
        manifests = self.desired.index()
        options = self._plan_options()
        digests = self.images.digests(client, desired.manifest if desired else None)
        if digests:
            options = replace(options, image_digests=digests)
        snapshot = self._take_snapshot(key)
        live = snapshot.live if snapshot is not None else read_live(client, keys=[key])
        the_plan, action = self._plan(manifests, live, options, key)
        if snapshot is not None and action is not None and action.changes:
            # The pass's snapshot shows a change: never act on it, read this key afresh.
            snapshot = None
            live = read_live(client, keys=[key])
            the_plan, action = self._plan(manifests, live, options, key)
        current = live.get(key)
        moved = self.images.observed(desired.manifest if desired else None, current)
        if action is None:
            return self._untracked(key, started, the_plan, current, desired is None)
        error: str | None = None
        applied = False
        if action.changes and self._may_correct(action):
            error, stalled = self._correct(client, manifests, options, the_plan, action)
            if stalled:
                log.warning("stalled: the engine rejects the spec", error=error)
                self._report(
                    key, started, self._details(action, desired, stalled=True, error=error)
                )
                return STALLED
            if error is None:
                applied = True
                if action.verb == "delete":
                    self.forget(key)
                    return SUCCESS
                current = read_live(client, keys=[key]).get(key)
        elif action.changes:
            log.info(
                "drift not corrected",
                action=action.verb,
                why=self._why_not(action),
                differences=[str(d) for d in action.differences],
            )
        health = self._health(client, kind, name, current, snapshot)
        if current is not None:
            self._unstick(client, key, current, health, action)
        sync = "synced" if (applied or not action.changes) else "out_of_sync"
        if action.verb == "missing":
            sync = "out_of_sync"
        report = self._details(action, desired, error=error)
        self._report(
            key,
            started,
            ObjectReport(
                "error" if error else "success",
                0,
                sync=sync,
                health=health.state,
                replicas=health.replicas,
                # a blocked ``missing`` (an external network) is an error too
                error=error or action.blocked,
                drift=() if sync == "synced" else report.drift,
                source=report.source,
                self_heal=report.self_heal,
                applied=applied,
                image_update=None if moved is None else str(moved),
            ),
        )
        if registry.of(kind).probed and error is None and current is not None and desired:
            self.probes.want(name, desired.manifest)
        if error:
            return RETRY
        if health.state == "progressing":
            return requeue_after(self.options.progress_requeue)
        if health.state == "degraded":
            return requeue_after(self.options.degraded_requeue)
        return SUCCESS

    def _untracked(
        self,
        key: Key,
        started: float,
        the_plan: Plan,
        current: LiveObject | None,
        undeclared: bool,
    ) -> Outcome:
        """No action for the key: an undeclared object that is kept, or nothing to track."""
        kind, name = key
        probed = registry.of(kind).probed
        if current is not None and current.managed and undeclared:
            # Managed, no longer declared, and not deleted: prune is off or refused.
            why = "; ".join(the_plan.refusals) or (
                "no longer declared; kept (run with --prune to delete it)"
                if not self.options.prune
                else "no longer declared; kept (protected)"
            )
            log.warning("undeclared object kept", why=why)
            self._report(
                key,
                started,
                ObjectReport(
                    "skipped",
                    0,
                    sync="out_of_sync",
                    health="healthy",
                    error=why,
                    drift=("no longer declared",),
                ),
            )
            if probed:
                self.probes.want(name, None)  # not declared: not probed
            return SUCCESS
        for note in the_plan.notes:
            log.info(note)
        self.forget(key)
        return SUCCESS

    # ------------------------------------------------------------------ steps

    def _plan_options(self) -> PlanOptions:
        blocker = self.prune_blocker()
        return PlanOptions(
            prune=self.options.prune,
            prune_blockers=tuple(f"{p}: {m}" for p, m in self.desired.errors)
            + ((blocker,) if blocker else ()),
        )

    def _take_snapshot(self, key: Key) -> Snapshot | None:
        snapshot = self.snapshot()
        if snapshot is None or not snapshot.take(key, self.clock.monotonic()):
            return None
        return snapshot

    @staticmethod
    def _plan(
        manifests: DesiredIndex, live: LiveState, options: PlanOptions, key: Key
    ) -> tuple[Plan, Action | None]:
        the_plan = plan(manifests, live, options, keys=[key])
        actions = [a for a in the_plan.actions if a.key == key]
        return the_plan, (actions[0] if actions else None)

    def _may_correct(self, action: Action) -> bool:
        return not action.blocked and self.options.self_heal and self.writable()

    def _why_not(self, action: Action) -> str:
        if action.blocked:
            return action.blocked
        if not self.options.self_heal:
            return "self-heal is off (--no-self-heal)"
        return "standby: another instance holds the lease"

    def _correct(
        self,
        client: SwarmClient,
        manifests: DesiredIndex,
        options: PlanOptions,
        the_plan: Plan,
        action: Action,
    ) -> tuple[str | None, bool]:
        """Carry the key's action out; return (error, stalled)."""
        log.info(
            "correcting drift",
            action=action.verb,
            reason=action.reason,
            differences=[d.to_dict() for d in action.differences],
        )
        if registry.of(action.kind).probed and action.verb in ("delete", "replace"):
            self.probes.remove_now(action.name)  # a probe task would keep a network busy
        report = apply_plan(
            client,
            manifests,
            options,
            Plan((action,), the_plan.refusals, the_plan.notes),
            progress=lambda line: log.info(line),
        )
        failures = [r for r in report.results if not r.ok]
        if not failures:
            log.info("corrected", action=action.verb)
            return None, False
        error = "; ".join(r.message for r in failures)
        if any(r.stalled for r in failures):
            return error, True
        log.warning("correction failed", error=error)
        return error, False

    def _health(
        self,
        client: SwarmClient,
        kind: str,
        name: str,
        live: LiveObject | None,
        snapshot: Snapshot | None,
    ) -> Health:
        k = registry.of(kind)
        last = self.reporter.last_applied(kind, name)
        recent = last is not None and self.clock.wall() - last < RECENT_APPLY
        if live is None:
            return k.health(None, None, recent)
        status: Any
        if snapshot is not None and snapshot.has_status(kind, live.id):
            status = snapshot.status_of(kind, live.id)
        else:
            try:
                status = k.read_status(client, live)
            except NotFound:
                return k.health(None, None, recent)
        return k.health(live, status, recent)

    def _unstick(
        self, client: SwarmClient, key: Key, live: LiveObject, health: Health, action: Action
    ) -> None:
        """Re-write the spec of an object whose engine has stayed stuck for `STUCK_GRACE`
        (a scale-down its orchestrator missed): an unchanged spec is a change event, and
        the orchestrator reconciles the service again. Only where a correction could be
        written; a failure is logged and left to the next look."""
        if health.stuck is None or not self._may_correct(action):
            self._stuck_since.pop(key, None)
            return
        if reconcile_disabled(action.desired):
            return
        now = self.clock.monotonic()
        since = self._stuck_since.setdefault(key, now)
        if now - since < STUCK_GRACE:
            return
        del self._stuck_since[key]
        log.warning(
            "engine stuck: re-writing the unchanged spec",
            stuck=health.stuck,
            seconds=round(now - since, 1),
        )
        try:
            registry.of(key[0]).nudge(client, live)
        except (DockerUnavailable, QuorumLost):
            raise
        except SwarmOperatorError as exc:
            log.warning("re-writing the unchanged spec failed", error=str(exc))
            return
        self.reporter.metrics.engine_nudged(key[0])

    def _details(
        self,
        action: Action,
        desired: Any,
        *,
        stalled: bool = False,
        error: str | None = None,
    ) -> ObjectReport:
        drift = tuple(str(d) for d in action.differences) or (action.reason,)
        return ObjectReport(
            "stalled" if stalled else "success",
            0,
            sync="out_of_sync" if stalled else None,
            error=error,
            drift=drift,
            source=str(desired.file) if desired else None,
            stalled=stalled,
            self_heal=self.options.self_heal and not reconcile_disabled(action.desired),
        )

    # ------------------------------------------------------------------ shared with triggers

    def report_held(self, key: Key, started: float | None = None) -> None:
        """Its manifest failed to load: not compared, not changed, shown as unknown.
        Called by a reconcile (``started``) or by a reload (not counted as a reconcile)."""
        desired = self.desired.get(key)
        self._report(
            key,
            self.clock.monotonic() if started is None else started,
            ObjectReport(
                "skipped" if started is not None else None,
                0,
                sync="unknown",
                held=True,
                source=str(desired.file) if desired else None,
                error="manifest failed to load: left alone until it loads again",
            ),
        )

    def forget(self, key: Key) -> None:
        self.reporter.forget(*key)
        self._stuck_since.pop(key, None)
        if registry.of(key[0]).probed:
            self.probes.want(key[1], None)


def _skipped(error: str, sync: str) -> ObjectReport:
    return ObjectReport("skipped", 0, sync=sync, error=error, keep_details=True)
