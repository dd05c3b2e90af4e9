"""What the daemon knows about itself and its objects, for ``/status``, ``/healthz``, ``/readyz``.

Owns the in-memory status board: one :class:`ObjectStatus` per managed object (sync and
health status, last error, last applied and reconciled times), current manifest load
errors, the source revision, the connection and lease state, the overlay probes' health
(`probing.loop`) and the worker heartbeat.
Written by the daemon through one `observe.reporter.Reporter` call per reconcile (and by
its triggers and supervisor), read by the HTTP server (`observe.server`). Thread-safe;
clocks are injected so tests need no sleeps.

The ``/status`` document is camelCase throughout, and every time in it is RFC 3339 in
UTC (``2026-01-01T12:00:00.123Z``); ages and durations are seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

Key = tuple[str, str]


@dataclass(frozen=True)
class ObjectStatus:
    kind: str
    name: str
    sync_status: str = "unknown"  # synced | out_of_sync | unknown
    health_status: str = "missing"  # healthy | progressing | degraded | missing
    self_heal: bool = True
    source: str | None = None
    last_error: str | None = None
    last_applied: float | None = None  # unix time of the last change made by the operator
    last_reconciled: float | None = None
    drift: tuple[str, ...] = ()  # short descriptions of what differs (no values of secrets)
    held: bool = False  # its manifest failed to load: left alone
    stalled: bool = False  # the engine rejected its spec: retried when it changes or at resync
    image_update: str | None = None  # imageUpdate notify: the tag names a newer digest

    def to_json(self) -> dict[str, Any]:
        """This object as ``/status`` shows it: camelCase, times in RFC 3339."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _TIMES:
                value = rfc3339(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[_camel(f.name)] = value
        return out


_TIMES = frozenset({"last_applied", "last_reconciled"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def rfc3339(stamp: float | None) -> str | None:
    """A Unix time as RFC 3339 in UTC with milliseconds (None stays None)."""
    if stamp is None:
        return None
    moment = datetime.fromtimestamp(stamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class _Board:
    objects: dict[Key, ObjectStatus] = field(default_factory=dict)
    load_errors: list[dict[str, str]] = field(default_factory=list)
    revision: str | None = None
    connected: bool = False
    quorum: bool = True
    connection_error: str | None = None
    role: str = "standby"  # leader | standby
    lease_holder: str | None = None
    first_sync_done: bool = False
    """A full sync finished since the last (re)connection: only then is the daemon ready."""
    last_full_sync: float | None = None
    probes: list[dict[str, Any]] = field(default_factory=list)  # probing.loop.OverlayProbes
    source: dict[str, Any] | None = None  # the git source (run --git), camelCase already


def _probe_json(probe: dict[str, Any]) -> dict[str, Any]:
    out = dict(probe)
    for key in ("lastRound", "lastPoll"):
        if isinstance(out.get(key), int | float):
            out[key] = rfc3339(out[key])
    return out


def _source_json(source: dict[str, Any] | None) -> dict[str, Any] | None:
    if source is None:
        return None
    out = dict(source)
    if isinstance(out.get("lastFetch"), int | float):
        out["lastFetch"] = rfc3339(out["lastFetch"])
    return out


class StatusBoard:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        heartbeat_timeout: float = 60.0,
    ) -> None:
        self._clock = clock
        self._wall = wall_clock
        self._timeout = heartbeat_timeout
        self._lock = threading.Lock()
        self._board = _Board()
        self._heartbeat = clock()

    # ------------------------------------------------------------------ liveness

    def beat(self) -> None:
        """Called by the worker loop each time round (also when idle)."""
        with self._lock:
            self._heartbeat = self._clock()

    def alive(self) -> tuple[bool, float]:
        with self._lock:
            age = self._clock() - self._heartbeat
        return age <= self._timeout, age

    def ready(self) -> tuple[bool, str]:
        with self._lock:
            b = self._board
            if not b.quorum:
                return False, f"the manager has lost quorum: {b.connection_error or ''}".rstrip(
                    ": "
                )
            if not b.connected:
                return False, f"not connected to a manager: {b.connection_error or 'starting'}"
            if not b.first_sync_done:
                return False, "full sync since connecting not done yet"
            return True, "ok"

    # ------------------------------------------------------------------ writers

    def set_connection(
        self, connected: bool, error: str | None = None, quorum: bool = True
    ) -> None:
        with self._lock:
            if not connected:
                # Ready again only after a full sync on the next connection: a manager
                # that answers again may still have no quorum, and the state may have moved.
                self._board.first_sync_done = False
            self._board.connected = connected
            self._board.connection_error = error
            self._board.quorum = quorum

    def set_role(self, role: str, holder: str | None) -> None:
        with self._lock:
            self._board.role = role
            self._board.lease_holder = holder

    def full_sync_done(self) -> None:
        with self._lock:
            self._board.first_sync_done = True
            self._board.last_full_sync = self._wall()

    def set_revision(self, revision: str | None) -> None:
        with self._lock:
            self._board.revision = revision

    def set_source(self, source: dict[str, Any] | None) -> None:
        """The git source: URL, ref, path, revision in force, last fetch and its error,
        the rejected revision and its errors (``lastFetch``: a Unix time)."""
        with self._lock:
            self._board.source = dict(source) if source is not None else None

    def set_load_errors(self, errors: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            self._board.load_errors = [{"source": s, "message": m} for s, m in errors]

    def set_probes(self, probes: list[dict[str, Any]]) -> None:
        """Health of the overlay probes: per network pairs ok/total, last round, error."""
        with self._lock:
            self._board.probes = list(probes)

    def update(self, kind: str, name: str, **changes: Any) -> ObjectStatus:
        with self._lock:
            old = self._board.objects.get((kind, name), ObjectStatus(kind, name))
            new = replace(old, **changes)
            self._board.objects[(kind, name)] = new
            return new

    def get(self, kind: str, name: str) -> ObjectStatus | None:
        with self._lock:
            return self._board.objects.get((kind, name))

    def remove(self, kind: str, name: str) -> None:
        with self._lock:
            self._board.objects.pop((kind, name), None)

    def retain(self, keys: Iterable[Key]) -> None:
        keep = set(keys)
        with self._lock:
            for key in [k for k in self._board.objects if k not in keep]:
                del self._board.objects[key]

    # ------------------------------------------------------------------ readers

    def snapshot(self) -> dict[str, Any]:
        """The ``/status`` document."""
        alive, age = self.alive()
        ready, why = self.ready()
        with self._lock:
            b = self._board
            objects = [o.to_json() for _, o in sorted(b.objects.items())]
            return {
                "ready": ready,
                "readyReason": why,
                "alive": alive,
                "heartbeatAgeSeconds": round(age, 3),
                "role": b.role,
                "leaseHolder": b.lease_holder,
                "connected": b.connected,
                "quorum": b.quorum,
                "connectionError": b.connection_error,
                "sourceRevision": b.revision,
                "lastFullSync": rfc3339(b.last_full_sync),
                "loadErrors": list(b.load_errors),
                "source": _source_json(b.source),
                "objects": objects,
                "probes": [_probe_json(p) for p in b.probes],
                "summary": {
                    "objects": len(objects),
                    "outOfSync": sum(o["syncStatus"] == "out_of_sync" for o in objects),
                    "unknown": sum(o["syncStatus"] == "unknown" for o in objects),
                    "held": sum(bool(o["held"]) for o in objects),
                    "stalled": sum(bool(o["stalled"]) for o in objects),
                },
            }
