"""Property: manifest -> Docker spec -> engine (simulated as observed) -> live model -> no diff.

The simulated engine does what the real one was seen doing to a spec on create (see
fixtures/engine/services.json): it adds ``ContainerSpec.Isolation`` (when unset) and
``TaskTemplate.Runtime``, stores networks by ID, and (the CLI, or a registry look-up)
may pin a digest into the image.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from swarm_operator.engine.live import build_state
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.kinds.service_spec import service_spec
from swarm_operator.manifests.models import Service

IMAGES = ["10.77.1.1:5000/busybox:1", "app:2", "x/y@sha256:" + "c" * 64]
names = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
durations = st.integers(min_value=0, max_value=10**12).map(lambda ns: f"{ns}ns")
maybe = st.none().__or__
words = st.lists(st.from_regex(r"[a-z0-9/=.-]{1,10}", fullmatch=True), max_size=3)
label_maps = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9.]{0,10}", fullmatch=True).filter(
        lambda k: not k.startswith("io.swarm-operator")
    ),
    st.text("abc123 ", max_size=5),
    max_size=3,
)


@st.composite
def update_configs(draw: st.DrawFn, rollback: bool = False) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    actions = ["pause", "continue"] + ([] if rollback else ["rollback"])
    cfg = {
        "parallelism": draw(maybe(st.integers(0, 5))),
        "delay": draw(maybe(durations)),
        "failureAction": draw(maybe(st.sampled_from(actions))),
        "monitor": draw(maybe(durations)),
        "maxFailureRatio": draw(maybe(st.sampled_from([0.0, 0.25, 0.5, 1.0]))),
        "order": draw(maybe(st.sampled_from(["stop-first", "start-first"]))),
    }
    return {k: v for k, v in cfg.items() if v is not None}


propagations = st.sampled_from(["private", "rprivate", "shared", "rshared", "slave", "rslave"])
text_maps = st.dictionaries(names, st.text("ab1=, ", max_size=4), max_size=2)


@st.composite
def generic_resources(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"discreteResourceSpec": {"kind": draw(names), "value": draw(st.integers(0, 9))}}
    return {"namedResourceSpec": {"kind": draw(names), "value": draw(names)}}


@st.composite
def volume_options(draw: st.DrawFn) -> dict[str, Any]:
    driver = draw(maybe(st.sampled_from(["local", "glusterfs"])))
    return {
        "noCopy": draw(st.booleans()),
        "labels": draw(label_maps),
        "driver": driver,
        "driverOptions": draw(text_maps) if driver else {},
        "subpath": draw(maybe(st.sampled_from(["a", "a/b", "./c", "d/../e"]))),
    }


@st.composite
def container_fields(draw: st.DrawFn) -> dict[str, Any]:
    """The ContainerSpec and LogDriver fields of stack files (issue 12)."""
    caps = st.lists(st.sampled_from(["NET_ADMIN", "CAP_SYS_TIME", "chown", "ALL"]), max_size=3)
    ulimit = st.one_of(
        st.integers(-1, 10**6),
        st.integers(0, 1000).map(lambda n: {"soft": n, "hard": n + 10}),
    )
    selinux = st.fixed_dictionaries(
        {
            "disable": st.booleans(),
            "user": maybe(st.just("system_u")),
            "level": maybe(st.just("s0:c1")),
        }
    )
    credential = st.sampled_from([{"file": "a.json"}, {"registry": "k"}, {"config": "cfgid"}])
    privileges = st.fixed_dictionaries(
        {"credentialSpec": maybe(credential), "seLinuxContext": maybe(selinux)}
    )
    return {
        "logging": draw(
            maybe(
                st.fixed_dictionaries(
                    {"driver": st.sampled_from(["json-file", "local"]), "options": text_maps}
                )
            )
        ),
        "capAdd": draw(caps),
        "capDrop": draw(caps),
        "sysctls": draw(
            st.dictionaries(
                st.sampled_from(["net.core.somaxconn", "net.ipv4.ip_forward"]),
                st.sampled_from(["0", "1", "1024"]),
                max_size=2,
            )
        ),
        "ulimits": draw(st.dictionaries(st.sampled_from(["nofile", "nproc"]), ulimit)),
        "readOnly": draw(st.booleans()),
        "groups": draw(st.lists(st.sampled_from(["audio", "video", "1001"]), max_size=2)),
        "tty": draw(st.booleans()),
        "stdinOpen": draw(st.booleans()),
        "isolation": draw(maybe(st.sampled_from(["default", "process"]))),
        "privileges": draw(maybe(privileges)),
        "oomScoreAdj": draw(maybe(st.integers(-1000, 1000))),
    }


@st.composite
def service_manifests(draw: st.DrawFn) -> Service:
    mode = draw(st.sampled_from(["replicated", "global", "replicated-job", "global-job"]))
    endpoint = draw(st.sampled_from(["vip", "dnsrr"]))
    port_mode = st.sampled_from(["host"] if endpoint == "dnsrr" else ["host", "ingress"])
    ports = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "target": st.integers(1, 65535),
                    "published": st.integers(1, 65535),
                    "protocol": st.sampled_from(["tcp", "udp"]),
                    "mode": port_mode,
                }
            ),
            max_size=3,
            unique_by=lambda p: (p["published"], p["protocol"]),
        )
    )
    spec: dict[str, Any] = {
        "image": draw(
            st.sampled_from(["10.77.1.1:5000/busybox:1", "app:2", "x/y@sha256:" + "c" * 64])
        ),
        "command": draw(maybe(words)),
        "args": draw(maybe(words)),
        "env": draw(
            st.dictionaries(
                st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True),
                st.text("ab=1 ", max_size=4),
                max_size=4,
            )
        ),
        "mode": mode,
        "networks": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "name": names,
                        "aliases": st.lists(names, max_size=2),
                        "driverOpts": st.dictionaries(names, names, max_size=2),
                    }
                ),
                max_size=3,
                unique_by=lambda n: n["name"],
            )
        ),
        "ports": ports,
        "endpointMode": endpoint,
        # the engine refuses an update config on a job
        "updateConfig": None if mode.endswith("-job") else draw(update_configs()),
        "rollbackConfig": draw(update_configs(rollback=True)),
        "labels": draw(label_maps),
        "containerLabels": draw(label_maps),
        "init": draw(maybe(st.booleans())),
        "stopGracePeriod": draw(maybe(durations)),
        "user": draw(maybe(st.sampled_from(["0", "nobody", "1000:1000"]))),
        "workdir": draw(maybe(st.sampled_from(["/", "/srv"]))),
        "dns": draw(st.lists(st.sampled_from(["10.0.0.2", "10.0.0.3"]), max_size=2)),
        "hosts": draw(
            st.dictionaries(names, st.sampled_from(["10.1.2.3", "10.9.9.9"]), max_size=2)
        ),
    }
    if mode in ("replicated", "replicated-job"):
        spec["replicas"] = draw(maybe(st.integers(0, 9)))
    if mode == "replicated-job":
        spec["maxConcurrent"] = draw(maybe(st.integers(0, 9)))
    spec.update(draw(container_fields()))
    if draw(st.booleans()):
        spec["restartPolicy"] = {
            k: v
            for k, v in {
                "condition": draw(maybe(st.sampled_from(["none", "on-failure", "any"]))),
                "delay": draw(maybe(durations)),
                "maxAttempts": draw(maybe(st.integers(0, 9))),
                "window": draw(maybe(durations)),
            }.items()
            if v is not None
        }
    if draw(st.booleans()):
        spec["placement"] = {
            "constraints": draw(
                st.lists(
                    st.sampled_from(
                        ["node.role==manager", "node.role!=worker", "node.labels.zone==a"]
                    ),
                    max_size=3,
                    unique=True,
                )
            ),
            "preferences": draw(
                st.lists(
                    st.fixed_dictionaries(
                        {"spread": st.sampled_from(["node.labels.zone", "node.id"])}
                    ),
                    max_size=2,
                )
            ),
            "maxReplicasPerNode": (
                draw(maybe(st.integers(0, 4))) if mode.startswith("replicated") else None
            ),
            "platforms": draw(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "architecture": st.sampled_from(["amd64", "arm64"]),
                            "os": st.just("linux"),
                        }
                    ),
                    max_size=2,
                    unique_by=lambda p: p["architecture"],
                )
            ),
        }
    if draw(st.booleans()):
        mem = draw(maybe(st.integers(6 * 2**20, 2**34)))
        cpus = draw(maybe(st.integers(10**6, 8 * 10**9)))  # the engine's minimum: 0.001
        spec["resources"] = {
            "limits": {
                "memory": mem,
                "cpus": None if cpus is None else cpus / 1e9,
                "pids": draw(maybe(st.integers(0, 4096))),
            },
            "reservations": {
                "memory": None if mem is None else max(mem // 2, 4 * 2**20),
                "genericResources": draw(st.lists(generic_resources(), max_size=2)),
            },
        }
    if draw(st.booleans()):
        spec["healthcheck"] = {
            "test": draw(st.sampled_from([["CMD", "true"], "exit 0", ["NONE"]])),
            "interval": draw(maybe(st.integers(10**6, 10**12).map(lambda ns: f"{ns}ns"))),
            "retries": draw(maybe(st.integers(0, 5))),
            "startInterval": draw(maybe(st.sampled_from(["0s", "1ms", "2s", "1m30s"]))),
        }
    if draw(st.booleans()):
        spec["mounts"] = [
            {
                "type": "tmpfs",
                "target": "/tmp/a",
                "tmpfs": draw(
                    maybe(
                        st.fixed_dictionaries(
                            {
                                "size": maybe(st.integers(1, 2**30)),
                                "mode": maybe(st.sampled_from(["1777", "0700", 0o755])),
                            }
                        )
                    )
                ),
            },
            {
                "type": "volume",
                "source": draw(names),
                "target": "/data",
                "readOnly": draw(st.booleans()),
                "volumeOptions": draw(maybe(volume_options())),
            },
            {
                "type": "bind",
                "source": "/srv",
                "target": "/srv",
                "bind": draw(maybe(st.fixed_dictionaries({"propagation": propagations}))),
            },
        ]
    return Service.model_validate({"metadata": {"name": draw(names)}, "spec": spec})


def simulated_engine(
    spec: dict[str, Any], network_ids: dict[str, str], pin: bool
) -> dict[str, Any]:
    stored = copy.deepcopy(spec)
    task = stored["TaskTemplate"]
    # dockerd's convert.isolationToGRPC: unset is stored as "default", any other kept
    task["ContainerSpec"].setdefault("Isolation", "default")
    task["Runtime"] = "container"
    for attachment in task.get("Networks", []):
        attachment["Target"] = network_ids[attachment["Target"]]
    image = task["ContainerSpec"]["Image"]
    if pin and "@" not in image:
        task["ContainerSpec"]["Image"] = image + "@sha256:" + "d" * 64
    return stored


@settings(max_examples=150, deadline=None)
@given(service_manifests(), st.booleans())
def test_applied_spec_reads_back_without_drift(service: Service, pin: bool) -> None:
    nets = [n.name for n in service.spec.networks]
    network_ids = {name: f"id{i:023d}" for i, name in enumerate(nets)}
    raw_networks = [
        {
            "Name": name,
            "Id": ident,
            "Scope": "swarm",
            "Driver": "overlay",
            "Labels": {},
            "IPAM": {"Config": []},
        }
        for name, ident in network_ids.items()
    ]
    stored = simulated_engine(service_spec(service), network_ids, pin)
    live = build_state(
        {
            "Service": [{"ID": "svc1", "Version": {"Index": 7}, "Spec": stored}],
            "Network": raw_networks,
        }
    )
    assert live.of("Service")[service.name].read_error is None
    p = plan([service], live, PlanOptions(), keys=[service.key])
    (action,) = p.actions
    assert action.verb == "noop", [str(d) for d in action.differences]


@settings(max_examples=60, deadline=None)
@given(service_manifests(), service_manifests())
def test_different_specs_are_seen(a: Service, b: Service) -> None:
    """The converse: two specs that normalise differently are never reported as equal."""
    from swarm_operator.kinds import registry

    b = b.model_copy(update={"metadata": a.metadata})
    da, db = registry.of_manifest(a).comparable(a, b)
    stored = simulated_engine(service_spec(b), {n.name: n.name for n in b.spec.networks}, False)
    live = build_state({"Service": [{"ID": "s", "Version": {"Index": 1}, "Spec": stored}]})
    (action,) = plan([a], live, PlanOptions()).actions
    assert (action.verb == "noop") == (da == db)
