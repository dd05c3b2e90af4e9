"""The lab runs the engine it was asked for, and the Docker door speaks that engine's API:
fields an engine's API version does not accept are refused before anything is written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from swarm_operator.kinds.service_spec import service_spec
from swarm_operator.lab import Lab, engines, system
from swarm_operator.lab.engine import engine_get
from swarm_operator.manifests.models import Service
from swarm_operator.swarm.api_versions import parse_api_version
from swarm_operator.swarm.client import SwarmClient
from swarm_operator.swarm.errors import EngineTooOld, NotFound

pytestmark = pytest.mark.lab


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_every_host_runs_the_chosen_release(lab: Lab) -> None:
    assert lab.engine == engines.engine_from_env()
    release = engines.RELEASES[lab.engine]
    binaries = engines.resolve(lab.engine)
    for host in lab.hosts:
        version = engine_get(host.socket, "/version")
        assert engines.is_release(version["Version"], lab.engine), (host.name, version)
        components = {c["Name"]: c["Version"] for c in version["Components"]}
        assert engines.is_release(components["containerd"], release.containerd), components
        assert system.start_time(host.pid) == host.start
        # Binaries compared as files (device and inode), not by the name /proc gives: for
        # a daemon in a mount namespace of its own that name is relative to the root of the
        # reader only when both roots are the machine's (under a chroot it starts with the
        # chroot's directory).
        exe = f"/proc/{host.pid}/exe"
        assert os.path.samefile(exe, binaries.dockerd), (host.name, os.readlink(exe))
        # The containerd this dockerd started is the binary next to it (same release).
        want = str(Path(binaries.path.split(":")[1]) / "containerd")
        if binaries.source == "system":
            want = engines.SYSTEM_CONTAINERD
        exes = [f"/proc/{c}/exe" for c in _children(host.pid)]
        assert any(os.path.samefile(e, want) for e in exes), (
            host.name,
            {os.readlink(e) for e in exes},
        )


def _spec_with_start_interval(lab: Lab, name: str) -> dict[str, Any]:
    service = Service.model_validate(
        {
            "metadata": {"name": name},
            "spec": {
                "image": lab.image,
                "command": ["sleep", "3600"],
                "replicas": 0,
                "healthcheck": {"test": "true", "interval": "5s", "startPeriod": "10s"},
            },
        }
    )
    spec = service_spec(service)
    spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["StartInterval"] = 1_000_000_000
    return spec


def test_door_refuses_what_the_engine_api_does_not_accept(lab: Lab, swarm_cleanup: None) -> None:
    client = SwarmClient(lab.manager.docker_host)
    api = engine_get(lab.manager.socket, "/version")["ApiVersion"]
    assert client.api_version == api
    spec = _spec_with_start_interval(lab, "ver-start-interval")
    if parse_api_version(api) < (1, 44):
        with pytest.raises(EngineTooOld) as caught:
            client.create_service(spec)
        assert str(caught.value) == (
            "ver-start-interval: spec.healthcheck.startInterval needs Docker Engine API 1.44; "
            f"this engine speaks {api}"
        )
        with pytest.raises(NotFound):
            client.inspect_service("ver-start-interval")
    else:
        service_id = client.create_service(spec)
        stored = client.inspect_service(service_id)["Spec"]["TaskTemplate"]["ContainerSpec"]
        assert stored["Healthcheck"]["StartInterval"] == 1_000_000_000
