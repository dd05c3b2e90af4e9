"""`swarm-operator lab ...`: a real multi-host Swarm on this machine (like kind or k3d).

Argument parsing and printing only; the work is in `swarm_operator.lab`. Subcommands:
up, down, env, status, stop/start HOST, block/unblock HOST PORT/PROTO, cut/restore HOST.
Every subcommand takes ``--index K`` (default ``$SWARM_OPERATOR_LAB_INDEX`` or 0).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from swarm_operator import lab as labpkg
from swarm_operator.lab import engines

EXIT_OK = 0
EXIT_FAILED = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lab",
        help="run a local multi-host Swarm lab (network namespaces, one dockerd per host)",
        description=(
            "A real multi-host Docker Swarm on this machine: each host is a network namespace "
            "with its own dockerd, on bridge 10.77.K.0/24, with a registry at 10.77.K.1:5000. "
            "Needs Linux and root."
        ),
    )
    actions = parser.add_subparsers(dest="lab_command", metavar="ACTION", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
        p.add_argument(
            "--index",
            type=int,
            default=None,
            help=f"lab index K (default ${labpkg.INDEX_ENV} or 0)",
        )
        p.set_defaults(func=run)
        return p

    up = add("up", "create (or repair) the lab and print how to use it")
    up.add_argument("--hosts", type=int, default=3, help="number of hosts (default 3)")
    up.add_argument("--managers", type=int, default=1, help="how many are managers (default 1)")
    engine_help = (
        f"Docker engine release of every host (default ${engines.ENGINE_ENV} or "
        f"{engines.DEFAULT_ENGINE}); one the system lacks is fetched from Debian into "
        f"{engines.CACHE_ROOT}/RELEASE"
    )
    up.add_argument(
        "--engine",
        choices=engines.ENGINES,
        default=None,
        help=engine_help + "; a lab of another release is recreated",
    )
    fetch = add("engine", "fetch (once) and check the binaries of a Docker engine release")
    fetch.add_argument("--engine", choices=engines.ENGINES, default=None, help=engine_help)
    add("down", "stop every lab daemon by pid and remove namespaces, links, mounts and data")
    add(
        "env",
        "print `export DOCKER_HOST=...` for the manager and the lab's probe image (eval it)",
    )
    add("status", "show hosts, daemons, links, firewall blocks and Swarm nodes")
    for name, text in (("stop", "stop HOST's dockerd"), ("start", "start HOST's dockerd")):
        add(name, text).add_argument("host", metavar="HOST", help="e.g. host2")
    for name, text in (
        ("block", "drop inbound PORT/PROTO in HOST's own firewall"),
        ("unblock", "undo block"),
    ):
        p = add(name, text)
        p.add_argument("host", metavar="HOST", help="e.g. host2")
        p.add_argument("port", metavar="PORT/PROTO", help="e.g. 4789/udp")
    for name, text in (("cut", "take HOST's link down"), ("restore", "bring HOST's link up")):
        add(name, text).add_argument("host", metavar="HOST", help="e.g. host2")


def run(args: argparse.Namespace) -> int:
    from swarm_operator.lab import preflight

    try:
        index = args.index if args.index is not None else labpkg.index_from_env()
        labpkg.Layout(index)
        # Everything needs Linux and root; only starting daemons needs the packages.
        preflight.check(commands=args.lab_command in ("up", "start"))
        return _dispatch(args, index)
    except (labpkg.LabError, labpkg.LabConfigError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"swarm-operator lab: {message}", file=sys.stderr)
        return EXIT_FAILED


def _need_lab(index: int) -> labpkg.Lab:
    lab = labpkg.load_lab(index)
    if lab is None:
        raise labpkg.LabError(f"lab {index} is not up (run: swarm-operator lab up --index {index})")
    return lab


def _dispatch(args: argparse.Namespace, index: int) -> int:
    cmd = args.lab_command
    if cmd == "up":
        lab = labpkg.lab_up(index, hosts=args.hosts, managers=args.managers, engine=args.engine)
        print(_env_text(lab), end="")
        return EXIT_OK
    if cmd == "down":
        labpkg.lab_down(index)
        return EXIT_OK
    if cmd == "env":
        print(_env_text(_need_lab(index)), end="")
        return EXIT_OK
    if cmd == "status":
        return _status(index)
    if cmd == "engine":
        release = args.engine or engines.engine_from_env()
        found = engines.resolve(release, print)
        print(
            f"Docker {release}: dockerd {found.dockerd_version} ({found.dockerd}), "
            f"containerd {found.containerd_version}, from {found.source}"
        )
        return EXIT_OK
    lab = _need_lab(index)
    if cmd == "stop":
        labpkg.stop_host(lab, args.host)
        print(f"{args.host}: dockerd stopped")
    elif cmd == "start":
        labpkg.start_host(lab, args.host)
        print(f"{args.host}: dockerd started")
    elif cmd == "block":
        added = labpkg.block(lab, args.host, args.port)
        print(f"{args.host}: inbound {args.port} {'blocked' if added else 'was already blocked'}")
    elif cmd == "unblock":
        removed = labpkg.unblock(lab, args.host, args.port)
        print(f"{args.host}: inbound {args.port} {'unblocked' if removed else 'was not blocked'}")
    elif cmd == "cut":
        labpkg.cut(lab, args.host)
        print(f"{args.host}: link cut")
    elif cmd == "restore":
        labpkg.restore(lab, args.host)
        print(f"{args.host}: link restored")
    return EXIT_OK


def _env_text(lab: labpkg.Lab) -> str:
    lines = [
        f"# swarm-operator lab {lab.index}: {len(lab.hosts)} hosts on {lab.bridge} {lab.subnet}, "
        f"registry {lab.registry}, image {lab.image}, Docker {lab.engine}",
        f"export DOCKER_HOST={shlex.quote(lab.manager.docker_host)}",
        # The lab reaches no public registry: probes (doctor, run) use the lab's image.
        f"export SWARM_OPERATOR_PROBE_IMAGE={shlex.quote(lab.image)}",
    ]
    for host in lab.hosts:
        lines.append(
            f"# {host.name} ({host.role}, {host.address}): export DOCKER_HOST={host.docker_host}"
        )
    return "\n".join(lines) + "\n"


def _status(index: int) -> int:
    hosts = labpkg.lab_status(index)
    if hosts is None:
        print(f"lab {index} is not up")
        return EXIT_FAILED
    lab = _need_lab(index)
    print(
        f"lab {index}: Docker {lab.engine}, bridge {lab.bridge} {lab.subnet}, "
        f"registry {lab.registry}"
    )
    header = ("HOST", "ADDRESS", "DAEMON", "PID", "ENGINE", "LINK", "NODE", "BLOCKED", "SOCKET")
    rows = [header]
    for h in hosts:
        blocked = ",".join(h.blocked) or "-"
        pid = str(h.pid or "-")
        rows.append((h.name, h.address, h.daemon, pid, h.engine, h.link, h.node, blocked, h.socket))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    layout = labpkg.Layout(index)
    for h in hosts:
        if h.daemon != "exited":
            continue
        log = layout.host_dir(layout.host_number(h.name)) / "dockerd.log"
        print(f"{h.name}: dockerd exited (not stopped by `lab stop`); its log: {log}")
        if h.crash:
            print(f"{h.name}: the log ends with a Go crash report:")
            for line in h.crash:
                print(f"    {line}")
    healthy = all(
        h.daemon == "running" and h.link == "up" and h.node.startswith("ready") for h in hosts
    )
    return EXIT_OK if healthy else EXIT_FAILED
