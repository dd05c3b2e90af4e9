"""Every Prometheus metric of swarm-operator, defined once, on an injected registry.

Owns metric names, types, help texts, label sets and bucket choices; nothing else in
the package creates a metric. The daemon (`daemon.controller`) builds one :class:`Metrics`
on its registry, the HTTP server (`observe.server`) exposes that registry, the reporter
(`observe.reporter`) writes each object's series, and the Docker client
(`swarm.client`) reports call durations through its observer hook, which the daemon
points at :meth:`Metrics.observe_api_call`.
Tests build a fresh ``CollectorRegistry()`` and read values with ``get_sample_value()``.

Naming follows the Prometheus rules: prefix ``swarm_operator_``, base units
(seconds), ``_total`` on counters, ``_info`` gauges valued 1 carrying labels.
Label values are bounded: kinds, results, statuses and event types come from fixed
sets (initialised to zero up front so that rates and alerts see a series before the
first event); per-object labels (``name``, ``service``, ``node``, ``network``) are
bounded by what the manifests and the Swarm hold, and series of objects that went
away are removed (:meth:`Metrics.remove_object`; :meth:`Metrics.set_nodes` and
:meth:`Metrics.set_overlay_matrix` replace their whole set).

The counter of manifest load failures is ``manifest_load_failures_total`` beside the
gauge ``manifest_load_errors`` (current errors): a counter named
``manifest_load_errors`` would clash with the gauge's name in the registry.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from swarm_operator import __version__
from swarm_operator.kinds import registry

PREFIX = "swarm_operator"

KINDS: tuple[str, ...] = registry.NAMES
RESULTS: tuple[str, ...] = ("success", "error", "skipped", "stalled")
"""success: in sync or made so; error: failed (retried with backoff); skipped: not
reconciled (its manifest failed to load, or not connected); stalled: the engine rejected
the spec as invalid (retried when its manifest changes or at the next resync)."""
SYNC_STATUSES: tuple[str, ...] = ("synced", "out_of_sync", "unknown")
HEALTH_STATUSES: tuple[str, ...] = ("healthy", "progressing", "degraded", "missing")
EVENT_TYPES: tuple[str, ...] = (*(k.event_type for k in registry.KINDS), "other")

RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
API_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)
RTT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25)


@dataclass(frozen=True)
class ObjectInfo:
    """One managed object's status, as shown by ``swarm_operator_object_info``."""

    kind: str
    name: str
    sync_status: str
    health_status: str


@dataclass(frozen=True)
class NodeInfo:
    node: str
    role: str
    availability: str
    state: str


class Metrics:
    """All metrics of one operator process, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        p = PREFIX

        # Reconciling.
        self.reconciles_total = Counter(
            f"{p}_reconciles",
            "Reconciles of one object, by kind and result.",
            ["kind", "result"],
            registry=registry,
        )
        self.reconcile_duration_seconds = Histogram(
            f"{p}_reconcile_duration_seconds",
            "Time to reconcile one object (read, plan and, if needed, apply).",
            ["kind"],
            buckets=RECONCILE_BUCKETS,
            registry=registry,
        )
        self.engine_nudges_total = Counter(
            f"{p}_engine_nudges",
            "Unchanged specs re-written because the engine had stopped acting on them "
            "(a service left running more slots than its replicas), by kind.",
            ["kind"],
            registry=registry,
        )
        self.object_info = Gauge(
            f"{p}_object_info",
            "One series valued 1 per managed object, labelled with its sync and health status.",
            ["kind", "name", "sync_status", "health_status"],
            registry=registry,
        )
        self.drifted_objects = Gauge(
            f"{p}_drifted_objects",
            "Managed objects whose live state differs from their manifest, by kind.",
            ["kind"],
            registry=registry,
        )
        self.last_successful_sync_timestamp_seconds = Gauge(
            f"{p}_last_successful_sync_timestamp_seconds",
            "Unix time at which the last full sync ended with every object in sync.",
            registry=registry,
        )

        # Services and nodes as seen live.
        self.image_update_available = Gauge(
            f"{p}_image_update_available",
            "1 while a service of imageUpdate policy notify runs another digest than the one "
            "its tag names in the registry now.",
            ["service"],
            registry=registry,
        )
        self.service_replicas_desired = Gauge(
            f"{p}_service_replicas_desired",
            "Replicas a managed service should run (tasks wanted, for global services).",
            ["service"],
            registry=registry,
        )
        self.service_replicas_running = Gauge(
            f"{p}_service_replicas_running",
            "Tasks of a managed service in state running.",
            ["service"],
            registry=registry,
        )
        self.node_info = Gauge(
            f"{p}_node_info",
            "One series valued 1 per Swarm node, with its role, availability and state.",
            ["node", "role", "availability", "state"],
            registry=registry,
        )

        # Manifests.
        self.manifest_load_errors = Gauge(
            f"{p}_manifest_load_errors",
            "Manifest load errors at the last reload (objects of failing files are left alone).",
            registry=registry,
        )
        self.manifest_load_failures_total = Counter(
            f"{p}_manifest_load_failures",
            "Manifest load errors seen, counted at each reload of the directory.",
            registry=registry,
        )
        self.source_revision_info = Gauge(
            f"{p}_source_revision_info",
            "Valued 1, labelled with the git commit of the manifest directory ('' if none).",
            ["revision"],
            registry=registry,
        )
        self.source_last_fetch_timestamp_seconds = Gauge(
            f"{p}_source_last_fetch_timestamp_seconds",
            "Unix time of the git source's last fetch, successful or not (run --git).",
            registry=registry,
        )
        self.source_fetch_failures_total = Counter(
            f"{p}_source_fetch_failures",
            "Fetches of the git source that failed (the revision in force stays).",
            registry=registry,
        )
        self.webhooks_total = Counter(
            f"{p}_webhooks",
            "Webhook requests by provider and result: fetch (a push to the tracked ref), "
            "ignored, unauthorized (bad or missing signature), too_large, bad_request.",
            ["provider", "result"],
            registry=registry,
        )
        self.notifications_total = Counter(
            f"{p}_notifications",
            "Notifications (run --notify) by result: sent, failed (a notifier refused or "
            "was unreachable), suppressed (deduplicated), dropped (rate limit, full queue).",
            ["result"],
            registry=registry,
        )
        self.source_revision_errors = Gauge(
            f"{p}_source_revision_errors",
            "Valued 1 per load error of the last rejected git revision (not applied), "
            "labelled with that revision and the error's file:line:column.",
            ["revision", "source"],
            registry=registry,
        )

        # Plumbing.
        self.docker_api_request_duration_seconds = Histogram(
            f"{p}_docker_api_request_duration_seconds",
            "Duration of Docker Engine API requests, by operation.",
            ["operation"],
            buckets=API_BUCKETS,
            registry=registry,
        )
        self.workqueue_depth = Gauge(
            f"{p}_workqueue_depth",
            "Object keys waiting in the work queue.",
            registry=registry,
        )
        self.events_received_total = Counter(
            f"{p}_events_received",
            "Docker events received from the manager, by object type.",
            ["type"],
            registry=registry,
        )
        self.manager_connected = Gauge(
            f"{p}_manager_connected",
            "1 while the operator is connected to a Swarm manager with quorum.",
            registry=registry,
        )
        self.leader = Gauge(
            f"{p}_leader",
            "1 while this instance holds the lease and may write; 0 on standby.",
            registry=registry,
        )
        self.ready = Gauge(
            f"{p}_ready",
            "1 once connected and a full sync since connecting is done (what /readyz answers).",
            registry=registry,
        )
        self.build_info = Gauge(
            f"{p}_build_info",
            "Valued 1, labelled with the operator's version.",
            ["version"],
            registry=registry,
        )

        # Cross-host overlay probing (issue 6).
        self.overlay_reachable = Gauge(
            f"{p}_overlay_reachable",
            "1 if source_node reached target_node over the overlay network in the last round.",
            ["network", "source_node", "target_node"],
            registry=registry,
        )
        self.overlay_rtt_seconds = Histogram(
            f"{p}_overlay_rtt_seconds",
            "Round-trip time of overlay probes between two nodes.",
            ["network", "source_node", "target_node"],
            buckets=RTT_BUCKETS,
            registry=registry,
        )

        self._objects: dict[tuple[str, str], ObjectInfo] = {}
        self._replicas: dict[tuple[str, str], str] = {}
        """(kind, name) -> the ``service`` label of its replica series."""
        self._nodes: dict[str, NodeInfo] = {}
        self._revision: str | None = None
        self._revision_errors: set[tuple[str, str]] = set()
        self._pairs: set[tuple[str, str, str]] = set()
        self._init_zero()

    def _init_zero(self) -> None:
        for kind in KINDS:
            for result in RESULTS:
                self.reconciles_total.labels(kind=kind, result=result)
            self.reconcile_duration_seconds.labels(kind=kind)
            self.drifted_objects.labels(kind=kind).set(0)
            self.engine_nudges_total.labels(kind=kind)
        for event_type in EVENT_TYPES:
            self.events_received_total.labels(type=event_type)
        self.build_info.labels(version=__version__).set(1)
        self.manifest_load_errors.set(0)
        self.workqueue_depth.set(0)
        self.manager_connected.set(0)
        self.leader.set(0)
        self.ready.set(0)
        self.set_source_revision(None)

    # ------------------------------------------------------------------ recording

    def observe_reconcile(self, kind: str, result: str, seconds: float) -> None:
        if result not in RESULTS:
            raise ValueError(f"unknown reconcile result {result!r}")
        self.reconciles_total.labels(kind=kind, result=result).inc()
        self.reconcile_duration_seconds.labels(kind=kind).observe(seconds)

    def engine_nudged(self, kind: str) -> None:
        self.engine_nudges_total.labels(kind=kind).inc()

    def observe_api_call(self, operation: str, seconds: float) -> None:
        """The per-call hook of the Docker client: ``operation`` is its method name."""
        self.docker_api_request_duration_seconds.labels(operation=operation).observe(seconds)

    def event_received(self, event_type: str) -> None:
        self.events_received_total.labels(
            type=event_type if event_type in EVENT_TYPES else "other"
        ).inc()

    def set_object(self, info: ObjectInfo) -> None:
        """Record one object's status, replacing its previous series."""
        if info.sync_status not in SYNC_STATUSES:
            raise ValueError(f"unknown sync status {info.sync_status!r}")
        if info.health_status not in HEALTH_STATUSES:
            raise ValueError(f"unknown health status {info.health_status!r}")
        with self._lock:
            key = (info.kind, info.name)
            old = self._objects.get(key)
            if old == info:
                return
            if old is not None:
                self.object_info.remove(old.kind, old.name, old.sync_status, old.health_status)
            self.object_info.labels(info.kind, info.name, info.sync_status, info.health_status).set(
                1
            )
            self._objects[key] = info
            self._update_drift_locked()

    def remove_object(self, kind: str, name: str) -> None:
        with self._lock:
            old = self._objects.pop((kind, name), None)
            if old is not None:
                self.object_info.remove(old.kind, old.name, old.sync_status, old.health_status)
            label = self._replicas.pop((kind, name), None)
            if label is not None:
                self.service_replicas_desired.remove(label)
                self.service_replicas_running.remove(label)
            self._update_drift_locked()

    def _update_drift_locked(self) -> None:
        counts = dict.fromkeys(KINDS, 0)
        for info in self._objects.values():
            if info.sync_status == "out_of_sync":
                counts[info.kind] = counts.get(info.kind, 0) + 1
        for kind, count in counts.items():
            self.drifted_objects.labels(kind=kind).set(count)

    def object_statuses(self) -> dict[tuple[str, str], ObjectInfo]:
        with self._lock:
            return dict(self._objects)

    def set_replicas(self, kind: str, name: str, desired: int, running: int) -> None:
        """Tasks wanted and running of an object that runs tasks (series label ``service``)."""
        with self._lock:
            self._replicas[(kind, name)] = name
            service = name
            self.service_replicas_desired.labels(service=service).set(desired)
            self.service_replicas_running.labels(service=service).set(running)

    def set_nodes(self, nodes: Iterable[NodeInfo]) -> None:
        """Replace the whole set of node series (nodes that left the Swarm disappear)."""
        new = {n.node: n for n in nodes}
        with self._lock:
            for name, old in list(self._nodes.items()):
                if new.get(name) != old:
                    self.node_info.remove(old.node, old.role, old.availability, old.state)
                    del self._nodes[name]
            for name, info in new.items():
                if name not in self._nodes:
                    self.node_info.labels(info.node, info.role, info.availability, info.state).set(
                        1
                    )
                    self._nodes[name] = info

    def set_manifest_load_errors(self, count: int) -> None:
        self.manifest_load_errors.set(count)
        if count:
            self.manifest_load_failures_total.inc(count)

    def set_source_revision(self, revision: str | None) -> None:
        value = revision or ""
        with self._lock:
            if self._revision == value:
                return
            if self._revision is not None:
                self.source_revision_info.remove(self._revision)
            self.source_revision_info.labels(revision=value).set(1)
            self._revision = value

    def webhook(self, provider: str, result: str) -> None:
        self.webhooks_total.labels(provider, result).inc()

    def set_git_fetch(
        self,
        when: float,
        failed: bool,
        rejected: str | None,
        errors: Iterable[tuple[str, str]],
    ) -> None:
        """One pass of the git source: its time, whether the fetch failed, and the load
        errors of the rejected revision (none once a good one is in force)."""
        self.source_last_fetch_timestamp_seconds.set(when)
        if failed:
            self.source_fetch_failures_total.inc()
        new = {(rejected, place) for place, _ in errors} if rejected else set()
        with self._lock:
            for labels in self._revision_errors - new:
                self.source_revision_errors.remove(*labels)
            for labels in new - self._revision_errors:
                self.source_revision_errors.labels(*labels).set(1)
            self._revision_errors = new

    def set_overlay_matrix(
        self,
        network: str,
        reachable: Mapping[tuple[str, str], bool],
        rtts: Mapping[tuple[str, str], float] | None = None,
    ) -> None:
        """Replace one network's node x node reachability (pairs that went away disappear)."""
        with self._lock:
            for pair in [p for p in self._pairs if p[0] == network]:
                if (pair[1], pair[2]) not in reachable:
                    self.overlay_reachable.remove(*pair)
                    with contextlib.suppress(KeyError):
                        self.overlay_rtt_seconds.remove(*pair)
                    self._pairs.discard(pair)
            for (source, target), ok in reachable.items():
                self.overlay_reachable.labels(network, source, target).set(1 if ok else 0)
                self._pairs.add((network, source, target))
            for (source, target), seconds in (rtts or {}).items():
                self.overlay_rtt_seconds.labels(network, source, target).observe(seconds)

    def remove_overlay(self, network: str) -> None:
        """Remove every series of ``network``'s probe (probe removed or network gone)."""
        self.set_overlay_matrix(network, {})
