"""`swarm-operator doctor`: cross-host connectivity and Swarm health, from a manager.

Argument parsing and printing only; the run is `doctor.run_doctor`, the reasoning
`diagnose.py`. Exit codes: 0 healthy (notes only), 1 problems found (or doctor could not
run), 2 usage (unknown network, bad duration).

Text output: the reachability matrix of each probed network (rows: source node,
columns: target node; round-trip time in ms or the failure), the Swarm port checks, then
the findings with what to do. ``--output json`` prints the same as one JSON document.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from types import FrameType
from typing import Any

from swarm_operator.manifests import units
from swarm_operator.probing import probe
from swarm_operator.probing.diagnose import Finding
from swarm_operator.probing.doctor import DoctorOptions, DoctorReport, UsageError, run_doctor
from swarm_operator.probing.probe import Matrix, Pair
from swarm_operator.swarm.errors import SwarmOperatorError

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check that every node reaches every other over each overlay network",
        description=(
            "Deploy short-lived global probe services (one on each overlay network, one in "
            "host network mode), read their measurements through the manager, print the node x "
            "node reachability matrix and name what breaks it: a node, a port (4789/udp, "
            "7946, 2377), an MTU, an overlapping subnet, address exhaustion, manager quorum. "
            "Everything created is removed at the end; user services are never touched."
        ),
    )
    parser.add_argument("--network", metavar="NAME", help="probe only this overlay network")
    parser.add_argument(
        "--output", choices=("text", "json"), default="text", help="text (default) or json"
    )
    parser.add_argument(
        "--timeout",
        default="60s",
        metavar="DURATION",
        help="how long to wait for the probes (default 60s)",
    )
    parser.add_argument(
        "--probe-image",
        metavar="IMAGE",
        default=None,
        help=f"probe image (default ${probe.PROBE_IMAGE_ENV} or {probe.DEFAULT_PROBE_IMAGE}); "
        "needs busybox-like sh, nslookup, ping, nc, httpd, ip, timeout",
    )
    parser.add_argument(
        "--host", metavar="DOCKER_HOST", default=None, help="the manager (default $DOCKER_HOST)"
    )
    parser.set_defaults(func=run)


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    try:
        timeout_ns = units.parse_duration(args.timeout)
    except ValueError as exc:
        print(f"doctor: --timeout: {exc}", file=sys.stderr)
        return EXIT_USAGE
    options = DoctorOptions(
        network=args.network,
        timeout_s=timeout_ns / 1e9,
        image=probe.probe_image(args.probe_image),
    )
    from swarm_operator.swarm.client import SwarmClient

    def progress(message: str) -> None:
        print(f"doctor: {message}", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        client = SwarmClient(args.host)
        report = run_doctor(client, options, progress)
    except UsageError as exc:
        print(f"doctor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SwarmOperatorError as exc:
        print(f"doctor: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.output == "json":
        print(json.dumps(report_json(report), indent=2, sort_keys=True))
    else:
        print(report_text(report), end="")
    return EXIT_OK if report.healthy else EXIT_PROBLEMS


# --------------------------------------------------------------------------- rendering


def cell(pair: Pair) -> str:
    if pair.ok:
        return f"{pair.rtt_ms:.2f}ms" if pair.rtt_ms is not None else "ok"
    return {
        "unreachable": "FAIL",
        "not-in-dns": "NO-DNS",
        "no-probe": "-",
        "stale": "STALE",
    }.get(pair.state, pair.state.upper())


def matrix_text(m: Matrix) -> list[str]:
    width = max([len(n) for n in m.nodes] + [9])
    head = "src \\ dst".ljust(width) + "  " + "  ".join(n.rjust(width) for n in m.nodes)
    lines = [head]
    for src in m.nodes:
        row = "  ".join(cell(m.get(src, dst)).rjust(width) for dst in m.nodes)
        lines.append(src.ljust(width) + "  " + row)
    return lines


def finding_text(f: Finding) -> list[str]:
    lines = [f"{f.severity.upper():7} [{f.check}] {f.message}"]
    if f.fix:
        lines.append(f"        fix: {f.fix}")
    return lines


def report_text(report: DoctorReport) -> str:
    out: list[str] = []
    nodes = ", ".join(
        f"{n.hostname} ({n.role}, {n.addr}, {n.state}"
        + (f", {n.availability}" if n.availability != "active" else "")
        + ")"
        for n in report.nodes
    )
    out.append(f"nodes: {nodes}")
    info = {n.name: n for n in report.networks}
    for m in report.matrices:
        net = info.get(m.network)
        subnets = ", ".join(net.subnets) if net and net.subnets else "no subnet"
        extra = " (throwaway, removed)" if m.network == report.throwaway else ""
        out.append("")
        out.append(f"overlay {m.network} [{subnets}]{extra}: reachability (ping rtt)")
        out.extend("  " + line for line in matrix_text(m))
    if report.ports:
        out.append("")
        out.append("swarm ports (TCP connect from each node's host network):")
        by_target: dict[tuple[str, str], list[str]] = {}
        for rec in report.ports:
            by_target.setdefault((rec.dst, rec.port), []).append(
                rec.src + ("" if rec.ok else " FAIL")
            )
        for (dst, port), srcs in sorted(by_target.items()):
            state = "FAIL" if any(s.endswith("FAIL") for s in srcs) else "ok"
            out.append(f"  {dst:10} {port:9} {state:4}  from {', '.join(sorted(srcs))}")
    out.append("")
    if report.findings:
        out.append("findings:")
        for f in report.findings:
            out.extend("  " + line for line in finding_text(f))
    else:
        out.append("findings: none")
    for note in report.notes:
        out.append(f"note: {note}")
    problems = [f for f in report.findings if f.problem]
    out.append("")
    out.append(
        "healthy: every pair reachable, no problem found"
        if not problems
        else f"{len(problems)} problem(s) found"
    )
    return "\n".join(out) + "\n"


def report_json(report: DoctorReport) -> dict[str, Any]:
    return {
        "healthy": report.healthy,
        "nodes": [
            {
                "hostname": n.hostname,
                "id": n.id,
                "addr": n.addr,
                "role": n.role,
                "state": n.state,
                "availability": n.availability,
                "reachability": n.reachability,
                "leader": n.leader,
            }
            for n in report.nodes
        ],
        "networks": [
            {
                "name": m.network,
                "throwaway": m.network == report.throwaway,
                "nodes": list(m.nodes),
                "mtu": dict(m.mtu),
                "pairs": [
                    {
                        "source": p.src,
                        "target": p.dst,
                        "state": p.state,
                        "ok": p.ok,
                        "rtt_ms": p.rtt_ms,
                        "icmp": p.icmp,
                        "tcp": p.tcp,
                    }
                    for p in (m.get(s, d) for s in m.nodes for d in m.nodes)
                ],
            }
            for m in report.matrices
        ],
        "ports": [
            {"source": r.src, "target": r.dst, "address": r.dst_ip, "port": r.port, "ok": r.ok}
            for r in report.ports
        ],
        "hosts": {
            host: [{"interface": i.name, "mtu": i.mtu, "addresses": list(i.addrs)} for i in ifs]
            for host, ifs in report.host_ifaces.items()
        },
        "findings": [
            {
                "severity": f.severity,
                "check": f.check,
                "nodes": list(f.nodes),
                "subject": f.subject,
                "message": f.message,
                "fix": f.fix,
            }
            for f in report.findings
        ],
        "notes": report.notes,
    }
