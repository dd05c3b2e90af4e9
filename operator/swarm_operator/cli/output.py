"""Everything the commands print: plans, apply reports, doctor's report. Pure formatting.

Owns how `plan`, `apply` and `doctor` look to people (text, coloured on a terminal) and
to machines (JSON); the command modules (`cli.plan`, `cli.apply`, `cli.doctor`) print
what these functions return and nothing else of their own. Doctor's text and JSON are
here too. Sensitive differences come formatted from
`kinds.diff` (``(changed)`` in text, a hash in JSON): nothing here sees their values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # types only: importing the executor would pull in docker
    from swarm_operator.engine.executor import Report
    from swarm_operator.engine.plan import Action, Plan
    from swarm_operator.probing.diagnose import Finding
    from swarm_operator.probing.doctor import DoctorReport
    from swarm_operator.probing.matrix import Matrix, Pair

SYMBOL = {
    "create": "+",
    "update": "~",
    "replace": "-/+",
    "delete": "-",
    "adopt": "<~",
    "noop": "=",
    "missing": "?",
    "rotate": "~>",
}
COLOUR = {
    "create": "32",
    "update": "33",
    "replace": "35",
    "delete": "31",
    "adopt": "36",
    "noop": "2",
    "missing": "2",
    "rotate": "33",
    "blocked": "1;31",
    "ok": "32",
    "failed": "1;31",
}


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _paint(text: str, what: str, colour: bool) -> str:
    return f"\033[{COLOUR[what]}m{text}\033[0m" if colour else text


def summary(the_plan: Plan) -> str:
    counts = {verb: 0 for verb in SYMBOL}
    for action in the_plan.actions:
        counts[action.verb] += 1
    parts = [f"{counts[v]} to {v}" for v in ("create", "update", "replace", "adopt", "delete")]
    if counts["rotate"]:
        parts.insert(2, f"{counts['rotate']} to rotate")
    tail = f"{counts['noop']} unchanged"
    if counts["missing"]:
        tail += f", {counts['missing']} missing"
    if the_plan.blocked:
        tail += f", {len(the_plan.blocked)} blocked"
    return f"Plan: {', '.join(parts)} ({tail})."


def action_lines(action: Action, colour: bool, verbose: bool = False) -> list[str]:
    if not action.changes and not verbose and action.verb != "missing":
        return []
    head = f"{SYMBOL[action.verb]} {action.verb} {action.kind} {action.name}"
    lines = [f"{_paint(head, action.verb, colour)}  ({action.reason})"]
    for d in action.differences:
        lines.append(f"    {d}")
    if action.disrupts and action.verb == "rotate":
        lines.append(f"    rolls services: {', '.join(action.disrupts)}")
    elif action.disrupts:
        lines.append(f"    disrupts services: {', '.join(action.disrupts)}")
    for path in action.kept:
        why = "" if "(" in path else " (not expressed by the manifest language)"
        lines.append(f"    kept: {path}{why}")
    for path in action.dropped:
        # an entry with its own reason (a pool the manifest leaves out) says it itself
        why = "" if "(" in path else " (not expressed by the manifest language"
        lines.append(
            f"    dropped: {path}{why}; recreated without it)" if why else f"    dropped: {path}"
        )
    if action.blocked:
        lines.append("    " + _paint(f"BLOCKED: {action.blocked}", "blocked", colour))
    return lines


def plan_text(
    the_plan: Plan, errors: Sequence[str] = (), colour: bool = False, verbose: bool = False
) -> str:
    lines: list[str] = []
    for error in errors:
        lines.append(_paint(f"error: {error}", "failed", colour))
    for action in the_plan.actions:
        lines.extend(action_lines(action, colour, verbose))
    for refusal in the_plan.refusals:
        lines.append(_paint(refusal, "blocked", colour))
    for note in the_plan.notes:
        lines.append(f"note: {note}")
    if verbose and the_plan.unread:
        lines.append(
            f"note: not listed (nothing declared or mounts one; --prune lists them): "
            f"{', '.join(the_plan.unread)}"
        )
    if errors:
        lines.append(
            f"Incomplete: {len(errors)} manifest error(s); objects of files that failed to "
            "load are left as they are (never changed, never pruned)."
        )
    elif the_plan.unmet:
        names = ", ".join(f"{a.kind} {a.name}" for a in the_plan.unmet)
        lines.append(f"Not ready: {names} must exist first (see BLOCKED above).")
    elif not the_plan.pending and not the_plan.refusals:
        lines.append("No changes: the Swarm matches the manifests.")
    lines.append(summary(the_plan))
    return "\n".join(lines)


def load_errors_text(errors: Sequence[str], colour: bool = False) -> str:
    """apply refused to run: every load error, and that nothing was changed."""
    lines = [_paint(f"error: {error}", "failed", colour) for error in errors]
    lines.append(
        f"Nothing applied: {len(errors)} manifest error(s). Fix them, or pass --partial to "
        "apply the files that loaded and leave the objects of the others alone."
    )
    return "\n".join(lines)


def report_text(report: Report, colour: bool = False) -> str:
    lines: list[str] = []
    for r in [*report.results, *report.waited]:
        what = f"{r.action.verb} {r.action.kind} {r.action.name}"
        if r.ok:
            lines.append(_paint(f"ok      {what}: {r.message}", "ok", colour))
        else:
            lines.append(_paint(f"FAILED  {what}: {r.message}", "failed", colour))
    failed = sum(1 for r in [*report.results, *report.waited] if not r.ok)
    done = sum(1 for r in report.results if r.ok)
    lines.append(f"Apply: {done} done, {failed} failed.")
    return "\n".join(lines)


def as_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)


# --------------------------------------------------------------------------- doctor


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


def doctor_text(report: DoctorReport) -> str:
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


def doctor_json(report: DoctorReport) -> dict[str, Any]:
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
