"""Bring a lab up and take it down.

`lab_up` is a sequence of "ensure" steps (bridge, firewall, registry, hosts, daemons,
Swarm membership, image, node readiness), each of which looks before it acts: on a
healthy lab nothing happens and it says so, a half-up lab is repaired, a fresh machine
gets a whole lab. `lab_down` works from the state file and the lab's deterministic
names, so it also cleans up after a crash. Neighbours: `layout` (names), `state` (the
file), `system` (processes, links, firewall), `engine` (dockerd, registry, docker CLI),
`status` (what each host is doing), `faults` (breaking a host on purpose).
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from swarm_operator.lab import engine, engines, preflight, system
from swarm_operator.lab.layout import DATA_ROOT, Layout, check_size
from swarm_operator.lab.state import Lab, LabHost, load, new_host, new_lab, save
from swarm_operator.lab.status import blocked_rules
from swarm_operator.lab.system import LabError, ProcId

Progress = Callable[[str], None]
DAEMON_START_TIMEOUT = 60.0
NODES_READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def _stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Clock:
    def __init__(self, progress: Progress) -> None:
        self.t0 = time.monotonic()
        self.progress = progress

    def say(self, message: str) -> None:
        self.progress(f"[{time.monotonic() - self.t0:5.1f}s] {message}")


@contextlib.contextmanager
def locked(index: int) -> Iterator[None]:
    """One lab command per index at a time (a 0-byte lock file next to the data dir)."""
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    with open(DATA_ROOT / f"lab-{index}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
    clock = _Clock(progress or _stderr_progress)
    with locked(index):
        engines.resolve(release, clock.say)
        return _up(index, hosts, managers, clock, release)


def _up(index: int, hosts: int, managers: int, clock: _Clock, release: str) -> Lab:
    layout = Layout(index)
    lab = load(index)
    if lab is None and _leftovers(layout):
        clock.say(f"lab {index}: leftovers without a state file, cleaning them up first")
        _down(index, clock)
    elif lab is not None and lab.engine != release:
        clock.say(
            f"lab {index} runs Docker {lab.engine}, wanted {release}: recreating it "
            "(a lab's hosts all run one engine)"
        )
        _down(index, clock)
        lab = None
    elif lab is not None and (lab.managers != managers or len(lab.hosts) > hosts):
        clock.say(
            f"lab {index} has {len(lab.hosts)} hosts/{lab.managers} managers, "
            f"wanted {hosts}/{managers}: recreating"
        )
        _down(index, clock)
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
        _down(index, clock)
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


def _ensure_all(lab: Lab, actions: list[str], clock: _Clock) -> None:
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


def _ensure_network(lab: Lab, actions: list[str], clock: _Clock) -> None:
    layout = lab.layout
    if not (system.link_exists(lab.bridge) and system.link_up(lab.bridge)):
        clock.say(f"bridge {lab.bridge} {layout.gateway}/24")
        actions.append("bridge")
    system.ensure_bridge(lab.bridge, f"{layout.gateway}/24")
    if system.chain_policy("FORWARD") != "ACCEPT" and system.insert_rule(
        None, "FORWARD", _forward_rule(layout)
    ):
        clock.say(f"FORWARD policy is not ACCEPT: allowing traffic within {lab.bridge}")
        lab.forward_rule = True
        actions.append("forward rule")
        save(lab)
    for host in lab.hosts:
        if not (system.netns_exists(host.netns) and system.link_exists(host.veth)):
            if host.pid and ProcId(host.pid, host.start).alive():
                _kill_host(host)
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


def _forward_rule(layout: Layout) -> list[str]:
    return [
        "-i", layout.bridge, "-o", layout.bridge,
        "-m", "comment", "--comment", layout.firewall_comment,
        "-j", "ACCEPT",
    ]  # fmt: skip


def _ensure_registry(lab: Lab, actions: list[str], clock: _Clock) -> None:
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


def _ensure_daemons(lab: Lab, actions: list[str], clock: _Clock) -> None:
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
        _kill_host(host)
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


def _refresh_daemon_config(lab: Lab, host: LabHost, actions: list[str], clock: _Clock) -> None:
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


def _ensure_image_async(lab: Lab, actions: list[str], clock: _Clock) -> Future[None] | None:
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


def _ensure_swarm(lab: Lab, actions: list[str], clock: _Clock) -> None:
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


# --- down --------------------------------------------------------------------------------


def lab_down(index: int = 0, progress: Progress | None = None) -> None:
    """Stop every daemon of lab ``index`` by pid and remove all it made. Safe to repeat."""
    clock = _Clock(progress or _stderr_progress)
    with locked(index):
        _down(index, clock)


def _leftovers(layout: Layout) -> bool:
    return bool(
        layout.data_dir.exists()
        or system.link_exists(layout.bridge)
        or system.list_netns(layout.netns_prefix)
    )


def _kill_host(host: LabHost) -> None:
    net_ns = system.ns_inode(system.NETNS_DIR / host.netns)
    pids = system.processes_in(net_ns, host.mnt_ns or None)
    if host.pid and ProcId(host.pid, host.start).alive():
        pids.add(host.pid)
    system.kill_all(pids)
    system.reap(host.pid)


def _down(index: int, clock: _Clock) -> None:
    layout = Layout(index)
    lab = load(index)
    if lab is None and not _leftovers(layout):
        clock.say(f"lab {index} is not up: nothing to do")
        return
    hosts = list(lab.hosts) if lab else []
    known = {h.netns for h in hosts}
    for netns in system.list_netns(layout.netns_prefix):
        if netns not in known:
            n = int(netns.removeprefix(layout.netns_prefix))
            hosts.append(new_host(layout, n, 1))
    for host in hosts:
        _kill_host(host)
    if lab and lab.registry_pid and ProcId(lab.registry_pid, lab.registry_start).alive():
        system.kill_all([lab.registry_pid])
        system.reap(lab.registry_pid)
    _stop_private_registry(layout)
    clock.say(f"stopped {len(hosts)} dockerd(s) and the registry of lab {index}")
    for host in hosts:
        system.delete_netns(host.netns)
        system.delete_link(host.veth)
    system.delete_link(layout.bridge)
    system.delete_rule(None, "FORWARD", _forward_rule(layout))
    for point in sorted(system.mounts_under([str(layout.data_dir)]), reverse=True):
        system.run(["umount", "-l", point], check=False)
    shutil.rmtree(layout.data_dir, ignore_errors=True)
    if layout.data_dir.exists():
        raise LabError(f"could not remove {layout.data_dir}")
    clock.say(f"lab {index} is down: namespaces, links, bridge, firewall rule and data removed")


# --- the private registry ----------------------------------------------------------------
# A second registry on the bridge address, with basic authentication (htpasswd), for the
# tests of private images: started and stopped by the test that needs it, its pid kept in
# its directory, so `lab down` (or the next start) also ends one a crashed test left.


def start_private_registry(lab: Lab, htpasswd: str, timeout: float = 20.0) -> str:
    """Run lab ``lab``'s private registry with these htpasswd lines (``user:$2b$...``,
    bcrypt: the only hash the registry takes), replacing one still running; its HOST:PORT.
    Every lab daemon lists it as insecure (plain HTTP), as it does the lab's registry."""
    layout = lab.layout
    directory = layout.private_registry_dir
    with locked(lab.index):
        _stop_private_registry(layout)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "htpasswd").write_text(htpasswd.rstrip("\n") + "\n")
        pid = engine.start_registry(directory, layout.private_registry, directory / "htpasswd")
        proc = ProcId(pid, system.start_time(pid) or 0)
        (directory / "pid").write_text(f"{proc.pid} {proc.start}\n")
    deadline = time.monotonic() + timeout
    # It answers 401 (authentication required) once it serves.
    while engine.registry_get(f"http://{layout.private_registry}/v2/", timeout=1.0) != 401:
        system.reap(pid)
        if not proc.alive() or time.monotonic() > deadline:
            log = engine.log_tail(directory / "registry.log")
            raise LabError(
                f"the private registry on {layout.private_registry} did not come up:\n{log}"
            )
        time.sleep(0.05)
    return layout.private_registry


def stop_private_registry(lab: Lab) -> None:
    """End lab ``lab``'s private registry, if it runs; its images go with its directory."""
    with locked(lab.index):
        _stop_private_registry(lab.layout)
        shutil.rmtree(lab.layout.private_registry_dir, ignore_errors=True)


def _stop_private_registry(layout: Layout) -> None:
    try:
        pid, start = map(int, (layout.private_registry_dir / "pid").read_text().split())
    except (OSError, ValueError):
        return
    if ProcId(pid, start).alive():
        system.kill_all([pid])
        system.reap(pid)
    (layout.private_registry_dir / "pid").unlink(missing_ok=True)
