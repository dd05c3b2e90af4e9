"""The service fields of newer engines: the healthcheck's ``startInterval`` (Engine API
1.44), a volume mount's ``volumeOptions.subpath`` (1.45) and ``oomScoreAdj`` (1.46).

Pure: the models' rules, the render and read-back, convert's compose keys, export, and
the gate: a plan made from a live state whose engine speaks an older API blocks the
service with the message naming the field and both versions, and apply writes nothing.
"""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fake_swarm import CountingSwarm
from pydantic import ValidationError
from samples import FULL_SERVICE
from test_engine_roundtrip import simulated_engine

from swarm_operator.cli.output import plan_text
from swarm_operator.engine.converge import apply_plan
from swarm_operator.engine.export import document
from swarm_operator.engine.live import build_state, read_live
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.kinds.service_spec import service_spec
from swarm_operator.manifests.compose.convert import convert_files
from swarm_operator.manifests.models import Service
from swarm_operator.swarm.api_versions import SERVICE_FIELDS, unsupported

IMAGE = "10.77.0.1:5000/swarm-operator/busybox:1"


def service(name: str = "web", **spec: Any) -> Service:
    return Service.model_validate(
        {"metadata": {"name": name}, "spec": {"image": IMAGE, "replicas": 0, **spec}}
    )


NEWER = {
    "healthcheck": {"test": "true", "interval": "5s", "startInterval": "2s"},
    "mounts": [
        {"type": "volume", "source": "data", "target": "/data", "volumeOptions": {"subpath": "a/b"}}
    ],
    "oomScoreAdj": 500,
}

# --------------------------------------------------------------------------- the models


def test_the_three_fields_parse_and_dump_in_the_manifests_words() -> None:
    s = service(**NEWER).spec
    assert s.healthcheck is not None and s.healthcheck.start_interval == 2_000_000_000
    assert s.mounts[0].volume_options is not None
    assert s.mounts[0].volume_options.subpath == "a/b"
    assert s.oom_score_adj == 500
    dumped = s.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert dumped["healthcheck"]["startInterval"] == "2s"
    assert dumped["mounts"][0]["volumeOptions"] == {"subpath": "a/b"}
    assert dumped["oomScoreAdj"] == 500


@pytest.mark.parametrize("value", [-1000, 0, 1000])
def test_oom_score_adj_takes_the_kernels_range(value: int) -> None:
    assert service(oomScoreAdj=value).spec.oom_score_adj == value


@pytest.mark.parametrize("value", [-1001, 1001, "high"])
def test_oom_score_adj_outside_the_range_is_refused(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        service(oomScoreAdj=value)
    assert caught.value.errors()[0]["loc"] == ("spec", "oomScoreAdj")


@pytest.mark.parametrize("subpath", ["a", "a/b", "./a", "a/../b", "a/b/"])
def test_a_subpath_inside_the_volume_is_taken(subpath: str) -> None:
    mount = {"type": "volume", "source": "v", "target": "/v", "volumeOptions": {"subpath": subpath}}
    assert service(mounts=[mount]).spec.mounts[0].volume_options.subpath == subpath  # type: ignore[union-attr]


@pytest.mark.parametrize("subpath", ["", "/abs", "..", "../x", "a/../../b"])
def test_a_subpath_outside_the_volume_is_refused_as_the_daemon_refuses_it(subpath: str) -> None:
    mount = {"type": "volume", "source": "v", "target": "/v", "volumeOptions": {"subpath": subpath}}
    with pytest.raises(ValidationError, match="must be a relative path within the volume"):
        service(mounts=[mount])


def test_a_subpath_is_for_volume_mounts_only() -> None:
    mount = {"type": "bind", "source": "/srv", "target": "/v", "volumeOptions": {"subpath": "a"}}
    with pytest.raises(ValidationError, match="volumeOptions is only for a mount of type volume"):
        service(mounts=[mount])


def test_start_interval_below_a_millisecond_is_refused() -> None:
    with pytest.raises(ValidationError, match="below the engine's minimum of 1ms"):
        service(healthcheck={"test": "true", "startInterval": "500us"})


# --------------------------------------------------------------------------- engine form


def test_render_puts_each_field_where_the_engine_keeps_it() -> None:
    container = service_spec(service(**NEWER))["TaskTemplate"]["ContainerSpec"]
    assert container["Healthcheck"]["StartInterval"] == 2_000_000_000
    assert container["Mounts"][0]["VolumeOptions"] == {"Subpath": "a/b"}
    assert container["OomScoreAdj"] == 500


def test_zero_is_the_default_and_not_written() -> None:
    container = service_spec(
        service(healthcheck={"test": "true", "startInterval": "0s"}, oomScoreAdj=0)
    )["TaskTemplate"]["ContainerSpec"]
    assert "StartInterval" not in container["Healthcheck"]
    assert "OomScoreAdj" not in container


ZERO_HEALTH = {"test": "true", "interval": "0s", "timeout": "0s", "startPeriod": "0s", "retries": 0}


def test_healthcheck_zeros_read_back_clean_from_what_the_engines_store() -> None:
    """20.10 and 26.1 store a healthcheck written with interval/timeout/startPeriod 0s and
    retries 0 as its test alone (the lab's test_engine_fields): no drift; a non-zero value
    written later is one."""
    stored = simulated_engine(service_spec(service(healthcheck=ZERO_HEALTH)), {}, pin=True)
    stored["TaskTemplate"]["ContainerSpec"]["Healthcheck"] = {"Test": ["CMD-SHELL", "true"]}
    live = build_state({"Service": [{"ID": "s1", "Version": {"Index": 3}, "Spec": stored}]})
    (action,) = plan([service(healthcheck=ZERO_HEALTH)], live, PlanOptions()).actions
    assert action.verb == "noop", [str(d) for d in action.differences]
    (action,) = plan(
        [service(healthcheck={**ZERO_HEALTH, "interval": "5s", "retries": 3})],
        live,
        PlanOptions(),
    ).actions
    assert {(d.path, d.before, d.after) for d in action.differences} == {
        ("spec.healthcheck.interval", None, "5s"),
        ("spec.healthcheck.retries", None, 3),
    }


def test_what_26_1_stores_reads_back_clean_and_an_edit_is_a_difference() -> None:
    """The spec as ``docker service inspect`` showed it on the 26.1 lab for a service made
    by the CLI (--health-start-interval 2s, --mount ...,volume-subpath=a/b), plus the
    OomScoreAdj a 27 engine keeps."""
    stored = simulated_engine(service_spec(service(**NEWER)), {}, pin=True)
    container = stored["TaskTemplate"]["ContainerSpec"]
    container["Mounts"][0]["VolumeOptions"]["DriverConfig"] = {}  # the CLI writes one
    live = build_state({"Service": [{"ID": "s1", "Version": {"Index": 3}, "Spec": stored}]})
    (action,) = plan([service(**NEWER)], live, PlanOptions()).actions
    assert action.verb == "noop", [str(d) for d in action.differences]
    edited = copy.deepcopy(NEWER)
    edited["healthcheck"]["startInterval"] = "3s"
    edited["mounts"][0]["volumeOptions"]["subpath"] = "a/c"
    edited["oomScoreAdj"] = -200
    (action,) = plan([service(**edited)], live, PlanOptions()).actions
    assert action.verb == "update"
    assert {(d.path, d.before, d.after) for d in action.differences} == {
        ("spec.healthcheck.startInterval", "2s", "3s"),
        ("spec.mounts[0].volumeOptions.subpath", "a/b", "a/c"),
        ("spec.oomScoreAdj", 500, -200),
    }


def test_export_writes_the_three_fields() -> None:
    stored = simulated_engine(service_spec(service(**NEWER)), {}, pin=True)
    live = build_state({"Service": [{"ID": "s1", "Version": {"Index": 3}, "Spec": stored}]})
    doc = document(live.of("Service")["web"])
    assert doc is not None
    assert doc["spec"]["healthcheck"]["startInterval"] == "2s"
    assert doc["spec"]["mounts"][0]["volumeOptions"] == {"subpath": "a/b"}
    assert doc["spec"]["oomScoreAdj"] == 500


def test_every_gated_field_is_one_a_manifest_can_set() -> None:
    """The table of `swarm.api_versions` is not vacuous: a manifest that sets every field
    renders each of its entries, and an engine older than all of them is told of each."""
    full = service_spec(Service.model_validate(FULL_SERVICE))
    assert [p.split(" needs")[0] for p in unsupported(full, "1.41")] == [
        f.manifest_path for f in SERVICE_FIELDS
    ]
    assert unsupported(full, "1.46") == []


# --------------------------------------------------------------------------- the gate


def _state(api_version: str | None, services: list[dict[str, Any]] | None = None) -> Any:
    raws = {"Service": services or [], "Network": []}
    return build_state(raws, api_version)


def test_plan_blocks_a_create_on_an_older_engine_naming_field_and_versions() -> None:
    the_plan = plan([service(**NEWER)], _state("1.41"), PlanOptions())
    (action,) = the_plan.actions
    assert action.verb == "create"
    assert action.blocked == (
        "spec.healthcheck.startInterval needs Docker Engine API 1.44; this engine speaks 1.41; "
        "spec.mounts[].volumeOptions.subpath needs Docker Engine API 1.45; this engine speaks "
        "1.41; spec.oomScoreAdj needs Docker Engine API 1.46; this engine speaks 1.41"
    )
    assert "BLOCKED: spec.healthcheck.startInterval needs Docker Engine API 1.44" in plan_text(
        the_plan
    )
    (action,) = plan([service(**NEWER)], _state("1.45"), PlanOptions()).actions
    assert (
        action.blocked == "spec.oomScoreAdj needs Docker Engine API 1.46; this engine speaks 1.45"
    )
    for version in ("1.46", "1.51", None):  # new enough, or not known: not blocked here
        (action,) = plan([service(**NEWER)], _state(version), PlanOptions()).actions
        assert action.verb == "create" and action.blocked is None, version


def test_a_service_without_the_newer_fields_is_not_blocked_on_the_oldest_engine() -> None:
    plain = service(healthcheck={"test": "true", "startPeriod": "5s"}, oomScoreAdj=0)
    (action,) = plan([plain], _state("1.41"), PlanOptions()).actions
    assert action.verb == "create" and action.blocked is None


def test_plan_blocks_an_update_that_adds_a_newer_field() -> None:
    before = service(healthcheck={"test": "true", "startInterval": "2s"})
    stored = simulated_engine(service_spec(before), {}, pin=False)
    raw = {"ID": "s1", "Version": {"Index": 3}, "Spec": stored}
    (action,) = plan([before], _state("1.45", [raw]), PlanOptions()).actions
    assert action.verb == "noop"
    after = service(healthcheck={"test": "true", "startInterval": "2s"}, oomScoreAdj=100)
    (action,) = plan([after], _state("1.45", [raw]), PlanOptions()).actions
    assert action.verb == "update"
    assert (
        action.blocked == "spec.oomScoreAdj needs Docker Engine API 1.46; this engine speaks 1.45"
    )
    (action,) = plan([after], _state("1.46", [raw]), PlanOptions()).actions
    assert action.verb == "update" and action.blocked is None


def test_apply_on_an_older_engine_writes_nothing_and_reports_the_refusal() -> None:
    swarm = CountingSwarm()
    swarm.negotiated_api_version = "1.41"
    live = read_live(swarm)  # type: ignore[arg-type]
    assert live.api_version == "1.41"
    manifests = [service(**NEWER), service("plain")]
    the_plan = plan(manifests, live, PlanOptions())
    report = apply_plan(swarm, manifests, PlanOptions(), the_plan)  # type: ignore[arg-type]
    assert not report.ok  # apply exits 1, as for every blocked action
    results = {r.action.name: r for r in report.results}
    assert not results["web"].ok
    assert results["web"].message.startswith(
        "not done: spec.healthcheck.startInterval needs Docker Engine API 1.44; "
        "this engine speaks 1.41"
    )
    assert results["plain"].ok
    assert swarm.calls["create_service"] == 1  # plain only
    assert [s["Spec"]["Name"] for s in swarm.services()] == ["plain"]


# --------------------------------------------------------------------------- convert


def _convert(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "compose.yml"
    path.write_text(textwrap.dedent(text))
    return convert_files([path], env={})


def test_convert_maps_the_compose_keys(tmp_path: Path) -> None:
    result = _convert(
        tmp_path,
        """\
        services:
          web:
            image: nginx
            healthcheck: {test: "true", start_period: 30s, start_interval: 2s}
            oom_score_adj: -100
            volumes:
              - type: volume
                source: data
                target: /data
                volume: {nocopy: true, subpath: sites/web}
        volumes:
          data: {}
        """,
    )
    assert [str(p) for p in result.problems] == []
    (web,) = [o for o in result.objects if o.name == "web"]
    spec = web.document["spec"]
    assert spec["healthcheck"] == {
        "test": ["CMD-SHELL", "true"],
        "startPeriod": "30s",
        "startInterval": "2s",
    }
    assert spec["oomScoreAdj"] == -100
    assert spec["mounts"][0]["volumeOptions"] == {"noCopy": True, "subpath": "sites/web"}


def test_convert_says_where_a_value_is_out_of_range(tmp_path: Path) -> None:
    result = _convert(
        tmp_path,
        """\
        services:
          web:
            image: nginx
            oom_score_adj: 2000
            volumes:
              - {type: volume, source: data, target: /d, volume: {subpath: ../up}}
        volumes:
          data: {}
        """,
    )
    problems = [str(p) for p in result.problems]
    assert len(problems) == 2, problems
    assert any(
        "spec.oomScoreAdj: Input should be less than or equal to 1000" in p for p in problems
    )
    assert any("must be a relative path within the volume" in p for p in problems)
    assert all(p.startswith(f"{tmp_path}/compose.yml:") for p in problems)
