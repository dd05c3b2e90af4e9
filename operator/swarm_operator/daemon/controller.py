"""The long-running operator: the controller that wires the daemon and supervises it.

Owns the wiring, the way controller-runtime's Manager does: the triggers (reload, resync,
enqueue), the prune guard, the sync on demand and the start and stop of every thread.
The connection to a manager, the lease and the loop that keeps them and runs the
periodic resync are the supervisor's (`daemon.supervisor`); the notifications are
`daemon.notices`'; the full sync rounds `daemon.rounds`'. The per-key work is the
reconciler's (`daemon.reconciler`), like a Controller's Reconcile:

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

import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from swarm_operator.daemon.events import EventSource
from swarm_operator.daemon.gitsource import GitSource, GitState
from swarm_operator.daemon.images import ImageWatch
from swarm_operator.daemon.notices import Notices, NotifyingExporter
from swarm_operator.daemon.options import DaemonOptions
from swarm_operator.daemon.probes import CurrentClient, ProbeHook
from swarm_operator.daemon.reconciler import Clock, Reconciler
from swarm_operator.daemon.rounds import SyncRounds, sync_result
from swarm_operator.daemon.snapshot import Snapshot
from swarm_operator.daemon.supervisor import Supervisor
from swarm_operator.daemon.watch import Change, DesiredState, ManifestWatcher
from swarm_operator.daemon.webhooks import WebhookServer
from swarm_operator.daemon.workqueue import Outcome, WorkerPool, WorkQueue
from swarm_operator.kinds import registry
from swarm_operator.kinds.base import PlanOptions
from swarm_operator.manifests.loader import load_directory
from swarm_operator.manifests.parse_cache import ParseCache
from swarm_operator.observe import logs
from swarm_operator.observe.metrics import Metrics
from swarm_operator.observe.notify import Notifier, apprise_sender
from swarm_operator.observe.reporter import Reporter
from swarm_operator.observe.revision import read_revision
from swarm_operator.observe.server import OperatorHTTPServer
from swarm_operator.observe.status import StatusBoard
from swarm_operator.probing import probe
from swarm_operator.probing.loop import OverlayProbes, Runner
from swarm_operator.probing.runner import ProbeRunner
from swarm_operator.swarm.client import SwarmClient

Key = tuple[str, str]
log = logs.get_logger("swarm_operator.daemon")

SYNC_TIMEOUT = 300.0

__all__ = ["Daemon", "DaemonOptions"]


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
        if options.notify_urls:
            self.notifier = Notifier(
                apprise_sender(options.notify_urls),
                cooldown=options.notify_cooldown,
                on_result=lambda result: self.metrics.notifications_total.labels(result).inc(),
            )
        self.queue: WorkQueue[Key] = WorkQueue()
        self.desired = DesiredState()
        self._parses = ParseCache()
        self._reload_lock = threading.Lock()
        """One reload at a time (the watcher's thread, the supervisor's resync, the git
        source's): the parse cache is not shared, and a late older load is never applied
        over a newer one."""
        self._stop = threading.Event()
        self._resync_now = threading.Event()
        self._prune_blocker: str | None = None
        """Set while more objects would be pruned than --max-prune allows: the daemon
        prunes key by key, so the plan-wide guard is applied here, to the whole set."""
        self._snapshot: Snapshot | None = None
        self.rounds = SyncRounds(on_finished=self._round_finished)
        self.metrics.workqueue_depth.set_function(lambda: float(len(self.queue)))
        self.images = ImageWatch(
            clock.monotonic, on_moved=lambda key, moved: self.notices.image_moved(key, moved)
        )
        self.notices = Notices(self.notifier, self.metrics, clock, self.images, self.desired)
        if self.notifier is not None:
            self.reporter.on_report = self.notices.report
        self.supervisor = Supervisor(
            options,
            self.metrics,
            self.board,
            self.notices,
            client_factory,
            clock.monotonic,
            self._stop,
            self._resync_now,
            on_connected=lambda: self.events.start(),
        )
        self.probes = OverlayProbes(
            NotifyingExporter(self.metrics, lambda: self.notifier, clock.monotonic),
            self._probe_runner,
            writable=self.writable,
            on_status=self.board.set_probes,
        )
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
            connection_lost=self.supervisor.lost,
            images=self.images,
        )
        self.events = EventSource(
            self.client,
            self.desired.declared,
            self._enqueue,
            prune=options.prune,
            window=options.events_window,
            on_event_type=self.metrics.event_received,
            on_nodes_changed=self.supervisor.refresh_nodes,
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
        return self.supervisor.client()

    def attach(self, client: SwarmClient) -> None:
        """Use ``client`` (a manager's) from now on (`daemon.connection`)."""
        self.supervisor.attach(client)

    def writable(self) -> bool:
        """This instance holds the lease: it may write."""
        return self.supervisor.writable()

    def reconcile(self, key: Key) -> Outcome:
        """One reconcile of ``key`` (the reconciler's), counted in the current sync round."""
        outcome = self.reconciler.reconcile(key)
        self.rounds.done(key, failed=outcome.error)
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
            self.supervisor.supervise(self.resync, self._each_turn)
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
        if self.supervisor.lease is not None:
            self.supervisor.lease.release()
        if self.server is not None:
            self.server.stop()
        if self.notifier is not None:
            self.notifier.stop()
        self.supervisor.close()
        log.info("stopped")

    # ================================================================== supervisor

    def _each_turn(self) -> None:
        """The supervisor's turn: followed images whose interval is due."""
        for key in self.images.due(self.desired.index()):
            self._enqueue(key)  # its reconcile asks the registry (`daemon.images`)

    # ================================================================== triggers

    def reload(self) -> Change:
        """Re-read the manifest directory and enqueue the keys that changed.

        Every file is found and read again, but only those whose bytes changed are parsed
        and validated again (`manifests.parse_cache`): the same result as a fresh load, at
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
        number = self.rounds.begin(keys)
        snapshot.offer(keys)
        for key in sorted(keys):
            self.queue.add(key)
        if not keys:
            self.rounds.finished(failed=False, number=number)
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
        self.notices.git_state(state)

    def _revision_applied(self, state: GitState) -> None:
        change = self.reload()
        self.notices.revision_applied(state, change)

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
        wanted = self.rounds.next_number()  # a pass that starts after the fetch
        self._resync_now.set()
        if not wait:
            return True, {"accepted": True}
        done, failed = self.rounds.wait_for(wanted, timeout)
        return done, sync_result(self.board.snapshot(), done, failed, timeout)

    # ================================================================== sync rounds

    def _round_finished(self, failed: bool) -> None:
        """A full pass is done (`daemon.rounds`): ready, and the last successful sync.

        Every key of the pass has been reconciled: its snapshot has nothing left to offer
        and is let go (at 2,000 services, the live state and their raw specs, several MB
        held until the next resync otherwise); a later key reads fresh, as it would. (Should
        the round before end while the next pass reads, that pass's keys read fresh: slower,
        never wrong.)"""
        self._snapshot = None
        self.board.full_sync_done()
        self.metrics.ready.set(1)
        statuses = self.metrics.object_statuses().values()
        if not failed and all(s.sync_status == "synced" for s in statuses):
            self.metrics.last_successful_sync_timestamp_seconds.set(self.clock.wall())
        log.info("full sync done", failed=failed)
