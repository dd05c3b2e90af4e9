"""The one reporter: what a reconcile found, written to /status and the metrics in one call.

Owns `ObjectReport` (one object's state after one reconcile: sync and health status,
replicas, last error, drift, where its manifest is, held or stalled) and `Reporter`,
which writes it to the status board (`observe.status`) and to the metrics
(`observe.metrics`: the object's info series, its replicas, the reconcile counter and
duration) together, so the two can never tell different stories. The daemon's
reconciler (`daemon.reconciler`) calls `Reporter.report` exactly once per reconcile, or
`Reporter.forget` when an object is no longer tracked. Knows no Docker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from swarm_operator.observe.metrics import Metrics, ObjectInfo
from swarm_operator.observe.status import ObjectStatus, StatusBoard

Key = tuple[str, str]


@dataclass(frozen=True)
class ObjectReport:
    """One object after one reconcile. ``None`` for sync or health: keep the last known."""

    result: str | None
    """success | error | skipped | stalled (the reconcile counter's label); None: not a
    reconcile (a reload holds an object whose manifest failed to load)."""
    seconds: float
    """How long the reconcile took."""
    sync: str | None = None
    health: str | None = None
    replicas: tuple[int, int] | None = None
    """(desired, running) for kinds that run tasks."""
    error: str | None = None
    drift: tuple[str, ...] = ()
    """What differs, as text (sensitive values never: `kinds.diff`)."""
    source: str | None = None
    held: bool = False
    stalled: bool = False
    self_heal: bool = True
    applied: bool = False
    """The operator changed the object in this reconcile."""
    keep_details: bool = False
    """Only the result, the error and the time are new (a reconcile that failed early)."""
    image_update: str | None = None
    """A followed tag of policy notify names another digest than the one running."""


class Reporter:
    """Writes `ObjectReport`s to the status board and the metrics of one daemon."""

    def __init__(
        self,
        board: StatusBoard,
        metrics: Metrics,
        wall: Callable[[], float] = time.time,
        on_report: Callable[[str, str, ObjectReport, ObjectStatus], None] | None = None,
    ) -> None:
        self.board = board
        self.metrics = metrics
        self._wall = wall
        self.on_report = on_report
        """Called after each report (the daemon's notifications)."""

    def report(self, kind: str, name: str, r: ObjectReport) -> ObjectStatus:
        now = self._wall()
        changes: dict[str, Any] = {"last_error": r.error, "last_reconciled": now}
        if not r.keep_details:
            changes.update(
                held=r.held,
                stalled=r.stalled,
                source=r.source,
                drift=r.drift,
                self_heal=r.self_heal,
                image_update=r.image_update,
            )
        if r.sync is not None:
            changes["sync_status"] = r.sync
        if r.health is not None:
            changes["health_status"] = r.health
        if r.applied:
            changes["last_applied"] = now
        status = self.board.update(kind, name, **changes)
        self.metrics.set_object(ObjectInfo(kind, name, status.sync_status, status.health_status))
        if r.replicas is not None:
            self.metrics.set_replicas(kind, name, *r.replicas)
        if r.result is not None:
            self.metrics.observe_reconcile(kind, r.result, r.seconds)
        if self.on_report is not None:
            self.on_report(kind, name, r, status)
        return status

    def forget(self, kind: str, name: str) -> None:
        """The object is no longer tracked: its status and its series go."""
        self.board.remove(kind, name)
        self.metrics.remove_object(kind, name)

    def last_applied(self, kind: str, name: str) -> float | None:
        status = self.board.get(kind, name)
        return status.last_applied if status is not None else None
