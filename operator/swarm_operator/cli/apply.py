"""`swarm-operator apply DIR`: make the Swarm equal to the manifests, then say what was done.

Owns the apply command: load, read the live state, plan (`engine.plan`), carry the plan
out (`engine.converge.apply_plan`: independent writes ``--parallelism`` at a time,
re-planning an object after a conflict), optionally
wait for what was written to converge (`engine.wait`).

All or nothing on bad input, as terraform and the GitOps controllers do: when any
manifest fails to load, nothing is changed and apply exits 1 with every error. With
``--partial`` the objects of the files that loaded are applied and those of the failing
files are held, as the daemon holds them: never changed, never pruned (prune is refused
while any file fails). Exit 0 only when every action succeeded, nothing was blocked, no
manifest failed to load and (with ``--wait``) every object written converged; otherwise
1, naming each object and Docker's error.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TextIO

from swarm_operator.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Desired,
    add_plan_arguments,
    add_registry_auth,
    connect,
    duration,
    load_desired,
    options_from_args,
    positive_int,
)
from swarm_operator.engine import DEFAULT_PARALLELISM
from swarm_operator.swarm.errors import SwarmOperatorError

if TYPE_CHECKING:
    from swarm_operator.engine.executor import Report, Result
    from swarm_operator.engine.plan import Plan
    from swarm_operator.kinds.base import Progress
    from swarm_operator.swarm.client import SwarmClient

# The executor (and through it docker) is imported in run(): `--help` stays fast.

DEFAULT_TIMEOUT = "5m"
BLOCK_HELD = "held: its manifest file failed to load (apply --partial leaves it alone)"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "apply",
        help="carry the plan out (exit 0: all done, 1: something failed or was refused)",
        description="Plan as `plan` does, then create, update, replace and (with --prune) "
        "delete objects in dependency order. When any manifest fails to load, nothing is "
        "changed (unless --partial).",
    )
    add_plan_arguments(parser)
    add_registry_auth(parser)
    parser.add_argument(
        "--partial",
        action="store_true",
        help="when some files fail to load, apply the objects of the files that loaded "
        "and leave the others alone (default: change nothing)",
    )
    parser.add_argument(
        "--parallelism",
        type=positive_int,
        default=DEFAULT_PARALLELISM,
        metavar="N",
        help="independent writes (services, node updates, network creates) run N at a time, "
        f"each on a connection of its own, in dependency order (default {DEFAULT_PARALLELISM}; "
        "1: one after another)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the services touched have converged (tasks running, update done)",
    )
    parser.add_argument(
        "--timeout",
        type=duration,
        default=duration(DEFAULT_TIMEOUT),
        metavar="DURATION",
        help=f"how long --wait waits, e.g. 90s or 5m (default {DEFAULT_TIMEOUT})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from swarm_operator.cli import output

    as_json = args.output == "json"
    desired = load_desired(args.directory)
    if desired.errors and not args.partial:
        if as_json:
            print(output.as_json({"ok": False, "applied": False, "errors": list(desired.errors)}))
        else:
            print(output.load_errors_text(desired.errors, output.use_colour(sys.stdout)))
        return EXIT_FAILED
    progress_stream = sys.stderr if as_json else sys.stdout

    def progress(line: str) -> None:
        print(f"  .. {line}", file=progress_stream, flush=True)

    try:
        client = connect(args.host, registry_auth=args.registry_auth)
    except SwarmOperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        the_plan, report = _apply(client, args, desired, progress, as_json)
    except SwarmOperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        client.close()
    if as_json:
        print(
            output.as_json(
                {"plan": the_plan.to_dict(), **report.to_dict(), "errors": list(desired.errors)}
            )
        )
    else:
        print(output.report_text(report, output.use_colour(sys.stdout)))
    failed = (
        not report.ok or bool(desired.errors) or bool(the_plan.refusals) or bool(the_plan.unmet)
    )
    return EXIT_FAILED if failed else EXIT_OK


def _apply(
    client: SwarmClient,
    args: argparse.Namespace,
    desired: Desired,
    progress: Progress,
    as_json: bool,
) -> tuple[Plan, Report]:
    from swarm_operator.cli import output
    from swarm_operator.engine.converge import apply_plan
    from swarm_operator.engine.images import follow_images
    from swarm_operator.engine.live import read_for
    from swarm_operator.engine.plan import plan

    options, problems = follow_images(client, desired.manifests, options_from_args(args, desired))
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    the_plan = plan(desired.manifests, read_for(client, desired.manifests, options), options)
    if desired.held:
        held = tuple(
            a.block(BLOCK_HELD) if a.key in desired.held and a.changes else a
            for a in the_plan.actions
        )
        the_plan = replace(the_plan, actions=held)
    if not as_json:
        print(output.plan_text(the_plan, desired.errors, output.use_colour(sys.stdout)), flush=True)
    started = time.time()
    report = apply_plan(
        client, desired.manifests, options, the_plan, progress, parallelism=args.parallelism
    )
    if args.wait:
        stream = sys.stderr if as_json else sys.stdout
        report.waited.extend(_wait(client, report, started, args.timeout, progress, stream))
    return the_plan, report


def _wait(
    client: SwarmClient,
    report: Report,
    started: float,
    timeout: float,
    progress: Progress,
    stream: TextIO | None = None,
) -> list[Result]:
    """Wait for what was written; on a terminal (``stream``) progress is one updating line
    (services converged out of N), otherwise one plain line per object as it changes."""
    from swarm_operator.engine.executor import Result
    from swarm_operator.engine.wait import wait_for
    from swarm_operator.kinds import registry
    from swarm_operator.kinds.base import no_progress

    written = {
        r.action.key: r.action
        for r in report.results
        if r.ok
        and r.action.verb != "delete"
        and registry.of(r.action.kind).waits
        and not r.action.blocked
    }
    if not written:
        return []
    tally = None
    if stream is not None and stream.isatty():
        # A terminal: one line, rewritten in place; the objects' own lines are not shown.
        def tally(converged: int, failed: int, total: int) -> None:
            bad = f", {failed} failed" if failed else ""
            print(f"\r\033[K  .. converged {converged}/{total}{bad}", end="", file=stream)
            stream.flush()

        progress = no_progress
    results = wait_for(client, list(written), started - 1.0, timeout, progress, tally=tally)
    if tally is not None and stream is not None:
        print(file=stream)
    return [Result(written[key], ok, f"wait: {message}") for key, ok, message in results]


__all__ = ["register", "run"]
