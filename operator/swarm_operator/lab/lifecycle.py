"""Bring a lab up.

`lab_up` is a sequence of "ensure" steps (bridge, firewall, registry, hosts, daemons,
Swarm membership, image, node readiness), each of which looks before it acts: on a
healthy lab nothing happens and it says so, a half-up lab is repaired, a fresh machine
gets a whole lab, and a lab beyond repair or of another engine release is taken down
first. Neighbours: `teardown` (`lab_down`, which works from the state file and the
lab's deterministic names, so it also cleans up after a crash), `private_registry`,
`steps` (the lock, progress), `layout` (names), `state` (the file), `system` (processes,
links, firewall), `engine` (dockerd, registry, docker CLI), `status` (what each host is
doing), `faults` (breaking a host on purpose).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from swarm_operator.lab import engine, engines, preflight, system
from swarm_operator.lab.layout import Layout, check_size, forward_rule
from swarm_operator.lab.state import Lab, LabHost, load, new_host, new_lab, save
from swarm_operator.lab.status import blocked_rules
from swarm_operator.lab.steps import Progress, StepClock, locked, stderr_progress
from swarm_operator.lab.system import LabError, ProcId
from swarm_operator.lab.teardown import down, kill_host, leftovers

DAEMON_START_TIMEOUT = 60.0
NODES_READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def load_lab(index: int = 0) -> Lab | None:
    """The lab recorded for ``index`` (whatever its health), or None if none is recorded."""
    return load(index)


def docker(
    host: LabHost,
    *args: str,
    timeout: float = 120.0,
    check: bool = False,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI against one lab host (``DOCKER_HOST`` set to its socket; ``input``
    its standard input, ``env`` added variables)."""
    return engine.docker_run(host.socket, *args, timeout=timeout, check=check, input=input, env=env)


# --- up ----------------------------------------------------------------------------------


def lab_up(
    index: int = 0,
    hosts: int = 3,
    managers: int = 1,
    progress: Progress | None = None,
    engine: str | None = None,
) -> Lab:
    """Make lab ``index`` a healthy Swarm of ``hosts`` hosts (``managers`` of them managers)
    running Docker ``engine`` (`engines.ENGINES`; None: ``$SWARM_OPERATOR_LAB_ENGINE`` or
    the newest). A lab of another engine release is recreated."""
    check_size(hosts, managers)
    release = engines.check_engine(engine) if engine else engines.engine_from_env()
    preflight.check()
    clock = StepClock(progress or stderr_progress)
    with locked(index):
        engines.resolve(release, clock.say)
        return _up(index, hosts, managers, clock, release)


def _up(index: int, hosts: int, managers: int, clock: StepClock, release: str) -> Lab:
    layout = Layout(index)
    lab = load(index)
    if lab is None and leftovers(layout):
        clock.say(f"lab {index}: leftovers without a state file, cleaning them up first")
        down(index, clock)
    elif lab is not None and lab.engine != release:
        clock.say(
            f"lab {index} runs Docker {lab.engine}, wanted {release}: recreating it "
            "(a lab's hosts all run one engine)"
        )
        down(index, clock)
        lab = None
    elif lab is not None and (lab.managers != managers or len(lab.hosts) > hosts):
        clock.say(
            f"lab {index} has {len(lab.hosts)} hosts/{lab.managers} managers, "
            f"wanted {hosts}/{managers}: recreating"
        )
        down(index, clock)
        lab = None
    fresh = lab is None
    if lab is None:
        clock.say(
            f"creating lab {index}: {hosts} hosts, {managers} manager(s), {layout.subnet}, "
            f"Docker {release}"
        )
        lab = new_lab(index, hosts, managers, release)
    else:
        for n in range(len(lab.hosts) + 1, hosts + 1):
            lab.hosts.append(new_host(layout, n, managers))
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    save(lab)

    actions: list[str] = []
    try:
        _ensure_all(lab, actions, clock)
    except LabError as exc:
        if fresh:
            raise
        # Beyond repair (e.g. a Swarm that lost its quorum): start over, once.
        clock.say(f"lab {index} could not be repaired ({exc}); recreating it")
        down(index, clock)
        lab, fresh, actions = new_lab(index, hosts, managers, release), True, []
        layout.data_dir.mkdir(parents=True, exist_ok=True)
        save(lab)
        _ensure_all(lab, actions, clock)
    elapsed = time.monotonic() - clock.t0
    binaries = engines.resolve(lab.engine)
    summary = (
        f"Docker {binaries.version} ({binaries.source}), "
        f"{len(lab.hosts)} hosts ({', '.join(h.name for h in lab.hosts)}), "
        f"manager {lab.manager.name} {lab.manager.docker_host}, registry {lab.registry}"
    )
    if not actions:
        clock.say(f"lab {index} is already up and healthy: {summary}")
    elif fresh:
        clock.say(f"lab {index} is up in {elapsed:.1f}s: {summary}")
    else:
        clock.say(f"lab {index} repaired ({'; '.join(actions)}) in {elapsed:.1f}s: {summary}")
    return lab


def _ensure_all(lab: Lab, actions: list[str], clock: StepClock) -> None:
    _ensure_network(lab, actions, clock)
    _ensure_registry(lab, actions, clock)
    _ensure_daemons(lab, actions, clock)
    image_job = _ensure_image_async(lab, actions, clock)
    try:
        _ensure_swarm(lab, actions, clock)
        wait_nodes_ready(lab, NODES_READY_TIMEOUT)
    finally:
        if image_job is not None:
            image_job.result()
    save(lab)


def _ensure_network(lab: Lab, actions: list[str], clock: StepClock) -> None:
    layout = lab.layout
    if not (system.link_exists(lab.bridge) and system.link_up(lab.bridge)):
        clock.say(f"bridge {lab.bridge} {layout.gateway}/24")
        actions.append("bridge")
    system.ensure_bridge(lab.bridge, f"{layout.gateway}/24")
    if system.chain_policy("FORWARD") != "ACCEPT" and system.insert_rule(
        None, "FORWARD", forward_rule(layout)
    ):
        clock.say(f"FORWARD policy is not ACCEPT: allowing traffic within {lab.bridge}")
        lab.forward_rule = True
        actions.append("forward rule")
        save(lab)
    for host in lab.hosts:
        if not (system.netns_exists(host.netns) and system.link_exists(host.veth)):
            if host.pid and ProcId(host.pid, host.start).alive():
                kill_host(host)
            system.delete_netns(host.netns)
            system.delete_link(host.veth)
            clock.say(f"{host.name}: netns {host.netns}, {host.address} on {lab.bridge}")
            system.create_host_netns(host.netns, host.veth, lab.bridge, f"{host.address}/24")
            host.pid = host.start = host.mnt_ns = 0
            actions.append(f"{host.name} network")
        elif system.link_master(host.veth) != lab.bridge:
            clock.say(f"{host.name}: link was off {lab.bridge}, plugging it back")
            system.run(["ip", "link", "set", host.veth, "master", lab.bridge, "up"])
            actions.append(f"{host.name} link")
        elif not system.link_up(host.veth):
            clock.say(f"{host.name}: link was cut, restoring it")
            system.set_link(host.veth, True)
            actions.append(f"{host.name} link")
        rule_comment = layout.firewall_comment
        for spec in blocked_rules(host, rule_comment):
            system.delete_rule(host.netns, "INPUT", spec)
            clock.say(f"{host.name}: removed lab firewall rule {' '.join(spec)}")
            actions.append(f"{host.name} firewall")
    save(lab)


def _ensure_registry(lab: Lab, actions: list[str], clock: StepClock) -> None:
    if ProcId(lab.registry_pid, lab.registry_start).alive() and engine.registry_up(lab.registry):
        return
    if lab.registry_pid and ProcId(lab.registry_pid, lab.registry_start).alive():
        system.kill_all([lab.registry_pid])
    clock.say(f"registry on {lab.registry}")
    pid = engine.start_registry(lab.layout.registry_dir, lab.registry)
    lab.registry_pid, lab.registry_start = pid, system.start_time(pid) or 0
    save(lab)
    actions.append("registry")
    deadline = time.monotonic() + 20
    while not engine.registry_up(lab.registry):
        system.reap(pid)
        if not ProcId(pid, lab.registry_start).alive() or time.monotonic() > deadline:
            log = engine.log_tail(lab.layout.registry_dir / "registry.log")
            raise LabError(f"the registry on {lab.registry} did not come up:\n{log}")
        time.sleep(0.05)


def _registries(lab: Lab) -> list[str]:
    """What every daemon of the lab lists as insecure: the lab's registry and the private
    one (`start_private_registry`), whether that runs or not."""
    return [lab.registry, lab.layout.private_registry]


def _ensure_daemons(lab: Lab, actions: list[str], clock: StepClock) -> None:
    started = []
    for host in lab.hosts:
        if host.pid and ProcId(host.pid, host.start).alive():
            _refresh_daemon_config(lab, host, actions, clock)
            continue
        log = lab.layout.host_dir(host.number) / "dockerd.log"
        if host.pid and engine.rotate_log(log):
            # It died (a `lab stop` records pid 0): keep the evidence for whoever reads it.
            clock.say(f"{host.name}: dockerd had exited; its log is kept as {log.name}.1")
        # A daemon that died may have left shims and containers behind: a clean start.
        kill_host(host)
        start_dockerd(lab, host)
        started.append(host)
    if started:
        names = ", ".join(h.name for h in started)
        clock.say(f"dockerd started on {names}; waiting for the daemons to answer")
        actions.append(f"dockerd on {names}")
    for host in lab.hosts:
        wait_daemon(lab, host)
    if started:
        clock.say("all daemons answer")
    save(lab)


def start_dockerd(lab: Lab, host: LabHost) -> None:
    host_dir = lab.layout.host_dir(host.number)
    # Callers start a host only when none of its processes runs: pidfiles left are stale.
    # dockerd 20.10 refuses to start (and waits for "its" containerd) while the pid in
    # them is still in /proc, which a process that died is until its new parent (pid 1)
    # reaps the zombie.
    for pidfile in ("docker.pid", "docker/containerd/containerd.pid"):
        (host_dir / "run" / pidfile).unlink(missing_ok=True)
    engine.write_daemon_config(host_dir, _registries(lab), lab.engine)
    binaries = engines.resolve(lab.engine)
    pid = engine.start_dockerd(host.netns, host.name, host_dir, Path(host.socket), binaries)
    host.pid, host.start, host.mnt_ns = pid, system.start_time(pid) or 0, 0
    save(lab)


def _refresh_daemon_config(lab: Lab, host: LabHost, actions: list[str], clock: StepClock) -> None:
    """A running daemon whose daemon.json is older than this code's (a lab kept up across
    an upgrade) gets the new one, and SIGHUP: dockerd reloads its insecure registries."""
    host_dir = lab.layout.host_dir(host.number)
    path = host_dir / "daemon.json"
    wanted = engine.daemon_config(host_dir, _registries(lab), lab.engine)
    try:
        if path.read_text() == wanted:
            return
    except OSError:
        pass
    path.write_text(wanted)
    system.signal_pids([host.pid], signal.SIGHUP)
    clock.say(f"{host.name}: daemon.json updated, dockerd reloaded it")
    actions.append(f"{host.name} daemon.json")


def wait_daemon(lab: Lab, host: LabHost, timeout: float = DAEMON_START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not engine.engine_ping(host.socket):
        system.reap(host.pid)
        if not ProcId(host.pid, host.start).alive():
            log = engine.log_tail(lab.layout.host_dir(host.number) / "dockerd.log")
            raise LabError(f"dockerd of {host.name} exited:\n{log}")
        if time.monotonic() > deadline:
            raise LabError(f"dockerd of {host.name} did not answer within {timeout:.0f}s")
        time.sleep(0.05)
    if not host.mnt_ns:
        host.mnt_ns = system.ns_inode(f"/proc/{host.pid}/ns/mnt") or 0


def _ensure_image_async(lab: Lab, actions: list[str], clock: StepClock) -> Future[None] | None:
    if engine.image_present(lab.registry, lab.image):
        return None
    clock.say(f"building {lab.image} on {lab.manager.name} (in the background)")
    actions.append("image")
    pool = ThreadPoolExecutor(max_workers=1)

    def build() -> None:
        engine.build_and_push_image(
            Path(lab.manager.socket), lab.data_dir / "image", lab.image, preflight.BUSYBOX
        )
        clock.say(f"pushed {lab.image}")

    job = pool.submit(build)
    pool.shutdown(wait=False)
    return job


def _swarm_info(host: LabHost) -> dict[str, Any]:
    info = engine.engine_get(host.socket, "/info")
    swarm: dict[str, Any] = info.get("Swarm") or {}
    return swarm


def _ensure_swarm(lab: Lab, actions: list[str], clock: StepClock) -> None:
    first = lab.manager
    info = _swarm_info(first)
    if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
        if info.get("LocalNodeState") not in (None, "", "inactive"):
            docker(first, "swarm", "leave", "--force")
        clock.say(f"swarm init on {first.name} ({first.address})")
        docker(
            first, "swarm", "init",
            "--advertise-addr", first.address, "--listen-addr", f"{first.address}:2377",
            check=True,
        )  # fmt: skip
        actions.append("swarm init")
    members = {node["ID"] for node in engine.engine_get(first.socket, "/nodes")}
    joining = []
    for host in lab.hosts[1:]:
        hinfo = _swarm_info(host)
        if hinfo.get("LocalNodeState") == "active" and hinfo.get("NodeID") in members:
            continue
        if hinfo.get("LocalNodeState") not in (None, "", "inactive"):
            docker(host, "swarm", "leave", "--force")
        joining.append(host)
    if not joining:
        return
    tokens = {
        role: docker(first, "swarm", "join-token", "-q", role, check=True).stdout.strip()
        for role in ("manager", "worker")
    }

    def join(host: LabHost) -> None:
        docker(
            host, "swarm", "join", "--token", tokens[host.role],
            "--advertise-addr", host.address, "--listen-addr", f"{host.address}:2377",
            f"{first.address}:2377",
            check=True,
        )  # fmt: skip

    # Managers one at a time (Raft membership changes), workers all at once.
    for host in joining:
        if host.role == "manager":
            join(host)
    workers = [h for h in joining if h.role == "worker"]
    with ThreadPoolExecutor(max_workers=max(1, len(workers))) as pool:
        for fut in [pool.submit(join, h) for h in workers]:
            fut.result()
    clock.say(f"joined {', '.join(h.name for h in joining)}")
    actions.append("swarm join")


def wait_nodes_ready(lab: Lab, timeout: float = NODES_READY_TIMEOUT) -> None:
    """Wait until every lab host is a Ready node with its role; drop stale duplicates."""
    deadline = time.monotonic() + timeout
    want = {h.name: h for h in lab.hosts}
    problems: list[str] = []
    while True:
        problems = []
        try:
            nodes = engine.engine_get(lab.manager.socket, "/nodes")
        except (OSError, LabError) as exc:
            nodes, problems = [], [f"manager does not answer: {exc}"]
        by_name: dict[str, list[dict[str, Any]]] = {}
        for node in nodes:
            # A node that joined a moment ago may not have described itself yet.
            hostname = (node.get("Description") or {}).get("Hostname")
            if hostname:
                by_name.setdefault(hostname, []).append(node)
        for name, host in want.items():
            ready = [n for n in by_name.get(name, []) if n["Status"]["State"] == "ready"]
            if not ready:
                problems.append(f"{name} not ready")
            elif ready[0]["Spec"]["Role"] != host.role:
                problems.append(f"{name} is {ready[0]['Spec']['Role']}, want {host.role}")
            stale = [n for n in by_name.get(name, []) if n["Status"]["State"] == "down"]
            if ready and stale:
                for node in stale:
                    docker(lab.manager, "node", "rm", "--force", node["ID"])
        extra = sorted(set(by_name) - set(want))
        if extra:
            problems.append(f"unexpected nodes {extra}")
        if not problems:
            return
        if time.monotonic() > deadline:
            raise LabError(f"lab {lab.index} nodes not ready after {timeout:.0f}s: {problems}")
        time.sleep(0.1)
