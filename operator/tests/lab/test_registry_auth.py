"""Private registries on the lab: a registry with htpasswd authentication, `docker login` in
a Docker client configuration of this test only (the operator's side: no lab node has
credentials), a private image pushed to it, and a service of that image constrained to the
workers. `apply` sends the credentials, so the workers pull it and run it; with
`--no-registry-auth` they cannot, and the tasks are rejected. The password and the token
appear in no output of plan or apply, nor in any log record, debug ones included.

Not a ``test_engine_*`` file: it runs on the CI pass of the default engine only.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
from engine_lab import Engine, Run, engine

from swarm_operator.lab import Lab, docker, start_private_registry, stop_private_registry

pytestmark = pytest.mark.lab
__all__ = ["engine"]

USER = "lab-puller"
SERVICE = """
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: NAME}
spec:
  image: IMAGE
  command: [sleep, "3600"]
  replicas: 1
  placement: {constraints: [node.role==worker]}
"""


@dataclass(frozen=True)
class Private:
    image: str
    """A tag pushed for this run only: no node has it from an earlier one."""
    config: Path
    """The DOCKER_CONFIG directory that `docker login` wrote."""
    secrets: tuple[str, ...]
    """The password and the config's token: never in any output."""


@pytest.fixture(scope="module")
def private(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Private]:
    password = secrets.token_urlsafe(18)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    registry = start_private_registry(lab, f"{USER}:{hashed}")
    config = tmp_path_factory.mktemp("docker-config")
    try:
        login = ("--config", str(config), "login", "-u", USER, "--password-stdin", registry)
        docker(lab.manager, *login, input=password, check=True)
        image = f"{registry}/private/busybox:run-{secrets.token_hex(4)}"
        docker(lab.manager, "pull", lab.image, check=True, timeout=300)
        docker(lab.manager, "tag", lab.image, image, check=True)
        denied = docker(lab.manager, "push", image, timeout=300)  # the lab CLI's own config
        assert denied.returncode != 0, "the private registry let a push in without a login"
        docker(lab.manager, "--config", str(config), "push", image, check=True, timeout=300)
        token = base64.b64encode(f"{USER}:{password}".encode()).decode()
        assert token in (config / "config.json").read_text()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DOCKER_CONFIG", str(config))
            yield Private(image, config, (password, token))
    finally:
        stop_private_registry(lab)


def _tasks(engine: Engine, name: str) -> list[tuple[str, str]]:
    """(state, node ID) of each task of service ``name``."""
    tasks = engine.client.tasks(filters={"service": name})
    return [(str(t["Status"]["State"]), str(t.get("NodeID", ""))) for t in tasks]


def _no_secret(private: Private, *runs: Run) -> None:
    for run in runs:
        for secret in private.secrets:
            assert secret not in run.out and secret not in run.err


def test_without_registry_auth_a_worker_cannot_pull_the_private_image(
    engine: Engine, private: Private
) -> None:
    engine.write("svc.yaml", SERVICE.replace("NAME", "reg-noauth").replace("IMAGE", private.image))
    failed = engine.apply("--no-registry-auth", "--wait", "--timeout", "2m")
    assert failed.code == 1, failed.out
    line = next(x for x in failed.out.splitlines() if x.startswith("FAILED") and "wait" in x)
    assert "reg-noauth" in line and "No such image" in line, line
    states = {state for state, _node in _tasks(engine, "reg-noauth")}
    assert states == {"rejected"}, states
    _no_secret(private, failed)


def test_apply_sends_the_credentials_so_a_worker_runs_the_private_image(
    engine: Engine, private: Private, caplog: pytest.LogCaptureFixture
) -> None:
    engine.write("svc.yaml", SERVICE.replace("NAME", "reg-auth").replace("IMAGE", private.image))
    caplog.set_level(logging.DEBUG)  # docker-py's, requests' and urllib3's debug lines too
    applied = engine.apply("--wait", "--timeout", "2m")
    assert applied.code == 0, applied.out + applied.err
    workers = {n["ID"] for n in engine.client.nodes() if n["Spec"]["Role"] == "worker"}
    running = [node for state, node in _tasks(engine, "reg-auth") if state == "running"]
    assert len(running) == 1 and running[0] in workers, running
    replanned = engine.plan()
    assert replanned.code == 0, replanned.out
    _no_secret(private, applied, replanned)
    assert f"Looking for auth entry for '{private.image.split('/')[0]}'" in caplog.text
    for secret in private.secrets:
        assert secret not in caplog.text
