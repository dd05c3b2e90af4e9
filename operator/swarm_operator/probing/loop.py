"""Continuous overlay probing in the daemon: one probe per managed overlay network.

Owns the bookkeeping between the daemon's reconciles and the probe services: which
networks are probed with which settings, when each is polled next (with backoff after
Docker errors), what is exported (``Metrics.set_overlay_matrix``) and what ``/status``
shows. The Docker work is `probing.runner.ProbeRunner`'s, the meaning of the data
`probing.probe` and `probing.matrix`'s; this module only schedules.

    reconcile of Network N succeeded (worker)      probe thread (daemon.controller)
      └── want(N, settings | None)   ──────────►   tick(): for each due network
          (bookkeeping only, no I/O)                 remove   (dropped; lease holder only)
                                                     ensure   (after each reconcile; holder)
                                                     attach   (standby: find, never create)
                                                     poll -> metrics, /status

Reconciles never wait for a probe: ``want`` only records and wakes the probe thread.
The one exception is `remove_now`, called by a worker right before it deletes or
replaces a network (a probe task attached to it would keep the network busy).

Writes (ensure, remove) happen only while ``writable()`` (this instance holds the
lease); a standby still polls the service the holder created and exports the same
matrix. Probe services are kept on a clean shutdown (see the README): the next
instance adopts them by name, so a restart does not churn probe tasks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from swarm_operator.observe import logs
from swarm_operator.probing.matrix import Matrix, Pair, metric_maps
from swarm_operator.probing.probe import ProbeSettings
from swarm_operator.swarm.errors import NotFound

log = logs.get_logger("swarm_operator.probing.loop")

MAX_BACKOFF = 60.0
"""Seconds: the longest wait between two attempts after Docker errors."""


class Runner(Protocol):
    """What the loop needs of a probe; `probing.runner.ProbeRunner` is one."""

    @property
    def service_name(self) -> str: ...

    def ensure(self) -> str: ...

    def attach(self) -> bool: ...

    def poll(self, now: float | None = None) -> tuple[Matrix, list[Pair]]: ...

    def remove(self) -> None: ...


RunnerFactory = Callable[[str, ProbeSettings], Runner]


class Exporter(Protocol):
    """The two calls of `metrics.Metrics` the loop makes."""

    def set_overlay_matrix(
        self,
        network: str,
        reachable: Any,
        rtts: Any = None,
    ) -> None: ...

    def remove_overlay(self, network: str) -> None: ...


@dataclass
class _Entry:
    network: str
    settings: ProbeSettings
    runner: Runner
    started: float
    """Monotonic time the entry (and its runner) was made: the warm-up grace starts here."""
    ensure_pending: bool = True
    next_due: float = 0.0
    failures: int = 0
    last_error: str | None = None
    last_poll: float | None = None
    last_round: float | None = None
    pairs_ok: int = 0
    pairs_total: int = 0
    broken: tuple[str, ...] = ()
    exported: bool = False
    attached: bool = False
    rounds: dict[str, tuple[str, int]] = field(default_factory=dict)
    """The rounds of the last poll: a change means a new round (``last_round``)."""


@dataclass
class _Removal:
    network: str
    runner: Runner
    next_due: float = 0.0
    failures: int = 0


@dataclass
class OverlayProbes:
    """The daemon's overlay probes. Thread-safe: workers call `want`/`remove_now`, the
    probe thread `tick`, the HTTP server (through ``on_status``) reads `snapshot`."""

    exporter: Exporter
    factory: RunnerFactory
    writable: Callable[[], bool]
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    on_status: Callable[[list[dict[str, Any]]], None] | None = None
    max_backoff: float = MAX_BACKOFF
    wake: threading.Event = field(default_factory=threading.Event)
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _removals: dict[str, _Removal] = field(default_factory=dict)
    _cleared: set[str] = field(default_factory=set)
    """Networks whose probe service this process already removed (or scheduled to):
    `want(N, None)` on every reconcile must not list services each time."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ from workers

    def want(self, network: str, settings: ProbeSettings | None) -> None:
        """After a successful reconcile of managed network ``network``: probe it with
        ``settings``, or not at all (None: not overlay, disabled, or no longer declared)."""
        with self._lock:
            entry = self._entries.get(network)
            if settings is None:
                if entry is not None:
                    del self._entries[network]
                    self._schedule_removal_locked(network, entry.runner)
                    log.info("overlay probe off", network=network)
                elif network not in self._cleared:
                    # A probe left by an earlier run (probes are kept at shutdown).
                    self._schedule_removal_locked(
                        network, self.factory(network, ProbeSettings(owner="daemon"))
                    )
                self._cleared.add(network)
            elif entry is None or entry.settings != settings:
                # New settings: a new runner; its ensure() recreates the service when
                # the image, the script or the interval (in its env) changed.
                self._removals.pop(network, None)
                self._cleared.discard(network)
                self._entries[network] = _Entry(
                    network, settings, self.factory(network, settings), started=self.clock()
                )
                if entry is not None:
                    self._entries[network].exported = entry.exported
                log.info(
                    "overlay probe on",
                    network=network,
                    interval_s=settings.interval_s,
                    image=settings.image,
                )
            else:
                entry.ensure_pending = True
                if entry.failures == 0:  # ensure soon, unless backing off after errors
                    entry.next_due = min(entry.next_due, self.clock())
        self.wake.set()

    def remove_now(self, network: str) -> None:
        """Remove ``network``'s probe service at once (the caller is about to delete or
        replace the network, which a probe task attached to it would keep busy)."""
        with self._lock:
            entry = self._entries.pop(network, None)
            removal = self._removals.pop(network, None)
        runner = entry.runner if entry is not None else (removal.runner if removal else None)
        if runner is None:
            runner = self.factory(network, ProbeSettings(owner="daemon"))
        runner.remove()
        with self._lock:
            self.exporter.remove_overlay(network)
            self._cleared.discard(network)  # a replaced network gets a new probe
        self._publish()

    # ------------------------------------------------------------------ probe thread

    def tick(self) -> float:
        """Do the removals, ensures and polls that are due; seconds until the next one.
        Never raises: a failure is logged, kept for ``/status`` and retried with backoff."""
        now = self.clock()
        writable = self.writable()
        with self._lock:
            removals = [r for r in self._removals.values() if r.next_due <= now]
            entries = [e for e in self._entries.values() if e.next_due <= now]
        for removal in removals:
            self._remove(removal, writable)
        for entry in entries:
            self._step(entry, writable)
        self._publish()
        with self._lock:
            dues = [e.next_due for e in self._entries.values()]
            dues += [r.next_due for r in self._removals.values()]
        return max(min(dues, default=now + 5.0) - self.clock(), 0.0)

    def _remove(self, removal: _Removal, writable: bool) -> None:
        self.exporter.remove_overlay(removal.network)
        if not writable:
            # The lease holder removes it; a standby only stops exporting, and forgets
            # that it did, so a later reconcile (as holder, perhaps) schedules it again.
            with self._lock:
                if self._removals.get(removal.network) is removal:
                    del self._removals[removal.network]
                self._cleared.discard(removal.network)
            return
        try:
            removal.runner.remove()
        except Exception as exc:
            removal.failures += 1
            removal.next_due = self.clock() + self._backoff(5.0, removal.failures)
            log.warning("cannot remove the overlay probe", network=removal.network, error=str(exc))
            return
        with self._lock:
            if self._removals.get(removal.network) is removal:
                del self._removals[removal.network]
        log.info("overlay probe removed", network=removal.network)

    def _step(self, entry: _Entry, writable: bool) -> None:
        with self._lock:
            if self._entries.get(entry.network) is not entry:
                return  # replaced or dropped meanwhile
        interval = max(entry.settings.interval_s, 0.5)
        try:
            if writable and entry.ensure_pending:
                entry.runner.ensure()
                entry.ensure_pending = False
                entry.attached = True
            if not entry.attached:
                entry.attached = entry.runner.attach()
                if not entry.attached:
                    entry.last_error = "no probe service yet" + (
                        "" if writable else " (standby: the lease holder creates it)"
                    )
                    entry.next_due = self.clock() + interval
                    return
            matrix, fresh = entry.runner.poll(self.wall())
        except NotFound as exc:
            # Removed by hand, or its network replaced: start afresh (the holder recreates).
            self._restart(entry, str(exc))
            return
        except Exception as exc:  # Docker down, quorum lost, a bug: keep the loop alive
            entry.failures += 1
            entry.last_error = str(exc) or repr(exc)
            entry.next_due = self.clock() + self._backoff(interval, entry.failures)
            log.warning(
                "overlay probe poll failed",
                network=entry.network,
                error=entry.last_error,
                failures=entry.failures,
            )
            return
        entry.failures = 0
        entry.last_error = None
        entry.last_poll = self.wall()
        entry.next_due = self.clock() + interval
        self._record(entry, matrix, fresh)

    def _restart(self, entry: _Entry, why: str) -> None:
        with self._lock:
            if self._entries.get(entry.network) is not entry:
                return
            fresh = _Entry(
                entry.network,
                entry.settings,
                self.factory(entry.network, entry.settings),
                started=self.clock(),
                exported=entry.exported,
                last_error=f"probe service gone: {why}",
            )
            fresh.next_due = self.clock() + max(entry.settings.interval_s, 0.5)
            self._entries[entry.network] = fresh
        log.warning("overlay probe service gone; starting afresh", network=entry.network, why=why)

    def _record(self, entry: _Entry, matrix: Matrix, fresh: list[Pair]) -> None:
        summary = summarize(matrix)
        entry.pairs_ok, entry.pairs_total, entry.broken = summary
        if matrix.rounds and dict(matrix.rounds) != entry.rounds:
            entry.rounds = dict(matrix.rounds)
            entry.last_round = self.wall()
        grace = 3 * entry.settings.interval_s + 10
        waiting_for = set(matrix.nodes) - set(matrix.rounds)
        if waiting_for and not entry.exported and self.clock() - entry.started < grace:
            # Warming up: some probe tasks have not finished a round yet (the first one
            # to report must not make the others' rows, its own column to them and even
            # a node to itself count as unreachable). Exporting zeros now would be a
            # false "unreachable"; after the grace, a probe that never reports is broken.
            return
        reachable, rtts = metric_maps(matrix, fresh)
        with self._lock:
            # Dropped by a worker while this poll ran: its series must not come back.
            if self._entries.get(entry.network) is entry:
                self.exporter.set_overlay_matrix(entry.network, reachable, rtts)
                entry.exported = True

    def _backoff(self, base: float, failures: int) -> float:
        return float(min(base * 2 ** min(failures, 16), self.max_backoff))

    # ------------------------------------------------------------------ status

    def snapshot(self) -> list[dict[str, Any]]:
        """Per probed network, for ``/status``."""
        with self._lock:
            entries = sorted(self._entries.values(), key=lambda e: e.network)
            return [
                {
                    "network": e.network,
                    "service": e.runner.service_name,
                    "intervalSeconds": e.settings.interval_s,
                    "image": e.settings.image,
                    "pairsOk": e.pairs_ok,
                    "pairsTotal": e.pairs_total,
                    "broken": list(e.broken),
                    "lastRound": e.last_round,
                    "lastPoll": e.last_poll,
                    "lastError": e.last_error,
                }
                for e in entries
            ]

    def networks(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def _publish(self) -> None:
        if self.on_status is not None:
            self.on_status(self.snapshot())

    def _schedule_removal_locked(self, network: str, runner: Runner) -> None:
        self._removals[network] = _Removal(network, runner, next_due=self.clock())


def summarize(matrix: Matrix) -> tuple[int, int, tuple[str, ...]]:
    """(pairs ok, pairs total, ``"src->dst: state"`` of each broken pair), over the pairs
    of distinct nodes (a node reaching itself says nothing about the network)."""
    pairs = [p for (src, dst), p in sorted(matrix.pairs.items()) if src != dst]
    broken = tuple(f"{p.src}->{p.dst}: {p.state}" for p in pairs if not p.ok)
    return len(pairs) - len(broken), len(pairs), broken
