"""Metrics: names, zero-initialised label sets, per-object series and their removal."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from swarm_operator.observe.metrics import KINDS, RESULTS, Metrics, NodeInfo, ObjectInfo


@pytest.fixture
def reg() -> CollectorRegistry:
    return CollectorRegistry()


def v(reg: CollectorRegistry, metric: str, /, **labels: str) -> float | None:
    return reg.get_sample_value(metric, labels)


def test_two_instances_on_separate_registries_do_not_clash() -> None:
    Metrics(CollectorRegistry())
    Metrics(CollectorRegistry())


def test_label_sets_start_at_zero(reg: CollectorRegistry) -> None:
    Metrics(reg)
    for kind in KINDS:
        for result in RESULTS:
            assert v(reg, "swarm_operator_reconciles_total", kind=kind, result=result) == 0
        assert v(reg, "swarm_operator_drifted_objects", kind=kind) == 0
        assert v(reg, "swarm_operator_reconcile_duration_seconds_count", kind=kind) == 0
    for event_type in ("service", "network", "node", "other"):
        assert v(reg, "swarm_operator_events_received_total", type=event_type) == 0
    assert v(reg, "swarm_operator_manifest_load_errors") == 0
    assert v(reg, "swarm_operator_workqueue_depth") == 0
    assert v(reg, "swarm_operator_source_revision_info", revision="") == 1


def test_every_name_has_the_prefix_and_counters_end_in_total(reg: CollectorRegistry) -> None:
    Metrics(reg)
    for family in reg.collect():
        assert family.name.startswith("swarm_operator_"), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name


def test_reconcile_counts_and_durations(reg: CollectorRegistry) -> None:
    m = Metrics(reg)
    m.observe_reconcile("Service", "success", 0.2)
    m.observe_reconcile("Service", "error", 0.3)
    m.observe_reconcile("Service", "success", 0.1)
    assert v(reg, "swarm_operator_reconciles_total", kind="Service", result="success") == 2
    assert v(reg, "swarm_operator_reconciles_total", kind="Service", result="error") == 1
    assert v(reg, "swarm_operator_reconcile_duration_seconds_count", kind="Service") == 3
    with pytest.raises(ValueError):
        m.observe_reconcile("Service", "weird", 0.1)


def test_object_info_keeps_one_series_per_object_and_counts_drift(reg: CollectorRegistry) -> None:
    m = Metrics(reg)
    m.set_object(ObjectInfo("Service", "web", "out_of_sync", "progressing"))
    m.set_object(ObjectInfo("Network", "front", "synced", "healthy"))
    name = "swarm_operator_object_info"
    assert (
        v(
            reg,
            name,
            kind="Service",
            name="web",
            sync_status="out_of_sync",
            health_status="progressing",
        )
        == 1
    )
    assert v(reg, "swarm_operator_drifted_objects", kind="Service") == 1
    m.set_object(ObjectInfo("Service", "web", "synced", "healthy"))
    assert (
        v(
            reg,
            name,
            kind="Service",
            name="web",
            sync_status="out_of_sync",
            health_status="progressing",
        )
        is None
    )
    assert (
        v(reg, name, kind="Service", name="web", sync_status="synced", health_status="healthy") == 1
    )
    assert v(reg, "swarm_operator_drifted_objects", kind="Service") == 0
    with pytest.raises(ValueError):
        m.set_object(ObjectInfo("Service", "web", "maybe", "healthy"))


def test_objects_that_went_away_lose_their_series(reg: CollectorRegistry) -> None:
    m = Metrics(reg)
    m.set_object(ObjectInfo("Service", "web", "synced", "healthy"))
    m.set_replicas("Service", "web", 3, 2)
    m.set_object(ObjectInfo("Service", "db", "out_of_sync", "degraded"))
    m.set_replicas("Service", "db", 1, 0)
    m.remove_object("Service", "db")
    text = generate_latest(reg).decode()
    assert 'name="db"' not in text
    assert 'service="db"' not in text
    assert v(reg, "swarm_operator_service_replicas_desired", service="web") == 3
    assert v(reg, "swarm_operator_service_replicas_running", service="web") == 2
    assert v(reg, "swarm_operator_drifted_objects", kind="Service") == 0


def test_nodes_are_replaced_as_a_set(reg: CollectorRegistry) -> None:
    m = Metrics(reg)
    m.set_nodes(
        [
            NodeInfo("host1", "manager", "active", "ready"),
            NodeInfo("host2", "worker", "active", "ready"),
        ]
    )
    m.set_nodes(
        [
            NodeInfo("host1", "manager", "active", "ready"),
            NodeInfo("host2", "worker", "drain", "down"),
        ]
    )
    name = "swarm_operator_node_info"
    assert v(reg, name, node="host2", role="worker", availability="active", state="ready") is None
    assert v(reg, name, node="host2", role="worker", availability="drain", state="down") == 1
    m.set_nodes([NodeInfo("host1", "manager", "active", "ready")])
    assert v(reg, name, node="host2", role="worker", availability="drain", state="down") is None


def test_manifest_errors_gauge_is_current_and_counter_accumulates(reg: CollectorRegistry) -> None:
    m = Metrics(reg)
    m.set_manifest_load_errors(2)
    m.set_manifest_load_errors(0)
    m.set_manifest_load_errors(1)
    assert v(reg, "swarm_operator_manifest_load_errors") == 1
    assert v(reg, "swarm_operator_manifest_load_failures_total") == 3


def test_source_revision_has_one_series(reg: CollectorRegistry) -> None:
    m = Metrics(reg)
    m.set_source_revision("abc123")
    m.set_source_revision("def456")
    assert v(reg, "swarm_operator_source_revision_info", revision="abc123") is None
    assert v(reg, "swarm_operator_source_revision_info", revision="def456") == 1


def test_events_of_unknown_type_are_counted_as_other(reg: CollectorRegistry) -> None:
    m = Metrics(reg)
    m.event_received("service")
    m.event_received("container")
    assert v(reg, "swarm_operator_events_received_total", type="service") == 1
    assert v(reg, "swarm_operator_events_received_total", type="other") == 1


def test_api_call_hook(reg: CollectorRegistry) -> None:
    m = Metrics(reg)
    m.observe_api_call("services.list", 0.002)
    name = "swarm_operator_docker_api_request_duration_seconds_count"
    assert v(reg, name, operation="services.list") == 1


def test_overlay_matrix_replaces_pairs(reg: CollectorRegistry) -> None:
    m = Metrics(reg)
    m.set_overlay_matrix("front", {("h1", "h2"): True, ("h2", "h1"): False}, {("h1", "h2"): 0.001})
    name = "swarm_operator_overlay_reachable"
    assert v(reg, name, network="front", source_node="h1", target_node="h2") == 1
    assert v(reg, name, network="front", source_node="h2", target_node="h1") == 0
    m.set_overlay_matrix("front", {("h1", "h2"): False})
    assert v(reg, name, network="front", source_node="h2", target_node="h1") is None
    assert v(reg, name, network="front", source_node="h1", target_node="h2") == 0
