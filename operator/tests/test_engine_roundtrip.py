"""Property: manifest -> Docker spec -> engine (simulated as observed) -> live model -> no diff.

The simulated engine does what the real one was seen doing to a spec on create (see
fixtures/engine/services.json): it adds ``ContainerSpec.Isolation`` and
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
                st.fixed_dictionaries({"name": names, "aliases": st.lists(names, max_size=2)}),
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
        }
    if draw(st.booleans()):
        mem = draw(maybe(st.integers(6 * 2**20, 2**34)))
        cpus = draw(maybe(st.integers(10**6, 8 * 10**9)))  # the engine's minimum: 0.001
        spec["resources"] = {
            "limits": {"memory": mem, "cpus": None if cpus is None else cpus / 1e9},
            "reservations": {"memory": None if mem is None else max(mem // 2, 4 * 2**20)},
        }
    if draw(st.booleans()):
        spec["healthcheck"] = {
            "test": draw(st.sampled_from([["CMD", "true"], "exit 0", ["NONE"]])),
            "interval": draw(maybe(st.integers(10**6, 10**12).map(lambda ns: f"{ns}ns"))),
            "retries": draw(maybe(st.integers(0, 5))),
        }
    if draw(st.booleans()):
        spec["mounts"] = [
            {"type": "tmpfs", "target": "/tmp/a"},
            {
                "type": "volume",
                "source": draw(names),
                "target": "/data",
                "readOnly": draw(st.booleans()),
            },
        ]
    return Service.model_validate({"metadata": {"name": draw(names)}, "spec": spec})


def simulated_engine(
    spec: dict[str, Any], network_ids: dict[str, str], pin: bool
) -> dict[str, Any]:
    stored = copy.deepcopy(spec)
    task = stored["TaskTemplate"]
    task["ContainerSpec"]["Isolation"] = "default"
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
