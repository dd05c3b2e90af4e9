"""The long-running operator: keeps the Swarm equal to the manifest directory, continuously.

Owns the wiring and the per-key reconcile; the pieces live next door:

    triggers (each only enqueues keys)          workers (WorkerPool, --workers)
    ├── watch.ManifestWatcher  (files)   ──┐     reconcile(key):
    ├── Docker events of the manager     ──┼──►    desired = DesiredState.get(key)
    └── jittered periodic resync         ──┘       live    = read_live(client, {key})
                  WorkQueue (dedup, backoff)       plan    = plan(desired, live, keys={key})
                                                   execute if self-heal, not disabled,
                                                   and this instance holds the lease
                                                   -> metrics.py, status.py (server.py)

Level-triggered: a key carries no event content; every reconcile re-reads both sides, so
a missed or duplicated event costs nothing. A full resync reads the Swarm once (services,
networks, nodes, tasks: 4 calls whatever N) into a ``_Snapshot`` that the keys of that pass
plan from; a key enqueued by an event or a file change after the snapshot was started, a
retry, a requeue, or a snapshot older than ``SNAPSHOT_TTL`` reads fresh, and nothing is
ever written on the snapshot's word alone (a change it shows is re-read first). The
periodic resync (default 3 min, ±10 % jitter) is the safety net for what has no event
(task state, a missed inotify event).

Robustness:
- a manifest file that fails to load holds its objects: they are neither changed nor
  pruned (``watch.DesiredState``), and prune is refused while any file fails;
- a lost Docker connection (or a restarted dockerd) is noticed by the supervisor's
  health check or any failed call; the client is dropped, reconnected with backoff,
  then a full resync runs; the events stream resumes from its ``since`` cursor and a
  gap is covered by that resync;
- quorum loss ("the swarm does not have a leader") stops writes (every call fails) and
  is shown in ``/readyz``, ``/status`` and ``swarm_operator_manager_connected``;
- SIGTERM: the queue stops handing out keys, the workers finish the reconcile they are
  in, the lease is released, exit 0;
- a second instance does not fight: only the holder of the lease (``lease.py``) writes;
  the other one reconciles read-only (drift still reported) and says "standby".

Overlay probing (``probe_loop.py``): after each successful reconcile of a declared
overlay network a worker tells `OverlayProbes` what it wants (no I/O); a thread of its
own ensures, polls and removes the probe services and exports the node x node matrix.
Probe services are kept at shutdown (the next instance adopts them) and removed when
their network is deleted, no longer declared, or its probe is turned off.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from swarm_operator.daemon.lease import Lease, SwarmLabelStore
from swarm_operator.daemon.watch import Change, DesiredState, ManifestWatcher
from swarm_operator.daemon.workqueue import RETRY, SUCCESS, Outcome, WorkerPool, WorkQueue
from swarm_operator.engine.executor import Executor, service_progress
from swarm_operator.engine.live import LiveObject, LiveState, build_state, live_node, read_live
from swarm_operator.engine.plan import DEFAULT_MAX_PRUNE, Action, Plan, PlanOptions, plan
from swarm_operator.manifests.loader import load_directory
from swarm_operator.manifests.models import Network
from swarm_operator.observe import logs
from swarm_operator.observe.metrics import Metrics, NodeInfo, ObjectInfo
from swarm_operator.observe.revision import read_revision
from swarm_operator.observe.server import DEFAULT_ADDR, OperatorHTTPServer
from swarm_operator.observe.status import StatusBoard
from swarm_operator.probing import probe
from swarm_operator.probing.loop import OverlayProbes, Runner
from swarm_operator.probing.runner import ProbeRunner
from swarm_operator.swarm.client import SwarmClient
from swarm_operator.swarm.errors import (
    ApiError,
    DockerUnavailable,
    NotAManager,
    NotFound,
    SwarmOperatorError,
)

Key = tuple[str, str]
log = logs.get_logger("swarm_operator.daemon.controller")

EVENT_KINDS = {"service": "Service", "network": "Network", "node": "Node"}
QUORUM_MARKERS = (
    "does not have a leader",
    "no leader",
    "lost leader",
    "quorum",
    "deadline exceeded",
)
MAX_RECONNECT_BACKOFF = 10.0
SNAPSHOT_TTL = 30.0
"""Seconds a resync pass's snapshot may stand in for a per-key read of the Swarm."""


@dataclass(frozen=True)
class DaemonOptions:
    """How ``swarm-operator run`` behaves; one field per command-line option."""

    directory: Path
    """The manifest directory (a git work tree in the GitOps set-up)."""
    metrics_addr: str = DEFAULT_ADDR
    """HOST:PORT of /metrics, /healthz, /readyz, /status."""
    resync_interval: float = 180.0
    """Seconds between full resyncs (the safety net); jittered by ``resync_jitter``."""
    resync_jitter: float = 0.1
    workers: int = 2
    self_heal: bool = True
    """Correct drift; False: only report it (also per object: reconcile: disabled)."""
    prune: bool = False
    """Delete managed objects that are no longer declared."""
    max_prune: int = DEFAULT_MAX_PRUNE
    """Refuse every prune while more objects than this would be deleted."""
    host: str | None = None
    """Docker host of a manager (default DOCKER_HOST or the local socket)."""
    lease_duration: float = 15.0
    progress_requeue: float = 2.0
    """Seconds before looking again at a service that is converging."""
    degraded_requeue: float = 15.0
    health_interval: float = 5.0
    """Seconds between the supervisor's health checks of the manager (nodes listed)."""
    events_window: float = 5.0
    """Each events request streams this long, then resumes from its cursor."""
    identity: str | None = None
    probe: bool = True
    """Probe managed overlay networks continuously (``--no-probe``: never)."""
    probe_image: str | None = None
    """Default probe image (``--probe-image``; else $SWARM_OPERATOR_PROBE_IMAGE, else the
    lab's busybox); a network's ``spec.probe.image`` wins."""


@dataclass
class _Round:
    pending: set[Key] = field(default_factory=set)
    failed: bool = False


class _Snapshot:
    """One read of the whole Swarm, shared by the keys of one resync pass.

    Each key may use it once (``take``), and only if no event or file change enqueued the
    key since the read began (``drop``): a trigger always gets a fresh read."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.live = LiveState()
        self.services: dict[str, dict[str, Any]] = {}
        """Raw services by ID (a list entry carries what an inspect does)."""
        self.tasks: dict[str, list[dict[str, Any]]] = {}
        """Tasks by service ID."""
        self._unused: set[Key] = set()
        self._dropped: set[Key] = set()
        self._lock = threading.Lock()

    def fill(
        self,
        services: list[dict[str, Any]],
        networks: list[dict[str, Any]],
        nodes: list[dict[str, Any]],
        tasks: list[dict[str, Any]],
    ) -> LiveState:
        self.live = build_state(services, networks, nodes)
        self.services = {str(s.get("ID")): s for s in services}
        for task in tasks:
            self.tasks.setdefault(str(task.get("ServiceID")), []).append(task)
        return self.live

    def offer(self, keys: set[Key]) -> None:
        with self._lock:
            self._unused = set(keys) - self._dropped

    def drop(self, key: Key) -> None:
        with self._lock:
            self._dropped.add(key)
            self._unused.discard(key)

    def take(self, key: Key, now: float) -> bool:
        with self._lock:
            if key not in self._unused or now - self.started > SNAPSHOT_TTL:
                return False
            self._unused.discard(key)
            return True


class Daemon:
    def __init__(
        self,
        options: DaemonOptions,
        registry: CollectorRegistry | None = None,
        client_factory: Callable[..., SwarmClient] = SwarmClient,
    ) -> None:
        self.options = options
        self.registry = registry or CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.board = StatusBoard()
        self.queue: WorkQueue[Key] = WorkQueue()
        self.desired = DesiredState()
        self._client_factory = client_factory
        self._client: SwarmClient | None = None
        self._client_lock = threading.Lock()
        self._stop = threading.Event()
        self._resync_now = threading.Event()
        self._prune_blocker: str | None = None
        self._snapshot: _Snapshot | None = None
        """Set while more objects would be pruned than --max-prune allows: the daemon
        prunes key by key, so the plan-wide guard is applied here, to the whole set."""
        self._lease: Lease | None = None
        self._round_lock = threading.Lock()
        self._round: _Round | None = None
        self._events_thread: threading.Thread | None = None
        self._events_cursor: float | None = None
        self.metrics.workqueue_depth.set_function(lambda: float(len(self.queue)))
        self.pool: WorkerPool[Key] = WorkerPool(
            self.queue, self.reconcile, options.workers, on_idle=self.board.beat
        )
        self.watcher = ManifestWatcher(options.directory, self.reload, on_error=self._watch_error)
        self.server: OperatorHTTPServer | None = None
        self.probes = OverlayProbes(
            self.metrics,
            self._probe_runner,
            writable=self._writable,
            on_status=self.board.set_probes,
        )
        self._probe_thread: threading.Thread | None = None

    # ================================================================== lifecycle

    def run(self) -> int:
        """Serve until :meth:`stop`; returns the exit code."""
        self.server = OperatorHTTPServer(self.options.metrics_addr, self.registry, self.board)
        self.server.start()
        log.info(
            "starting",
            directory=str(self.options.directory),
            metrics=self.server.url,
            self_heal=self.options.self_heal,
            prune=self.options.prune,
            workers=self.options.workers,
        )
        self.reload()
        self.watcher.start()
        self.pool.start()
        self._probe_thread = threading.Thread(
            target=self._run_probes, name="swarm-operator-probes", daemon=True
        )
        self._probe_thread.start()
        try:
            self._supervise()
        finally:
            self._shutdown()
        return 0

    def stop(self) -> None:
        """Ask the daemon to finish: safe from a signal handler."""
        self._stop.set()
        self._resync_now.set()
        self.probes.wake.set()

    def _shutdown(self) -> None:
        log.info("stopping: finishing the current reconciles")
        self.queue.shutdown()
        self.watcher.stop()
        self.pool.join(timeout=120)
        if self._probe_thread is not None:
            # Probe services are kept: the next instance adopts them (no churn of probe
            # tasks and no gap in the matrix across a restart or an upgrade).
            self._probe_thread.join(timeout=30)
        if self._lease is not None:
            self._lease.release()
        if self.server is not None:
            self.server.stop()
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None
        log.info("stopped")

    # ================================================================== supervisor

    def _supervise(self) -> None:
        """Connect, keep the lease, check the manager's health, run the periodic resync."""
        backoff = 1.0
        next_resync = 0.0
        next_health = 0.0
        next_lease = 0.0
        while not self._stop.is_set():
            client = self._get_client()
            now = time.monotonic()
            if client is None:
                if self._connect():
                    backoff = 1.0
                    next_resync = 0.0
                    next_lease = 0.0
                else:
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_RECONNECT_BACKOFF)
                continue
            try:
                if now >= next_lease:
                    self._tick_lease()
                    next_lease = now + (self._lease.renew_interval if self._lease else 5.0)
                if now >= next_health:
                    self._check_health(client)
                    next_health = now + self.options.health_interval
                if now >= next_resync or self._resync_now.is_set():
                    self._resync_now.clear()
                    self.resync(client)
                    jitter = self.options.resync_jitter
                    next_resync = now + self.options.resync_interval * random.uniform(
                        1 - jitter, 1 + jitter
                    )
            except SwarmOperatorError as exc:
                self._connection_failed(exc)
                continue
            wait = min(next_resync, next_health, next_lease) - time.monotonic()
            self._resync_now.wait(max(min(wait, 1.0), 0.05))

    def _get_client(self) -> SwarmClient | None:
        with self._client_lock:
            return self._client

    def _connect(self) -> bool:
        try:
            client = self._client_factory(
                self.options.host,
                observer=lambda name, seconds, ok: self.metrics.observe_api_call(name, seconds),
            )
            swarm = client.require_manager()
            if swarm.get("Error"):
                # The engine is a manager but its Raft has no leader (quorum lost) or
                # another cluster error: listing or writing would fail or hang.
                client.close()
                raise ApiError(str(swarm["Error"]))
        except SwarmOperatorError as exc:
            self.board.set_connection(False, str(exc), quorum=not _is_quorum_loss(exc))
            self.metrics.manager_connected.set(0)
            log.warning("cannot connect to a manager", error=str(exc))
            return False
        with self._client_lock:
            self._client = client
        self._lease = Lease(
            SwarmLabelStore(client),
            identity=self.options.identity or (self._lease.identity if self._lease else None),
            duration=self.options.lease_duration,
        )
        self.board.set_connection(True)
        self.metrics.manager_connected.set(1)
        log.info("connected to a manager", host=client.host)
        if self._events_thread is None or not self._events_thread.is_alive():
            self._events_thread = threading.Thread(
                target=self._watch_events, name="swarm-operator-events", daemon=True
            )
            self._events_thread.start()
        return True

    def _connection_failed(self, exc: BaseException) -> None:
        quorum_lost = _is_quorum_loss(exc)
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            log.warning(
                "lost the manager" if not quorum_lost else "the manager has lost quorum",
                error=str(exc),
            )
            with contextlib.suppress(Exception):
                client.close()
        self.board.set_connection(False, str(exc), quorum=not quorum_lost)
        self.metrics.manager_connected.set(0)
        self.metrics.ready.set(0)
        # Writes need the manager anyway; the lease runs out on its own meanwhile.
        self.metrics.leader.set(0)
        self.board.set_role("standby", self._lease.holder if self._lease else None)

    def _tick_lease(self) -> None:
        if self._lease is None:
            return
        was = self._lease.held()
        try:
            held = self._lease.tick()
        except SwarmOperatorError as exc:
            if isinstance(exc, DockerUnavailable) or _is_quorum_loss(exc):
                raise
            log.warning("cannot renew the lease", error=str(exc))
            held = self._lease.held()
        self.metrics.leader.set(1 if held else 0)
        self.board.set_role("leader" if held else "standby", self._lease.holder)
        if held and not was:
            log.info("holding the lease: this instance writes", identity=self._lease.identity)
            self._resync_now.set()
        elif was and not held:
            log.warning("lost the lease: standing by", holder=self._lease.holder)
        elif not held and not was:
            log.debug("standby", holder=self._lease.holder)

    def _check_health(self, client: SwarmClient) -> None:
        nodes = [live_node(raw) for raw in client.nodes()]
        infos = [
            NodeInfo(n.name, n.node.role, n.node.availability, n.node.state)
            for n in nodes
            if n.node is not None
        ]
        self.metrics.set_nodes(infos)
        self.board.set_connection(True)
        self.metrics.manager_connected.set(1)

    # ================================================================== triggers

    def reload(self) -> Change:
        """Re-read the manifest directory and enqueue the keys that changed."""
        result = load_directory(self.options.directory)
        change = self.desired.apply(result, self.options.directory)
        if self.options.prune and len(change.removed) > self.options.max_prune:
            self._block_prune(len(change.removed))
        revision = read_revision(self.options.directory)
        self.board.set_revision(revision)
        self.metrics.set_source_revision(revision)
        self.board.set_load_errors(change.errors)
        self.metrics.set_manifest_load_errors(len({place for place, _ in change.errors}))
        for place, message in change.errors:
            log.error(
                "manifest failed to load; its objects are left alone", source=place, error=message
            )
        for key in change.held:
            self._hold(key)
        if change.keys:
            log.info(
                "manifests changed",
                revision=revision,
                changed=sorted(f"{k}/{n}" for k, n in change.changed),
                removed=sorted(f"{k}/{n}" for k, n in change.removed),
                held=sorted(f"{k}/{n}" for k, n in change.held),
            )
        for key in sorted(change.keys):
            self._enqueue(key)
        return change

    def resync(self, client: SwarmClient) -> None:
        """Enqueue every declared key and every managed live object (prune candidates)."""
        self.watcher.check_swap()
        self.reload()
        snapshot = self._snapshot = _Snapshot(time.monotonic())
        live = snapshot.fill(client.services(), client.networks(), client.nodes(), client.tasks())
        keys = set(self.desired.declared())
        orphans = [
            o.key
            for o in live.objects()
            if o.managed and o.kind != "Node" and o.key not in keys and not o.protected
        ]
        if self.options.prune and len(orphans) > self.options.max_prune:
            self._block_prune(len(orphans))
        elif self._prune_blocker is not None:
            log.info("prune allowed again", orphans=len(orphans))
            self._prune_blocker = None
        keys.update(o.key for o in live.objects() if o.managed and o.kind != "Node")
        for key in [k for k in self.metrics.object_statuses() if k not in keys]:
            self._forget(key)
        with self._round_lock:
            self._round = _Round(pending=set(keys))
        snapshot.offer(keys)
        for key in sorted(keys):
            self.queue.add(key)
        if not keys:
            self._round_finished(failed=False)
        log.info("resync", objects=len(keys))

    def _watch_events(self) -> None:
        """Follow the manager's events; enqueue the key each one is about."""
        backoff = 1.0
        while not self._stop.is_set():
            client = self._get_client()
            if client is None:
                self._stop.wait(1.0)
                continue
            since = self._events_cursor if self._events_cursor is not None else time.time()
            until = time.time() + self.options.events_window
            try:
                for event in client.events(since=since, until=until):
                    self._on_event(event)
                self._events_cursor = max(since, until - 0.001)
                backoff = 1.0
            except SwarmOperatorError as exc:
                log.warning("events stream broken; resuming after backoff", error=str(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                # The gap is covered by a full re-list once the connection is back.
                self._resync_now.set()
            except Exception as exc:  # a stream cut mid-chunk
                log.warning("events stream error", error=repr(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                self._resync_now.set()

    def _on_event(self, event: dict[str, Any]) -> None:
        etype = str(event.get("Type", ""))
        self.metrics.event_received(etype)
        stamp = event.get("timeNano")
        if isinstance(stamp, int):
            self._events_cursor = stamp / 1e9
        kind = EVENT_KINDS.get(etype)
        if kind is None:
            return
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        name = attributes.get("name")
        if kind == "Node":
            # Node events carry the hostname as "name" (Docker 20.10); without it, every
            # declared node is looked at (there are few).
            declared = [k for k in self.desired.declared() if k[0] == "Node"]
            keys = [("Node", str(name))] if name else declared
            for key in keys:
                if key in declared:
                    self._enqueue(key)
            self._refresh_nodes_soon()
            return
        if not name:
            return
        key = (kind, str(name))
        if key in self.desired.declared() or self.options.prune:
            self._enqueue(key)

    def _enqueue(self, key: Key) -> None:
        """A trigger fired for ``key``: its next reconcile reads the Swarm afresh."""
        snapshot = self._snapshot
        if snapshot is not None:
            snapshot.drop(key)
        self.queue.add(key)

    def _refresh_nodes_soon(self) -> None:
        client = self._get_client()
        if client is not None:
            try:
                self._check_health(client)
            except SwarmOperatorError as exc:
                log.warning("cannot list nodes", error=str(exc))

    def _block_prune(self, count: int) -> None:
        reason = (
            f"{count} managed objects are no longer declared, more than --max-prune "
            f"{self.options.max_prune}"
        )
        if self._prune_blocker != reason:
            log.warning(
                "prune refused until a resync finds at most --max-prune orphans", reason=reason
            )
        self._prune_blocker = reason

    def _watch_error(self, exc: BaseException) -> None:
        log.error("manifest reload failed", error=repr(exc))

    # ================================================================== reconcile

    def reconcile(self, key: Key) -> Outcome:
        """One level-triggered reconcile of ``key``; never raises."""
        kind, name = key
        started = time.perf_counter()
        result = "error"
        outcome = RETRY
        with logs.reconcile_context(kind, name):
            try:
                result, outcome = self._reconcile(key)
            except SwarmOperatorError as exc:
                log.warning("reconcile failed", error=str(exc))
                self.board.update(kind, name, last_error=str(exc), last_reconciled=time.time())
                if isinstance(exc, DockerUnavailable) or _is_quorum_loss(exc):
                    self._connection_failed(exc)
                result, outcome = "error", RETRY
            except Exception as exc:  # a bug: report, back off, keep the daemon alive
                log.exception("reconcile crashed")
                self.board.update(kind, name, last_error=repr(exc), last_reconciled=time.time())
                result, outcome = "error", RETRY
            finally:
                self.metrics.observe_reconcile(kind, result, time.perf_counter() - started)
                self._round_done(key, failed=result == "error")
        return outcome

    def _reconcile(self, key: Key) -> tuple[str, Outcome]:
        kind, name = key
        client = self._get_client()
        if client is None:
            self.board.update(
                kind, name, sync_status="unknown", last_error="not connected to a manager"
            )
            self._set_object(kind, name, "unknown", self.board.get(kind, name))
            return "skipped", SUCCESS  # the resync after reconnecting brings it back
        desired = self.desired.get(key)
        if desired is not None and desired.held:
            self._hold(key)
            log.info("held: its manifest failed to load, left alone")
            return "skipped", SUCCESS
        manifests = self.desired.manifests()
        options = PlanOptions(
            prune=self.options.prune,
            prune_blockers=tuple(f"{p}: {m}" for p, m in self.desired.errors)
            + ((self._prune_blocker,) if self._prune_blocker else ()),
        )
        snapshot = self._snapshot
        if snapshot is None or not snapshot.take(key, time.monotonic()):
            snapshot = None
        live = snapshot.live if snapshot is not None else read_live(client, keys=[key])
        the_plan = plan(manifests, live, options, keys=[key])
        actions = [a for a in the_plan.actions if a.key == key]
        if snapshot is not None and any(a.changes for a in actions):
            # The pass's snapshot shows a change: never act on it, read this key afresh.
            snapshot = None
            live = read_live(client, keys=[key])
            the_plan = plan(manifests, live, options, keys=[key])
            actions = [a for a in the_plan.actions if a.key == key]
        current = live.get(key)
        if not actions:
            if current is not None and current.managed and desired is None:
                # Managed, no longer declared, and not deleted: prune is off or refused.
                why = "; ".join(the_plan.refusals) or (
                    "no longer declared; kept (run with --prune to delete it)"
                    if not self.options.prune
                    else "no longer declared; kept (protected)"
                )
                log.warning("undeclared object kept", why=why)
                status = self.board.update(
                    kind,
                    name,
                    sync_status="out_of_sync",
                    health_status="healthy",
                    held=False,
                    source=None,
                    last_error=why,
                    last_reconciled=time.time(),
                    drift=("no longer declared",),
                )
                self._set_object(kind, name, "out_of_sync", status)
                if kind == "Network":
                    self.probes.want(name, None)  # not declared: not probed
                return "skipped", SUCCESS
            # Neither declared nor managed: nothing to track any more.
            if kind == "Network":
                self.probes.want(name, None)
            for note in the_plan.notes:
                log.info(note)
            self._forget(key)
            return "success", SUCCESS
        action = actions[0]
        writable = self._lease is not None and self._lease.held()
        applied = False
        error: str | None = None
        if action.changes and not action.blocked and self.options.self_heal and writable:
            log.info(
                "correcting drift",
                action=action.verb,
                reason=action.reason,
                differences=[d.to_dict() for d in action.differences],
            )
            if kind == "Network" and action.verb in ("delete", "replace"):
                # A probe task attached to the network would keep it busy.
                self.probes.remove_now(name)
            report = Executor(client, manifests, options, progress=lambda m: log.info(m)).run(
                Plan((action,), the_plan.refusals, the_plan.notes)
            )
            failures = [r.message for r in report.results if not r.ok]
            if failures:
                error = "; ".join(failures)
                log.warning("correction failed", error=error)
            else:
                applied = True
                log.info("corrected", action=action.verb)
                if action.verb == "delete":
                    self._forget(key)
                    return "success", SUCCESS
                live = read_live(client, keys=[key])
                current = live.get(key)
        elif action.changes:
            why = (
                action.blocked
                or ("self-heal is off (--no-self-heal)" if not self.options.self_heal else None)
                or "standby: another instance holds the lease"
            )
            log.info(
                "drift not corrected",
                action=action.verb,
                why=why,
                differences=[str(d) for d in action.differences],
            )
        sync = "synced" if (applied or not action.changes) else "out_of_sync"
        if action.verb == "missing":
            sync = "out_of_sync"
        health, replicas = self._health(client, kind, name, current, snapshot)
        now = time.time()
        changes: dict[str, Any] = {
            "sync_status": sync,
            "health_status": health,
            "held": False,
            "self_heal": self.options.self_heal and not _disabled(action),
            "source": str(desired.file) if desired else None,
            "last_error": error or (action.blocked if action.changes else None),
            "last_reconciled": now,
            "drift": ()
            if sync == "synced"
            else tuple(str(d) for d in action.differences) or (action.reason,),
        }
        if applied:
            changes["last_applied"] = now
        status = self.board.update(kind, name, **changes)
        self._set_object(kind, name, sync, status)
        if replicas is not None:
            self.metrics.set_service_replicas(name, *replicas)
        if kind == "Network" and error is None and current is not None and desired is not None:
            self.probes.want(name, self._probe_settings(desired.manifest))
        if error:
            return "error", RETRY
        if health == "progressing":
            return "success", Outcome(requeue_after=self.options.progress_requeue)
        if health == "degraded":
            return "success", Outcome(requeue_after=self.options.degraded_requeue)
        return "success", SUCCESS

    def _health(
        self,
        client: SwarmClient,
        kind: str,
        name: str,
        live: LiveObject | None,
        snapshot: _Snapshot | None = None,
    ) -> tuple[str, tuple[int, int] | None]:
        if live is None:
            return "missing", (0, 0) if kind == "Service" else None
        if kind == "Node":
            node = live.node
            if node is None:
                return "missing", None
            return ("healthy" if node.state == "ready" else "degraded"), None
        if kind == "Network":
            return "healthy", None
        try:
            if snapshot is not None and live.id in snapshot.services:
                raw = snapshot.services[live.id]
                tasks = snapshot.tasks.get(live.id, [])
            else:
                raw = client.inspect_service(live.id)
                tasks = client.tasks(filters={"service": live.id})
        except NotFound:
            return "missing", (0, 0)
        progress = service_progress(raw, tasks, since=time.time() - 300, pending_grace=False)
        if progress.converged:
            health = "healthy"
        elif progress.failed:
            health = "degraded"
        elif progress.update_state == "updating" or progress.running < progress.desired:
            status = self.board.get(kind, name)
            recent = (
                status is not None
                and status.last_applied is not None
                and (time.time() - status.last_applied < 120)
            )
            health = "progressing" if recent or progress.update_state == "updating" else "degraded"
        else:
            health = "progressing"
        return health, (progress.desired, progress.running)

    def _hold(self, key: Key) -> None:
        """Its manifest failed to load: not compared, not changed, shown as unknown."""
        desired = self.desired.get(key)
        status = self.board.update(
            *key,
            held=True,
            sync_status="unknown",
            source=str(desired.file) if desired else None,
            last_error="manifest failed to load: left alone until it loads again",
        )
        self._set_object(key[0], key[1], "unknown", status)

    def _set_object(self, kind: str, name: str, sync: str, status: Any) -> None:
        health = getattr(status, "health_status", "missing") or "missing"
        self.metrics.set_object(ObjectInfo(kind, name, sync, health))

    def _forget(self, key: Key) -> None:
        self.board.remove(*key)
        self.metrics.remove_object(*key)
        if key[0] == "Network":
            self.probes.want(key[1], None)

    # ================================================================== overlay probes

    def _probe_settings(self, manifest: Any) -> probe.ProbeSettings | None:
        if not self.options.probe or not isinstance(manifest, Network):
            return None
        return probe.settings_for_network(
            manifest.spec.probe,
            driver=manifest.spec.driver,
            default_image=self.options.probe_image,
        )

    def _probe_runner(self, network: str, settings: probe.ProbeSettings) -> Runner:
        return ProbeRunner(_CurrentClient(self._get_client), network, settings)

    def _writable(self) -> bool:
        return self._lease is not None and self._lease.held()

    def _run_probes(self) -> None:
        """The probe thread: removals, ensures and polls as they fall due."""
        while not self._stop.is_set():
            wait = 1.0
            if self._get_client() is not None:
                try:
                    wait = self.probes.tick()
                except Exception:  # tick never raises; a bug must not end probing
                    log.exception("overlay probe loop crashed")
            self.probes.wake.wait(min(max(wait, 0.05), 1.0))
            self.probes.wake.clear()

    # ================================================================== sync rounds

    def _round_done(self, key: Key, failed: bool) -> None:
        with self._round_lock:
            current = self._round
            if current is None or key not in current.pending:
                return
            current.pending.discard(key)
            current.failed = current.failed or failed
            if current.pending:
                return
            self._round = None
            any_failed = current.failed
        self._round_finished(any_failed)

    def _round_finished(self, failed: bool) -> None:
        self.board.full_sync_done()
        self.metrics.ready.set(1)
        statuses = self.metrics.object_statuses().values()
        if not failed and all(s.sync_status == "synced" for s in statuses):
            self.metrics.last_successful_sync_timestamp_seconds.set(time.time())
        log.info("full sync done", failed=failed)


class _CurrentClient:
    """The Docker calls of a probe (`probe_runner.ProbeClient`), made on whatever client the
    daemon holds at the time: a probe outlives a reconnect."""

    def __init__(self, get: Callable[[], SwarmClient | None]) -> None:
        self._get = get

    def _client(self) -> SwarmClient:
        client = self._get()
        if client is None:
            raise DockerUnavailable("not connected to a manager")
        return client

    def nodes(self, filters: Any = None) -> list[dict[str, Any]]:
        return self._client().nodes(filters)

    def networks(self, filters: Any = None) -> list[dict[str, Any]]:
        return self._client().networks(filters)

    def inspect_network(self, network: str) -> dict[str, Any]:
        return self._client().inspect_network(network)

    def services(self, filters: Any = None) -> list[dict[str, Any]]:
        return self._client().services(filters)

    def create_service(self, spec: dict[str, Any]) -> str:
        return self._client().create_service(spec)

    def remove_service(self, service_id: str) -> None:
        self._client().remove_service(service_id)

    def tasks(self, filters: Any = None) -> list[dict[str, Any]]:
        return self._client().tasks(filters)

    def service_logs(
        self, service_id: str, *, since: float = 0, tail: int | None = None
    ) -> list[str]:
        return self._client().service_logs(service_id, since=since, tail=tail)


def _disabled(action: Action) -> bool:
    m = action.desired
    return bool(m is not None and str(m.annotation("swarm-operator/reconcile") or "") == "disabled")


def _is_quorum_loss(exc: BaseException) -> bool:
    text = str(exc).lower()
    return not isinstance(exc, NotAManager | DockerUnavailable) and any(
        marker in text for marker in QUORUM_MARKERS
    )
