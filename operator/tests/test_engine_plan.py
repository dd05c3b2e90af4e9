"""plan.py + normalize.py: pairing, diffing, guards and order, as tables over captured state."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import (
    EVERY_NETWORK,
    EVERY_SERVICE,
    captured_state,
    fixture,
    net,
    node,
    raw_service,
    svc,
)

from swarm_operator.engine.live import LiveState, build_state
from swarm_operator.engine.plan import DesiredIndex, Plan, PlanOptions, diff, plan
from swarm_operator.manifests.models import Manifest
from swarm_operator.swarm.labels import PROTECT as LABEL_PROTECT

EVERY = [
    net("every-net", **EVERY_NETWORK),
    net("plain-net"),
    svc("every", **EVERY_SERVICE),
    svc("minimal", command=["sleep", "3600"]),
]


def one(p: Plan, kind: str, name: str) -> Any:
    (found,) = [a for a in p.actions if a.key == (kind, name)]
    return found


def paths(action: Any) -> list[str]:
    return [d.path for d in action.differences]


def test_right_after_apply_nothing_changes() -> None:
    p = plan(EVERY, captured_state(), PlanOptions())
    assert not p.pending, [str(d) for a in p.pending for d in a.differences]


@pytest.mark.parametrize(
    ("change", "expected_paths"),
    [
        ({"replicas": 3}, ["spec.replicas"]),
        ({"env": {"A": "1", "B": "3"}}, ["spec.env.B"]),
        ({"image": "fix/busybox:2"}, ["spec.image"]),
        (
            {"updateConfig": {**EVERY_SERVICE["updateConfig"], "parallelism": 1}},
            ["spec.updateConfig.parallelism"],
        ),
        (
            {"resources": {"limits": {"cpus": 0.5, "memory": "128M"}}},
            ["spec.resources.limits.memory", "spec.resources.reservations"],
        ),
        ({"networks": [{"name": "plain-net"}]}, ["spec.networks"]),
        ({"ports": []}, ["spec.ports"]),
        ({"labels": {"com.example.svc": "y"}}, ["spec.labels['com.example.svc']"]),
        ({"hosts": {}}, ["spec.hosts['db.test']"]),
        ({"init": False}, ["spec.init"]),
        (
            {"restartPolicy": None},
            [
                "spec.restartPolicy.condition",
                "spec.restartPolicy.delay",
                "spec.restartPolicy.maxAttempts",
                "spec.restartPolicy.window",
            ],
        ),
    ],
)
def test_a_changed_field_is_an_update_naming_the_field(
    change: dict[str, Any], expected_paths: list[str]
) -> None:
    desired = [*EVERY[:2], svc("every", **{**EVERY_SERVICE, **change}), EVERY[3]]
    p = plan(desired, captured_state(), PlanOptions())
    action = one(p, "Service", "every")
    assert action.verb == "update"
    assert paths(action) == expected_paths
    assert [a.key for a in p.pending] == [("Service", "every")]


@pytest.mark.parametrize(
    "same",
    [
        {"env": {"B": "2", "A": "1"}},  # env order
        {"mounts": list(reversed(EVERY_SERVICE["mounts"]))},
        {"ports": list(reversed(EVERY_SERVICE["ports"]))},
        {"networks": list(reversed(EVERY_SERVICE["networks"]))},
        {
            "placement": {
                **EVERY_SERVICE["placement"],
                "constraints": ["node.hostname!=nope", "node.role==manager"],
            }
        },
        {"stopGracePeriod": "3000ms"},
        {
            "resources": {
                "limits": {"cpus": "0.50", "memory": 67108864},
                "reservations": {"cpus": 0.1, "memory": "8192K"},
            }
        },
    ],
)
def test_spellings_of_the_same_spec_are_no_change(same: dict[str, Any]) -> None:
    desired = [*EVERY[:2], svc("every", **{**EVERY_SERVICE, **same}), EVERY[3]]
    assert not plan(desired, captured_state(), PlanOptions()).pending


def test_digest_pinned_live_image_is_no_change_without_label() -> None:
    services = fixture("services")
    spec = services[1]["Spec"]  # clisvc: made by the CLI, unlabelled
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = "fix/busybox:1@sha256:" + "b" * 64
    desired = svc(
        "clisvc",
        args=["sleep", "3600"],
        env={"A": "1", "B": "2"},
        replicas=2,
        networks=["plain-net"],
        resources={"limits": {"memory": "64M"}},
        placement={"constraints": ["node.role==manager"]},
    )
    p = plan([desired], captured_state(services=services), PlanOptions(adopt=True))
    action = one(p, "Service", "clisvc")
    assert action.verb == "adopt" and action.differences == () and action.blocked is None


def test_create_when_absent_lists_the_fields() -> None:
    p = plan([svc("new", replicas=2)], captured_state(), PlanOptions())
    action = one(p, "Service", "new")
    assert action.verb == "create"
    assert "spec.replicas" in paths(action) and "spec.image" in paths(action)


def test_unlabelled_service_is_adopt_and_blocked_without_permission() -> None:
    desired = svc("clisvc", args=["sleep", "1"])
    blocked = one(plan([desired], captured_state(), PlanOptions()), "Service", "clisvc")
    assert blocked.verb == "adopt" and blocked.blocked and "--adopt" in blocked.blocked
    allowed = one(plan([desired], captured_state(), PlanOptions(adopt=True)), "Service", "clisvc")
    assert allowed.verb == "adopt" and allowed.blocked is None
    annotated = svc("clisvc", args=["sleep", "1"], annotations={"swarm-operator/adopt": "true"})
    by_note = one(plan([annotated], captured_state(), PlanOptions()), "Service", "clisvc")
    assert by_note.blocked is None


# ------------------------------------------------------------------ prune


def _without(name: str) -> list[Manifest]:
    return [m for m in EVERY if m.name != name]


def test_undeclared_managed_service_is_only_a_note_without_prune() -> None:
    p = plan(_without("minimal"), captured_state(), PlanOptions())
    assert not p.pending
    assert any("minimal" in n and "--prune" in n for n in p.notes)


def test_prune_deletes_only_labelled_undeclared_objects() -> None:
    p = plan(_without("minimal"), captured_state(), PlanOptions(prune=True))
    assert [(a.verb, a.name) for a in p.pending] == [("delete", "minimal")]
    # clisvc is undeclared too, but has no ownership label: never touched
    assert all(a.name != "clisvc" for a in p.actions)


def test_a_per_key_plan_gives_what_the_whole_plan_gives_for_that_key() -> None:
    index = DesiredIndex(_without("minimal"))
    whole = plan(_without("minimal"), captured_state(), PlanOptions(prune=True))
    for action in whole.actions:
        alone = plan(index, captured_state(), PlanOptions(prune=True), keys=[action.key])
        assert alone.actions == (action,)


def test_a_per_key_plan_does_not_look_at_the_other_manifests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The daemon plans one key per reconcile: reading all N manifests each time made a
    # resync pass of N keys cost N squared (2,000 services: 53 s a pass).
    many = [svc(f"s{i}") for i in range(2000)]
    index = DesiredIndex(many)
    looked_at: list[str] = []
    real = Manifest.key
    monkeypatch.setattr(
        Manifest, "key", property(lambda m: looked_at.append(m.name) or real.fget(m))
    )
    p = plan(index, captured_state(), PlanOptions(prune=True), keys=[("Service", "s7")])
    assert [(a.verb, a.name) for a in p.actions] == [("create", "s7")]
    assert len(looked_at) <= 3, len(looked_at)


@pytest.mark.parametrize(
    ("desired", "options", "why"),
    [
        ([], PlanOptions(prune=True), "declares no objects"),
        (
            _without("minimal"),
            PlanOptions(prune=True, prune_blockers=("x.yaml:3: bad",)),
            "x.yaml:3: bad",
        ),
        ([net("plain-net")], PlanOptions(prune=True, max_prune=2), "more than --max-prune 2"),
    ],
)
def test_prune_guards_refuse_and_delete_nothing(
    desired: list[Manifest], options: PlanOptions, why: str
) -> None:
    p = plan(desired, captured_state(), options)
    assert not [a for a in p.actions if a.verb == "delete"]
    assert any(why in r and "nothing deleted" in r for r in p.refusals)


def test_protect_label_keeps_an_object() -> None:
    services = fixture("services")
    services[2]["Spec"]["Labels"][LABEL_PROTECT] = "true"
    p = plan(_without("minimal"), captured_state(services=services), PlanOptions(prune=True))
    assert not p.pending
    assert any("minimal" in n and "protect" in n for n in p.notes)


def test_network_delete_refused_while_unmanaged_services_use_it() -> None:
    # plain-net is managed; clisvc (unmanaged) and every (managed, declared) use it
    desired = [m for m in EVERY if m.name != "plain-net"]
    p = plan(desired, captured_state(), PlanOptions(prune=True))
    action = one(p, "Network", "plain-net")
    assert action.verb == "delete" and action.blocked
    assert "clisvc" in action.blocked and "not managed here: clisvc" in action.blocked


def test_deletes_run_services_first_then_networks() -> None:
    services = [s for s in fixture("services") if s["Spec"]["Name"] != "clisvc"]
    p = plan([net("plain-net")], captured_state(services=services), PlanOptions(prune=True))
    assert [(a.verb, a.kind, a.name) for a in p.pending] == [
        ("delete", "Service", "every"),
        ("delete", "Service", "minimal"),
        ("delete", "Network", "every-net"),
    ]
    assert all(a.blocked is None for a in p.pending)


# ------------------------------------------------------------------ networks


def test_changed_network_is_replace_listing_disrupted_services() -> None:
    changed = net(
        "every-net",
        **{
            **EVERY_NETWORK,
            "subnet": "10.32.0.0/24",
            "gateway": "10.32.0.254",
            "ipRange": "10.32.0.0/25",
        },
    )
    desired = [changed, *EVERY[1:]]
    action = one(plan(desired, captured_state(), PlanOptions()), "Network", "every-net")
    assert action.verb == "replace"
    assert action.disrupts == ("every",)
    assert "spec.subnet" in paths(action)
    assert action.blocked and "--allow-replace" in action.blocked
    allowed = one(
        plan(desired, captured_state(), PlanOptions(allow_replace=True)), "Network", "every-net"
    )
    assert allowed.blocked is None


def test_unset_subnet_accepts_what_ipam_chose() -> None:
    assert one(plan(EVERY, captured_state(), PlanOptions()), "Network", "plain-net").verb == "noop"


def test_network_create_runs_before_service_create() -> None:
    p = plan([svc("a", networks=["zz"]), net("zz")], LiveState(), PlanOptions())
    assert [(a.kind, a.name) for a in p.pending] == [("Network", "zz"), ("Service", "a")]


def test_probe_settings_are_not_docker_drift() -> None:
    probed = net("plain-net", probe={"interval": "1s"})
    assert (
        one(plan([probed], captured_state(), PlanOptions()), "Network", "plain-net").verb == "noop"
    )


# ------------------------------------------------------------------ nodes


def _nodes(*specs: tuple[str, str, str, dict[str, str]]) -> list[dict[str, Any]]:
    template = fixture("nodes")[0]
    out = []
    for i, (host, role, availability, labels) in enumerate(specs):
        raw = {**template, "ID": f"node{i}", "Version": {"Index": 10 + i}}
        raw["Description"] = {**template["Description"], "Hostname": host}
        raw["Spec"] = {"Role": role, "Availability": availability, "Labels": labels}
        if role == "manager":
            raw["ManagerStatus"] = {"Reachability": "reachable", "Leader": i == 0}
        else:
            raw.pop("ManagerStatus", None)
        out.append(raw)
    return out


NODES = _nodes(
    ("h1", "manager", "active", {"zone": "a", "keep": "me"}),
    ("h2", "worker", "active", {}),
)


def _node_state(nodes: list[dict[str, Any]] = NODES) -> LiveState:
    return build_state({"Node": nodes})


@pytest.mark.parametrize(
    ("spec", "verb", "expected_paths"),
    [
        ({"labels": {"zone": "a"}}, "noop", []),
        ({"labels": {"zone": "b"}}, "update", ["spec.labels.zone"]),
        ({"labels": {"zone": "a"}, "exclusiveLabels": True}, "update", ["spec.labels.keep"]),
        ({"availability": "active", "role": "manager"}, "noop", []),
    ],
)
def test_node_labels(spec: dict[str, Any], verb: str, expected_paths: list[str]) -> None:
    action = one(plan([node("h1", **spec)], _node_state(), PlanOptions()), "Node", "h1")
    assert action.verb == verb and paths(action) == expected_paths


def test_worker_availability_and_role() -> None:
    action = one(
        plan([node("h2", availability="drain", role="manager")], _node_state(), PlanOptions()),
        "Node",
        "h2",
    )
    assert action.verb == "update" and action.blocked is None
    assert paths(action) == ["spec.availability", "spec.role"]


@pytest.mark.parametrize("spec", [{"role": "worker"}, {"availability": "drain"}])
def test_last_active_manager_is_never_demoted_or_drained(spec: dict[str, Any]) -> None:
    action = one(plan([node("h1", **spec)], _node_state(), PlanOptions()), "Node", "h1")
    assert action.verb == "update" and action.blocked and "last active manager" in action.blocked


def test_one_of_two_managers_may_be_drained_but_not_both() -> None:
    nodes = _nodes(("h1", "manager", "active", {}), ("h2", "manager", "active", {}))
    p = plan(
        [node("h1", availability="drain"), node("h2", availability="drain")],
        _node_state(nodes),
        PlanOptions(),
    )
    assert one(p, "Node", "h1").blocked is None
    assert "last active manager" in (one(p, "Node", "h2").blocked or "")


def test_node_not_in_swarm_is_missing_not_an_error() -> None:
    p = plan([node("ghost", labels={"a": "b"})], _node_state(), PlanOptions())
    action = one(p, "Node", "ghost")
    assert action.verb == "missing" and not p.pending and not p.refusals


def test_nodes_run_first() -> None:
    p = plan([svc("a"), net("n"), node("h2", labels={"x": "y"})], _node_state(), PlanOptions())
    assert [a.kind for a in p.pending] == ["Node", "Network", "Service"]


# ------------------------------------------------------------------ keys and misc


def test_keys_restrict_the_plan_to_those_objects() -> None:
    desired = [svc("a"), svc("b")]
    p = plan(desired, LiveState(), PlanOptions(), keys=[("Service", "b")])
    assert [a.name for a in p.actions] == ["b"]


def test_keys_restrict_prune_too() -> None:
    p = plan(
        EVERY[:1],
        captured_state(),
        PlanOptions(prune=True, max_prune=10),
        keys=[("Service", "minimal")],
    )
    assert [(a.verb, a.name) for a in p.actions] == [("delete", "minimal")]


def test_reconcile_disabled_reports_but_blocks() -> None:
    desired = svc(
        "minimal", command=["sleep", "1"], annotations={"swarm-operator/reconcile": "disabled"}
    )
    action = one(plan([desired], captured_state(), PlanOptions()), "Service", "minimal")
    assert action.verb == "update" and action.blocked and "reconcile" in action.blocked


def test_diff_paths() -> None:
    assert [str(d) for d in diff({"a": {"b": 1}}, {"a": {"b": 2}})] == ["spec.a.b: 1 -> 2"]
    assert [d.path for d in diff({"x.y": 1}, {"x.y": 2})] == ["spec['x.y']"]
    assert [d.path for d in diff([{"a": 1}], [{"a": 2}], "p")] == ["p[0].a"]
    assert diff([1, 2], [2, 1], "p")[0].path == "p"


def test_plan_json_shape() -> None:
    data = plan([svc("new")], captured_state(), PlanOptions()).to_dict()
    assert data["summary"]["create"] == 1 and data["summary"]["pending"] == 1
    assert data["actions"][0]["differences"][0]["path"].startswith("spec.")


def test_raw_service_helper_matches_fixture() -> None:
    assert raw_service("every")["Spec"]["Name"] == "every"
