"""Engine on the lab: the service fields of newer engines, on the engine the lab runs.

The healthcheck's ``startInterval`` needs Engine API 1.44 (Docker 25), a volume mount's
``volumeOptions.subpath`` 1.45 (Docker 26), ``oomScoreAdj`` 1.46 (Docker 27). The lab
runs 26.1 (API 1.45) or 20.10 (API 1.41; ``SWARM_OPERATOR_LAB_ENGINE=20.10``):

- 26.1: startInterval and subpath are applied and honoured (a task whose only health
  probe before 300 s is the start interval becomes healthy, so ``--wait`` converges; it
  prints the file found under the subpath), inspect shows both, the next plan is clean,
  a changed value is an update; ``oomScoreAdj`` is refused (plan shows it blocked, apply
  exits 1) with the message naming 1.46 and 1.45, and nothing is written, neither a
  create nor an update of a service that runs.
- 20.10: each of the three is refused, by plan and apply, and nothing is written.
The Docker door refuses the same writes when asked directly (whoever builds the spec).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_lab import Engine, engine

from swarm_operator.kinds.service_spec import service_spec
from swarm_operator.lab import Lab
from swarm_operator.manifests.models import Service
from swarm_operator.swarm.api_versions import parse_api_version
from swarm_operator.swarm.client import SwarmClient
from swarm_operator.swarm.errors import EngineTooOld, NotFound

pytestmark = pytest.mark.lab
__all__ = ["engine"]
DockerCli = Callable[..., subprocess.CompletedProcess[str]]

START_INTERVAL = "nf-start"
SUBPATH = "nf-sub"
OOM = "nf-oom"


def _api(engine: Engine) -> tuple[int, int]:
    return parse_api_version(engine.client.api_version)


def _needs(engine: Engine, field: str, version: str) -> str:
    return (
        f"{field} needs Docker Engine API {version}; this engine speaks {engine.client.api_version}"
    )


@pytest.fixture
def volume_dir(tmp_path: Path, lab: Lab, docker_cli: DockerCli) -> Iterator[tuple[str, Path]]:
    """A directory on the machine (every lab host sees it) behind a local volume of a name
    of this run, with two subdirectories; the volume is removed from every host after."""
    root = tmp_path / "volume"
    for sub in ("site", "other"):
        (root / sub).mkdir(parents=True)
        (root / sub / "hello").write_text(f"hello from {sub}\n")
    name = f"nf-data-{tmp_path.name.replace('_', '-')[-20:]}".rstrip("-")
    yield name, root
    docker_cli("service", "rm", SUBPATH, check=False)
    deadline = time.monotonic() + 60
    left = {h.name for h in lab.hosts}
    while left and time.monotonic() < deadline:
        for host in sorted(left):
            listed = docker_cli("volume", "ls", "-q", host=host, check=False).stdout.split()
            if (
                name not in listed
                or docker_cli("volume", "rm", name, host=host, check=False).returncode == 0
            ):
                left.discard(host)
        time.sleep(1)


def _subpath_manifests(volume: str, device: Path, start_interval: str, subpath: str) -> str:
    return f"""
    apiVersion: swarm-operator/v1alpha1
    kind: Volume
    metadata: {{name: {volume}}}
    spec:
      driver: local
      driverOptions: {{type: none, o: bind, device: {device}}}
    ---
    apiVersion: swarm-operator/v1alpha1
    kind: Service
    metadata: {{name: {SUBPATH}}}
    spec:
      image: {{image}}
      command: [sh, -c, "cat /srv/hello; exec sleep 3600"]
      stopGracePeriod: 1s
      healthcheck:
        test: "true"
        interval: 300s
        startPeriod: 300s
        startInterval: {start_interval}
      mounts:
        - type: volume
          source: {volume}
          target: /srv
          volumeOptions: {{subpath: {subpath}}}
    """


def test_start_interval_and_subpath(
    engine: Engine, docker_cli: DockerCli, volume_dir: tuple[str, Path]
) -> None:
    volume, device = volume_dir
    engine.write("svc.yaml", _subpath_manifests(volume, device, "1s", "site"))
    if _api(engine) < (1, 44):
        planned = engine.plan()
        assert planned.code == 2, planned.out + planned.err
        for field, version in (
            ("spec.healthcheck.startInterval", "1.44"),
            ("spec.mounts[].volumeOptions.subpath", "1.45"),
        ):
            assert _needs(engine, field, version) in planned.out, planned.out
        applied = engine.apply()
        assert applied.code == 1, applied.out + applied.err
        assert "not done: " + _needs(engine, "spec.healthcheck.startInterval", "1.44") in (
            applied.out
        )
        assert SUBPATH not in engine.service_names()
        return
    assert _api(engine) < (1, 46), "a newer engine than the lab's: this test expects 26.1"
    # Health probes every 300 s, the first after 300 s, but every 1 s in the start period:
    # --wait converges (a task counts as running once healthy) only if startInterval works.
    applied = engine.apply("--wait", "--timeout", "200s")
    assert applied.code == 0, applied.out + applied.err
    container = engine.service(SUBPATH)["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert container["Healthcheck"]["StartInterval"] == 1_000_000_000
    (mount,) = container["Mounts"]
    assert mount["VolumeOptions"]["Subpath"] == "site"
    logs = docker_cli("service", "logs", "--raw", SUBPATH).stdout
    assert "hello from site" in logs, logs
    again = engine.plan()
    assert again.code == 0, again.out + again.err
    assert "No changes" in again.out

    engine.write("svc.yaml", _subpath_manifests(volume, device, "2s", "other"))
    changed = engine.plan()
    assert changed.code == 2, changed.out + changed.err
    assert "~ update Service nf-sub" in changed.out, changed.out
    assert 'spec.healthcheck.startInterval: "1s" -> "2s"' in changed.out, changed.out
    assert 'spec.mounts[0].volumeOptions.subpath: "site" -> "other"' in changed.out, changed.out
    assert "BLOCKED" not in changed.out
    applied = engine.apply("--wait", "--timeout", "200s")
    assert applied.code == 0, applied.out + applied.err
    container = engine.service(SUBPATH)["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert container["Healthcheck"]["StartInterval"] == 2_000_000_000
    assert container["Mounts"][0]["VolumeOptions"]["Subpath"] == "other"
    logs = docker_cli("service", "logs", "--raw", SUBPATH).stdout
    assert "hello from other" in logs, logs
    final = engine.plan()
    assert final.code == 0 and "No changes" in final.out, final.out + final.err


OOM_SERVICE = """
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {{name: {name}}}
spec:
  image: {{image}}
  command: [sleep, "3600"]
  replicas: 0
{extra}
"""


def test_oom_score_adj_is_refused_below_api_1_46_and_nothing_is_written(
    engine: Engine,
) -> None:
    assert _api(engine) < (1, 46), "the lab's engines speak 1.41 and 1.45"
    message = _needs(engine, "spec.oomScoreAdj", "1.46")
    engine.write("oom.yaml", OOM_SERVICE.format(name=OOM, extra="  oomScoreAdj: 100"))
    planned = engine.plan()
    assert planned.code == 2, planned.out + planned.err
    assert "+ create Service nf-oom" in planned.out, planned.out
    assert f"BLOCKED: {message}" in planned.out, planned.out
    data = engine.plan("-o", "json").json()
    (action,) = [a for a in data["actions"] if a["name"] == OOM]
    assert action["blocked"] == message
    applied = engine.apply()
    assert applied.code == 1, applied.out + applied.err
    assert f"not done: {message}" in applied.out, applied.out
    assert OOM not in engine.service_names()

    # A service that exists: adding oomScoreAdj is an update that is refused, unwritten.
    engine.write("oom.yaml", OOM_SERVICE.format(name=OOM, extra=""))
    assert engine.apply().code == 0
    before = engine.service(OOM)
    engine.write("oom.yaml", OOM_SERVICE.format(name=OOM, extra="  oomScoreAdj: -500"))
    planned = engine.plan()
    assert "~ update Service nf-oom" in planned.out, planned.out
    assert f"BLOCKED: {message}" in planned.out, planned.out
    applied = engine.apply()
    assert applied.code == 1, applied.out + applied.err
    after = engine.service(OOM)
    assert after["Version"] == before["Version"]
    assert "OomScoreAdj" not in after["Spec"]["TaskTemplate"]["ContainerSpec"]


NEWER = (
    ("spec.healthcheck.startInterval", "1.44"),
    ("spec.mounts[].volumeOptions.subpath", "1.45"),
    ("spec.oomScoreAdj", "1.46"),
)


def test_a_service_with_all_three_is_refused_naming_each_field_the_engine_lacks(
    engine: Engine,
) -> None:
    """20.10: all three are named; 26.1: oomScoreAdj alone. Nothing is written."""
    engine.write(
        "all.yaml",
        OOM_SERVICE.format(
            name="nf-all",
            extra="""\
  oomScoreAdj: 100
  healthcheck: {test: "true", startInterval: 1s}
  mounts: [{type: volume, source: nf-x, target: /x, volumeOptions: {subpath: a}}]""",
        ),
    )
    lacking = [(f, v) for f, v in NEWER if _api(engine) < parse_api_version(v)]
    assert len(lacking) == (3 if _api(engine) < (1, 44) else 1), engine.client.api_version
    planned = engine.plan("-o", "json")
    assert planned.code == 2, planned.out + planned.err
    (action,) = planned.json()["actions"]
    assert action["action"] == "create"
    assert action["blocked"] == "; ".join(_needs(engine, f, v) for f, v in lacking)
    applied = engine.apply()
    assert applied.code == 1, applied.out + applied.err
    assert "nf-all" not in engine.service_names()


@pytest.mark.parametrize(
    ("field", "version", "extra"),
    [
        ("spec.healthcheck.startInterval", "1.44", {"healthcheck": {"startInterval": "1s"}}),
        (
            "spec.mounts[].volumeOptions.subpath",
            "1.45",
            {"mounts": [{"source": "nf-x", "target": "/x", "volumeOptions": {"subpath": "a"}}]},
        ),
        ("spec.oomScoreAdj", "1.46", {"oomScoreAdj": 100}),
    ],
)
def test_the_door_refuses_each_field_the_engine_would_drop(
    lab: Lab, swarm_cleanup: None, field: str, version: str, extra: dict[str, object]
) -> None:
    client = SwarmClient(lab.manager.docker_host)
    api = client.api_version
    name = "nf-door-" + field.rsplit(".", 1)[-1].lower()
    service = Service.model_validate(
        {
            "metadata": {"name": name},
            "spec": {"image": lab.image, "command": ["sleep", "3600"], "replicas": 0, **extra},
        }
    )
    spec = service_spec(service)
    if parse_api_version(api) >= parse_api_version(version):
        created = client.inspect_service(client.create_service(spec))
        stored = json.dumps(created["Spec"]["TaskTemplate"]["ContainerSpec"])
        assert ("StartInterval" if "start" in field else "Subpath") in stored
        return
    with pytest.raises(EngineTooOld) as caught:
        client.create_service(spec)
    assert (
        str(caught.value)
        == f"{name}: {field} needs Docker Engine API {version}; this engine speaks {api}"
    )
    with pytest.raises(NotFound):
        client.inspect_service(name)
