"""The daemon's notifications (``--notify``): what is worth a message, and when.

Owns the daemon's side of `observe.notify`: a notification per pair of nodes the overlay
probe has found unreachable for `UNREACHABLE_GRACE` (`NotifyingExporter`, in front of the
metrics), a problem per reconcile that failed or a service degraded for `DEGRADED_GRACE`,
an event per drift corrected and per image rolled (`Notices.report`, the reporter's
hook), a node down, a git fetch that failed or a revision that does not load, a revision
applied, and an image whose tag moved under a service of ``imageUpdate`` policy notify
(its metric and log line too, with or without ``--notify``). Each problem is resolved
when it is over; the notifier itself cools repeats down. Neighbours: `daemon.controller`
wires this and calls it; `observe.notify.Notifier` sends; `daemon.images` says what moved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from swarm_operator.daemon.gitsource import GitState
from swarm_operator.daemon.images import ImageWatch, Moved
from swarm_operator.daemon.reconciler import Clock
from swarm_operator.daemon.watch import Change, DesiredState
from swarm_operator.kinds.node import NodeStatus
from swarm_operator.manifests.models import Manifest
from swarm_operator.observe import logs
from swarm_operator.observe.metrics import Metrics
from swarm_operator.observe.notify import Notifier, describe, object_counts
from swarm_operator.observe.reporter import ObjectReport
from swarm_operator.observe.status import ObjectStatus

Key = tuple[str, str]
log = logs.get_logger("swarm_operator.daemon")

UNREACHABLE_GRACE = 60.0
DEGRADED_GRACE = 20.0
"""Seconds a service stays degraded before it is notified (the requeue is 15 s)."""


class NotifyingExporter:
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


class Notices:
    """The notifications of the daemon's own events (``notifier`` None: no ``--notify``)."""

    def __init__(
        self,
        notifier: Notifier | None,
        metrics: Metrics,
        clock: Clock,
        images: ImageWatch,
        desired: DesiredState,
    ) -> None:
        self.notifier = notifier
        self.metrics = metrics
        self.clock = clock
        self.images = images
        self.desired = desired
        self._applied: dict[Key, Manifest] = {}
        self._degraded_since: dict[Key, float] = {}
        self._image_told: dict[Key, str] = {}
        """The digest each notify follower was last reported to have moved to."""

    def node(self, st: NodeStatus) -> None:
        """A node seen by the health check: down is a problem, ready resolves it."""
        if self.notifier is not None:
            key = f"node-down:{st.hostname}"
            if st.state == "down":
                self.notifier.problem(key, f"node {st.hostname} is down", describe(role=st.role))
            elif st.state == "ready":
                self.notifier.resolved(key)

    def git_state(self, state: GitState) -> None:
        """After each pass of the git source: a failed fetch, a revision that does not load."""
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

    def revision_applied(self, state: GitState, change: Change) -> None:
        """A revision of the git source was loaded (``change``: what it changed)."""
        if self.notifier is not None and state.revision is not None:
            kinds = [kind for kind, _ in sorted(self.desired.declared())]
            self.notifier.event(
                f"revision:{state.revision}",
                f"revision {state.revision[:12]} applied",
                f"{object_counts(kinds)}; changed {len(change.changed)}, "
                f"removed {len(change.removed)}",
                level="success",
            )

    def report(self, kind: str, name: str, r: ObjectReport, status: ObjectStatus) -> None:
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

    def image_moved(self, key: Key, moved: Moved | None) -> None:
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
