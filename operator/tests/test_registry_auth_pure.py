"""Which registry credentials go with a service write (`swarm.client.RegistryAuth`), read
from a Docker client configuration written here: ``auths`` entries, a credential helper
(a real executable on PATH), none, a failing helper, ``--no-registry-auth``, and a
``docker login`` made after the first write. No engine: this is the client's own logic;
the lab test `lab/test_registry_auth.py` shows the engine and a worker using them."""

from __future__ import annotations

import base64
import json
import stat
import warnings
from pathlib import Path

import pytest

from swarm_operator.cli import main
from swarm_operator.swarm.client import AUTH_TTL, RegistryAuth, SwarmClient
from swarm_operator.swarm.errors import RegistryAuthError

REGISTRY = "registry.example.test:5001"
IMAGE = f"{REGISTRY}/team/app:1"


def _config(directory: Path, body: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(body))
    return directory


def _login(user: str, password: str) -> dict[str, object]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"auths": {REGISTRY: {"auth": token}}}


def _decoded(header: dict[str, str]) -> dict[str, str]:
    """The header's JSON, keys lower-cased (docker-py writes ``auths`` entries in lower
    case and a helper's answer capitalised; the engine's JSON decoding takes either)."""
    value = header["X-Registry-Auth"]
    decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    return {key.lower(): str(item) for key, item in decoded.items()}


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.docker of the machine's
    return directory


def test_an_auths_entry_for_the_image_registry_is_sent(config_dir: Path) -> None:
    _config(config_dir, _login("alice", "pw-1"))
    auth = _decoded(RegistryAuth().header(IMAGE))
    assert (auth["username"], auth["password"]) == ("alice", "pw-1")
    assert auth["serveraddress"] == REGISTRY
    # A pinned reference names the same registry.
    assert RegistryAuth().header(IMAGE + "@sha256:" + "a" * 64)


def test_nothing_is_sent_for_another_registry_or_without_a_configuration(
    config_dir: Path,
) -> None:
    assert RegistryAuth().header(IMAGE) == {}  # no config.json at all
    _config(config_dir, _login("alice", "pw-1"))
    assert RegistryAuth().header("other.example.test/team/app:1") == {}
    assert RegistryAuth().header("busybox:1") == {}  # Docker Hub: no entry either


def test_no_registry_auth_sends_nothing_even_with_credentials(config_dir: Path) -> None:
    _config(config_dir, _login("alice", "pw-1"))
    assert RegistryAuth(enabled=False).header(IMAGE) == {}
    client = SwarmClient("unix:///nonexistent.sock", registry_auth=False)
    assert client.registry_auth.header(IMAGE) == {}


def test_a_clone_shares_the_setting_and_the_cache(config_dir: Path) -> None:
    _config(config_dir, _login("alice", "pw-1"))
    client = SwarmClient("unix:///nonexistent.sock", registry_auth=False)
    client._adopt("1.41")  # no engine here: skip the negotiation clone() would make
    assert client.clone().registry_auth is client.registry_auth


def test_a_credential_helper_is_asked(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-labtest"
    # The helper protocol: `get` with the server address on stdin, JSON on stdout.
    helper.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 1\n'
        "read server\n"
        'printf \'{"ServerURL":"%s","Username":"bob","Secret":"pw-helper"}\' "$server"\n'
    )
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    _config(config_dir, {"credHelpers": {REGISTRY: "labtest"}})
    auth = _decoded(RegistryAuth().header(IMAGE))
    assert (auth["username"], auth["password"]) == ("bob", "pw-helper")


def test_a_failing_credential_helper_refuses_the_write_without_its_secret(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # the helper is not installed
    _config(config_dir, {"credHelpers": {REGISTRY: "missing"}})
    with warnings.catch_warnings(), pytest.raises(RegistryAuthError) as caught:
        warnings.simplefilter("ignore")  # docker-py's "docker-credential-missing not installed"
        RegistryAuth().header(IMAGE)
    assert REGISTRY in str(caught.value) and "--no-registry-auth" in str(caught.value)


def test_a_login_after_the_first_write_is_read_once_the_cache_expires(config_dir: Path) -> None:
    now = [0.0]
    auth = RegistryAuth(clock=lambda: now[0])
    _config(config_dir, _login("alice", "old"))
    assert _decoded(auth.header(IMAGE))["password"] == "old"
    _config(config_dir, _login("alice", "new"))
    now[0] = AUTH_TTL / 2
    assert _decoded(auth.header(IMAGE))["password"] == "old"
    now[0] = AUTH_TTL + 0.1
    assert _decoded(auth.header(IMAGE))["password"] == "new"


@pytest.mark.parametrize("command", ["apply", "run", "doctor"])
def test_every_command_that_writes_services_takes_no_registry_auth(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--no-registry-auth" in capsys.readouterr().out


@pytest.mark.parametrize("enabled", [True, False])
def test_the_daemon_connects_with_the_run_option(tmp_path: Path, enabled: bool) -> None:
    from prometheus_client import CollectorRegistry

    from swarm_operator.daemon.controller import Daemon
    from swarm_operator.daemon.options import DaemonOptions
    from swarm_operator.swarm.errors import DockerUnavailable

    asked: list[object] = []

    def factory(host: str | None, **kwargs: object) -> SwarmClient:
        asked.append(kwargs.get("registry_auth"))
        raise DockerUnavailable("no engine in a unit test")

    options = DaemonOptions(directory=tmp_path, registry_auth=enabled)
    daemon = Daemon(options, CollectorRegistry(), client_factory=factory)
    assert daemon.supervisor.connect() is False
    assert asked == [enabled]
