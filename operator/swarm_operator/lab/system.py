"""Machine plumbing for the lab: commands, processes, namespaces, links, firewall rules.

Everything runs through subprocess (`ip`, `nsenter`, `iptables`) or /proc; nothing here
knows about Swarm. Processes are only ever signalled by pid, and a pid is only trusted
together with its start time (`ProcId`), so a recycled pid is never hit. Neighbours:
`layout` (names), `engine` (dockerd and the registry), `lifecycle` (the order of things).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

NETNS_DIR = Path("/var/run/netns")
# A clean environment for the daemons: no proxy settings, no DOCKER_* leaking in.
DAEMON_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}


class LabError(RuntimeError):
    """Something on the machine did not go as the lab needs; the message says what."""


def run(
    cmd: Sequence[str], *, check: bool = True, timeout: float = 60.0, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output; with ``check`` a failure raises `LabError`."""
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout, input=input, check=False
        )
    except FileNotFoundError as exc:
        raise LabError(f"command not found: {cmd[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout:.0f}s: {' '.join(cmd)}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise LabError(f"{' '.join(cmd)} failed ({proc.returncode}): {detail}")
    return proc


# --- processes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcId:
    """A process as (pid, start time in clock ticks since boot): unique across pid reuse."""

    pid: int
    start: int

    @classmethod
    def of(cls, pid: int) -> ProcId | None:
        start = start_time(pid)
        return None if start is None else cls(pid, start)

    def alive(self) -> bool:
        return start_time(self.pid) == self.start


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":
        return None
    return int(fields[19])  # field 22 of /proc/PID/stat


def ns_inode(path: str | Path) -> int | None:
    """Inode of a namespace file (/proc/PID/ns/net, /var/run/netns/NAME), None if gone."""
    try:
        return os.stat(path).st_ino
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def processes_in(net_ns: int | None, mnt_ns: int | None) -> set[int]:
    """Pids in network namespace ``net_ns`` or mount namespace ``mnt_ns``, plus descendants.

    A lab host's dockerd, containerd, shims and docker-proxy live in the host's netns and
    mount namespace; containers are the shims' children. Nothing else on the machine is in
    either namespace, so this finds exactly one host's processes without looking at names.
    """
    parents: dict[int, int] = {}
    seeds: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        fields = _stat_fields(pid)
        if fields is None:
            continue
        parents[pid] = int(fields[1])
        in_net = net_ns is not None and ns_inode(f"/proc/{pid}/ns/net") == net_ns
        if in_net or (mnt_ns is not None and ns_inode(f"/proc/{pid}/ns/mnt") == mnt_ns):
            seeds.add(pid)
    found = set(seeds)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    found.discard(os.getpid())
    return found


def signal_pids(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(procs: Iterable[ProcId], timeout: float) -> bool:
    """Wait until none of ``procs`` is alive; True if they all went in time."""
    pending = list(procs)
    deadline = time.monotonic() + timeout
    while True:
        pending = [p for p in pending if p.alive()]
        if not pending:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def kill_all(pids: Iterable[int], timeout: float = 10.0) -> None:
    """SIGKILL these pids (identified now, so a pid recycled later is not waited on)."""
    procs = [p for p in (ProcId.of(pid) for pid in pids) if p is not None]
    signal_pids((p.pid for p in procs), signal.SIGKILL)
    if not wait_gone(procs, timeout):
        left = [p.pid for p in procs if p.alive()]
        raise LabError(f"processes {left} survived SIGKILL for {timeout:.0f}s")


def spawn_detached(cmd: Sequence[str], log: Path) -> int:
    """Start a long-running daemon in its own session, output to ``log``; its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=DAEMON_ENV,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid


def reap(pid: int) -> None:
    """Collect a child that exited (no zombie left behind by this Python process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


# --- links and namespaces ----------------------------------------------------------------


def link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def list_netns(prefix: str) -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    pattern = re.compile(re.escape(prefix) + r"\d+$")
    return sorted(p.name for p in NETNS_DIR.iterdir() if pattern.match(p.name))


def ensure_bridge(name: str, address_cidr: str) -> None:
    if not link_exists(name):
        run(["ip", "link", "add", name, "type", "bridge"])
    have = run(["ip", "-o", "-4", "addr", "show", "dev", name]).stdout
    if f" {address_cidr} " not in have:
        run(["ip", "addr", "add", address_cidr, "dev", name])
    run(["ip", "link", "set", name, "up"])


def create_host_netns(netns: str, veth: str, bridge: str, address_cidr: str) -> None:
    """A fresh netns with ``eth0`` (address_cidr) plugged into ``bridge``; no default route."""
    run(["ip", "netns", "add", netns])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns])
    run(["ip", "link", "set", veth, "master", bridge, "up"])
    run(["ip", "-n", netns, "addr", "add", address_cidr, "dev", "eth0"])
    run(["ip", "-n", netns, "link", "set", "lo", "up"])
    run(["ip", "-n", netns, "link", "set", "eth0", "up"])


def delete_netns(netns: str) -> None:
    if netns_exists(netns):
        run(["ip", "netns", "del", netns])


def delete_link(name: str) -> None:
    if link_exists(name):
        run(["ip", "link", "del", name], check=False)


def link_up(name: str) -> bool:
    try:
        flags = int(Path(f"/sys/class/net/{name}/flags").read_text(), 16)
    except FileNotFoundError:
        return False
    return bool(flags & 0x1)


def link_master(name: str) -> str | None:
    """The bridge a link is plugged into, if any."""
    try:
        return os.path.basename(os.readlink(f"/sys/class/net/{name}/master"))
    except OSError:
        return None


def set_link(name: str, up: bool) -> None:
    run(["ip", "link", "set", name, "up" if up else "down"])


def mounts_under(prefixes: Sequence[str]) -> list[str]:
    """Mount points in this mount namespace at or below any of ``prefixes``."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == p or point.startswith(p.rstrip("/") + "/") for p in prefixes):
            found.append(point)
    return found


# --- firewall ----------------------------------------------------------------------------


def _iptables(
    netns: str | None, args: Sequence[str], check: bool
) -> subprocess.CompletedProcess[str]:
    prefix = ["nsenter", f"--net={NETNS_DIR / netns}"] if netns else []
    return run([*prefix, "iptables", "-w", "5", *args], check=check)


def rule_present(netns: str | None, chain: str, rule: Sequence[str]) -> bool:
    return _iptables(netns, ["-C", chain, *rule], check=False).returncode == 0


def insert_rule(netns: str | None, chain: str, rule: Sequence[str]) -> bool:
    """Insert ``rule`` at the top of ``chain`` unless present; True if it was added."""
    if rule_present(netns, chain, rule):
        return False
    _iptables(netns, ["-I", chain, *rule], check=True)
    return True


def delete_rule(netns: str | None, chain: str, rule: Sequence[str]) -> int:
    """Delete every copy of ``rule`` from ``chain``; how many were removed."""
    removed = 0
    while rule_present(netns, chain, rule):
        _iptables(netns, ["-D", chain, *rule], check=True)
        removed += 1
    return removed


def chain_policy(chain: str) -> str:
    out = run(["iptables", "-w", "5", "-S", chain]).stdout
    for line in out.splitlines():
        if line.startswith(f"-P {chain} "):
            return line.split()[2]
    return "ACCEPT"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on ``path`` (made, with its directory, if missing): one
    lab command per lab index, one fetch per engine release."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
