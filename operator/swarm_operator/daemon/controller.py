"""The long-running operator: the controller that wires the daemon and supervises it.

Owns the wiring and the supervisor, the way controller-runtime's Manager does; the
per-key work is the reconciler's (`daemon.reconciler`), like a Controller's Reconcile:

    sources (each only enqueues keys)            workers (WorkerPool, --workers)
    ├── watch.ManifestWatcher  (files)   ──┐       Reconciler.reconcile(key):
    ├── events.EventSource (engine)      ──┼──►      desired, live (snapshot or fresh),
    └── jittered periodic resync         ──┘         plan, correct, health, one report
                  WorkQueue (dedup, backoff, stalled)     -> observe.reporter

Level-triggered: a key carries no event content; every reconcile re-reads both sides, so
a missed or duplicated event costs nothing. A full resync reads the Swarm once (one call
per kind a plan of the manifests needs and one for the tasks, whatever N) into a
`daemon.snapshot.Snapshot` that the keys of that pass plan from; a key enqueued by an
event or a file change after the snapshot was started, a retry, a requeue, or a snapshot
older than its TTL reads fresh, and nothing is ever written on the snapshot's word
alone. The periodic resync (default 3 min, ±10 % jitter) is the safety net for what has
no event (task state, a missed inotify event), and it brings back stalled keys.

Robustness:
- a manifest file that fails to load holds its objects: they are neither changed nor
  pruned (``watch.DesiredState``), and prune is refused while any file fails;
- a lost Docker connection (or a restarted dockerd) is noticed by the supervisor's
  health check or any failed call; the client is dropped, reconnected with backoff,
  then a full resync runs; the events stream resumes from its cursor and a gap is
  covered by that resync;
- quorum loss (`swarm.errors.QuorumLost`) stops writes (every call fails) and is shown
  in ``/readyz``, ``/status`` and ``swarm_operator_manager_connected``;
- SIGTERM: the queue stops handing out keys, the workers finish the reconcile they are
  in, the lease is released, exit 0;
- a second instance does not fight: only the holder of the lease (`daemon.lease`) writes;
  the other one reconciles read-only (drift still reported) and says "standby".

Overlay probing (`probing.loop`): after each successful reconcile of a declared object of
a probed kind the reconciler tells the probes what it wants (`daemon.probes.ProbeHook`,
no I/O); a thread of its own ensures, polls and removes the probe services and exports
the node x node matrix. Probe services are kept at shutdown (the next instance adopts
them) and removed when their network is deleted, no longer declared, or its probe is off.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from swarm_operator.daemon.events import EventSource
from swarm_operator.daemon.gitsource import GitSource, GitState
from swarm_operator.daemon.images import ImageWatch, Moved
from swarm_operator.daemon.lease import Lease, SwarmLabelStore
from swarm_operator.daemon.options import DaemonOptions
from swarm_operator.daemon.probes import CurrentClient, ProbeHook
from swarm_operator.daemon.reconciler import Clock, Reconciler
from swarm_operator.daemon.snapshot import Snapshot
from swarm_operator.daemon.watch import Change, DesiredState, ManifestWatcher
from swarm_operator.daemon.webhooks import WebhookServer
from swarm_operator.daemon.workqueue import Outcome, WorkerPool, WorkQueue
from swarm_operator.kinds import registry
from swarm_operator.kinds.base import PlanOptions
from swarm_operator.kinds.node import live_node, status_of
from swarm_operator.manifests.loader import ParseCache, load_directory
from swarm_operator.manifests.models import Manifest
from swarm_operator.observe import logs
from swarm_operator.observe.metrics import Metrics, NodeInfo
from swarm_operator.observe.notify import Notifier, apprise_sender, describe, object_counts
from swarm_operator.observe.reporter import ObjectReport, Reporter
from swarm_operator.observe.revision import read_revision
from swarm_operator.observe.server import OperatorHTTPServer
from swarm_operator.observe.status import ObjectStatus, StatusBoard
from swarm_operator.probing import probe
from swarm_operator.probing.loop import OverlayProbes, Runner
from swarm_operator.probing.runner import ProbeRunner
from swarm_operator.swarm.client import SwarmClient
from swarm_operator.swarm.errors import (
    DockerUnavailable,
    QuorumLost,
    SwarmOperatorError,
    classify,
)

Key = tuple[str, str]
log = logs.get_logger("swarm_operator.daemon")


class _NotifyingExporter:
    """The probes' exporter: the metrics, plus a notification per pair unreachable for
    ``UNREACHABLE_GRACE`` seconds (as the alert rule's ``for: 1m``)."""

    def __init__(
        self,
        metrics: Metrics,
        notifier: Callable[[], Notifier | None],
        clock: Callable[[], float],
    ) -> None:
        self._metrics = metrics
        self._notifier = notifier
        self._clock = clock
        self._since: dict[str, float] = {}

    def set_overlay_matrix(self, network: str, reachable: Any, rtts: Any = None) -> None:
        self._metrics.set_overlay_matrix(network, reachable, rtts)
        notifier = self._notifier()
        if notifier is None:
            return
        now = self._clock()
        for (source, target), ok in dict(reachable).items():
            key = f"unreachable:{network}:{source}:{target}"
            if ok:
                self._since.pop(key, None)
                notifier.resolved(key)
            elif now - self._since.setdefault(key, now) >= UNREACHABLE_GRACE:
                notifier.problem(
                    key,
                    f"overlay {network}: {source} cannot reach {target}",
                    f"the overlay probe has failed between these nodes for "
                    f"{UNREACHABLE_GRACE:g}s (swarm-operator doctor tells why)",
                    level="warning",
                )

    def remove_overlay(self, network: str) -> None:
        self._metrics.remove_overlay(network)


MAX_RECONNECT_BACKOFF = 10.0

__all__ = ["Daemon", "DaemonOptions"]


@dataclass
class _Round:
    pending: set[Key] = field(default_factory=set)
    failed: bool = False
    number: int = 0


SYNC_TIMEOUT = 300.0
UNREACHABLE_GRACE = 60.0
DEGRADED_GRACE = 20.0
"""Seconds a service stays degraded before it is notified (the requeue is 15 s)."""


class Daemon:
    def __init__(
        self,
        options: DaemonOptions,
        registry: CollectorRegistry | None = None,
        client_factory: Callable[..., SwarmClient] = SwarmClient,
        clock: Clock | None = None,
    ) -> None:
        self.options = options
        self.clock = clock = clock or Clock()
        self.registry = registry or CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.board = StatusBoard()
        self.reporter = Reporter(self.board, self.metrics, wall=clock.wall)
        self.notifier: Notifier | None = None
        self._applied: dict[Key, Manifest] = {}
        self._degraded_since: dict[Key, float] = {}
        if options.notify_urls:
            self.notifier = Notifier(
                apprise_sender(options.notify_urls),
                cooldown=options.notify_cooldown,
                on_result=lambda result: self.metrics.notifications_total.labels(result).inc(),
            )
            self.reporter.on_report = self._notify_report
        self.queue: WorkQueue[Key] = WorkQueue()
        self.desired = DesiredState()
        self._parses = ParseCache()
        self._reload_lock = threading.Lock()
        """One reload at a time (the watcher's thread, the supervisor's resync, the git
        source's): the parse cache is not shared, and a late older load is never applied
        over a newer one."""
        self._client_factory = client_factory
        self._client: SwarmClient | None = None
        self._client_lock = threading.Lock()
        self._stop = threading.Event()
        self._resync_now = threading.Event()
        self._prune_blocker: str | None = None
        """Set while more objects would be pruned than --max-prune allows: the daemon
        prunes key by key, so the plan-wide guard is applied here, to the whole set."""
        self._snapshot: Snapshot | None = None
        self._lease: Lease | None = None
        self._round_lock = threading.Lock()
        self._round: _Round | None = None
        self._rounds = threading.Condition()
        self._rounds_started = 0
        self._rounds_finished = 0
        self._last_round_failed = False
        self.metrics.workqueue_depth.set_function(lambda: float(len(self.queue)))
        self.probes = OverlayProbes(
            _NotifyingExporter(self.metrics, lambda: self.notifier, clock.monotonic),
            self._probe_runner,
            writable=self.writable,
            on_status=self.board.set_probes,
        )
        self.images = ImageWatch(clock.monotonic, on_moved=self._image_moved)
        self._image_told: dict[Key, str] = {}
        """The digest each notify follower was last reported to have moved to."""
        self.reconciler = Reconciler(
            client=self.client,
            desired=self.desired,
            reporter=self.reporter,
            options=options.reconcile_options(),
            writable=self.writable,
            clock=clock,
            snapshot=lambda: self._snapshot,
            prune_blocker=lambda: self._prune_blocker,
            probes=ProbeHook(self.probes, enabled=options.probe, default_image=options.probe_image),
            connection_lost=self._connection_failed,
            images=self.images,
        )
        self.events = EventSource(
            self.client,
            self.desired.declared,
            self._enqueue,
            prune=options.prune,
            window=options.events_window,
            on_event_type=self.metrics.event_received,
            on_nodes_changed=self._refresh_nodes_soon,
            on_gap=self._resync_now.set,
            stop=self._stop,
            wall=clock.wall,
        )
        self.pool: WorkerPool[Key] = WorkerPool(
            self.queue, self.reconcile, options.workers, on_idle=self.board.beat
        )
        self.git: GitSource | None = None
        if options.git is not None:
            self.git = GitSource(
                options.git,
                on_applied=self._revision_applied,
                on_state=self._git_state,
                wall=clock.wall,
            )
            if self.git.directory != options.directory:
                raise ValueError("with a git source the directory is the source's")
        self.watcher = ManifestWatcher(
            options.directory,
            self.reload,
            on_error=self._watch_error,
            content_files=self.desired.content_files,
            on_early_change=self.reload_early,
        )
        self.server: OperatorHTTPServer | None = None
        self.webhooks: WebhookServer | None = None
        self._probe_thread: threading.Thread | None = None

    @property
    def prune_blocker(self) -> str | None:
        """Why every prune is refused right now (too many orphans), or None."""
        return self._prune_blocker

    def client(self) -> SwarmClient | None:
        """The client of the manager this daemon is connected to, if any."""
        with self._client_lock:
            return self._client

    def attach(self, client: SwarmClient) -> None:
        """Use ``client`` (a manager's) from now on; `_connect` calls it once connected."""
        with self._client_lock:
            self._client = client

    def writable(self) -> bool:
        """This instance holds the lease: it may write."""
        return self._lease is not None and self._lease.held()

    def reconcile(self, key: Key) -> Outcome:
        """One reconcile of ``key`` (the reconciler's), counted in the current sync round."""
        outcome = self.reconciler.reconcile(key)
        self._round_done(key, failed=outcome.error)
        return outcome

    # ================================================================== lifecycle

    def run(self) -> int:
        """Serve until :meth:`stop`; returns the exit code."""
        self.server = OperatorHTTPServer(
            self.options.metrics_addr, self.registry, self.board, on_sync=self.sync
        )
        self.server.start()
        log.info(
            "starting",
            directory=str(self.options.directory),
            metrics=self.server.url,
            self_heal=self.options.self_heal,
            prune=self.options.prune,
            workers=self.options.workers,
            git=self.git.state.url if self.git else None,
        )
        if self.notifier is not None:
            self.notifier.start()
        if self.options.webhook_addr is not None:
            git = self.git
            if git is None:
                raise ValueError("--webhook-addr needs --git")
            self.webhooks = WebhookServer(
                self.options.webhook_addr,
                self.options.webhook_secret,
                ref=lambda: git.options.ref,
                on_push=git.request,
                on_result=self.metrics.webhook,
            )
            self.webhooks.start()
            log.info("webhooks", url=self.webhooks.url + "/hooks/{github,gitea,gitlab,generic}")
        if self.git is not None:
            # The first fetch before the first load: an unreachable remote leaves the
            # revision of a previous run in force (or nothing declared, prune refused).
            self._git_state(self.git.state)
            self.git.sync_once()
            self.git.start()
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
        if self.webhooks is not None:
            self.webhooks.stop()
        if self.git is not None:
            self.git.stop()
        self.pool.join(timeout=120)
        if self._probe_thread is not None:
            # Probe services are kept: the next instance adopts them (no churn of probe
            # tasks and no gap in the matrix across a restart or an upgrade).
            self._probe_thread.join(timeout=30)
        if self._lease is not None:
            self._lease.release()
        if self.server is not None:
            self.server.stop()
        if self.notifier is not None:
            self.notifier.stop()
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
        monotonic = self.clock.monotonic
        while not self._stop.is_set():
            client = self.client()
            now = monotonic()
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
            for key in self.images.due(self.desired.index()):
                self._enqueue(key)  # its reconcile asks the registry (`daemon.images`)
            wait = min(next_resync, next_health, next_lease) - monotonic()
            self._resync_now.wait(max(min(wait, 1.0), 0.05))

    def _connect(self) -> bool:
        try:
            client = self._client_factory(
                self.options.host,
                observer=lambda name, seconds, ok: self.metrics.observe_api_call(name, seconds),
                registry_auth=self.options.registry_auth,
            )
            swarm = client.require_manager()
            if swarm.get("Error"):
                # The engine is a manager but its Raft has no leader (quorum lost) or
                # another cluster error: listing or writing would fail or hang.
                client.close()
                raise classify(str(swarm["Error"]))
            # `info` can look healthy while the Raft has no leader: a read that needs the
            # leader tells (QuorumLost), so a manager without quorum is never "connected".
            try:
                self._check_health(client)
            except SwarmOperatorError:
                client.close()
                raise
        except SwarmOperatorError as exc:
            self.board.set_connection(False, str(exc), quorum=not isinstance(exc, QuorumLost))
            self.metrics.manager_connected.set(0)
            log.warning("cannot connect to a manager", error=str(exc))
            return False
        self.attach(client)
        self._lease = Lease(
            SwarmLabelStore(client),
            identity=self.options.identity or (self._lease.identity if self._lease else None),
            duration=self.options.lease_duration,
        )
        self.board.set_connection(True)
        self.metrics.manager_connected.set(1)
        log.info("connected to a manager", host=client.host)
        self.events.start()
        return True

    def _connection_failed(self, exc: BaseException) -> None:
        quorum_lost = isinstance(exc, QuorumLost)
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
            if isinstance(exc, DockerUnavailable | QuorumLost):
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
        infos = []
        for raw in client.nodes():
            st = status_of(live_node(raw))
            if st is not None:
                infos.append(NodeInfo(st.hostname, st.role, st.availability, st.state))
                if self.notifier is not None:
                    key = f"node-down:{st.hostname}"
                    if st.state == "down":
                        self.notifier.problem(
                            key, f"node {st.hostname} is down", describe(role=st.role)
                        )
                    elif st.state == "ready":
                        self.notifier.resolved(key)
        self.metrics.set_nodes(infos)
        self.board.set_connection(True)
        self.metrics.manager_connected.set(1)

    def _refresh_nodes_soon(self) -> None:
        client = self.client()
        if client is not None:
            try:
                self._check_health(client)
            except SwarmOperatorError as exc:
                log.warning("cannot list nodes", error=str(exc))

    # ================================================================== triggers

    def reload(self) -> Change:
        """Re-read the manifest directory and enqueue the keys that changed.

        Every file is found and read again, but only those whose bytes changed are parsed
        and validated again (`loader.ParseCache`): the same result as a fresh load, at
        the cost of the files that changed (an edit among 2,000 files: one parse)."""
        change = self._reload(early=False)
        assert change is not None
        return change

    def reload_early(self) -> bool:
        """The watcher's reload of one file saved (written and closed, or renamed into
        place) and then calm for 50 ms, before the whole debounce: done unless it would
        remove a declared key. A removal waits the whole quiet (it may be the first half
        of a change to several files, e.g. an object moved to another file, and a removed
        key is pruned). False: declined, the watcher reloads after the quiet."""
        return self._reload(early=True) is not None

    def _reload(self, early: bool) -> Change | None:
        directory = self.options.directory
        with self._reload_lock:
            result = load_directory(directory, cache=self._parses)
            if early and self.desired.would_remove(result, directory):
                log.debug("early reload declined: it would remove keys")
                return None
            change = self.desired.apply(result, directory)
            parsed = self._parses.parsed
        log.debug("manifests read", files=len(result.files), parsed=parsed, early=early)
        if self.options.prune and len(change.removed) > self.options.max_prune:
            self._block_prune(len(change.removed))
        if self.git is not None:
            revision = self.git.state.revision
        else:
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
            self.reconciler.report_held(key)
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
        snapshot = self._snapshot = Snapshot(self.clock.monotonic())
        live = snapshot.read(
            client, self.desired.manifests(), PlanOptions(prune=self.options.prune)
        )
        keys = set(self.desired.declared())
        managed = [o for o in live.objects() if o.managed and registry.of(o.kind).prunable]
        orphans = [o.key for o in managed if o.key not in keys and not o.protected]
        if self.options.prune and len(orphans) > self.options.max_prune:
            self._block_prune(len(orphans))
        elif self._prune_blocker is not None:
            log.info("prune allowed again", orphans=len(orphans))
            self._prune_blocker = None
        keys.update(o.key for o in managed)
        for key in [k for k in self.metrics.object_statuses() if k not in keys]:
            self.reconciler.forget(key)
        with self._rounds:
            self._rounds_started += 1
            number = self._rounds_started
        with self._round_lock:
            self._round = _Round(pending=set(keys), number=number)
        snapshot.offer(keys)
        for key in sorted(keys):
            self.queue.add(key)
        if not keys:
            self._round_finished(failed=False, number=number)
        log.info("resync", objects=len(keys))

    def _enqueue(self, key: Key) -> None:
        """A trigger fired for ``key``: its next reconcile reads the Swarm afresh."""
        snapshot = self._snapshot
        if snapshot is not None:
            snapshot.drop(key)
        self.queue.add(key)

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

    def _git_state(self, state: GitState) -> None:
        """After each pass of the git source: /status and the metrics."""
        self.board.set_source(
            {
                "url": state.url,
                "ref": state.ref,
                "path": state.path,
                "revision": state.revision,
                "fetched": state.fetched,
                "lastFetch": state.last_fetch,
                "lastFetchError": state.last_fetch_error,
                "rejectedRevision": state.rejected,
                "rejectedErrors": [{"source": s, "message": m} for s, m in state.rejected_errors],
            }
        )
        if state.last_fetch is not None:
            self.metrics.set_git_fetch(
                state.last_fetch,
                failed=state.last_fetch_error is not None,
                rejected=state.rejected,
                errors=state.rejected_errors,
            )
        self.metrics.set_source_revision(state.revision)
        self.board.set_revision(state.revision)
        if self.notifier is not None:
            if state.last_fetch_error:
                self.notifier.problem(
                    "fetch", "sync failed: cannot fetch the git source", state.last_fetch_error
                )
            elif state.last_fetch is not None:
                self.notifier.resolved("fetch")
            if state.rejected:
                errors = "; ".join(f"{s}: {m}" for s, m in state.rejected_errors)
                self.notifier.problem(
                    f"rejected:{state.rejected}",
                    f"sync failed: revision {state.rejected[:12]} does not load",
                    f"{errors} (in force: {(state.revision or '-')[:12]})",
                )

    def _revision_applied(self, state: GitState) -> None:
        change = self.reload()
        if self.notifier is not None and state.revision is not None:
            kinds = [kind for kind, _ in sorted(self.desired.declared())]
            self.notifier.event(
                f"revision:{state.revision}",
                f"revision {state.revision[:12]} applied",
                f"{object_counts(kinds)}; changed {len(change.changed)}, "
                f"removed {len(change.removed)}",
                level="success",
            )

    def _notify_report(self, kind: str, name: str, r: ObjectReport, status: ObjectStatus) -> None:
        """The notifications of one reconcile's report (the reporter's hook)."""
        notifier = self.notifier
        if notifier is None:
            return
        what = f"{kind}/{name}"
        if r.result in ("error", "stalled"):
            notifier.problem(f"sync:{what}", f"sync failed: {what}", r.error or r.result)
        elif r.result == "success":
            notifier.resolved(f"sync:{what}")
        if status.health_status == "degraded":
            # Degraded for DEGRADED_GRACE at least: a hand-made scale being put back or a
            # task being replaced is not worth a message.
            since = self._degraded_since.setdefault((kind, name), self.clock.monotonic())
            if self.clock.monotonic() - since >= DEGRADED_GRACE:
                notifier.problem(
                    f"degraded:{what}",
                    f"{what} is degraded",
                    r.error or "its tasks are not running as declared (or Swarm rolled it back)",
                    level="warning",
                )
        else:
            self._degraded_since.pop((kind, name), None)
            if status.health_status == "healthy":
                notifier.resolved(f"degraded:{what}")
        rolled = self.images.rolled((kind, name)) if r.applied else None
        if rolled is not None:
            notifier.event(
                f"image:{what}:{rolled.digest}",
                f"image updated: {what}",
                f"{rolled.image} moved: rolled from {rolled.running} to {rolled.digest}",
                level="success",
            )
        if r.applied:
            desired = self.desired.get((kind, name))
            manifest = desired.manifest if desired is not None else None
            before = self._applied.get((kind, name))
            if (
                rolled is None
                and manifest is not None
                and before is not None
                and before == manifest
            ):
                notifier.event(
                    f"drift:{what}",
                    f"drift corrected: {what}",
                    "changed by hand, put back as declared: " + ", ".join(r.drift),
                    level="warning",
                )
            if manifest is not None:
                self._applied[(kind, name)] = manifest

    def _image_moved(self, key: Key, moved: Moved | None) -> None:
        """A service of imageUpdate policy notify runs an older digest than its tag names
        (``moved``), or no longer does (None): metric, log, one notification per digest."""
        _kind, name = key
        self.metrics.image_update_available.labels(name).set(1 if moved else 0)
        if moved is None:
            self._image_told.pop(key, None)
            return
        if self._image_told.get(key) == moved.digest:
            return  # said once for this digest
        self._image_told[key] = moved.digest
        log.info("image tag moved", image=moved.image, running=moved.running, digest=moved.digest)
        if self.notifier is not None:
            self.notifier.event(
                f"image:{name}:{moved.digest}",
                f"image update available: Service/{name}",
                f"{moved.image} now names {moved.digest}; the service runs {moved.running} "
                "(imageUpdate policy notify: not rolled)",
                level="info",
            )

    def _watch_error(self, exc: BaseException) -> None:
        log.error("manifest reload failed", error=repr(exc))

    # ================================================================== overlay probes

    def _probe_runner(self, network: str, settings: probe.ProbeSettings) -> Runner:
        return ProbeRunner(CurrentClient(self.client), network, settings)

    def _run_probes(self) -> None:
        """The probe thread: removals, ensures and polls as they fall due."""
        while not self._stop.is_set():
            wait = 1.0
            if self.client() is not None:
                try:
                    wait = self.probes.tick()
                except Exception:  # tick never raises; a bug must not end probing
                    log.exception("overlay probe loop crashed")
            self.probes.wake.wait(min(max(wait, 0.05), 1.0))
            self.probes.wake.clear()

    # ================================================================== sync on demand

    def sync(self, wait: bool, timeout: float = SYNC_TIMEOUT) -> tuple[bool, dict[str, Any]]:
        """``swarm-operator sync``: fetch the git source (if any) and run a full resync now.

        Without ``wait`` returns at once (the pass is asked for). With it, returns once a
        full pass that started after the request is done: (done in time, the result)."""
        if self.git is not None:
            ticket = self.git.request()
            if not wait:
                # The resync follows the fetch: an applied revision reloads and enqueues
                # its keys by itself; the full pass covers everything else.
                self._resync_now.set()
                return True, {"accepted": True}
            if self.git.wait(ticket, timeout) is None:
                return False, {"done": False, "error": f"the fetch took more than {timeout:g}s"}
        with self._rounds:
            wanted = self._rounds_started + 1  # a pass that starts after the fetch
        self._resync_now.set()
        if not wait:
            return True, {"accepted": True}
        with self._rounds:
            done = self._rounds.wait_for(lambda: self._rounds_finished >= wanted, timeout)
            failed = self._last_round_failed
        status = self.board.snapshot()
        result: dict[str, Any] = {
            "done": done,
            "failed": failed,
            "role": status["role"],
            "connected": status["connected"],
            "summary": status["summary"],
            "objects": [
                {k: o.get(k) for k in ("kind", "name", "syncStatus", "healthStatus", "lastError")}
                for o in status["objects"]
            ],
            "loadErrors": status["loadErrors"],
            "source": status["source"],
            "sourceRevision": status["sourceRevision"],
        }
        if not done:
            result["error"] = f"the pass did not finish within {timeout:g}s"
        return done, result

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
        self._round_finished(any_failed, current.number)

    def _round_finished(self, failed: bool, number: int) -> None:
        with self._rounds:
            self._rounds_finished = max(self._rounds_finished, number)
            self._last_round_failed = failed
            self._rounds.notify_all()
        self.board.full_sync_done()
        self.metrics.ready.set(1)
        statuses = self.metrics.object_statuses().values()
        if not failed and all(s.sync_status == "synced" for s in statuses):
            self.metrics.last_successful_sync_timestamp_seconds.set(self.clock.wall())
        log.info("full sync done", failed=failed)
