"""One ``swarm-operator doctor`` run: deploy short-lived probes, wait, read, diagnose, clean up.

Owns the sequence and the promise to leave nothing behind. Everything it creates carries
the probe labels and this run's id (``io.swarm-operator.probe-run``); the ``finally`` of
`run_doctor` removes exactly those objects, also on errors and Ctrl-C. User services are
only read (for address use), never changed.

Which networks: ``--network NAME``, else every swarm-scope overlay network except
``ingress`` (which services cannot join) and the probes' own. When there is none, a
throwaway overlay ``so-doctor-<run>`` is created so the data path between the nodes is
still tested (it is removed at the end).

Also deployed: one host-network probe (ports 2377/7946 between nodes, interfaces and MTUs
of each host). Probing data comes back through the manager (service logs), so doctor
needs only the manager's API, not access to every node's daemon.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from swarm_operator.probing import DEFAULT_PROBE_IMAGE, probe
from swarm_operator.probing.diagnose import Finding, OverlayInfo, diagnose
from swarm_operator.probing.matrix import IfaceRecord, Matrix, PortRecord, Round
from swarm_operator.probing.probe import NodeInfo, ProbeSettings
from swarm_operator.probing.runner import (
    HostProbe,
    ProbeClient,
    ProbeRunner,
    address_use,
    overlay_info,
    overlay_networks,
    running_nodes,
    task_errors,
)
from swarm_operator.swarm.errors import ApiError, NotFound, SwarmOperatorError

JSON = dict[str, Any]
Progress = Callable[[str], None]

DOCTOR_INTERVAL_S = 2.0
ROUNDS_WANTED = 3
"""Rounds each node must have completed before the matrix is read (the first round of
a node can miss peers whose tasks started after it)."""


class DoctorClient(ProbeClient, Protocol):
    def require_manager(self) -> JSON: ...

    def create_network(self, spec: JSON) -> str: ...

    def remove_network(self, network_id: str) -> None: ...


class UsageError(SwarmOperatorError):
    """The command line asked for something that does not exist (exit 2)."""


@dataclass(frozen=True)
class DoctorOptions:
    network: str | None = None
    timeout_s: float = 60.0
    image: str = DEFAULT_PROBE_IMAGE


@dataclass
class DoctorReport:
    nodes: list[NodeInfo]
    networks: list[OverlayInfo]
    matrices: list[Matrix] = field(default_factory=list)
    ports: list[PortRecord] = field(default_factory=list)
    host_ifaces: dict[str, tuple[IfaceRecord, ...]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run_id: str = ""
    throwaway: str | None = None

    @property
    def healthy(self) -> bool:
        return not any(f.problem for f in self.findings)


def _eligible(nodes: Sequence[NodeInfo]) -> list[str]:
    return [n.hostname for n in nodes if n.eligible]


def _rounds_done(rounds: dict[str, Round], wanted: list[str], expected_peers: int) -> bool:
    for node in wanted:
        rnd = rounds.get(node)
        if rnd is None or rnd.number < 2:
            return False
        if len(rnd.peers) < expected_peers and rnd.number < ROUNDS_WANTED:
            return False
    return True


def run_doctor(
    client: DoctorClient,
    options: DoctorOptions,
    progress: Progress = lambda _m: None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DoctorReport:
    client.require_manager()
    run_id = secrets.token_hex(3)
    settings = ProbeSettings(
        image=options.image, interval_s=DOCTOR_INTERVAL_S, owner="doctor", run_id=run_id
    )
    nodes = probe.nodes_from_api(client.nodes())
    raw_nets = overlay_networks(client)
    by_name = {str(n.get("Name")): n for n in raw_nets}
    if options.network is not None:
        if options.network not in by_name:
            known = ", ".join(sorted(n for n in by_name if n != "ingress")) or "none"
            raise UsageError(
                f"no swarm-scope overlay network named {options.network!r} (overlays: {known})"
            )
        if options.network == "ingress":
            raise UsageError("the routing mesh 'ingress' cannot be probed: services cannot join it")
    services = client.services()
    tasks = client.tasks()
    networks = [overlay_info(raw, address_use(raw, services, tasks)) for raw in raw_nets]
    if options.network is not None:
        targets = [options.network]
    else:
        targets = [
            name
            for name, raw in by_name.items()
            if name != "ingress" and not probe.is_probe(raw.get("Labels"))
        ]
    report = DoctorReport(nodes=nodes, networks=networks, run_id=run_id)
    report.notes.append(
        "UDP ports (4789/udp VXLAN, 7946/udp gossip) cannot be tested by a connect: "
        "their state is inferred from the overlay data path and DNS"
    )
    created_network: str | None = None
    runners: list[ProbeRunner] = []
    host = HostProbe(client, nodes, settings)
    deadline = clock() + options.timeout_s
    errors: dict[str, dict[str, str]] = {}
    try:
        if not targets:
            name = f"so-doctor-{run_id}"
            progress(f"no overlay network to probe: creating the throwaway overlay {name}")
            created_network = client.create_network(
                {
                    "Name": name,
                    "Driver": "overlay",
                    "Attachable": False,
                    "Labels": probe.probe_labels("overlay", settings, name),
                    "Scope": "swarm",
                }
            )
            report.throwaway = name
            targets = [name]
            raw = client.inspect_network(created_network)
            networks.append(overlay_info(raw))
        progress(
            f"deploying probes (image {settings.image}) on {', '.join(targets)} "
            f"and in host network mode"
        )
        try:
            host.ensure()
        except NotFound as exc:
            report.notes.append(f"host probe not deployed: {exc}")
        for name in targets:
            runner = ProbeRunner(client, name, settings)
            runner.ensure()
            runners.append(runner)
        wanted = _eligible(nodes)
        _wait(report, runners, host, wanted, nodes, deadline, clock, sleep, progress)
        now = time.time()
        for runner in runners:
            report.matrices.append(runner.read(now=now, nodes=nodes))
        _, report.ports, report.host_ifaces = host.read(now)
        errors = {r.network: task_errors(r._service().tasks(), nodes) for r in runners}
    finally:
        _cleanup(client, runners, host, created_network, progress)
    report.findings = diagnose(
        nodes=nodes,
        matrices=report.matrices,
        ports=report.ports,
        ports_checked=bool(report.ports),
        networks=networks,
        host_ifaces=report.host_ifaces,
        probe_errors=errors,
    )
    return report


def _wait(
    report: DoctorReport,
    runners: list[ProbeRunner],
    host: HostProbe,
    wanted: list[str],
    nodes: list[NodeInfo],
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    progress: Progress,
) -> None:
    """Wait until every eligible node runs every probe and has completed enough rounds."""
    last = ""
    while True:
        states: dict[str, dict[str, str]] = {}
        done = True
        for runner in runners:
            svc = runner._service()
            states[runner.network] = running_nodes(svc.tasks(), nodes)
            rounds = svc.read()
            if not _rounds_done(rounds, wanted, len(wanted)):
                done = False
        if host.service is not None:
            states["host"] = running_nodes(host.service.tasks(), nodes)
            if not _rounds_done(host.service.read(), wanted, 0):
                done = False
        running = {
            key: sum(1 for n in wanted if st.get(n) == "running") for key, st in states.items()
        }
        waiting = [
            f"{key} on " + ", ".join(f"{n} ({st.get(n) or 'no task'})" for n in missing)
            for key, st in states.items()
            if (missing := [n for n in wanted if st.get(n) != "running"])
        ]
        line = "probe tasks running: " + ", ".join(
            f"{key} {count}/{len(wanted)}" for key, count in running.items()
        )
        if waiting:
            line += "; waiting for " + "; ".join(waiting)
        elif not done:
            line += "; collecting rounds"
        if line != last:
            progress(line)
            last = line
        if done:
            return
        if clock() >= deadline:
            progress("timeout reached: diagnosing with what was measured")
            report.notes.append("the timeout ended the wait: some probes may not have reported")
            return
        sleep(1.0)


def _cleanup(
    client: DoctorClient,
    runners: list[ProbeRunner],
    host: HostProbe,
    network_id: str | None,
    progress: Progress,
) -> None:
    """Remove what this run created; a network only once its tasks are gone (bounded)."""
    failed: list[str] = []
    removers: list[Callable[[], None]] = [r.remove for r in runners] + [host.remove]
    for remove in removers:
        try:
            remove()
        except SwarmOperatorError as exc:
            failed.append(str(exc))
    if network_id is not None:
        for _ in range(60):
            try:
                client.remove_network(network_id)
                break
            except NotFound:
                break
            except ApiError:
                time.sleep(0.5)
        else:
            failed.append(f"network {network_id} still in use; remove it by hand")
    if failed:
        progress("cleanup incomplete: " + "; ".join(failed))
    else:
        progress("removed the probes")
