"""The table of fields that need a newer Engine API, and the check the Docker door runs."""

from __future__ import annotations

import pytest

from swarm_operator.swarm.api_versions import (
    SERVICE_FIELDS,
    VersionedField,
    accepts_every_field,
    parse_api_version,
    unsupported,
)


def _spec(healthcheck: dict[str, object] | None = None, mounts: list[object] | None = None) -> dict:
    container: dict[str, object] = {"Image": "img:1"}
    if healthcheck is not None:
        container["Healthcheck"] = healthcheck
    if mounts is not None:
        container["Mounts"] = mounts
    return {"Name": "web", "TaskTemplate": {"ContainerSpec": container}}


def test_start_interval_is_refused_below_api_1_44_with_both_versions_named() -> None:
    spec = _spec({"Test": ["CMD", "true"], "StartInterval": 2_000_000_000})
    assert unsupported(spec, "1.41") == [
        "spec.healthcheck.startInterval needs Docker Engine API 1.44; this engine speaks 1.41"
    ]
    assert unsupported(spec, "1.43") != []
    assert unsupported(spec, "1.44") == []
    assert unsupported(spec, "1.45") == []


def test_fields_left_unset_or_empty_pass_on_any_version() -> None:
    assert unsupported(_spec({"Test": ["CMD", "true"], "StartInterval": None}), "1.24") == []
    assert unsupported(_spec({"Test": ["CMD", "true"]}), "1.41") == []
    assert unsupported({"Name": "x"}, "1.41") == []


def test_list_items_are_each_checked() -> None:
    mounts = [
        {"Target": "/a", "VolumeOptions": {}},
        {"Target": "/b", "VolumeOptions": {"Subpath": "sub"}},
    ]
    assert unsupported(_spec(mounts=mounts), "1.44") == [
        "spec.mounts[].volumeOptions.subpath needs Docker Engine API 1.45; this engine speaks 1.44"
    ]
    assert unsupported(_spec(mounts=mounts[:1]), "1.44") == []


def test_a_table_of_its_own_and_version_order_is_numeric() -> None:
    table = (VersionedField(("A", "B"), "spec.b", "1.9"),)
    assert unsupported({"A": {"B": 1}}, "1.10", table) == []  # 1.10 is newer than 1.9
    assert unsupported({"A": {"B": 1}}, "1.8", table) == [
        "spec.b needs Docker Engine API 1.9; this engine speaks 1.8"
    ]


def test_every_entry_of_the_table_is_well_formed() -> None:
    for field in SERVICE_FIELDS:
        assert parse_api_version(field.min_api) > (1, 41), field
        assert field.manifest_path.startswith("spec."), field
    with pytest.raises(ValueError):
        parse_api_version("v1.41")


def test_an_engine_as_new_as_the_newest_entry_needs_no_check() -> None:
    assert accepts_every_field("1.46")
    assert accepts_every_field("1.51")
    assert accepts_every_field("2.0")
    assert not accepts_every_field("1.45")  # Docker 26.1: no OomScoreAdj
    assert not accepts_every_field("1.41")
    spec = _spec({"Test": ["CMD", "true"], "StartInterval": 1})
    spec["TaskTemplate"]["ContainerSpec"]["OomScoreAdj"] = 500
    assert unsupported(spec, "1.46") == []
    assert unsupported(spec, "1.45") == [
        "spec.oomScoreAdj needs Docker Engine API 1.46; this engine speaks 1.45"
    ]
    assert len(unsupported(spec, "1.41")) == 2
