"""The managed-field table of a ServiceSpec and the update merge (`kinds.service_fields`).

- Every path `service_spec` renders, for a manifest that sets every field of the language
  (samples.FULL_SERVICE, which test_models keeps complete) and for generated manifests, is
  in the table: a field added to the language and forgotten in the table fails here.
- Property: over generated live specs with unmanaged fields at random places, an update
  body keeps every unmanaged field unchanged and every managed field equals the render.
- The plan lists the kept fields (text and JSON) and never their values.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import FULL_SERVICE
from test_engine_roundtrip import service_manifests, simulated_engine

from swarm_operator.cli.output import plan_text
from swarm_operator.engine.live import build_state
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.kinds import service_fields
from swarm_operator.kinds.service_fields import (
    MANAGED,
    EngineDefault,
    Keyed,
    Table,
    is_managed,
    merge,
)
from swarm_operator.kinds.service_spec import service_spec
from swarm_operator.manifests.models import Service

_ABSENT = object()


def rendered_paths(value: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every leaf path of a rendered spec (the keys of list elements follow the list's key)."""
    if isinstance(value, Mapping) and value:
        for key, sub in value.items():
            yield from rendered_paths(sub, (*prefix, key))
    elif isinstance(value, list) and value and all(isinstance(e, Mapping) for e in value):
        for element in value:
            yield from rendered_paths(element, prefix)
    else:
        yield prefix


def unmanaged_rendered(spec: Mapping[str, Any], table: Table = MANAGED) -> list[str]:
    return sorted({".".join(p) for p in rendered_paths(spec) if not is_managed(p, table)})


def _variants() -> list[Service]:
    full = Service.model_validate(FULL_SERVICE)
    out = [full]
    for mode in ("global", "replicated-job", "global-job"):
        data = copy.deepcopy(FULL_SERVICE)
        data["spec"]["mode"] = mode
        if mode.startswith("global"):
            data["spec"].pop("replicas", None)
            data["spec"]["placement"].pop("maxReplicasPerNode", None)
        if mode.endswith("-job"):
            data["spec"].pop("updateConfig", None)
        out.append(Service.model_validate(data))
    return out


@pytest.mark.parametrize("service", _variants(), ids=lambda s: s.spec.mode)
def test_every_path_rendered_for_a_full_manifest_is_managed(service: Service) -> None:
    spec = service_spec(service, network_targets={"app-net": "id1"}, force_update=3)
    assert unmanaged_rendered(spec) == [], "add these paths to kinds/service_fields.MANAGED"


def test_the_coverage_check_fails_on_a_forgotten_field() -> None:
    """The check above can fail: the same render against a table that lacks two fields."""
    table = copy.deepcopy(dict(MANAGED))
    task = dict(table["TaskTemplate"])  # type: ignore[arg-type]
    container = dict(task["ContainerSpec"])  # type: ignore[arg-type]
    del container["Hosts"]
    mounts = container["Mounts"]
    assert isinstance(mounts, Keyed)
    container["Mounts"] = replace(mounts, fields=mounts.fields - {"Source"})
    task["ContainerSpec"] = container
    table["TaskTemplate"] = task
    spec = service_spec(Service.model_validate(FULL_SERVICE))
    assert unmanaged_rendered(spec, table) == [
        "TaskTemplate.ContainerSpec.Hosts",
        "TaskTemplate.ContainerSpec.Mounts.Source",
    ]


@settings(max_examples=50, deadline=None)
@given(service_manifests())
def test_every_path_rendered_for_generated_manifests_is_managed(service: Service) -> None:
    assert unmanaged_rendered(service_spec(service)) == []


# --------------------------------------------------------------------------- the merge

# A service made by hand with the docker CLI (26.1), as `docker service inspect` showed it.
CLI_MADE: dict[str, Any] = {
    "Name": "keep-svc",
    "Labels": {},
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": "reg:5000/busybox:1@sha256:" + "7" * 64,
            "Args": ["sleep", "3600"],
            "Env": ["OLD=1"],
            "Init": False,
            "Mounts": [
                {
                    "Type": "tmpfs",
                    "Target": "/cache",
                    "TmpfsOptions": {"SizeBytes": 1048576, "Options": [["exec"]]},
                },
                {
                    "Type": "volume",
                    "Source": "v",
                    "Target": "/v",
                    "VolumeOptions": {"NoCopy": True},
                },
            ],
            "StopGracePeriod": 1000000000,
            "Hosts": ["10.0.0.3 a.example"],
            "DNSConfig": {"Nameservers": ["10.0.0.2"]},
            "Healthcheck": {"Test": ["CMD", "true"], "StartInterval": 1000000000},
            "Secrets": [
                {
                    "File": {"Name": "s", "UID": "0", "GID": "0", "Mode": 292},
                    "SecretID": "xa2k3yt9db4u8slpt16d4od53",
                    "SecretName": "s",
                }
            ],
            "Isolation": "default",
            # not expressed by the language: kept
            "Privileges": {"NoNewPrivileges": True, "Seccomp": {"Mode": "unconfined"}},
            # expressed (issue 12's fields; OomScoreAdj and the healthcheck's StartInterval
            # of API 1.44+, as a Docker 27 engine stores them), not in the manifest: removed
            "OomScoreAdj": 100,
            "Sysctls": {"net.core.somaxconn": "1024"},
            "CapabilityAdd": ["CAP_NET_ADMIN"],
            "Ulimits": [{"Name": "nofile", "Hard": 2048, "Soft": 1024}],
        },
        "Resources": {"Limits": {"Pids": 100}, "Reservations": {}},
        "RestartPolicy": {"Condition": "any", "Delay": 5000000000, "MaxAttempts": 0},
        "Placement": {"Platforms": [{"Architecture": "amd64", "OS": "linux"}]},
        "Networks": [{"Target": "netid1", "Aliases": ["x"], "DriverOpts": {"a": "b"}}],
        "LogDriver": {"Name": "json-file", "Options": {"max-size": "1m"}},
        "ForceUpdate": 2,
        "Runtime": "container",
    },
    "Mode": {"Replicated": {"Replicas": 1}},
    "EndpointSpec": {
        "Mode": "vip",
        "Ports": [
            {
                "Protocol": "tcp",
                "TargetPort": 80,
                "PublishedPort": 8080,
                "PublishMode": "ingress",
                "Name": "web",
            },
            {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "Name": "dns"},
        ],
    },
}

ADOPTING = Service.model_validate(
    {
        "metadata": {"name": "keep-svc"},
        "spec": {
            "image": "reg:5000/busybox:1",
            "args": ["sleep", "3600"],
            "replicas": 3,
            "networks": [{"name": "net1"}],
            "ports": [{"target": 80, "published": 8080, "mode": "ingress"}],
            "mounts": [
                {"type": "tmpfs", "target": "/cache"},
                {"type": "bind", "source": "/srv", "target": "/v"},
            ],
        },
    }
)


def test_merge_keeps_the_unmanaged_fields_and_writes_the_managed_ones() -> None:
    rendered = service_spec(ADOPTING, network_targets={"net1": "netid1"}, force_update=2)
    body = merge(CLI_MADE, rendered)
    task, container = body["TaskTemplate"], body["TaskTemplate"]["ContainerSpec"]
    live_container = CLI_MADE["TaskTemplate"]["ContainerSpec"]
    assert container["Privileges"] == live_container["Privileges"]  # unmanaged: as live
    # issue 12's fields and the newer ones are managed: what the manifest does not set is gone
    for key in ("Sysctls", "CapabilityAdd", "Ulimits", "OomScoreAdj", "Healthcheck"):
        assert key not in container, key
    assert container["Isolation"] == "default"  # the engine's own value: nothing to write
    assert "LogDriver" not in task
    assert task["Runtime"] == "container"
    assert task["Placement"] == {}  # (update_body keeps the image's platforms: below)
    assert task["Resources"] == {"Limits": {}, "Reservations": {}}
    # Managed: the render's, and what the manifest no longer sets is gone.
    assert body["Mode"] == {"Replicated": {"Replicas": 3}}
    assert "Env" not in container and "Hosts" not in container and "Init" not in container
    assert "Secrets" not in container  # managed: the manifest mounts none
    assert "DNSConfig" not in container  # only managed fields were in it
    assert task["RestartPolicy"] == rendered["TaskTemplate"]["RestartPolicy"]
    # Keyed lists: the same mount (target and type) keeps its unmanaged options (a tmpfs
    # mount's Options; its size is managed); a mount whose type changed is a new mount;
    # an attachment to the same network has the render's managed keys only.
    assert container["Mounts"] == [
        {"Type": "tmpfs", "Target": "/cache", "TmpfsOptions": {"Options": [["exec"]]}},
        {"Type": "bind", "Source": "/srv", "Target": "/v"},
    ]
    assert task["Networks"] == [{"Target": "netid1"}]
    assert body["EndpointSpec"] == {  # the same port keeps its name; the dropped one goes
        "Mode": "vip",
        "Ports": [CLI_MADE["EndpointSpec"]["Ports"][0]],
    }
    assert service_fields.kept(body) == (
        "EndpointSpec.Ports[80,tcp,8080,ingress].Name",
        "TaskTemplate.ContainerSpec.Mounts[/cache,tmpfs].TmpfsOptions.Options",
        "TaskTemplate.ContainerSpec.Privileges.NoNewPrivileges",
        "TaskTemplate.ContainerSpec.Privileges.Seccomp",
    )
    assert CLI_MADE["TaskTemplate"]["ContainerSpec"]["Env"] == ["OLD=1"]  # live not mutated


def test_an_update_keeps_the_platforms_of_the_same_image_only() -> None:
    from swarm_operator.kinds.service import update_body

    platforms = CLI_MADE["TaskTemplate"]["Placement"]["Platforms"]
    body = update_body(ADOPTING, CLI_MADE, {"net1": "netid1"})
    assert body["TaskTemplate"]["Placement"] == {"Platforms": platforms}
    other = ADOPTING.model_copy(
        update={"spec": ADOPTING.spec.model_copy(update={"image": "reg:5000/busybox:2"})}
    )
    body = update_body(other, CLI_MADE, {"net1": "netid1"})
    assert body["TaskTemplate"]["Placement"] == {}  # a new image: the write asks anew


def test_merge_of_a_render_into_its_own_engine_form_is_the_engine_form() -> None:
    rendered = service_spec(ADOPTING, network_targets={"net1": "netid1"})
    stored = simulated_engine(rendered, {"netid1": "netid1"}, pin=False)
    assert merge(stored, rendered) == stored
    assert service_fields.kept(stored) == ()  # the engine's own fills are not listed


def _network_id(name: str) -> str:
    return f"id-{name}"


# ---- the property: an independent reading of the table, path by path

Path = tuple[Any, ...]


def fields(spec: Mapping[str, Any], table: Table = MANAGED, at: Path = ()) -> Iterator[Any]:
    """(path, value, managed) of every field; keyed list elements are addressed by their
    identity and its occurrence, as the merge pairs them."""
    for key, value in spec.items():
        rule = table.get(key, _ABSENT)
        if rule is _ABSENT or rule is None:
            yield (*at, key), value, rule is None
        elif isinstance(rule, EngineDefault):
            if value != rule.value:  # at the engine's value: nothing is written either way
                yield (*at, key), value, True
        elif isinstance(rule, Keyed):
            seen: dict[tuple[Any, ...], int] = {}
            for element in value:
                ident = tuple(element.get(k) for k in rule.identity)
                seen[ident] = seen.get(ident, -1) + 1
                for k, v in element.items():
                    where = (*at, key, ident, seen[ident], k)
                    if k in rule.nested and isinstance(v, Mapping):
                        yield from fields(v, rule.nested[k], where)
                    else:  # a nested block that is not a mapping (null) is the merge's
                        yield where, v, k in rule.fields or k in rule.nested
        elif isinstance(value, Mapping):
            yield from fields(value, rule, (*at, key))  # type: ignore[arg-type]
        else:
            yield (*at, key), value, False


def containers(spec: Mapping[str, Any], at: Path = ()) -> Iterator[Path]:
    for key, value in spec.items():
        if isinstance(value, Mapping):
            yield (*at, key)
            yield from containers(value, (*at, key))


def _places(spec: dict[str, Any]) -> list[tuple[dict[str, Any], Table | Keyed]]:
    """The dicts of a spec where an unmanaged field can stand, with their table."""
    out: list[tuple[dict[str, Any], Table | Keyed]] = []

    def visit(node: dict[str, Any], table: Table) -> None:
        out.append((node, table))
        for key, rule in table.items():
            if isinstance(rule, Keyed):
                out.extend((e, rule) for e in node.get(key) or [] if isinstance(e, dict))
            elif isinstance(rule, Mapping):
                visit(node.setdefault(key, {}), rule)

    visit(spec, MANAGED)
    return out


REAL_EXTRAS = [
    "LogDriver",
    "Secrets",
    "Configs",
    "CapabilityAdd",
    "Sysctls",
    "Ulimits",
    "Privileges",
    "TmpfsOptions",
    "DriverOpts",
    "Platforms",
    "Pids",
    "StartInterval",
    "GenericResources",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text("ab:/", max_size=4),
    lambda inner: (
        st.lists(inner, max_size=2)
        | st.dictionaries(st.text("xyz", min_size=1, max_size=3), inner, max_size=2)
    ),
    max_leaves=4,
)


@st.composite
def live_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A realistic live spec (a generated manifest, rendered and stored as the engine
    does) with unmanaged fields added at random places, some in blocks the render lacks."""
    base = draw(service_manifests())
    ids = {n.name: _network_id(n.name) for n in base.spec.networks}
    rendered = service_spec(base, network_targets=ids, force_update=draw(st.integers(0, 3)))
    live = simulated_engine(rendered, {v: v for v in ids.values()}, pin=draw(st.booleans()))
    places = _places(live)
    for _ in range(draw(st.integers(0, 8))):
        node, table = draw(st.sampled_from(places))
        # every key the table names (a keyed element's nested blocks too, as a table's):
        # a managed block given a value that is no block is nothing the engine stores
        names = (
            frozenset(table.fields | set(table.nested))
            if isinstance(table, Keyed)
            else frozenset(table)
        )
        key = draw(st.sampled_from(REAL_EXTRAS) | st.from_regex(r"X[A-Za-z]{0,6}", fullmatch=True))
        if key not in names:
            node[key] = draw(json_values)
    # blocks that got no extra stay as the engine had them (absent, or the render's)
    return _prune_empty(live, rendered)


def _prune_empty(live: dict[str, Any], rendered: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in live.items():
        if isinstance(value, dict):
            value = _prune_empty(value, rendered.get(key) or {})
            if not value and key not in rendered:
                continue
        out[key] = value
    return out


def _element_of(path: Path) -> Path | None:
    """The keyed list element a field is in: (..., list key, identity, occurrence)."""
    for i, part in enumerate(path):
        if isinstance(part, tuple):
            return path[: i + 2]
    return None


@settings(max_examples=300, deadline=None)
@given(live_specs(), service_manifests())
def test_update_keeps_every_unmanaged_field_and_writes_every_managed_one(
    live: dict[str, Any], desired: Service
) -> None:
    targets = {n.name: _network_id(n.name) for n in desired.spec.networks}
    rendered = service_spec(desired, network_targets=targets)
    before = copy.deepcopy(live)
    body = merge(live, rendered)
    assert live == before, "the live spec must not be changed"

    managed_body = {p: v for p, v, managed in fields(body) if managed}
    assert managed_body == {p: v for p, v, managed in fields(rendered) if managed}
    assert all(managed for _, _, managed in fields(rendered))

    kept_body = {p: v for p, v, managed in fields(body) if not managed}
    rendered_elements = {_element_of(p) for p, _, _ in fields(rendered)} - {None}
    for path, value, managed in fields(live):
        if managed:
            continue
        element = _element_of(path)
        if element is not None and element not in rendered_elements:
            assert path not in kept_body  # its element is gone: the render has no such mount
        else:
            assert kept_body[path] == value, path
    assert set(kept_body) <= {p for p, _, m in fields(live) if not m}
    # the blocks the render writes (empty Placement, Resources.Limits, ...) are all there
    assert set(containers(rendered)) <= set(containers(body))


def test_a_null_options_block_on_a_mount_is_dropped_like_an_empty_one() -> None:
    # found by the property above (not derandomized): a volume mount whose live spec had
    # `TmpfsOptions: null`; the block is the merge's, and null holds nothing to keep
    desired = Service.model_validate(
        {
            "metadata": {"name": "a"},
            "spec": {"image": "a:1", "mounts": [{"type": "volume", "source": "a", "target": "/d"}]},
        }
    )
    rendered = service_spec(desired)
    live = simulated_engine(rendered, {}, pin=False)
    live["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["TmpfsOptions"] = None
    (mount,) = merge(live, rendered)["TaskTemplate"]["ContainerSpec"]["Mounts"]
    assert "TmpfsOptions" not in mount
    assert mount == rendered["TaskTemplate"]["ContainerSpec"]["Mounts"][0]


# --------------------------------------------------------------------------- the plan


def test_plan_lists_the_kept_fields_and_never_their_values() -> None:
    raw = {"ID": "svc1", "Version": {"Index": 7}, "Spec": copy.deepcopy(CLI_MADE)}
    live = build_state({"Service": [raw], "Network": [{"Name": "net1", "Id": "netid1"}]})
    the_plan = plan([ADOPTING], live, PlanOptions(adopt=True))
    (action,) = the_plan.actions
    assert action.verb == "adopt"
    assert "TaskTemplate.ContainerSpec.Privileges.Seccomp" in action.kept
    assert "TaskTemplate.ContainerSpec.OomScoreAdj" not in action.kept  # managed: changed
    assert "TaskTemplate.LogDriver" not in action.kept  # managed: a difference instead
    text = plan_text(the_plan)
    assert (
        "    kept: TaskTemplate.ContainerSpec.Privileges.Seccomp (not expressed by the manifest "
        "language)" in text
    )
    data = the_plan.to_dict()["actions"][0]
    assert data["kept"] == list(action.kept)
    dumped = json.dumps(data) + text
    assert "xa2k3yt9db4u8slpt16d4od53" not in dumped and "unconfined" not in dumped


def test_a_plan_without_changes_lists_nothing_kept() -> None:
    spec = simulated_engine(
        service_spec(ADOPTING, network_targets={"net1": "netid1"}), {"netid1": "netid1"}, pin=False
    )
    spec["Labels"] = {}
    raw = {"ID": "svc1", "Version": {"Index": 7}, "Spec": spec}
    live = build_state({"Service": [raw], "Network": [{"Name": "net1", "Id": "netid1"}]})
    (action,) = plan([ADOPTING], live, PlanOptions(adopt=True)).actions
    assert action.verb == "adopt" and action.kept == ()


# --------------------------------------------------------------------------- other kinds


def test_a_node_update_keeps_the_node_spec_fields_it_does_not_set() -> None:
    """Nodes were merged already (the engine replaces a node's whole spec): a node's
    name, and any field a newer engine adds, stay as they are live."""
    from swarm_operator.kinds.node import node_spec
    from swarm_operator.manifests.models import Node

    live = {
        "Name": "given-by-hand",
        "Role": "worker",
        "Availability": "active",
        "Labels": {"zone": "a", "other": "x"},
        "XFuture": {"a": 1},
    }
    node = Node.model_validate(
        {"metadata": {"name": "host2"}, "spec": {"availability": "drain", "labels": {"zone": "b"}}}
    )
    assert node_spec(node, live) == {
        "Name": "given-by-hand",
        "Role": "worker",
        "Availability": "drain",
        "Labels": {"zone": "b", "other": "x"},
        "XFuture": {"a": 1},
    }


def test_an_unreadable_live_service_lists_its_managed_changes_in_the_engines_words() -> None:
    spec = copy.deepcopy(CLI_MADE)
    container = spec["TaskTemplate"]["ContainerSpec"]
    container["Mounts"].append({"Type": "npipe", "Source": r"\\.\pipe\x", "Target": "/p"})
    container["Env"] = ["TOKEN=hunter2"]
    raw = {"ID": "svc1", "Version": {"Index": 7}, "Spec": spec}
    live = build_state({"Service": [raw], "Network": [{"Name": "net1", "Id": "netid1"}]})
    the_plan = plan([ADOPTING], live, PlanOptions(adopt=True))
    (action,) = the_plan.actions
    assert action.verb == "adopt" and action.live is not None
    assert action.live.manifest is None  # the language has no npipe mount
    assert "the fields the language manages are written from the manifest" in action.reason
    paths = {d.path for d in action.differences}
    assert "spec.TaskTemplate.ContainerSpec.Mounts" in paths
    assert "spec.Mode.Replicated.Replicas" in paths
    (env,) = [d for d in action.differences if d.path == "spec.TaskTemplate.ContainerSpec.Env"]
    assert env.sensitive
    assert "TaskTemplate.ContainerSpec.Privileges.Seccomp" in action.kept
    shown = plan_text(the_plan) + json.dumps(the_plan.to_dict())
    assert "hunter2" not in shown


def test_a_network_replace_lists_what_the_recreate_drops() -> None:
    """Networks have no update: a replace recreates one from its manifest alone, so the
    plan lists the live fields the language cannot carry over (and none for the rest)."""
    from swarm_operator.manifests.models import Network

    raw = {
        "Name": "app-net",
        "Id": "netid1",
        "Scope": "swarm",
        "Driver": "overlay",
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "IPAM": {
            "Driver": "default",
            "Options": {"com.example.pool": "x"},
            "Config": [{"Subnet": "10.50.0.0/24"}, {"Subnet": "10.51.0.0/24"}],
        },
        "Labels": {"io.swarm-operator.managed-by": "swarm-operator"},
        "Options": {"com.docker.network.driver.overlay.vxlanid_list": "4100"},
    }
    declared = Network.model_validate(
        {"metadata": {"name": "app-net"}, "spec": {"subnet": "10.50.0.0/24", "labels": {"a": "b"}}}
    )
    the_plan = plan([declared], build_state({"Network": [raw]}), PlanOptions(allow_replace=True))
    (action,) = the_plan.actions
    assert action.verb == "replace" and not action.blocked
    lost = "IPAM.Config[1] (subnet 10.51.0.0/24: not in the manifest)"
    assert action.dropped == ("IPAM.Options", lost)
    text = plan_text(the_plan)
    assert "    dropped: IPAM.Options (not expressed by the manifest language" in text
    assert f"    dropped: {lost}\n" in text
    assert the_plan.to_dict()["actions"][0]["dropped"] == ["IPAM.Options", lost]
    plain = {
        **raw,
        "IPAM": {"Driver": "default", "Options": None, "Config": raw["IPAM"]["Config"][:1]},
    }
    (again,) = plan([declared], build_state({"Network": [plain]}), PlanOptions()).actions
    assert again.verb == "replace" and again.dropped == ()
