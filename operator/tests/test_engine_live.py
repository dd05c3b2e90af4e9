"""live.py: spec dicts captured from a real engine -> manifest models, as a table."""

from __future__ import annotations

import pytest
from engine_helpers import EVERY_NETWORK, EVERY_SERVICE, captured_state, fixture, net, svc

from swarm_operator.engine.plan import differences
from swarm_operator.kinds.network import network_from_docker
from swarm_operator.kinds.node import status_of
from swarm_operator.kinds.service_read import service_from_docker


def test_every_field_service_reads_back_equal_to_its_manifest() -> None:
    state = captured_state()
    live = state.of("Service")["every"]
    assert live.managed and live.read_error is None
    assert live.manifest is not None
    assert differences(svc("every", **EVERY_SERVICE), live.manifest) == ()


def test_every_field_network_reads_back_equal_to_its_manifest() -> None:
    live = captured_state().of("Network")["every-net"]
    assert live.manifest is not None
    assert differences(net("every-net", **EVERY_NETWORK), live.manifest) == ()
    assert live.used_by == ("every",)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("image", "fix/busybox:1"),
        ("args", ["sleep", "3600"]),
        ("env", {"A": "1", "B": "2"}),
        ("replicas", 2),
        ("networks", [{"name": "plain-net", "aliases": [], "driverOpts": {}}]),
        ("labels", {}),
        ("init", False),
        ("stopGracePeriod", None),
    ],
)
def test_cli_created_service_fields(field: str, expected: object) -> None:
    live = captured_state().of("Service")["clisvc"]
    assert not live.managed
    assert live.manifest is not None
    assert live.manifest.spec.model_dump(mode="json", by_alias=True)[field] == expected


def test_cli_defaults_are_not_drift() -> None:
    """The CLI writes update/rollback/restart defaults, Init false, empty blocks."""
    live = captured_state().of("Service")["clisvc"].manifest
    assert live is not None
    desired = svc(
        "clisvc",
        args=["sleep", "3600"],
        env={"A": "1", "B": "2"},
        replicas=2,
        networks=["plain-net"],
        resources={"limits": {"memory": "64M"}},
        placement={"constraints": ["node.role==manager"]},
    )
    assert differences(desired, live) == ()


def test_operator_labels_are_not_user_labels() -> None:
    live = captured_state().of("Service")["minimal"]
    assert live.manifest is not None
    assert live.manifest.spec.labels == {}
    assert live.spec_hash and len(live.spec_hash) == 16


def test_ingress_and_local_networks_are_not_listed() -> None:
    state = captured_state()
    assert "ingress" not in state.of("Network")
    assert set(state.of("Network")) == {"plain-net", "every-net"}


def test_engine_network_options_are_dropped() -> None:
    raw = next(n for n in fixture("networks") if n["Name"] == "plain-net")
    model = network_from_docker(raw)
    assert model.spec.options == {}
    assert model.spec.subnet == "10.0.1.0/24"


def test_pinned_image_reads_as_requested_image() -> None:
    raw = fixture("services")[2]["Spec"]
    raw["TaskTemplate"]["ContainerSpec"]["Image"] = "fix/busybox:1@sha256:" + "a" * 64
    assert service_from_docker(raw).spec.image == "fix/busybox:1"


def test_image_changed_by_hand_is_seen_despite_label() -> None:
    raw = fixture("services")[2]["Spec"]
    raw["TaskTemplate"]["ContainerSpec"]["Image"] = "fix/other:2"
    assert service_from_docker(raw).spec.image == "fix/other:2"


def test_nodes_read_with_status() -> None:
    state = captured_state()
    (only,) = state.of("Node").values()
    status = status_of(only)
    assert status is not None
    assert status.role == "manager" and status.state == "ready" and status.leader


def test_unreadable_live_service_is_reported_not_guessed() -> None:
    services = fixture("services")
    services[2]["Spec"]["Mode"] = {"Strange": {}}
    live = captured_state(services=services).of("Service")["minimal"]
    assert live.manifest is None
    assert live.read_error and "minimal" in live.read_error


def test_a_probe_service_is_neither_a_service_nor_a_user_of_its_network() -> None:
    """The daemon removes its probe before deleting or replacing the network; the plan
    must neither refuse the delete nor detach/reattach the probe on a replace."""
    import copy

    from swarm_operator.probing.probe import ProbeSettings, probe_labels

    services = fixture("services")
    (every,) = [s for s in services if s["Spec"]["Name"] == "every"]
    probe_svc = copy.deepcopy(every)
    probe_svc["ID"] = "probe0000001"
    probe_svc["Spec"]["Name"] = "so-probe-every-net"
    probe_svc["Spec"]["Labels"] = probe_labels("overlay", ProbeSettings(), "every-net")
    state = captured_state(services=[*services, probe_svc])
    assert "so-probe-every-net" not in state.of("Service")
    assert state.of("Network")["every-net"].used_by == ("every",)
