"""The lab's daemons: one dockerd per host, the registry, and the docker CLI against them.

Owns how a lab host's dockerd is started (its own netns, mount namespace, /run,
hostname and daemon.json, see LAB.md), how the registry on the bridge address is
configured, and a tiny read-only Engine API client over the unix socket used to wait
for daemons and nodes. It deliberately does not import the ``docker`` package: the
operator's Engine API access is `swarm_operator.swarm.client`; this is lab plumbing.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from swarm_operator.lab.engines import Engine
from swarm_operator.lab.system import DAEMON_ENV, NETNS_DIR, LabError, spawn_detached

# The Debian docker.io CLI matches the daemon (API 1.41); prefer it over any other
# `docker` earlier on PATH (a newer CLI wants buildx for `docker build`).
DEBIAN_DOCKER = "/usr/bin/docker"
DEFAULT_DATA_ROOT = "/var/lib/docker"


def docker_cli() -> str:
    if os.access(DEBIAN_DOCKER, os.X_OK):
        return DEBIAN_DOCKER
    found = shutil.which("docker")
    if found is None:
        raise LabError("the docker CLI is missing (Debian package docker.io)")
    return found


def docker_run(
    socket_path: str | Path,
    *args: str,
    timeout: float = 120.0,
    check: bool = False,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS`` against the daemon listening on ``socket_path``; ``input`` is
    its standard input (e.g. ``login --password-stdin``), else none; ``env`` adds
    variables (e.g. the ones a compose file interpolates for ``docker stack deploy``)."""
    env = {**DAEMON_ENV, **(env or {})}
    env["DOCKER_HOST"] = f"unix://{socket_path}"
    # The classic builder: a CLI from 23 on (Debian 13's docker-cli) would otherwise want
    # the buildx plugin for `docker build`; 20.10's CLI uses it by default anyway.
    env["DOCKER_BUILDKIT"] = "0"
    cmd = [docker_cli(), *args]
    try:
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL if input is None else None,
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout:.0f}s: docker {' '.join(args)}") from exc
    if check and proc.returncode != 0:
        raise LabError(f"docker {' '.join(args)} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc


# --- dockerd -----------------------------------------------------------------------------


def daemon_config(host_dir: Path, registries: Sequence[str], engine: str = "20.10") -> str:
    """The text of a lab host's daemon.json: ``registries`` (HOST:PORT) are insecure, that
    is plain HTTP, the lab's registries having no TLS."""
    config: dict[str, object] = {
        "insecure-registries": list(registries),
        "log-level": "warn",
    }
    if engine == "20.10":
        # The engine ID key; its default is the machine-wide /etc/docker/key.json, which
        # would give every lab daemon the same ID and leave a file outside the lab.
        # (Engines from 25 on keep their ID in the data root and refuse this option.)
        config["deprecated-key-path"] = str(host_dir / "key.json")
    return json.dumps(config, indent=2) + "\n"


def write_daemon_config(
    host_dir: Path, registries: str | Sequence[str], engine: str = "20.10"
) -> Path:
    """A per-host daemon.json; given with --config-file so /etc/docker is never read."""
    (host_dir / "run").mkdir(parents=True, exist_ok=True)
    (host_dir / "docker").mkdir(parents=True, exist_ok=True)
    path = host_dir / "daemon.json"
    listed = [registries] if isinstance(registries, str) else registries
    path.write_text(daemon_config(host_dir, listed, engine))
    return path


def start_dockerd(netns: str, hostname: str, host_dir: Path, sock: Path, engine: Engine) -> int:
    """Start one lab host's dockerd; returns its pid (nsenter, unshare and sh all exec).

    ``engine`` gives the dockerd binary and a PATH with its release's containerd, shims and
    docker-proxy first (see `engines`), so the whole host runs that release.

    `nsenter --net` (not `ip netns exec`, which remounts /sys and breaks cgroups), a
    private mount namespace with the host's own /run (daemons would otherwise share
    /run/docker and containerd's sockets) and /var/lib/docker, and a UTS namespace for the
    node's hostname. Nothing is written outside the host's directory (its /run included).
    """
    script = (
        f"hostname {hostname} && mount --make-rprivate / && "
        f"mount --bind {host_dir}/run /run && "
        # dockerd 20.10 writes sandbox files to the hard-coded /var/lib/docker/network/files:
        # give each host its own (its data root, as in a default install).
        f"mkdir -p {DEFAULT_DATA_ROOT} && mount --bind {host_dir}/docker {DEFAULT_DATA_ROOT} && "
        f"export PATH={shlex.quote(engine.path)} && "
        # Also on the default socket of its own /run, as on a real host: a service that
        # bind-mounts /var/run/docker.sock (deploy/stack.yml) reaches its own node's engine.
        f"exec {shlex.quote(engine.dockerd)} --data-root {host_dir}/docker --host unix://{sock} "
        "--host unix:///run/docker.sock "
        f"--pidfile /run/docker.pid --config-file {host_dir}/daemon.json"
    )
    if sock.exists():
        sock.unlink()
    cmd = ["nsenter", f"--net={NETNS_DIR / netns}", "unshare", "-m", "-u", "sh", "-c", script]
    return spawn_detached(cmd, host_dir / "dockerd.log")


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket: the Engine API without the docker package."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def engine_get(sock: str | Path, path: str, timeout: float = 5.0) -> Any:
    """GET an Engine API path over the unix socket and decode JSON; raises OSError/LabError."""
    conn = UnixHTTPConnection(str(sock), timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise LabError(f"GET {path} on {sock}: HTTP {resp.status} {body[:200]!r}")
    return json.loads(body) if body.strip().startswith((b"{", b"[")) else body.decode()


def engine_ping(sock: str | Path) -> bool:
    try:
        return bool(engine_get(sock, "/_ping", timeout=1.0) == "OK")
    except (OSError, LabError, http.client.HTTPException):
        return False


# The first line of a Go runtime crash report: a panic, a fatal error, or a signal the
# program did not handle (SIGABRT, SIGSEGV, SIGQUIT ...), followed by goroutine traces.
_GO_CRASH = re.compile(r"^(panic: |fatal error: |SIG[A-Z]+: )")
CRASH_SCAN_BYTES = 4 << 20


def crash_excerpt(text: str, lines: int = 8) -> list[str]:
    """The first ``lines`` lines of the Go crash report a daemon log ends with ([] if none).

    dockerd's own log lines start with ``time=``; a crash report is the last thing a
    crashed daemon writes, so only a report after the last such line counts.
    """
    all_lines = text.splitlines()
    for i in range(len(all_lines) - 1, -1, -1):
        line = all_lines[i]
        if line.startswith("time="):
            return []
        if _GO_CRASH.match(line):
            # The earliest report start after the last log line (a panic may be followed
            # by a "fatal error" or a second panic while panicking).
            start = i
            for j in range(i - 1, -1, -1):
                if all_lines[j].startswith("time="):
                    break
                if _GO_CRASH.match(all_lines[j]):
                    start = j
            return [entry for entry in all_lines[start:] if entry.strip()][:lines]
    return []


def log_crash(path: Path, lines: int = 8) -> list[str]:
    """`crash_excerpt` of the end of the log file at ``path``."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - CRASH_SCAN_BYTES))
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    return crash_excerpt(text, lines)


def rotate_log(path: Path) -> bool:
    """Keep a dead daemon's log as ``NAME.1`` (replacing an older one); True if kept."""
    if path.exists() and path.stat().st_size > 0:
        os.replace(path, path.with_name(path.name + ".1"))
        return True
    return False


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# --- registry ----------------------------------------------------------------------------


def write_registry_config(registry_dir: Path, addr: str, htpasswd: Path | None = None) -> Path:
    """The registry's config.yml; with ``htpasswd`` (bcrypt lines, the only kind the
    registry takes) every request needs basic authentication. No TLS: the daemons list
    the lab's registries as insecure, and send basic auth over plain HTTP to those."""
    (registry_dir / "data").mkdir(parents=True, exist_ok=True)
    path = registry_dir / "config.yml"
    auth = (
        f"auth:\n  htpasswd:\n    realm: swarm-operator-lab\n    path: {htpasswd}\n"
        if htpasswd is not None
        else ""
    )
    path.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {registry_dir / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {addr}\n" + auth
    )
    return path


def start_registry(registry_dir: Path, addr: str, htpasswd: Path | None = None) -> int:
    config = write_registry_config(registry_dir, addr, htpasswd)
    return spawn_detached(["docker-registry", "serve", str(config)], registry_dir / "registry.log")


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def registry_get(url: str, timeout: float = 2.0, accept: str | None = None) -> int:
    """HTTP status of a GET on the lab registry (never through a proxy); 0 if unreachable."""
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with _NO_PROXY.open(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, http.client.HTTPException):
        return 0


def registry_up(registry: str) -> bool:
    return registry_get(f"http://{registry}/v2/", timeout=1.0) == 200


def image_present(registry: str, image: str) -> bool:
    """Whether ``REGISTRY/REPO:TAG`` has a manifest in the lab registry."""
    repo, tag = image.removeprefix(registry + "/").rsplit(":", 1)
    url = f"http://{registry}/v2/{repo}/manifests/{tag}"
    return registry_get(url, accept=_MANIFEST_TYPES) == 200


DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sh"]
"""


def build_and_push_image(sock: Path, context: Path, image: str, busybox: str) -> None:
    """Build the busybox image (httpd, wget, nc, ping, nslookup) on one host and push it."""
    context.mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, context / "busybox")
    (context / "Dockerfile").write_text(DOCKERFILE)
    docker_run(sock, "build", "-q", "-t", image, str(context), check=True, timeout=300)
    last = ""
    for _ in range(3):
        proc = docker_run(sock, "push", image, timeout=300)
        if proc.returncode == 0:
            return
        last = (proc.stderr or proc.stdout).strip()
        time.sleep(0.5)
    raise LabError(f"docker push {image} failed: {last}")
