"""The fields of stack files (issue 12): the service's engine fields, mount options, the
Volume kind and external networks, as models, engine form, read-back and plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import net, svc
from pydantic import ValidationError

from swarm_operator.cli import output
from swarm_operator.engine.live import build_state
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.kinds import registry
from swarm_operator.kinds.service import VOLUME_OPTIONS_WARNING
from swarm_operator.kinds.service_read import service_from_docker
from swarm_operator.kinds.service_spec import service_spec
from swarm_operator.manifests.loader import load_directory
from swarm_operator.swarm.labels import MANAGED_BY, MANAGER

STACK = {
    "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
    "capAdd": ["net_admin", "CAP_SYS_TIME"],
    "capDrop": ["ALL"],
    "sysctls": {"net.core.somaxconn": 1024},
    "ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 512},
    "readOnly": True,
    "groups": ["audio"],
    "tty": True,
    "stdinOpen": True,
    "isolation": "process",
    "privileges": {
        "credentialSpec": {"config": "cfg-id"},
        "seLinuxContext": {"type": "container_t", "level": "s0:c1"},
    },
    "resources": {
        "limits": {"memory": "64M", "pids": 200},
        "reservations": {
            "genericResources": [
                {"discreteResourceSpec": {"kind": "gpu", "value": 2}},
                {"namedResourceSpec": {"kind": "ssd", "value": "disk-a"}},
            ]
        },
    },
    "placement": {"platforms": [{"architecture": "arm64", "os": "linux"}]},
    "networks": [{"name": "app", "driverOpts": {"com.docker.network.endpoint.x": "1"}}],
    "mounts": [
        {"type": "tmpfs", "target": "/run", "tmpfs": {"size": "16M", "mode": "1777"}},
        {"type": "bind", "source": "/srv", "target": "/srv", "bind": {"propagation": "rslave"}},
        {
            "type": "volume",
            "source": "data",
            "target": "/data",
            "volumeOptions": {
                "noCopy": True,
                "labels": {"k": "v"},
                "driver": "local",
                "driverOptions": {"type": "tmpfs", "device": "tmpfs"},
            },
        },
    ],
}


def test_every_stack_field_is_written_where_the_engine_reads_it() -> None:
    spec = service_spec(svc("web", **STACK))
    task = spec["TaskTemplate"]
    c = task["ContainerSpec"]
    assert task["LogDriver"] == {
        "Name": "json-file",
        "Options": {"max-size": "10m", "max-file": "3"},
    }
    assert c["CapabilityAdd"] == ["CAP_NET_ADMIN", "CAP_SYS_TIME"]  # as the CLI normalises
    assert c["CapabilityDrop"] == ["ALL"]
    assert c["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert c["Ulimits"] == [
        {"Name": "nofile", "Soft": 1024, "Hard": 2048},
        {"Name": "nproc", "Soft": 512, "Hard": 512},
    ]
    assert (c["ReadOnly"], c["TTY"], c["OpenStdin"]) == (True, True, True)
    assert c["Groups"] == ["audio"]
    assert c["Isolation"] == "process"
    assert c["Privileges"] == {
        "CredentialSpec": {"Config": "cfg-id"},
        "SELinuxContext": {"Type": "container_t", "Level": "s0:c1"},
    }
    assert task["Resources"]["Limits"] == {"MemoryBytes": 64 * 2**20, "Pids": 200}
    assert task["Resources"]["Reservations"] == {
        "GenericResources": [
            {"DiscreteResourceSpec": {"Kind": "gpu", "Value": 2}},
            {"NamedResourceSpec": {"Kind": "ssd", "Value": "disk-a"}},
        ]
    }
    assert task["Placement"] == {"Platforms": [{"Architecture": "arm64", "OS": "linux"}]}
    assert task["Networks"] == [
        {"Target": "app", "DriverOpts": {"com.docker.network.endpoint.x": "1"}}
    ]
    mounts = {m["Target"]: m for m in c["Mounts"]}
    assert mounts["/run"]["TmpfsOptions"] == {"SizeBytes": 16 * 2**20, "Mode": 0o1777}
    assert mounts["/srv"]["BindOptions"] == {"Propagation": "rslave"}
    assert mounts["/data"]["VolumeOptions"] == {
        "NoCopy": True,
        "Labels": {"k": "v"},
        "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs"}},
    }


def test_unset_fields_write_nothing() -> None:
    spec = service_spec(svc("plain"))
    c = spec["TaskTemplate"]["ContainerSpec"]
    for key in ("CapabilityAdd", "Sysctls", "Ulimits", "ReadOnly", "TTY", "Privileges"):
        assert key not in c
    assert "LogDriver" not in spec["TaskTemplate"]


def _field(alias: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in alias)


def test_the_engine_form_reads_back_as_the_same_manifest() -> None:
    service = svc("web", **STACK)
    back = service_from_docker(service_spec(service))
    for key in STACK:  # each field as written (blocks the engine fills are compared below)
        if key != "mounts":
            assert getattr(back.spec, _field(key)) == getattr(service.spec, _field(key)), key
    assert sorted(back.spec.mounts, key=str) == sorted(service.spec.mounts, key=str)
    comparable = registry.of_manifest(service).comparable(service, back)
    assert comparable[0] == comparable[1]


def test_max_concurrent_of_a_replicated_job() -> None:
    job = svc("batch", mode="replicated-job", replicas=6, maxConcurrent=2)
    assert service_spec(job)["Mode"] == {
        "ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 6}
    }
    assert service_from_docker(service_spec(job)).spec.max_concurrent == 2
    default = svc("batch", mode="replicated-job", replicas=6)
    assert service_spec(default)["Mode"]["ReplicatedJob"]["MaxConcurrent"] == 6
    # what the engine stores for an unset maxConcurrent reads back without drift
    kind = registry.of_manifest(default)
    d, lv = kind.comparable(default, service_from_docker(service_spec(default)))
    assert d == lv
    with pytest.raises(ValidationError, match="maxConcurrent is only for mode replicated-job"):
        svc("web", replicas=2, maxConcurrent=1)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"ulimits": {"nofile": {"soft": 10, "hard": 5}}}, "above the hard limit"),
        ({"ulimits": {"NOFILE": 5}}, "unknown ulimit 'NOFILE'"),
        ({"ulimits": {"files": 5}}, "unknown ulimit 'files'"),
        ({"capAdd": ["NET ADMIN"]}, "not a capability name"),
        ({"capAdd": ["NET_ADMN"]}, "unknown capability 'CAP_NET_ADMN'"),
        ({"capDrop": ["cap_mknod", "all"]}, None),
        ({"sysctls": {"kernel.pid_max": "1"}}, "is not namespaced"),
        ({"sysctls": {"fs.mqueue.msg_max": "10", "kernel.shmmax": "1"}}, None),
        ({"isolation": "vm"}, "Input should be"),
        ({"mounts": [{"type": "bind", "source": "/a", "target": "/a", "tmpfs": {}}]}, "tmpfs"),
        ({"mounts": [{"type": "tmpfs", "target": "/t", "tmpfs": {"mode": "999"}}]}, "octal"),
        (
            {"mounts": [{"source": "v", "target": "/v", "volumeOptions": {"driverOptions": {}}}]},
            None,
        ),
        (
            {
                "mounts": [
                    {"source": "v", "target": "/v", "volumeOptions": {"driverOptions": {"a": "b"}}}
                ]
            },
            "driverOptions need a driver",
        ),
        ({"privileges": {"credentialSpec": {"file": "a", "registry": "b"}}}, "exactly one"),
        (
            {"resources": {"reservations": {"genericResources": [{}]}}},
            "exactly one of discreteResourceSpec",
        ),
    ],
)
def test_rules_of_the_new_fields(spec: dict[str, Any], message: str | None) -> None:
    if message is None:
        svc("web", **spec)
        return
    with pytest.raises(ValidationError, match=message):
        svc("web", **spec)


# --------------------------------------------------------------------------- Volume


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


HEAD = "apiVersion: swarm-operator/v1alpha1\n"
VOLUME = HEAD + (
    "kind: Volume\nmetadata: {name: pgdata}\n"
    "spec:\n  driverOptions: {type: tmpfs, device: tmpfs, o: size=64m}\n  labels: {tier: db}\n"
)
DB = HEAD + (
    "kind: Service\nmetadata: {name: db}\nspec:\n  image: pg:16\n"
    "  mounts:\n"
    "    - {source: pgdata, target: /var/lib/postgresql/data, volumeOptions: {labels: {a: b}}}\n"
    "    - {source: scratch, target: /scratch}\n"
)


def test_a_mount_of_a_declared_volume_carries_its_driver(tmp_path: Path) -> None:
    write(tmp_path / "v.yaml", VOLUME)
    write(tmp_path / "db.yaml", DB)
    result = load_directory(tmp_path)
    assert result.ok, [str(e) for e in result.errors]
    db = result.by_key()[("Service", "db")].manifest
    mounts = {m["Target"]: m for m in service_spec(db)["TaskTemplate"]["ContainerSpec"]["Mounts"]}
    assert mounts["/var/lib/postgresql/data"]["VolumeOptions"] == {
        "Labels": {"tier": "db", "a": "b"},
        "DriverConfig": {
            "Name": "local",
            "Options": {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"},
        },
    }
    # a named volume that no manifest declares stays allowed: the node makes a local one
    assert "VolumeOptions" not in mounts["/scratch"]


def test_a_declared_volume_is_not_given_a_driver_on_the_mount_too(tmp_path: Path) -> None:
    write(tmp_path / "v.yaml", VOLUME)
    write(
        tmp_path / "db.yaml",
        HEAD + "kind: Service\nmetadata: {name: db}\nspec:\n  image: pg:16\n  mounts:\n"
        "    - {source: pgdata, target: /d, volumeOptions: {driver: nfs}}\n",
    )
    result = load_directory(tmp_path)
    (error,) = result.errors
    assert (error.source.file, error.source.line) == (tmp_path / "db.yaml", 1)
    assert "spec.mounts[0].volumeOptions: volume 'pgdata' is declared by a Volume" in str(error)
    assert ("Service", "db") not in result.by_key()


def test_while_a_manifest_fails_an_undeclared_volume_holds_its_service(tmp_path: Path) -> None:
    # The Volume's file does not load: the service must not be written without the
    # driver it would have had (never change an object because a manifest was unreadable).
    write(tmp_path / "v.yaml", VOLUME.replace("labels: {tier: db}", "labels: [oops"))
    write(tmp_path / "db.yaml", DB)
    result = load_directory(tmp_path)
    assert ("Service", "db") not in result.by_key()
    held = [str(e) for e in result.errors if e.source.file == tmp_path / "db.yaml"]
    assert len(held) == 2, held  # pgdata and scratch: either may be in the broken file
    assert all("a manifest failed to load" in e for e in held), held
    assert tmp_path / "db.yaml" in result.failed_files  # so the daemon holds its keys
    write(tmp_path / "v.yaml", VOLUME)
    assert load_directory(tmp_path).ok


def test_a_volume_is_no_swarm_object_and_never_pruned(tmp_path: Path) -> None:
    write(tmp_path / "v.yaml", VOLUME)
    manifests = [o.manifest for o in load_directory(tmp_path).objects]
    p = plan(manifests, build_state({}), PlanOptions(prune=True))
    (action,) = p.actions
    assert (action.verb, action.kind) == ("noop", "Volume")
    assert "not a Swarm object" in action.reason
    assert not registry.of("Volume").prunable


def test_a_changed_volume_driver_is_planned_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path / "v.yaml", VOLUME)
    write(tmp_path / "db.yaml", DB)
    db = load_directory(tmp_path).by_key()[("Service", "db")].manifest
    live_spec = service_spec(db)
    live = build_state({"Service": [{"ID": "s1", "Version": {"Index": 3}, "Spec": live_spec}]})
    assert not plan([db], live, PlanOptions()).pending

    write(tmp_path / "v.yaml", VOLUME.replace("size=64m", "size=128m"))
    changed = load_directory(tmp_path).by_key()[("Service", "db")].manifest
    (action,) = plan([changed], live, PlanOptions()).actions
    assert action.verb == "update"
    # sorted by target: /scratch first
    assert [d.path for d in action.differences] == ["spec.mounts[1].volumeOptions.driverOptions.o"]
    assert VOLUME_OPTIONS_WARNING.format(names="pgdata") in action.reason


# --------------------------------------------------------------------------- external


def raw_net(name: str, managed: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "Id": f"id-{name}",
        "Scope": "swarm",
        "Driver": "overlay",
        "Labels": {MANAGED_BY: MANAGER} if managed else {},
        "IPAM": {"Config": [{"Subnet": "10.99.0.0/24"}]},
        **extra,
    }


def test_a_missing_external_network_is_an_error_not_a_create() -> None:
    p = plan([net("edge", external=True)], build_state({"Network": []}), PlanOptions())
    (action,) = p.actions
    assert action.verb == "missing"
    assert "never creates it" in str(action.blocked)
    assert "docker network create" in str(action.blocked)
    assert p.unmet == (action,)
    assert not p.runnable
    text = output.plan_text(p)
    assert "? missing Network edge  (external network not in the Swarm)" in text
    assert "BLOCKED: external: swarm-operator never creates it" in text
    assert "No changes" not in text
    assert "Not ready: Network edge must exist first" in text
    assert p.to_dict()["summary"]["unmet"] == 1


@pytest.mark.parametrize("managed", [False, True])
def test_an_external_network_is_never_changed(managed: bool) -> None:
    live = build_state({"Network": [raw_net("edge", managed, Attachable=True, Internal=True)]})
    p = plan([net("edge", external=True)], live, PlanOptions(prune=True, allow_replace=True))
    (action,) = p.actions
    assert action.verb == "noop"
    assert "never created, changed or pruned" in action.reason
    assert not p.unmet


def test_an_external_network_says_nothing_else() -> None:
    with pytest.raises(ValidationError, match="remove attachable, subnet"):
        net("edge", external=True, subnet="10.1.0.0/24", attachable=True)
    net("edge", external=True, probe={"enabled": False})  # probing it is ours to say


def test_a_bind_mount_at_the_default_propagation_is_no_difference() -> None:
    # The docker CLI writes Propagation "rprivate" beside any bind option it sets.
    from swarm_operator.kinds.normalize import service_pair

    bare = {"type": "bind", "source": "/tmp", "target": "/t", "readOnly": False}
    desired = svc("web", mounts=[bare]).spec.model_dump(mode="json", by_alias=True)
    live = svc("web", mounts=[{**bare, "bind": {"propagation": "rprivate"}}])
    d, lv = service_pair(desired, live.spec.model_dump(mode="json", by_alias=True))
    assert d == lv
    shared = svc("web", mounts=[{**bare, "bind": {"propagation": "rshared"}}])
    d, lv = service_pair(desired, shared.spec.model_dump(mode="json", by_alias=True))
    assert d != lv
