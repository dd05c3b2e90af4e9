"""The manifest models: every field parses and round-trips, and every rule holds."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError
from samples import ALTERNATIVES, FULL, REFERENCED, write_samples

from swarm_operator.manifests import service_blocks
from swarm_operator.manifests.loader import load_file
from swarm_operator.manifests.models import (
    Network,
    NetworkSpec,
    Node,
    Service,
    models_by_kind,
)
from swarm_operator.manifests.service_spec import ServiceSpec


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _field_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every field of a model and its nested models, as dotted alias paths."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        paths.add(path)
        for sub in _models_in(info.annotation):
            paths |= _field_paths(sub, path + ".")
    return paths


def _sample_paths(value: Any, prefix: str = "") -> set[str]:
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}{key}"
            paths.add(path)
            paths |= _sample_paths(item, path + ".")
    elif isinstance(value, list):
        for item in value:
            paths |= _sample_paths(item, prefix)
    return paths


@pytest.mark.parametrize("kind", tuple(models_by_kind()))
def test_samples_set_every_field(kind: str) -> None:
    model = models_by_kind()[kind]
    sample = _sample_paths(FULL[kind]).union(*map(_sample_paths, ALTERNATIVES.get(kind, [])))
    missing = {
        p
        for p in _field_paths(model)
        # label keys and ulimit names are the user's: their values' fields are set
        # under a name (spec.ulimits.nofile.soft), not under the model's
        if p not in sample
        and not p.startswith(("metadata.labels.", "spec.labels.", "spec.ulimits."))
    }
    assert not missing, f"samples.py does not set {sorted(missing)}"


@pytest.mark.parametrize(
    ("kind", "sample"),
    [(k, FULL[k]) for k in models_by_kind()]
    + [(k, s) for k, samples in ALTERNATIVES.items() for s in samples],
)
def test_every_field_round_trips_through_yaml(
    kind: str, sample: dict[str, Any], tmp_path: Path
) -> None:
    first = tmp_path / "first.yaml"
    beside = [FULL[k] for k in REFERENCED.get(kind, [])]
    first.write_text(yaml.safe_dump_all([sample, *beside], sort_keys=False))
    write_samples(tmp_path)
    loaded = load_file(first)
    assert loaded.ok, loaded.errors
    manifest = loaded.objects[0].manifest
    dumped = manifest.model_dump(mode="json", by_alias=True)
    assert dumped == sample
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump_all([dumped, *beside]))
    reloaded = load_file(again)
    assert reloaded.ok, reloaded.errors
    assert reloaded.objects[0].manifest == manifest


def test_defaults() -> None:
    net = Network.model_validate({"metadata": {"name": "n"}})
    assert net.spec.driver == "overlay"
    assert (net.spec.attachable, net.spec.internal, net.spec.encrypted, net.spec.ipv6) == (
        False,
        False,
        False,
        False,
    )
    svc = Service.model_validate({"metadata": {"name": "s"}, "spec": {"image": "i"}})
    assert svc.spec.mode == "replicated"
    assert svc.spec.replicas == 1
    assert svc.spec.endpoint_mode == "vip"
    assert svc.key == ("Service", "s")
    glob = ServiceSpec(image="i", mode="global")
    assert glob.replicas is None
    node = Node.model_validate({"metadata": {"name": "host1"}})
    assert (node.spec.role, node.spec.availability, node.spec.labels) == (None, None, {})


def test_short_forms() -> None:
    spec = ServiceSpec.model_validate(
        {
            "image": "i",
            "command": "sh -c true",
            "networks": ["app-net", {"name": "b", "aliases": ["x"]}],
            "env": {"PORT": 8080, "DEBUG": True, "RATIO": 0.5},
            "healthcheck": {"test": "wget -q localhost", "interval": 5},
            "stopGracePeriod": "1m30s",
            "resources": {"limits": {"cpus": 2, "memory": "1G"}},
        }
    )
    assert spec.command == ["sh", "-c", "true"]
    assert [n.name for n in spec.networks] == ["app-net", "b"]
    assert spec.env == {"PORT": "8080", "DEBUG": "true", "RATIO": "0.5"}
    assert spec.healthcheck is not None
    assert spec.healthcheck.test == ["CMD-SHELL", "wget -q localhost"]
    assert spec.healthcheck.interval == 5_000_000_000
    assert spec.stop_grace_period == 90_000_000_000
    assert spec.resources is not None and spec.resources.limits is not None
    assert spec.resources.limits.cpus == 2_000_000_000
    assert spec.resources.limits.memory == 1024**3
    dumped = spec.model_dump(mode="json", by_alias=True)
    assert dumped["stopGracePeriod"] == "1m30s"
    assert dumped["resources"]["limits"] == {"cpus": "2", "memory": "1G", "pids": None}


def test_command_string_is_split_like_a_shell() -> None:
    spec = ServiceSpec.model_validate({"image": "i", "command": "sh -c 'echo a  b'", "args": "x"})
    assert spec.command == ["sh", "-c", "echo a  b"]
    assert spec.args == ["x"]
    loc, msg = _error(ServiceSpec, {"image": "i", "command": "sh -c 'unclosed"})
    assert loc == ("command",)
    assert 'cannot split "sh -c \'unclosed" into words: No closing quotation' in msg


def test_equal_values_in_different_spellings_are_equal() -> None:
    a = ServiceSpec.model_validate({"image": "i", "stopGracePeriod": "90s"})
    b = ServiceSpec.model_validate({"image": "i", "stopGracePeriod": "1m30s"})
    assert a == b


def _error(model: type[BaseModel], data: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return tuple(errors[0]["loc"]), errors[0]["msg"]


@pytest.mark.parametrize(
    ("data", "loc", "text"),
    [
        ({"subnet": "10.10.0.0/33"}, ("subnet",), "not a network in CIDR form"),
        ({"subnet": "10.10.0.1/24"}, ("subnet",), "has host bits set"),
        ({"subnet": "10.10.0.0/24", "gateway": "10.10.1.1"}, ("gateway",), "outside subnet"),
        ({"subnet": "10.10.0.0/24", "gateway": "10.10.0.0"}, ("gateway",), "network or broadcast"),
        ({"subnet": "10.10.0.0/24", "gateway": "x"}, ("gateway",), "'x' is not an IP address"),
        ({"gateway": "10.10.0.1"}, ("gateway",), "a gateway needs a subnet"),
        ({"ipRange": "10.10.0.0/25"}, ("ipRange",), "ipRange needs a subnet"),
        (
            {"subnet": "10.10.0.0/24", "ipRange": "10.10.1.0/25"},
            ("ipRange",),
            "ipRange 10.10.1.0/25 is outside subnet",
        ),
        ({"mtu": 10}, ("mtu",), "greater than or equal to 68"),
        ({"drivr": "overlay"}, ("drivr",), "Extra inputs are not permitted"),
    ],
)
def test_network_rules(data: dict[str, Any], loc: tuple[Any, ...], text: str) -> None:
    got_loc, msg = _error(NetworkSpec, data)
    assert got_loc == loc
    assert text in msg


def test_network_gateway_with_invalid_subnet_reports_only_the_subnet() -> None:
    loc, _ = _error(NetworkSpec, {"subnet": "nope", "gateway": "10.0.0.1"})
    assert loc == ("subnet",)


@pytest.mark.parametrize(
    ("data", "loc", "text"),
    [
        ({"replicas": -1}, ("replicas",), "greater than or equal to 0"),
        ({"mode": "global", "replicas": 2}, ("replicas",), "cannot be set with mode 'global'"),
        ({"mode": "global-job", "replicas": 1}, ("replicas",), "mode 'global-job'"),
        ({"mode": "daemon"}, ("mode",), "'replicated', 'global'"),
        ({"ports": [{"target": 70000}]}, ("ports", 0, "target"), "less than or equal to 65535"),
        (
            {"ports": [{"target": 80, "published": 0}]},
            ("ports", 0, "published"),
            "greater than or equal to 1",
        ),
        ({"ports": [{"target": 80, "protocol": "icmp"}]}, ("ports", 0, "protocol"), "'tcp'"),
        (
            {"ports": [{"target": 80, "published": 80}, {"target": 81, "published": 80}]},
            ("ports",),
            "port 80/tcp is published twice",
        ),
        (
            {"endpointMode": "dnsrr", "ports": [{"target": 80, "published": 80}]},
            ("endpointMode",),
            "use mode host",
        ),
        ({"networks": ["a", {"name": "a"}]}, ("networks",), "network 'a' is listed twice"),
        ({"env": {"A=B": "1"}}, ("env",), "not a valid environment variable name"),
        ({"hosts": {"db": "nope"}}, ("hosts",), "'nope' is not an IP address"),
        (
            {"placement": {"constraints": ["node.role=worker"]}},
            ("placement", "constraints"),
            "invalid constraint 'node.role=worker'",
        ),
        (
            {"mode": "global", "placement": {"maxReplicasPerNode": 1}},
            ("placement",),
            "maxReplicasPerNode cannot be set with mode 'global'",
        ),
        (
            {"resources": {"limits": {"memory": "1M"}}},
            ("resources", "limits"),
            "below Docker's minimum of 6M",
        ),
        (
            {"resources": {"limits": {"cpus": 1}, "reservations": {"cpus": 2}}},
            ("resources", "reservations"),
            "reservations.cpus 2 is more than limits.cpus 1",
        ),
        ({"resources": {"limits": {"memory": "12X"}}}, ("resources", "limits", "memory"), "size"),
        ({"resources": {"limits": {"cpus": "lots"}}}, ("resources", "limits", "cpus"), "CPU"),
        ({"stopGracePeriod": "10 sec"}, ("stopGracePeriod",), "invalid duration"),
        ({"healthcheck": {"test": ["curl", "x"]}}, ("healthcheck", "test"), "CMD, CMD-SHELL"),
        ({"updateConfig": {"maxFailureRatio": 2}}, ("updateConfig", "maxFailureRatio"), "1"),
        (
            {"rollbackConfig": {"failureAction": "rollback"}},
            ("rollbackConfig", "failureAction"),
            "'pause' or 'continue'",
        ),
        ({"restartPolicy": {"condition": "always"}}, ("restartPolicy", "condition"), "'any'"),
        ({"mounts": [{"type": "bind", "target": "/x"}]}, ("mounts", 0), "needs a source"),
        (
            {"mounts": [{"type": "tmpfs", "source": "a", "target": "/x"}]},
            ("mounts", 0),
            "a tmpfs mount has no source",
        ),
    ],
)
def test_service_rules(data: dict[str, Any], loc: tuple[Any, ...], text: str) -> None:
    got_loc, msg = _error(ServiceSpec, {"image": "i", **data})
    assert got_loc == loc
    assert text in msg


def test_service_needs_an_image() -> None:
    loc, msg = _error(ServiceSpec, {"image": ""})
    assert loc == ("image",)
    assert "at least 1 character" in msg


@pytest.mark.parametrize("name", ["host_1", "host-", "host."])
def test_node_name_is_a_hostname(name: str) -> None:
    loc, msg = _error(Node, {"metadata": {"name": name}})
    assert loc == ("metadata",)
    assert "not a valid hostname" in msg


def test_node_rules() -> None:
    loc, _ = _error(Node, {"metadata": {"name": "h"}, "spec": {"availability": "paused"}})
    assert loc == ("spec", "availability")
    loc, _ = _error(Node, {"metadata": {"name": "h"}, "spec": {"role": "leader"}})
    assert loc == ("spec", "role")


@pytest.mark.parametrize("name", ["", "a b", "-x", "x" * 64])
def test_metadata_name(name: str) -> None:
    loc, _ = _error(Service, {"metadata": {"name": name}, "spec": {"image": "i"}})
    assert loc == ("metadata", "name")


def test_models_are_frozen() -> None:
    spec = ServiceSpec(image="i")
    with pytest.raises(ValidationError):
        spec.image = "j"  # type: ignore[misc]


def test_union_helpers_cover_optional_models() -> None:
    # _models_in must see through `X | None` for the coverage test above to mean anything.
    assert _models_in(service_blocks.Placement | None) == [service_blocks.Placement]
    assert _models_in(list[service_blocks.PortSpec]) == [service_blocks.PortSpec]
    assert isinstance(service_blocks.Placement | None, types.UnionType)


def test_the_refused_label_namespace_is_the_one_the_operator_writes() -> None:
    # The manifest language may not import `swarm` (an import contract), so it keeps its
    # own copy of the prefix; this is what keeps the two from drifting apart.
    from swarm_operator.manifests.fields import OPERATOR_LABEL_PREFIX
    from swarm_operator.swarm import labels

    assert OPERATOR_LABEL_PREFIX == labels.PREFIX
    assert all(
        value.startswith(labels.PREFIX)
        for name, value in vars(labels).items()
        if name.isupper() and isinstance(value, str) and value.startswith("io.")
    )


# A file mode is one type wherever a manifest writes one: a secret's or config's file in a
# task and a tmpfs mount's root read the same texts, give the same numbers and write the
# same text back.
MODE_TEXTS = {
    "0440": 0o440,
    "440": 0o440,
    "0o440": 0o440,
    " 0755 ": 0o755,
    "1777": 0o1777,
    "01777": 0o1777,
    "0o1777": 0o1777,
    "7": 0o7,
    "0": 0,
    0o640: 0o640,
    420: 0o644,
}


def _modes(mode: Any) -> tuple[Any, Any]:
    """(a secret reference's mode, a tmpfs mount's mode) of the same value, as parsed."""
    spec = {
        "image": "img",
        "secrets": [{"source": "s", "mode": mode}],
        "mounts": [{"type": "tmpfs", "target": "/t", "tmpfs": {"mode": mode}}],
    }
    svc = Service.model_validate({"metadata": {"name": "w"}, "spec": spec})
    return svc.spec.secrets[0].mode, svc.spec.mounts[0].tmpfs.mode  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "number"), list(MODE_TEXTS.items()))
def test_a_file_mode_reads_the_same_in_every_field(text: Any, number: int) -> None:
    assert _modes(text) == (number, number)


@pytest.mark.parametrize("bad", ["rw", "0888", "12345", "0x1ff", "0o", "", 0o10000, -1])
def test_a_bad_file_mode_is_refused_in_every_field(bad: Any) -> None:
    for field in ("secrets", "mounts"):
        spec: dict[str, Any] = {"image": "img"}
        if field == "secrets":
            spec["secrets"] = [{"source": "s", "mode": bad}]
        else:
            spec["mounts"] = [{"type": "tmpfs", "target": "/t", "tmpfs": {"mode": bad}}]
        with pytest.raises(ValidationError, match=r"octal|less than or equal|greater than"):
            Service.model_validate({"metadata": {"name": "w"}, "spec": spec})


def test_a_file_mode_is_written_back_as_octal_text_that_reads_the_same() -> None:
    for number, text in ((0o440, "0440"), (0o1777, "01777"), (0o7, "0007"), (0, "0000")):
        spec = {
            "image": "img",
            "configs": [{"source": "c", "mode": number}],
            "mounts": [{"type": "tmpfs", "target": "/t", "tmpfs": {"mode": number}}],
        }
        svc = Service.model_validate({"metadata": {"name": "w"}, "spec": spec})
        dumped = svc.spec.model_dump(mode="json", by_alias=True)
        assert (dumped["configs"][0]["mode"], dumped["mounts"][0]["tmpfs"]["mode"]) == (text, text)
        assert _modes(text) == (number, number)


def test_every_file_mode_field_has_one_schema() -> None:
    schema = ServiceSpec.model_json_schema()
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "pattern" in node and "[0-7]" in node["pattern"]:
                found.append(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert len(found) == 3 and set(found) == {"^(0o?)?[0-7]{1,4}$"}  # secrets, configs, tmpfs
