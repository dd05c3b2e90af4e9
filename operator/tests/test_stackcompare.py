"""The equality test's comparator (tests/stackcompare.py): what it forgives, what it names."""

from __future__ import annotations

import copy
from typing import Any

from stackcompare import differences

REF: dict[str, Any] = {
    "Name": "ref_web",
    "Labels": {"com.docker.stack.namespace": "ref", "com.docker.stack.image": "app:1"},
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": "app:1@sha256:" + "a" * 64,
            "Labels": {"com.docker.stack.namespace": "ref"},
            "Secrets": [
                {"File": {"Name": "db", "UID": "0", "GID": "0", "Mode": 292},
                 "SecretID": "s-ref", "SecretName": "ref_db"},
            ],
        },
        "Networks": [{"Target": "n-ref", "Aliases": ["web"]}],
        "RestartPolicy": {"Condition": "on-failure", "MaxAttempts": 3},
    },
    "Mode": {"Replicated": {"Replicas": 2}},
    "EndpointSpec": {"Mode": "vip"},
}  # fmt: skip
OURS: dict[str, Any] = {
    "Name": "cmp_web",
    "Labels": {"com.docker.stack.namespace": "cmp", "io.swarm-operator.managed-by": "x"},
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": "app:1",
            "Labels": {"com.docker.stack.namespace": "cmp"},
            "Secrets": [
                {"File": {"Name": "db", "UID": "0", "GID": "0", "Mode": 292},
                 "SecretID": "s-ours", "SecretName": "cmp_db-0123abcd"},
            ],
        },
        "Networks": [{"Target": "n-ours", "Aliases": ["web"]}],
        "RestartPolicy": {"Condition": "on-failure", "Delay": 5_000_000_000, "MaxAttempts": 3,
                          "Window": 0},
        "Placement": {},
        "Resources": {"Limits": {}, "Reservations": {}},
        "ForceUpdate": 0,
    },
    "Mode": {"Replicated": {"Replicas": 2}},
    "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5_000_000_000,
                     "MaxFailureRatio": 0, "Order": "stop-first"},
    "EndpointSpec": {"Mode": "vip"},
}  # fmt: skip
TABLES = {
    "networks": {"n-ref": "ref_front", "n-ours": "cmp_front"},
    "secrets": {"s-ref": "ref_db", "s-ours": "cmp_db-0123abcd"},
    "configs": {},
}


def diff(ref: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    return differences(ref, ours, ref_ns="ref", our_ns="cmp", **TABLES)


def test_the_same_deployment_by_both_tools_has_no_difference() -> None:
    assert diff(REF, OURS) == []


def test_a_real_difference_is_named_by_its_path() -> None:
    ours = copy.deepcopy(OURS)
    ours["Mode"]["Replicated"]["Replicas"] = 3
    ours["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["File"]["Mode"] = 0o400
    ours["TaskTemplate"]["Networks"][0]["Aliases"] = []
    assert diff(REF, ours) == [
        "Mode.Replicated.Replicas: 2 != 3",
        "TaskTemplate.ContainerSpec.Secrets[0].File.Mode: 292 != 256",
        "TaskTemplate.Networks[0].Aliases: ['web'] != []",
    ]


def test_another_tag_another_network_or_a_user_label_differ() -> None:
    ours = copy.deepcopy(OURS)
    ours["TaskTemplate"]["ContainerSpec"]["Image"] = "app:2"
    ours["TaskTemplate"]["Networks"][0]["Target"] = "n-other"
    ours["Labels"]["team"] = "a"
    found = diff(REF, ours)
    assert "Labels.team: None != 'a'" in found
    assert "TaskTemplate.ContainerSpec.Image: 'app:1' != 'app:2'" in found
    assert any(d.startswith("TaskTemplate.Networks[0].Target") for d in found), found


def test_published_ports_are_a_set_but_each_port_is_compared() -> None:
    web = {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}
    dns = {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353, "PublishMode": "host"}
    ref, ours = copy.deepcopy(REF), copy.deepcopy(OURS)
    ref["EndpointSpec"]["Ports"] = [web, dns]
    ours["EndpointSpec"]["Ports"] = [dns, web]
    assert diff(ref, ours) == []
    ours["EndpointSpec"]["Ports"] = [dns, {**web, "PublishMode": "host"}]
    assert diff(ref, ours) == ["EndpointSpec.Ports[0].PublishMode: 'ingress' != 'host'"]


def test_constraints_are_a_set_preferences_a_list() -> None:
    ref, ours = copy.deepcopy(REF), copy.deepcopy(OURS)
    spread = [{"Spread": {"SpreadDescriptor": "node.labels.zone"}},
              {"Spread": {"SpreadDescriptor": "node.hostname"}}]  # fmt: skip
    ref["TaskTemplate"]["Placement"] = {
        "Constraints": ["node.labels.a == 1", "node.role == worker"],
        "Preferences": spread,
    }
    ours["TaskTemplate"]["Placement"] = {
        "Constraints": ["node.role == worker", "node.labels.a == 1"],
        "Preferences": spread,
    }
    assert diff(ref, ours) == []
    ours["TaskTemplate"]["Placement"]["Preferences"] = spread[::-1]
    assert diff(ref, ours) == [
        "TaskTemplate.Placement.Preferences[0].Spread.SpreadDescriptor: "
        "'node.labels.zone' != 'node.hostname'",
        "TaskTemplate.Placement.Preferences[1].Spread.SpreadDescriptor: "
        "'node.hostname' != 'node.labels.zone'",
    ]


def test_a_named_volume_is_mapped_like_the_stack_but_its_options_are_compared() -> None:
    def mount(ns: str, label: str) -> dict[str, Any]:
        return {"Type": "volume", "Source": f"{ns}_data", "Target": "/data",
                "VolumeOptions": {"Labels": {"com.docker.stack.namespace": ns, "kind": label},
                                  "DriverConfig": {"Name": "local"}}}  # fmt: skip

    ref, ours = copy.deepcopy(REF), copy.deepcopy(OURS)
    ref["TaskTemplate"]["ContainerSpec"]["Mounts"] = [mount("ref", "a")]
    ours["TaskTemplate"]["ContainerSpec"]["Mounts"] = [mount("cmp", "a")]
    assert diff(ref, ours) == []
    ours["TaskTemplate"]["ContainerSpec"]["Mounts"] = [mount("cmp", "b")]
    del ours["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["VolumeOptions"]["DriverConfig"]
    assert diff(ref, ours) == [
        "TaskTemplate.ContainerSpec.Mounts[0].VolumeOptions.DriverConfig.Name: 'local' != None",
        "TaskTemplate.ContainerSpec.Mounts[0].VolumeOptions.Labels.kind: 'a' != 'b'",
    ]
    # without the namespace label on our side (the operator does not write it yet)
    ours["TaskTemplate"]["ContainerSpec"]["Mounts"] = [mount("cmp", "a")]
    del ours["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["VolumeOptions"]["Labels"][
        "com.docker.stack.namespace"
    ]
    assert diff(ref, ours) == [
        "TaskTemplate.ContainerSpec.Mounts[0].VolumeOptions.Labels.com.docker.stack.namespace: "
        "'STACK' != None"
    ]


def test_mount_order_and_a_relative_config_target_are_no_difference() -> None:
    ref, ours = copy.deepcopy(REF), copy.deepcopy(OURS)
    a = {"Type": "volume", "Source": "ref_data", "Target": "/data"}
    b = {"Type": "tmpfs", "Target": "/cache"}
    ref["TaskTemplate"]["ContainerSpec"]["Mounts"] = [a, b]
    ours["TaskTemplate"]["ContainerSpec"]["Mounts"] = [b, {**a, "Source": "cmp_data"}]
    ref["TaskTemplate"]["ContainerSpec"]["Configs"] = [
        {"File": {"Name": "app", "Mode": 292}, "ConfigID": "c1", "ConfigName": "ref_app"}
    ]
    ours["TaskTemplate"]["ContainerSpec"]["Configs"] = [
        {
            "File": {"Name": "/app", "Mode": 292},
            "ConfigID": "c2",
            "ConfigName": "cmp_app-0a1b2c3d4e",
        }
    ]
    assert diff(ref, ours) == []
    ours["TaskTemplate"]["ContainerSpec"]["Configs"][0]["File"]["Name"] = "/etc/app"
    assert diff(ref, ours) == [
        "TaskTemplate.ContainerSpec.Configs[0].File.Name: '/app' != '/etc/app'"
    ]
