"""Shared pytest fixtures.

Lab section (owned by the lab engineer): a session-scoped real Swarm (`lab`), per-test
isolation (`swarm_cleanup`) and a docker CLI helper (`docker_cli`). Any test that uses
the `lab` fixture is marked `lab` automatically, so ``pytest -m "not lab"`` never needs
root; a run that selects lab tests on a machine that cannot run the lab FAILS with the
reason (it never skips), so CI cannot go green without them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from swarm_operator.lab import Lab, LabHost, docker, index_from_env, lab_down, lab_up, load_lab

LAB_HOSTS = 3
KEEP_ENV = "SWARM_OPERATOR_LAB_KEEP"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()) and item.get_closest_marker("lab") is None:
            item.add_marker(pytest.mark.lab)


_NEEDS_ROOT = (
    "lab tests need Linux and root (network namespaces, one dockerd per host). "
    'Run them as root (`make test`), or deselect them explicitly with -m "not lab".'
)


def _lab_possible() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Also for lab-marked tests that reach the lab some other way than the fixture.
    if item.get_closest_marker("lab") is not None and not _lab_possible():
        pytest.fail(_NEEDS_ROOT, pytrace=False)


def _progress(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """A healthy lab Swarm (index from $SWARM_OPERATOR_LAB_INDEX, default 0) running Docker
    $SWARM_OPERATOR_LAB_ENGINE (default 26.1; a lab of another engine is recreated).

    Reuses (and repairs) a lab that is already up; brings one up otherwise and then takes
    it down at the end of the session (unless $SWARM_OPERATOR_LAB_KEEP=1).
    """
    if not _lab_possible():
        pytest.fail(_NEEDS_ROOT, pytrace=False)
    index = index_from_env()
    existing = load_lab(index)
    hosts, managers = LAB_HOSTS, 1
    if existing is not None and len(existing.hosts) >= LAB_HOSTS:
        hosts, managers = len(existing.hosts), existing.managers
    try:
        the_lab = lab_up(index, hosts=hosts, managers=managers, progress=_progress)
    except Exception as exc:  # the message is the point: preflight says what is missing
        pytest.fail(f"the lab (index {index}) could not come up: {exc}", pytrace=False)
    yield the_lab
    if existing is None and os.environ.get(KEEP_ENV) != "1":
        lab_down(index, progress=_progress)


DockerCli = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def docker_cli(lab: Lab) -> DockerCli:
    """``docker_cli("service", "ls", host="host2", check=True)``: the docker CLI on a lab host
    (default: the manager). With ``check`` a non-zero exit fails the test with stderr;
    ``env`` adds variables to the CLI's environment."""

    def run(
        *args: str,
        host: str | None = None,
        check: bool = True,
        timeout: float = 120.0,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        target = lab.host(host) if host else lab.manager
        proc = docker(target, *args, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            pytest.fail(
                f"docker {' '.join(args)} on {target.name} failed ({proc.returncode}): "
                f"{proc.stderr.strip() or proc.stdout.strip()}",
                pytrace=False,
            )
        return proc

    return run


@dataclass
class _Snapshot:
    services: set[str]
    networks: dict[str, set[str]]  # host -> network ids
    containers: dict[str, set[str]]  # host -> container ids
    nodes: dict[str, dict[str, object]]  # node id -> Spec
    blobs: dict[str, set[str]]  # "secret" / "config" -> ids


def _ids(host: LabHost, *args: str) -> set[str]:
    proc = docker(host, *args, "-q", timeout=60)
    return set(proc.stdout.split()) if proc.returncode == 0 else set()


# Networks every daemon has; `bridge` even gets a new ID each time a daemon starts.
_PREDEFINED_NETWORKS = frozenset({"bridge", "host", "none", "docker_gwbridge", "ingress"})


def _networks(host: LabHost) -> set[str]:
    proc = docker(host, "network", "ls", "--format", "{{.ID}} {{.Name}}", timeout=60)
    found = set()
    for line in proc.stdout.splitlines():
        net_id, name = line.split(maxsplit=1)
        if name not in _PREDEFINED_NETWORKS:
            found.add(net_id)
    return found


def _snapshot(the_lab: Lab) -> _Snapshot:
    nodes: dict[str, dict[str, object]] = {}
    ids = _ids(the_lab.manager, "node", "ls")
    if ids:
        proc = docker(the_lab.manager, "node", "inspect", *sorted(ids), timeout=60)
        for node in json.loads(proc.stdout or "[]"):
            nodes[node["ID"]] = node["Spec"]
    return _Snapshot(
        services=_ids(the_lab.manager, "service", "ls"),
        networks={h.name: _networks(h) for h in the_lab.hosts},
        containers={h.name: _ids(h, "ps", "-a") for h in the_lab.hosts},
        nodes=nodes,
        blobs={what: _ids(the_lab.manager, what, "ls") for what in ("secret", "config")},
    )


def _restore_node(manager: LabHost, node_id: str, before: dict[str, object]) -> str | None:
    """Put a node's spec back (labels, availability, role); the error if it would not go."""
    error = None
    for _attempt in range(20):
        proc = docker(manager, "node", "inspect", node_id, timeout=60)
        if proc.returncode != 0:
            return f"node {node_id}: {proc.stderr.strip()}"
        now = json.loads(proc.stdout)[0]["Spec"]
        if now == before:
            return None
        args = ["node", "update"]
        old_labels = dict(before.get("Labels") or {})  # type: ignore[call-overload]
        new_labels = dict(now.get("Labels") or {})
        for key in new_labels.keys() - old_labels.keys():
            args += ["--label-rm", key]
        for key, value in old_labels.items():
            if new_labels.get(key) != value:
                args += ["--label-add", f"{key}={value}"]
        args += ["--availability", str(before["Availability"]), "--role", str(before["Role"])]
        update = docker(manager, *args, node_id, timeout=60)
        error = update.stderr.strip() or f"spec still {now}"
        time.sleep(0.5)
    return f"node {node_id} not restored to {before}: {error}"


@pytest.fixture
def swarm_cleanup(lab: Lab) -> Iterator[None]:
    """Leave the Swarm as the test found it: new services, containers and networks are
    removed, node labels/availability/roles restored, stopped hosts, cut links and
    `lab block` rules repaired, whatever the test left behind. Every step is attempted;
    what could not be undone fails the test, naming it."""
    before = _snapshot(lab)
    yield
    errors: list[str] = []

    def attempt(what: str, step: Callable[[], object]) -> None:
        try:
            result = step()
        except Exception as exc:
            errors.append(f"{what}: {exc}")
        else:
            if isinstance(result, str):
                errors.append(result)

    manager = lab.manager
    # Roles first (lab up insists on the lab's roles; the manager may be down, then this
    # fails and is retried below), then repair faults so every host can be reached.
    node_errors: list[str] = []
    for node_id, spec in before.nodes.items():
        if (problem := _restore_node(manager, node_id, spec)) is not None:
            node_errors.append(problem)

    def repair() -> None:
        fresh = lab_up(
            lab.index, len(lab.hosts), lab.managers, progress=lambda _m: None, engine=lab.engine
        )
        lab.update_from(fresh)

    attempt("lab up (repair)", repair)
    new_services = _ids(manager, "service", "ls") - before.services
    if new_services:
        attempt("service rm", lambda: docker(manager, "service", "rm", *sorted(new_services)))
    for what, ids in before.blobs.items():  # free once the services using them are gone
        new_blobs = _ids(manager, what, "ls") - ids
        if new_blobs:
            attempt(f"{what} rm", lambda w=what, n=new_blobs: docker(manager, w, "rm", *sorted(n)))
    for host in lab.hosts:
        leftover = _ids(host, "ps", "-a") - before.containers.get(host.name, set())
        if leftover:
            attempt(f"rm on {host.name}", lambda h=host, c=leftover: docker(h, "rm", "-f", *c))
    if node_errors:
        for node_id, spec in before.nodes.items():
            attempt(f"node {node_id}", lambda n=node_id, s=spec: _restore_node(manager, n, s))
    # Networks go last: a network is busy until the tasks on it are gone (bounded retries).
    for host in [*lab.hosts[1:], manager]:
        left: set[str] = set()
        for _attempt in range(40):
            left = _networks(host) - before.networks.get(host.name, set())
            if not left:
                break
            docker(host, "network", "rm", *sorted(left), timeout=60)
            time.sleep(0.25)
        if left:
            errors.append(f"networks {sorted(left)} on {host.name} could not be removed")
    if errors:
        pytest.fail("swarm_cleanup could not restore the Swarm:\n" + "\n".join(errors))
