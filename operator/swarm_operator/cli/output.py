"""Plans and apply reports as text (coloured on a terminal) or JSON. Pure formatting.

Owns how `plan` and `apply` look to people and machines; `cmd_plan.py` and
`cmd_apply.py` print what these functions return and nothing else of their own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # types only: importing the executor would pull in docker
    from swarm_operator.engine.executor import Report
    from swarm_operator.engine.plan import Action, Plan

SYMBOL = {
    "create": "+",
    "update": "~",
    "replace": "-/+",
    "delete": "-",
    "adopt": "<~",
    "noop": "=",
    "missing": "?",
}
COLOUR = {
    "create": "32",
    "update": "33",
    "replace": "35",
    "delete": "31",
    "adopt": "36",
    "noop": "2",
    "missing": "2",
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
    if action.disrupts:
        lines.append(f"    disrupts services: {', '.join(action.disrupts)}")
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
    if errors:
        lines.append(
            f"Incomplete: {len(errors)} manifest error(s); objects of files that failed to "
            "load are left as they are (never changed, never pruned)."
        )
    elif not the_plan.pending and not the_plan.refusals:
        lines.append("No changes: the Swarm matches the manifests.")
    lines.append(summary(the_plan))
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
