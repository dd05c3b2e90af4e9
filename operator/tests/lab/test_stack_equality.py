"""Equal to `docker stack deploy`, measured (issue 13, item 3): each compose file of
tests/fixtures/compose/ is deployed twice on one lab, by `docker stack deploy -c FILE ref`
and by `swarm-operator convert -f FILE --namespace cmp -o DIR` + `apply DIR`, and every
service pair's `docker service inspect` Spec is compared field by field with
tests/stackcompare.py, which maps names, network/secret/config IDs and the two tools' own
labels and names every other differing field.

The compose files interpolate ``${IMAGE}`` (the lab's image: no public image can be
pulled); both tools read it from their environment. A stack that `convert` cannot express
yet fails here with convert's messages: nothing is skipped."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from stackcompare import differences

from swarm_operator.cli import main
from swarm_operator.lab import Lab

pytestmark = pytest.mark.lab

FIXTURES = Path(__file__).parent.parent / "fixtures" / "compose"
STACKS = sorted(FIXTURES.glob("*-stack.yml"))
REF, OURS = "ref", "cmp"
NAMESPACE_LABEL = "com.docker.stack.namespace"
CONVERGE_S = 90.0


def _json_lines(proc: Any) -> list[Any]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def _ids_to_names(docker_cli: Any, kind: str) -> dict[str, str]:
    trunc = ["--no-trunc"] if kind == "network" else []  # secret and config IDs are whole
    rows = _json_lines(docker_cli(kind, "ls", *trunc, "--format", "{{json .}}"))
    return {row["ID"]: row["Name"] for row in rows}


def _stack_services(docker_cli: Any, ns: str) -> dict[str, dict[str, Any]]:
    """short name -> inspected service, for the services labelled with stack ``ns``."""
    ids = docker_cli("service", "ls", "-q", "--filter", f"label={NAMESPACE_LABEL}={ns}")
    if not ids.stdout.split():
        return {}
    inspected = json.loads(docker_cli("service", "inspect", *ids.stdout.split()).stdout)
    return {s["Spec"]["Name"].removeprefix(ns + "_"): s for s in inspected}


def _all_running(replicas: str) -> bool:
    """``2/2``, ``3/3 (max 1 per node)``: as many tasks running as wanted, and some."""
    running, _, wanted = replicas.split()[0].partition("/")
    return running == wanted and wanted != "0"


def _wait_converged(docker_cli: Any, ns: str) -> str:
    """Wait (bounded) until every service of stack ``ns`` runs all its tasks; the specs are
    compared whatever the outcome, so this returns what did not converge instead of
    failing."""
    deadline = time.monotonic() + CONVERGE_S
    while True:
        rows = _json_lines(docker_cli("service", "ls", "--format", "{{json .}}"))
        pending = [
            f"{r['Name']} {r['Replicas']}"
            for r in rows
            if r["Name"].startswith(ns + "_") and not _all_running(r["Replicas"])
        ]
        if not pending or time.monotonic() > deadline:
            return ", ".join(pending)
        time.sleep(2)


def _snapshot(docker_cli: Any, ns: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any], str]:
    """Stack ``ns`` once converged (or not): its services, the ID -> name tables of
    networks, secrets and configs, and what did not converge."""
    pending = _wait_converged(docker_cli, ns)
    tables = {
        "networks": _ids_to_names(docker_cli, "network"),
        "secrets": _ids_to_names(docker_cli, "secret"),
        "configs": _ids_to_names(docker_cli, "config"),
    }
    return _stack_services(docker_cli, ns), tables, pending


def _remove(docker_cli: Any, ns: str) -> None:
    """Stack ``ns`` away: its services (``docker stack rm`` removes the ref stack's
    networks, secrets and configs too), then the secrets and configs named after it
    (swarm_cleanup removes services and networks, not those); waits until no service of
    it is left, so a published port is free again."""
    docker_cli("stack", "rm", ns, check=False)
    ids = docker_cli("service", "ls", "-q", "--filter", f"label={NAMESPACE_LABEL}={ns}")
    if ids.stdout.split():
        docker_cli("service", "rm", *ids.stdout.split(), check=False)
    for kind in ("secret", "config"):
        stale = [n for n in _ids_to_names(docker_cli, kind).values() if n.startswith(ns + "_")]
        if stale:
            docker_cli(kind, "rm", *stale, check=False)
    deadline = time.monotonic() + CONVERGE_S
    while _stack_services(docker_cli, ns) and time.monotonic() < deadline:
        time.sleep(1)


def _remove_volumes(docker_cli: Any, lab: Lab, ns: str) -> None:
    """The named volumes the stack's tasks made on each host (neither `stack rm` nor
    swarm_cleanup removes them); a volume is in use until its task's container is gone,
    so this retries for a while."""
    deadline = time.monotonic() + CONVERGE_S
    for host in lab.hosts:
        while True:
            listed = docker_cli("volume", "ls", "-q", "--filter", f"name={ns}_", host=host.name)
            names = [n for n in listed.stdout.split() if n.startswith(ns + "_")]
            if not names:
                break
            docker_cli("volume", "rm", *names, host=host.name, check=False)
            if time.monotonic() > deadline:
                break
            time.sleep(1)


@pytest.mark.parametrize("compose", STACKS, ids=[p.stem for p in STACKS])
def test_convert_and_apply_deploy_what_docker_stack_deploy_deploys(
    compose: Path,
    lab: Lab,
    swarm_cleanup: None,
    docker_cli: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The two deployments run one after the other (their published ports would collide):
    ref is deployed, read and removed, then ours is applied and read."""
    monkeypatch.setenv("IMAGE", lab.image)
    out = tmp_path / "manifests"
    try:
        docker_cli("stack", "deploy", "-c", str(compose), REF, env={"IMAGE": lab.image})
        ref, ref_tables, ref_pending = _snapshot(docker_cli, REF)
        _remove(docker_cli, REF)
        assert ref, f"docker stack deploy made no service of {compose.name}"

        capsys.readouterr()
        code = main(["convert", "-f", str(compose), "--namespace", OURS, "-o", str(out)])
        converted = capsys.readouterr()
        assert code == 0, f"convert {compose.name} failed:\n{converted.out}{converted.err}"
        code = main(["apply", str(out), "--host", lab.manager.docker_host])
        applied = capsys.readouterr()
        assert code == 0, f"apply of {compose.name} failed:\n{applied.out}{applied.err}"
        ours, our_tables, our_pending = _snapshot(docker_cli, OURS)

        assert sorted(ours) == sorted(ref), "the two tools made different services"
        tables = {k: {**ref_tables[k], **our_tables[k]} for k in ref_tables}
        found = {
            name: differences(
                ref[name]["Spec"], ours[name]["Spec"], ref_ns=REF, our_ns=OURS, **tables
            )
            for name in sorted(ref)
        }
        report = "\n".join(f"  {name}: {line}" for name, lines in found.items() for line in lines)
        pending = ", ".join(p for p in (ref_pending, our_pending) if p)
        assert not report, (
            f"{compose.name}: the specs differ (ref != ours)"
            f"{f'; not converged: {pending}' if pending else ''}:\n{report}"
        )
    finally:
        for ns in (REF, OURS):
            _remove(docker_cli, ns)
        for ns in (REF, OURS):
            _remove_volumes(docker_cli, lab, ns)
