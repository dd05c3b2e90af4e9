"""The spec sent to the engine has the shape the docker CLI sends: every block it always
writes is present, empty where the manifest says nothing (dockerd 20.10's manager dies on
an update without ``TaskTemplate.Placement``)."""

from __future__ import annotations

from swarm_operator.kinds.service_spec import service_spec
from swarm_operator.manifests.models import Service


def test_every_block_the_cli_writes_is_written_even_when_unset() -> None:
    bare = Service.model_validate({"metadata": {"name": "web"}, "spec": {"image": "app:1"}})
    spec = service_spec(bare)
    task = spec["TaskTemplate"]
    assert task["Placement"] == {}
    assert task["Resources"] == {"Limits": {}, "Reservations": {}}
    assert task["RestartPolicy"]["Condition"] == "any"
    assert spec["UpdateConfig"]["Order"] == "stop-first"
    assert spec["RollbackConfig"]["FailureAction"] == "pause"
    assert spec["EndpointSpec"] == {"Mode": "vip"}


def test_empty_placement_block_is_still_written() -> None:
    svc = Service.model_validate(
        {"metadata": {"name": "web"}, "spec": {"image": "app:1", "placement": {}}}
    )
    assert service_spec(svc)["TaskTemplate"]["Placement"] == {}
